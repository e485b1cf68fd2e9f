"""A 2x2 grid of plots: histogram, scatter, bar chart and a heatmap."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

rng = np.random.default_rng(0)
values = rng.normal(50, 10, 500)

fig, axes = plt.subplots(2, 2, figsize=(8, 6))
axes[0, 0].hist(values, bins=20, color="steelblue", edgecolor="white")
axes[0, 0].set_title("Distribution")

x = rng.uniform(0, 1, 80)
axes[0, 1].scatter(x, 2 * x + rng.normal(0, 0.2, 80), s=10, alpha=0.7)
axes[0, 1].set_title("Scatter")

fruits = ["apple", "pear", "plum", "fig"]
axes[1, 0].bar(fruits, [12, 7, 4, 9], color=["red", "green", "purple", "brown"])
axes[1, 0].set_title("Bars")

image = axes[1, 1].imshow(rng.random((8, 8)), cmap="viridis")
fig.colorbar(image, ax=axes[1, 1])
axes[1, 1].set_title("Heatmap")

fig.suptitle("Dashboard")
fig.tight_layout()
out = Path("dashboard.png")
fig.savefig(out)
plt.close("all")
print(out.name, out.stat().st_size > 1000)
