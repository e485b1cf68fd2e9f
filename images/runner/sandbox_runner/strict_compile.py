"""The strict tier's compile policy: RestrictedPython's, plus augmented assignment to items and attributes.

One source for both sides. The host validates with it (``sandbox/validation/strict_compile.py``
is a symlink to this file) and the runner compiles the program with it in the container,
so the program the host accepted is the program that runs. Imported lazily by
``restricted`` only: it needs RestrictedPython, which only restricted runs pay for.

RestrictedPython refuses ``d[k] += 1``, ``self.n += 1`` and ``x: int = 0``; ordinary
code is full of them. Annotated assignments are visited like any statement; the
augmented assignments become calls of guards the runner provides:
``_inplace_item_(d, k, "+=", 1)`` and ``_inplace_attr_(self, "n", "+=", 1)``, which read
through ``_getitem_``/``_getattr_`` and write through ``_write_``, so they are checked
exactly like the plain read and assignment they stand for. The target's parts are
checked by RestrictedPython's own visitors (an ``_``-name attribute is still refused).
One difference from Python: the right-hand side is evaluated before the item is read.
"""

from __future__ import annotations

import ast

from RestrictedPython.compile import CompileResult, compile_restricted_exec
from RestrictedPython.transformer import IOPERATOR_TO_STR, RestrictingNodeTransformer

#: The guards the rewritten augmented assignments call (defined by the runner's namespace).
INPLACE_ITEM = "_inplace_item_"
INPLACE_ATTR = "_inplace_attr_"


class StrictTransformer(RestrictingNodeTransformer):
    """RestrictedPython's transformer, with augmented assignment to subscripts and attributes allowed,
    and annotated assignments (``x: int = 0``, which dataclasses are made of)."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        # The annotation is an expression like any other: visited, so it is guarded the same way.
        result = self.node_contents_visit(node)
        assert isinstance(result, ast.AST)
        return result

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        target = node.target
        if not isinstance(target, ast.Subscript | ast.Attribute):
            result = super().visit_AugAssign(node)
            assert isinstance(result, ast.AST)
            return result
        # Visiting the target as a read gives `_getitem_(obj, key)` or `_getattr_(obj, "name")`
        # with RestrictedPython's checks and slice handling applied; its arguments are reused.
        target.ctx = ast.Load()
        read = self.visit(target)
        value = self.visit(node.value)
        if not (isinstance(read, ast.Call) and len(read.args) == 2):  # an error was recorded for the target
            return node
        guard = INPLACE_ITEM if isinstance(target, ast.Subscript) else INPLACE_ATTR
        call = ast.Call(
            func=ast.Name(guard, ast.Load()),
            args=[*read.args, ast.Constant(IOPERATOR_TO_STR[type(node.op)]), value],
            keywords=[],
        )
        statement = ast.Expr(call)
        for new in (statement, call, call.func, call.args[2]):
            ast.copy_location(new, node)
        return statement


def compile_strict(source: str, filename: str) -> CompileResult:
    """Compile ``source`` for ``exec`` under the strict policy; errors are listed, never raised."""
    return compile_restricted_exec(source, filename=filename, policy=StrictTransformer)
