"""The image's matplotlib backend: figures become PNG files under ``/workspace/out/``, which come back as artifacts.

Selected by ``MPLBACKEND=module://sandbox_figures`` (the language's ``env`` in
``image.toml``). Drawing is Agg's. ``plt.show()`` saves every open figure and
closes it, as an interactive backend's window would be closed by the user; the
figures still open when the interpreter exits are saved then (``atexit``). A
session's interpreter calls ``save_open_figures`` after each cell.

Files are ``out/figure-N.png``, N counting up from the first free number, so
figures of later cells never overwrite earlier ones; a program that saves its
own figure with ``savefig`` picks its name and place.
"""

from __future__ import annotations

import atexit
import os

from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase, _Backend
from matplotlib.backends.backend_agg import FigureCanvasAgg

#: Where figures go; the runner collects everything under it. The host-side tests move it.
OUT_DIR = os.environ.get("SANDBOX_FIGURES_DIR", "/workspace/out")


def next_path() -> str:
    """The first ``figure-N.png`` not taken in ``OUT_DIR``."""
    os.makedirs(OUT_DIR, exist_ok=True)
    n = 1
    while os.path.lexists(os.path.join(OUT_DIR, f"figure-{n}.png")):
        n += 1
    return os.path.join(OUT_DIR, f"figure-{n}.png")


def save_figure(figure: object) -> str:
    """One figure as a PNG in ``OUT_DIR``; its path."""
    path = next_path()
    figure.savefig(path, format="png")  # type: ignore[attr-defined]
    return path


def save_open_figures() -> list[str]:
    """Save every open figure, in number order, and close it; the paths written."""
    paths = []
    try:
        for manager in sorted(Gcf.get_all_fig_managers(), key=lambda m: m.num):
            paths.append(save_figure(manager.canvas.figure))  # a figure that cannot be drawn raises, as savefig would
    finally:
        Gcf.destroy_all()
    return paths


@_Backend.export
class _BackendSandbox(_Backend):
    FigureCanvas = FigureCanvasAgg
    FigureManager = FigureManagerBase
    mainloop = None

    @staticmethod
    def show(*args: object, **kwargs: object) -> None:
        save_open_figures()


atexit.register(save_open_figures)
