"""0/1 knapsack by dynamic programming, with the chosen items recovered."""

ITEMS = [
    ("map", 9, 150),
    ("compass", 13, 35),
    ("water", 153, 200),
    ("sandwich", 50, 160),
    ("glucose", 15, 60),
    ("tin", 68, 45),
    ("banana", 27, 60),
    ("apple", 39, 40),
    ("cheese", 23, 30),
    ("beer", 52, 10),
    ("suntan cream", 11, 70),
    ("camera", 32, 30),
]
CAPACITY = 400


def knapsack(items, capacity):
    n = len(items)
    best = [[0] * (capacity + 1) for _ in range(n + 1)]
    for i, (_, weight, value) in enumerate(items, start=1):
        for w in range(capacity + 1):
            best[i][w] = best[i - 1][w]
            if weight <= w:
                best[i][w] = max(best[i][w], best[i - 1][w - weight] + value)
    chosen, w = [], capacity
    for i in range(n, 0, -1):
        if best[i][w] != best[i - 1][w]:
            name, weight, _ = items[i - 1]
            chosen.append(name)
            w -= weight
    return best[n][capacity], chosen[::-1]


value, chosen = knapsack(ITEMS, CAPACITY)
weight = sum(w for name, w, _ in ITEMS if name in chosen)
print(f"value {value}, weight {weight}/{CAPACITY}")
print("take:", ", ".join(chosen))
