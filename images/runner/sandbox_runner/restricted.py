"""RestrictedPython for the strict tier: the program compiled and run with its guards.

A second line behind the host's validation, not a boundary: the container is.
Only restricted runs import something outside the standard library: the
RestrictedPython wheel unpacked in the image at ``RESTRICTED_LIB``, with
``strict_compile`` (the compile policy the host validates with) and
``capabilities`` (the audit hook), all lazily: every other run must not pay.

What a strict program gets: Python's harmless builtins (``BUILTINS`` and every
exception class), ``d[k] += 1`` and ``self.n += 1``, ``str.format`` through a
formatter whose fields go through the same guards, ``type`` with one argument,
and ``open`` for files inside the workspace. What it does not: ``eval``,
``exec``, ``compile``, ``vars``, ``dir``, ``globals``, ``locals``,
``breakpoint``, the real ``__import__`` (imports are limited to the allowlist,
``from m import x`` included), attributes starting with ``_`` or naming
frames/code (RestrictedPython's list), and any attribute whose value is a
module outside the allowlist or one of those builtins (``numpy.sys``,
``pandas.io.common.os``). Writes to modules and to classes the program did not
define are refused.
"""

from __future__ import annotations

import os
import sys

# Bound now: the program's guards run after the child took the runner's modules out of ``sys.modules``
# (``program.hide_runner``), when ``from . import ...`` no longer finds this package.
from . import workspace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import CodeType, ModuleType
    from typing import Any

RESTRICTED_LIB = "/opt/sandbox/lib"

#: The real builtins a strict program may use as they are.
BUILTINS = (
    "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash",
    "hex", "id", "input", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "memoryview",
    "min", "next", "object", "oct", "ord", "pow", "property", "range", "repr", "reversed", "round", "set",
    "slice", "sorted", "staticmethod", "str", "sum", "super", "tuple", "zip",
    "None", "True", "False", "Ellipsis", "NotImplemented", "__build_class__",
)  # fmt: skip
#: Builtins that are never handed out, whatever object they are reached through.
WITHHELD = (
    "eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr", "vars", "dir", "globals",
    "locals", "breakpoint",
)  # fmt: skip
#: ``str`` and ``string.Formatter`` methods that resolve attribute names written in a string.
FORMAT_METHODS = frozenset({"format", "format_map", "vformat", "get_field", "get_value"})


def restricted_namespace(namespace: dict[str, Any], allowed_modules: list[str], path: str, source: bytes) -> CodeType:
    """Compile ``source`` with the strict policy, fill ``namespace`` with its guards, arm the audit hook.

    Imports are limited to ``allowed_modules`` (and their submodules). A compile error
    raises ``SyntaxError`` listing RestrictedPython's messages.
    """
    sys.path.insert(0, RESTRICTED_LIB)
    try:
        from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
        from RestrictedPython.transformer import INSPECT_ATTRIBUTES

        from . import capabilities, strict_compile
    finally:
        sys.path.remove(RESTRICTED_LIB)

    result = strict_compile.compile_strict(source.decode("utf-8"), path)
    if result.errors or result.code is None:
        raise SyntaxError("\n".join(result.errors))
    guards = Guards(allowed_modules, INSPECT_ATTRIBUTES)
    namespace.update(
        __builtins__=guards.builtins(),
        __metaclass__=type,  # RestrictedPython gives every class statement `metaclass=__metaclass__`
        _getattr_=guards.getattr,
        _getitem_=_getitem,
        _getiter_=iter,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence,
        _write_=guards.write,
        _inplacevar_=guards.inplace,
        _apply_=_apply,
        _print_=StdoutPrint,
    )
    namespace[strict_compile.INPLACE_ITEM] = guards.inplace_item
    namespace[strict_compile.INPLACE_ATTR] = guards.inplace_attr
    capabilities.install(namespace, (workspace.WORKDIR.rstrip("/") + "/", "/tmp/"))
    return result.code


class Guards:
    """The run-time checks RestrictedPython's rewritten code calls, for one program."""

    def __init__(self, allowed_modules: Sequence[str], denied_attributes: frozenset[str]) -> None:
        import builtins
        import operator
        import string

        self.allowed = frozenset(allowed_modules)
        self.allowed_prefixes = tuple(m + "." for m in allowed_modules)
        self.denied_attributes = denied_attributes
        self.withheld = frozenset(id(getattr(builtins, name)) for name in WITHHELD)
        self.string = string
        self.formatter = GuardedFormatter(self)
        self.operators: dict[str, Callable[[Any, Any], Any]] = {
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
        self.attrgetter = lambda *names: operator.attrgetter(*(self.dotted(n) for n in names))
        self.methodcaller = lambda name, *a, **kw: operator.methodcaller(self.name(name), *a, **kw)

    def builtins(self) -> dict[str, Any]:
        """The program's ``__builtins__``."""
        import builtins

        table = {name: getattr(builtins, name) for name in BUILTINS}
        table.update(
            (name, value)
            for name, value in vars(builtins).items()
            if isinstance(value, type) and issubclass(value, BaseException)
        )
        table.update(
            __import__=self.import_,
            getattr=self.getattr,
            hasattr=self.hasattr,
            setattr=lambda obj, name, value: setattr(self.write(obj), self.name(name), value),
            delattr=lambda obj, name: delattr(self.write(obj), self.name(name)),
            type=one_argument_type,
            open=self.open,
        )
        return table

    def module_allowed(self, name: str) -> bool:
        return name in self.allowed or name.startswith(self.allowed_prefixes)

    def name(self, name: object) -> str:
        """``name`` if a program may use it as an attribute name, else AttributeError."""
        if type(name) is not str:
            raise TypeError("an attribute name must be a string")
        if name.startswith("_") or name in self.denied_attributes:
            raise AttributeError(f"attribute {name!r} is not allowed by the strict policy")
        return name

    def dotted(self, names: str) -> str:
        for part in names.split("."):
            self.name(part)
        return names

    def checked(self, value: Any, where: str) -> Any:
        """``value`` unless it is a module outside the allowlist or a withheld builtin."""
        from types import CodeType, FrameType, ModuleType, TracebackType

        if isinstance(value, ModuleType) and not self.module_allowed(value.__name__):
            raise AttributeError(f"{where}: module {value.__name__!r} is not allowed by the strict policy")
        if id(value) in self.withheld or isinstance(value, CodeType | FrameType | TracebackType):
            raise AttributeError(f"{where} is not allowed by the strict policy")
        return value

    def getattr(self, obj: Any, name: str, *default: Any) -> Any:
        """``_getattr_`` and the program's ``getattr``."""
        self.name(name)
        if name in FORMAT_METHODS:
            if isinstance(obj, str) and name in ("format", "format_map"):
                return self.formatter.bound(obj, name)
            if isinstance(obj, self.string.Formatter) or (isinstance(obj, type) and issubclass(obj, str)):
                raise AttributeError(f"{name!r} of {type(obj).__name__} is not allowed by the strict policy")
        if obj is self.string and name == "Formatter":
            raise AttributeError("string.Formatter is not allowed by the strict policy (use str.format)")
        if name in ("attrgetter", "methodcaller") and obj is sys.modules.get("operator"):
            return self.attrgetter if name == "attrgetter" else self.methodcaller
        return self.checked(getattr(obj, name, *default), name)

    def hasattr(self, obj: Any, name: str) -> bool:
        try:
            self.getattr(obj, name)
        except AttributeError:
            return False
        return True

    def write(self, obj: Any) -> Any:
        """``_write_``: the object an assignment or ``del`` may change."""
        from types import ModuleType

        if isinstance(obj, ModuleType) or (isinstance(obj, type) and obj.__module__ != "__main__"):
            raise TypeError(f"{obj!r} may not be changed under the strict policy")
        return obj

    def inplace(self, op: str, x: Any, y: Any) -> Any:
        """``_inplacevar_``: ``x op= y`` for a name."""
        return self.operators[op](x, y)

    def inplace_item(self, obj: Any, key: Any, op: str, value: Any) -> None:
        """``obj[key] op= value`` (rewritten by strict_compile)."""
        target = self.write(obj)
        target[key] = self.operators[op](obj[key], value)

    def inplace_attr(self, obj: Any, name: str, op: str, value: Any) -> None:
        """``obj.name op= value`` (rewritten by strict_compile)."""
        target = self.write(obj)
        setattr(target, name, self.operators[op](self.getattr(obj, name), value))

    def import_(
        self,
        name: str,
        globals: Mapping[str, object] | None = None,
        locals: Mapping[str, object] | None = None,
        fromlist: Sequence[str] | None = (),
        level: int = 0,
    ) -> ModuleType:
        """``__import__`` limited to the allowlist; ``from m import x`` is checked like ``m.x``."""
        if level or not self.module_allowed(name):
            raise ImportError(f"import of {name!r} is not allowed by the strict policy")
        module = __import__(name, globals, locals, fromlist or (), level)
        for item in fromlist or ():
            if item == "*" or (self.string is module and item == "Formatter"):
                raise ImportError(f"from {name} import {item}: not allowed by the strict policy")
            self.name(item)
            self.checked(getattr(module, item, None), f"{name}.{item}")
        return module

    def open(self, file: str, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        """``open`` for files inside the workspace (no descriptors, no ``opener``)."""
        if not isinstance(file, str) or "opener" in kwargs or len(args) >= 6:
            raise PermissionError("open() takes a path in the workspace under the strict policy")
        root = os.path.realpath(workspace.WORKDIR)
        real = os.path.realpath(os.path.join(root, file))
        if not real.startswith(root + os.sep):
            raise PermissionError(f"{file!r} is outside the workspace: not allowed by the strict policy")
        return open(real, mode, *args, **kwargs)


class GuardedFormatter:
    """``str.format`` whose fields (``{0.name}``, ``{0[key]}``) go through the program's guards."""

    def __init__(self, guards: Guards) -> None:
        import string

        guards_getattr = guards.getattr

        class Formatter(string.Formatter):
            def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
                import _string  # type: ignore[import-not-found]  # string.Formatter's own helper

                first, rest = _string.formatter_field_name_split(field_name)
                obj = self.get_value(first, args, kwargs)
                for is_attr, key in rest:
                    obj = guards_getattr(obj, key) if is_attr else obj[key]
                return obj, first

        self.formatter = Formatter()

    def bound(self, text: str, name: str) -> Callable[..., str]:
        if name == "format":
            return lambda *args, **kwargs: self.formatter.vformat(text, args, kwargs)
        return lambda mapping: self.formatter.vformat(text, (), mapping)


class StdoutPrint:
    """``print`` under RestrictedPython, writing to stdout as usual."""

    def __init__(self, _getattr_: object = None) -> None:
        pass

    def _call_print(self, *objects: object, **kwargs: Any) -> None:
        print(*objects, **kwargs)


def one_argument_type(obj: object) -> type:
    """``type(obj)``; making a class takes a ``class`` statement under the strict policy."""
    return type(obj)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)
