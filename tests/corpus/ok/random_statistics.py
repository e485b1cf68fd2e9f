"""Seeded randomness and the statistics module: sampling, shuffling, summaries, regression."""

import random
import statistics

rng = random.Random(1234)
random.seed(99)

rolls = [rng.randint(1, 6) for _ in range(600)]
print({face: rolls.count(face) for face in range(1, 7)})

deck = [f"{rank}{suit}" for suit in "SHDC" for rank in "A23456789TJQK"]
rng.shuffle(deck)
hand = sorted(rng.sample(deck, 5))
print("hand:", hand, "choice:", random.choice(["red", "green", "blue"]))
print("weighted:", rng.choices(["a", "b", "c"], weights=[10, 1, 1], k=8))

data = [rng.gauss(100, 15) for _ in range(500)]
print(f"mean={statistics.mean(data):.2f} median={statistics.median(data):.2f}")
print(f"stdev={statistics.stdev(data):.2f} pvariance={statistics.pvariance(data):.1f}")
print("quartiles:", [round(q, 1) for q in statistics.quantiles(data, n=4)])
print("mode:", statistics.mode([1, 2, 2, 3, 3, 3]), "multimode:", statistics.multimode("aabbc"))

xs = list(range(10))
ys = [2 * x + 1 + rng.uniform(-0.5, 0.5) for x in xs]
slope, intercept = statistics.linear_regression(xs, ys)
print(f"y = {slope:.2f}x + {intercept:.2f}, r = {statistics.correlation(xs, ys):.4f}")
normal = statistics.NormalDist(mu=100, sigma=15)
print(f"P(X < 130) = {normal.cdf(130):.4f}, 95th percentile {normal.inv_cdf(0.95):.1f}")
