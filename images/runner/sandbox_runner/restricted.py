"""RestrictedPython for the strict tier: the program compiled and run with its guards.

A second line behind the host's validation, not a boundary: the container is.
This is the only module that imports something outside the standard library,
and only when a restricted program is about to run, from the wheel unpacked in
the image at ``RESTRICTED_LIB`` (every other run must not pay for the import).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import CodeType, ModuleType
    from typing import Any

RESTRICTED_LIB = "/opt/sandbox/lib"


def restricted_namespace(namespace: dict[str, Any], allowed_modules: list[str], path: str, source: bytes) -> CodeType:
    """Compile ``source`` with RestrictedPython and fill ``namespace`` with its guards.

    Imports are limited to ``allowed_modules`` (and their submodules).
    """
    sys.path.insert(0, RESTRICTED_LIB)
    from RestrictedPython.compile import compile_restricted
    from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
    from RestrictedPython.Guards import (
        guarded_iter_unpack_sequence,
        guarded_unpack_sequence,
        safe_builtins,
        safer_getattr,
    )
    from RestrictedPython.Limits import limited_builtins
    from RestrictedPython.Utilities import utility_builtins

    sys.path.remove(RESTRICTED_LIB)
    real_import = __import__

    def guarded_import(
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] = (),
        level: int = 0,
    ) -> ModuleType:
        if level or not any(name == m or name.startswith(m + ".") for m in allowed_modules):
            raise ImportError(f"import of {name!r} is not allowed by the strict policy")
        return real_import(name, globals, locals, fromlist, level)

    class StdoutPrint:
        """``print`` under RestrictedPython, writing to stdout as usual."""

        def __init__(self, _getattr_: object = None) -> None:
            pass

        def _call_print(self, *objects: object, **kwargs: Any) -> None:
            print(*objects, **kwargs)

    builtins = dict(safe_builtins)
    builtins.update(utility_builtins)
    builtins.update(limited_builtins)
    builtins.update(__import__=guarded_import, __build_class__=__build_class__)
    import builtins as real_builtins

    for name in ("min", "max", "sum", "all", "any", "enumerate", "map", "filter", "reversed", "iter", "next"):
        builtins[name] = getattr(real_builtins, name)
    namespace.update(
        __builtins__=builtins,
        __metaclass__=type,
        _getattr_=safer_getattr,
        _getitem_=default_guarded_getitem,
        _getiter_=default_guarded_getiter,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence,
        _write_=lambda obj: obj,
        _inplacevar_=_inplace,
        _apply_=lambda f, *a, **kw: f(*a, **kw),
        _print_=StdoutPrint,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "never reads 'printed'": we print to stdout
        return compile_restricted(source.decode("utf-8"), path, "exec")


def _inplace(op: str, x: Any, y: Any) -> Any:
    """RestrictedPython's ``_inplacevar_``: ``x op= y``, the one augmented assignment it rewrites to a call."""
    import operator

    operators: dict[str, Callable[[Any, Any], Any]] = {
        "+=": operator.iadd,
        "-=": operator.isub,
        "*=": operator.imul,
        "/=": operator.itruediv,
        "//=": operator.ifloordiv,
        "%=": operator.imod,
        "**=": operator.ipow,
        "<<=": operator.ilshift,
        ">>=": operator.irshift,
        "&=": operator.iand,
        "|=": operator.ior,
        "^=": operator.ixor,
        "@=": operator.imatmul,
    }
    return operators[op](x, y)
