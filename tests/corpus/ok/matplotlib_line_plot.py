"""A line chart with two series, saved as a PNG in the working directory."""

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

x = np.linspace(0, 2 * np.pi, 200)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(x, np.sin(x), label="sin(x)", color="tab:blue")
ax.plot(x, np.cos(x), label="cos(x)", linestyle="--", color="tab:orange")
ax.axhline(0, color="grey", linewidth=0.5)
ax.set_title("Trigonometric functions")
ax.set_xlabel("x (radians)")
ax.set_ylabel("value")
ax.legend(loc="upper right")
ax.grid(True, alpha=0.3)
fig.tight_layout()
fig.savefig("trig.png", dpi=80)
plt.close(fig)

size = os.path.getsize("trig.png")
print(f"saved trig.png ({size} bytes)")
with open("trig.png", "rb") as fh:
    assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
