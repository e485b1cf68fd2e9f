"""Broadcasting: pairwise distances, normalisation, masks and outer products."""

import numpy as np

points = np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0], [1.0, 1.0]])

diff = points[:, np.newaxis, :] - points[np.newaxis, :, :]
distances = np.sqrt((diff**2).sum(axis=-1))
print(distances.round(2))

nearest = np.where(np.eye(len(points), dtype=bool), np.inf, distances).argmin(axis=1)
print("nearest neighbour of each point:", nearest.tolist())

data = np.arange(12, dtype=float).reshape(3, 4)
standardised = (data - data.mean(axis=0)) / data.std(axis=0)
print(standardised.round(3))

table = np.arange(1, 10)[:, None] * np.arange(1, 10)[None, :]
print("7 x 8 =", table[6, 7], "| row sums:", table.sum(axis=1)[:3])

grid = np.arange(-2, 3)
xx, yy = np.meshgrid(grid, grid)
inside = xx**2 + yy**2 <= 4
print(inside.astype(int))
print("points inside the circle:", int(inside.sum()))
clipped = np.clip(data, 2, 9)
print(clipped, clipped.dtype)
