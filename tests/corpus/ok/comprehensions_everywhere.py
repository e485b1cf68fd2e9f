"""List, dict, set and generator comprehensions, nested and filtered, plus the walrus."""

words = "the quick brown fox jumps over the lazy dog the end".split()

lengths = [len(w) for w in words]
unique = {w for w in words if len(w) > 3}
frequency = {w: words.count(w) for w in sorted(set(words))}
first_letters = {w[0]: [x for x in words if x[0] == w[0]] for w in words}
total = sum(len(w) for w in words)

matrix = [[r * 3 + c for c in range(3)] for r in range(3)]
transposed = [[row[i] for row in matrix] for i in range(3)]
flat = [x for row in matrix for x in row if x % 2 == 0]
pairs = [(a, b) for a in range(4) for b in range(a + 1, 4)]
pythagorean = [(a, b, c) for c in range(1, 30) for b in range(1, c) for a in range(1, b) if a * a + b * b == c * c]

print(lengths, sorted(unique), frequency, sep="\n")
print(first_letters["t"], total)
print(matrix, transposed, flat, sep="\n")
print(pairs, pythagorean[:4])
values = [17, 4, 9, 22, 3]
print([y for x in values if (y := x * 2) > 10])
print(dict(zip("abc", range(3))), {k: v for k, v in enumerate("xyz") if k != 1})
print(any(w.startswith("q") for w in words), all(w.islower() for w in words))
