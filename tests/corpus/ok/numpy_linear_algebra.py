"""Least squares, eigenvalues and a linear system with numpy."""

import numpy as np

rng = np.random.default_rng(42)

# Fit y = 3x + 2 with noise by least squares.
x = np.linspace(0, 10, 50)
y = 3 * x + 2 + rng.normal(0, 0.5, x.size)
design = np.column_stack([x, np.ones_like(x)])
(slope, intercept), *_ = np.linalg.lstsq(design, y, rcond=None)
print(f"slope={slope:.3f} intercept={intercept:.3f}")

# Solve a 3x3 system and check the answer.
a = np.array([[4.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 4.0]])
b = np.array([11.0, -16.0, 17.0])
solution = np.linalg.solve(a, b)
assert np.allclose(a @ solution, b)
print("solution:", solution.round(4))

# A symmetric matrix has real eigenvalues and orthogonal eigenvectors.
values, vectors = np.linalg.eigh(a)
print("eigenvalues:", values.round(4))
print("orthogonal:", np.allclose(vectors.T @ vectors, np.eye(3)))
print("det:", round(float(np.linalg.det(a)), 6), "trace:", np.trace(a), "rank:", np.linalg.matrix_rank(a))

u, s, vt = np.linalg.svd(rng.normal(size=(4, 3)), full_matrices=False)
print("singular values:", s.round(3), "reconstruct ok:", np.allclose(u * s @ vt, u @ np.diag(s) @ vt))
