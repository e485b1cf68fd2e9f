"""Monte Carlo estimates and summary statistics with numpy's Generator."""

import numpy as np

rng = np.random.default_rng(2024)

samples = rng.random((200_000, 2))
inside = (samples**2).sum(axis=1) <= 1.0
pi_estimate = 4 * inside.mean()
print(f"pi ~ {pi_estimate:.4f} (error {abs(pi_estimate - np.pi):.4f})")

rolls = rng.integers(1, 7, size=(10_000, 2)).sum(axis=1)
counts = np.bincount(rolls, minlength=13)[2:]
for total, count in zip(range(2, 13), counts):
    print(f"{total:2d} {'#' * (count // 100)}")

heights = rng.normal(170, 8, size=1000)
q1, median, q3 = np.percentile(heights, [25, 50, 75])
print(f"median {median:.1f}, IQR {q3 - q1:.1f}")
hist, edges = np.histogram(heights, bins=5)
for n, lo, hi in zip(hist, edges[:-1], edges[1:]):
    print(f"[{lo:6.1f}, {hi:6.1f}) {n}")
corr = np.corrcoef(heights, heights * 0.5 + rng.normal(0, 2, heights.size))[0, 1]
print(f"correlation {corr:.3f}")
