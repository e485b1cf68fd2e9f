"""AST policy rules for Python: imports, names, qualified calls, attribute access in every form.

The tree is flattened once, iteratively (``flatten``), so a deeply nested but
parseable program cannot crash the validator with ``RecursionError``; the rules
and bandit both work from that one list.

Attribute access is checked wherever Python can express it by name:
``x.attr`` (load, store, delete), ``getattr``/``setattr``/``delattr``/``hasattr``,
``operator.attrgetter``/``methodcaller``, ``match`` class patterns
(``case C(attr=...)``), string constants that *are* a denied attribute name
(``vars(x)["__globals__"]``), and ``str.format`` fields such as
``"{0.__globals__}"`` in any string constant. Identifiers are already NFKC
-normalised by the parser, so a fullwidth ``exec`` is seen as ``exec``.
"""

from __future__ import annotations

import ast
import re

from sandbox.models import Finding
from sandbox.validation.policy import PythonRules

#: Calls that read an attribute whose name is an argument: name -> index of the name argument
#: (None: every positional argument is a name, possibly dotted).
DYNAMIC_ATTRIBUTE_CALLS: dict[str, int | None] = {
    "getattr": 1,
    "setattr": 1,
    "delattr": 1,
    "hasattr": 1,
    "operator.attrgetter": None,
    "operator.methodcaller": 0,
}
IMPORT_CALLS = ("__import__", "importlib.import_module", "importlib.__import__")
FORMAT_FIELD_ATTRIBUTE = re.compile(r"\{[^{}]*?\.([A-Za-z_]\w*)[^{}]*\}")
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


#: Nodes no rule or bandit test looks at: contexts (Load/Store) and operators.
LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


class TooManyNodes(Exception):
    """The tree has more nodes than the policy allows."""


def flatten(tree: ast.AST, max_nodes: int) -> list[tuple[ast.AST, ast.AST | None]]:
    """Every node but the leaves with its parent, in document (pre-)order, without recursion."""
    out: list[tuple[ast.AST, ast.AST | None]] = []
    stack: list[tuple[ast.AST, ast.AST | None]] = [(tree, None)]
    node_type, leaves = ast.AST, LEAVES
    while stack:
        node, parent = stack.pop()
        out.append((node, parent))
        if len(out) > max_nodes:
            raise TooManyNodes(max_nodes)
        children = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                children.extend(v for v in value if isinstance(v, node_type) and not isinstance(v, leaves))
            elif isinstance(value, node_type) and not isinstance(value, leaves):
                children.append(value)
        stack.extend((child, node) for child in reversed(children))
    return out


class RuleChecker:
    """Collects findings for one module tree under one policy's Python rules."""

    def __init__(self, rules: PythonRules, file: str = "main.py") -> None:
        self.rules = rules
        self.file = file
        self.findings: list[Finding] = []
        self._aliases: dict[str, str] = {}  # local name -> qualified name it was imported as
        self._star_modules: list[str] = []
        self._seen: set[tuple[str, int, int, str]] = set()
        self._bare_strings: set[int] = set()  # ids of docstrings and other string statements
        self._dispatch = {
            node_type: getattr(self, f"_visit_{node_type.__name__}")
            for node_type in (
                ast.Import,
                ast.ImportFrom,
                ast.Name,
                ast.Attribute,
                ast.MatchClass,
                ast.Call,
                ast.Constant,
                ast.Expr,
            )
        }

    def check(self, nodes: list[tuple[ast.AST, ast.AST | None]]) -> list[Finding]:
        """Apply the rules to every node of ``flatten(tree)``."""
        dispatch = self._dispatch
        for node, _ in nodes:
            handler = dispatch.get(type(node))
            if handler is not None:
                handler(node)
        return self.findings

    # ---------------------------------------------------------------- reporting
    def _add(self, rule_id: str, node: ast.AST, message: str, action: str = "deny") -> None:
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        key = (rule_id, line, col, message)
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(
                Finding(
                    rule_id=rule_id, severity="high", action=action, message=message, line=line, col=col, file=self.file
                )
            )

    def _module(self, module: str, node: ast.AST, how: str) -> None:
        verdict = self.rules.modules.verdict(module)
        if verdict == "denied":
            self._add("import.denied", node, f"{how} of module {module!r} is denied by the policy")
        elif verdict:
            self._add("import.not_allowed", node, f"{how} of module {module!r}: {verdict}")

    def _qualified(self, qualified: str, node: ast.AST) -> None:
        patterns = self.rules.qualified_patterns
        if patterns is not None and patterns.fullmatch(qualified):
            self._add("name.qualified_denied", node, f"use of {qualified!r} is denied by the policy")

    def _attribute(self, name: str, node: ast.AST, how: str) -> None:
        verdict = self.rules.attribute_verdict(name)
        if verdict:
            rule = "attribute.dunder" if verdict.startswith("a dunder") else "attribute.denied"
            self._add(rule, node, f"{how} attribute {name!r}: {verdict}")

    # ------------------------------------------------------------------ imports
    def _visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node, "import")
            if alias.asname:
                self._aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self._aliases[top] = top

    def _visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports: the sandbox has no package to import from
        self._module(node.module, node, "import")
        for alias in node.names:
            if alias.name == "*":
                self._star_modules.append(node.module)
                continue
            qualified = f"{node.module}.{alias.name}"
            # `from os import path` may name a submodule: check it as one too.
            if self.rules.modules.verdict(qualified) == "denied":
                self._module(qualified, node, "import")
            self._qualified(qualified, node)
            self._attribute(alias.name, node, "import of")
            self._aliases[alias.asname or alias.name] = qualified

    # -------------------------------------------------------------------- names
    def _visit_Name(self, node: ast.Name) -> None:
        if node.id in self.rules.names:
            self._add("name.denied", node, f"use of {node.id!r} is denied by the policy")
        if node.id in self._aliases:
            self._qualified(self._aliases[node.id], node)
        for module in self._star_modules:
            self._qualified(f"{module}.{node.id}", node)

    def _visit_Attribute(self, node: ast.Attribute) -> None:
        self._attribute(node.attr, node, "access to")
        qualified = self._dotted(node)
        if qualified:
            self._qualified(qualified, node)

    def _visit_MatchClass(self, node: ast.MatchClass) -> None:
        for name in node.kwd_attrs:
            self._attribute(name, node, "match pattern on")

    # -------------------------------------------------------------------- calls
    def _visit_Call(self, node: ast.Call) -> None:
        callee = self._dotted(node.func)
        if callee is None and isinstance(node.func, ast.Name):
            callee = node.func.id
        if callee in IMPORT_CALLS:
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                self._module(first.value, node, f"{callee}()")
            else:
                self._add("import.dynamic", node, f"{callee}() with a computed module name")
        if callee in DYNAMIC_ATTRIBUTE_CALLS:
            self._dynamic_attribute_call(callee, node)

    def _dynamic_attribute_call(self, callee: str, node: ast.Call) -> None:
        index = DYNAMIC_ATTRIBUTE_CALLS[callee]
        args = node.args if index is None else node.args[index : index + 1]
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                for part in arg.value.split("."):
                    self._attribute(part, node, f"{callee}() of")
            elif self.rules.dynamic_attributes != "allow":
                self._add(
                    "attribute.dynamic",
                    node,
                    f"{callee}() with a computed attribute name (use a dict or a literal name instead)",
                    action=self.rules.dynamic_attributes,
                )

    # ------------------------------------------------------------------ strings
    def _visit_Expr(self, node: ast.Expr) -> None:
        # Pre-order: the statement is seen before its value.
        if isinstance(node.value, ast.Constant):
            self._bare_strings.add(id(node.value))

    def _visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str) or id(node) in self._bare_strings:
            return  # docstrings and bare string statements are never evaluated as names
        text = node.value
        if IDENTIFIER.match(text) and self.rules.attribute_verdict(text):
            self._add("string.attribute", node, f"string {text!r} names a denied attribute")
        for name in FORMAT_FIELD_ATTRIBUTE.findall(text):
            if self.rules.attribute_verdict(name):
                self._add("string.format_attribute", node, f"format field reads denied attribute {name!r}")

    # ------------------------------------------------------------------ helpers
    def _dotted(self, node: ast.AST) -> str | None:
        """``os.path.join`` -> its qualified name through the import aliases, if it starts at one."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or not parts:
            return None
        base = self._aliases.get(node.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])
