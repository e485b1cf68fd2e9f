"""A first program: prints, reads stdin if any, and does a little numpy."""

import sys

import numpy as np

print("hello from the sandbox")
print("python", sys.version.split()[0], "numpy", np.__version__)
print("mean of 1..10 =", np.arange(1, 11).mean())
