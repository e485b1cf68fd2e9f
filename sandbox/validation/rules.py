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
from collections.abc import Callable
from typing import Any

from sandbox.models import Finding
from sandbox.validation.policy import Action, PythonRules

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
FORMAT_FIELD = re.compile(r"\{([^{}]*)\}")  # linear: no nested quantifiers
FIELD_ATTRIBUTE = re.compile(r"\.([A-Za-z_]\w*)")
IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
DOTTED = re.compile(r"^\w+(?:\.\w+)+$")
#: Nodes no rule or bandit test looks at: contexts (Load/Store) and operators.
LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
Nodes = list[tuple[ast.AST, ast.AST | None]]


def _subclasses(base: type[ast.AST]) -> set[type[ast.AST]]:
    found: set[type[ast.AST]] = set()
    for sub in base.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


_LEAF_TYPES = frozenset(cls for base in LEAVES for cls in _subclasses(base))


class TooManyNodes(Exception):
    """The tree has more nodes than the policy allows."""


def flatten(tree: ast.AST, max_nodes: int) -> Nodes:
    """Every node but the leaves with its parent, in document (pre-)order, without recursion."""
    out: Nodes = []
    append = out.append
    stack: Nodes = [(tree, None)]
    pop, push = stack.pop, stack.append
    node_type, leaves = ast.AST, _LEAF_TYPES
    while stack:
        node, parent = pop()
        append((node, parent))
        if len(out) > max_nodes:
            raise TooManyNodes(max_nodes)
        children = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, node_type) and item.__class__ not in leaves:
                        children.append(item)
            elif isinstance(value, node_type) and value.__class__ not in leaves:
                children.append(value)
        for child in reversed(children):
            push((child, node))
    return out


class RuleChecker:
    """Collects findings for one module tree under one policy's Python rules.

    Two passes over ``flatten(tree)``: first every binding of a module (imports,
    ``name = module`` aliases), wherever it is in the file; then every use, so a
    use placed before its import is still resolved.
    """

    def __init__(self, rules: PythonRules, file: str = "main.py") -> None:
        self.rules = rules
        self.file = file
        self.findings: list[Finding] = []
        self._aliases: dict[str, str] = {}  # local name -> qualified name it stands for
        self._star_modules: list[str] = []
        self._seen: set[tuple[str, int, int, str]] = set()
        self._bare_strings: set[int] = set()  # ids of docstrings and other string statements
        # Keyed by the node's exact type, so each handler gets the node class it declares.
        self._bindings: dict[type[ast.AST], Callable[[Any], None]] = {
            ast.Import: self._bind_Import,
            ast.ImportFrom: self._bind_ImportFrom,
        }
        self._dispatch: dict[type[ast.AST], Callable[[Any, ast.AST | None], None]] = {
            node_type: getattr(self, f"_visit_{node_type.__name__}")
            for node_type in (ast.Name, ast.Attribute, ast.MatchClass, ast.Call, ast.Constant, ast.Expr)
        }

    def check(self, nodes: Nodes) -> list[Finding]:
        """Apply the rules to every node of ``flatten(tree)``."""
        assignments = []
        for node, _ in nodes:
            binder = self._bindings.get(type(node))
            if binder is not None:
                binder(node)
            elif type(node) is ast.Assign:
                assignments.append(node)
        for _ in range(3):  # `a = os; b = a` chains, a few levels deep
            for node in assignments:
                self._bind_Assign(node)
        dispatch = self._dispatch
        for node, parent in nodes:
            handler = dispatch.get(type(node))
            if handler is not None:
                handler(node, parent)
        return self.findings

    # ---------------------------------------------------------------- reporting
    def _add(self, rule_id: str, node: ast.AST, message: str, action: Action = "deny") -> None:
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
        """Check a dotted name and every tail of it (``shutil.os.system`` is also ``os.system``)."""
        patterns = self.rules.qualified_patterns
        parts = qualified.split(".")
        for start in range(len(parts) - 1):
            tail = ".".join(parts[start:])
            if patterns is not None and patterns.fullmatch(tail):
                self._add("name.qualified_denied", node, f"use of {tail!r} is denied by the policy")
                return
        # A denied module reached as an attribute of an allowed one (`animation.subprocess`).
        for part in parts[1:]:
            if part in self.rules.attribute_modules:
                self._add("import.denied", node, f"use of module {part!r} through {qualified!r} is denied")
                return

    def _attribute(self, name: str, node: ast.AST, how: str) -> None:
        verdict = self.rules.attribute_verdict(name)
        if verdict:
            rule = "attribute.dunder" if verdict.startswith("a dunder") else "attribute.denied"
            self._add(rule, node, f"{how} attribute {name!r}: {verdict}")

    def _detached(self, name: str, node: ast.AST, how: str) -> None:
        """An attribute named with no visible object (attrgetter, match patterns, getattr on a variable)."""
        self._attribute(name, node, how)
        if self.rules.detached_verdict(name):
            self._add("attribute.detached", node, f"{how} {name!r}: denied wherever the object is not visible")

    # ----------------------------------------------------------------- bindings
    def _bind_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node, "import")
            if alias.asname:
                self._aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self._aliases[top] = top

    def _bind_ImportFrom(self, node: ast.ImportFrom) -> None:
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

    def _bind_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            resolved = self._resolve(node.value)
            if resolved is not None:
                self._aliases[node.targets[0].id] = resolved
            elif isinstance(node.value, ast.Name) and node.value.id in DYNAMIC_ATTRIBUTE_CALLS:
                self._aliases[node.targets[0].id] = node.value.id  # g = getattr

    # -------------------------------------------------------------------- names
    def _visit_Name(self, node: ast.Name, parent: ast.AST | None) -> None:
        if (
            node.id not in self._aliases
            and not self._star_modules
            and node.id not in self.rules.names
            and node.id not in DYNAMIC_ATTRIBUTE_CALLS
        ):
            return  # a plain local or global: the common case
        if node.id in self.rules.names:
            self._add("name.denied", node, f"use of {node.id!r} is denied by the policy")
        resolved = self._aliases.get(node.id)
        if resolved is not None and resolved != node.id:
            self._qualified(resolved, node)
        for module in self._star_modules:
            self._qualified(f"{module}.{node.id}", node)
        name = resolved or node.id
        called = isinstance(parent, ast.Call) and parent.func is node
        if name in DYNAMIC_ATTRIBUTE_CALLS and not called and not isinstance(node.ctx, ast.Store):
            self._add("attribute.dynamic", node, f"{name} used as a value (it reads attributes by computed name)")

    def _visit_Attribute(self, node: ast.Attribute, parent: ast.AST | None) -> None:
        self._attribute(node.attr, node, "access to")
        qualified = self._resolve(node)
        if qualified:
            self._qualified(qualified, node)
            called = isinstance(parent, ast.Call) and parent.func is node
            if qualified in DYNAMIC_ATTRIBUTE_CALLS and not called:
                self._add("attribute.dynamic", node, f"{qualified} used as a value")

    def _visit_MatchClass(self, node: ast.MatchClass, parent: ast.AST | None) -> None:
        for name in node.kwd_attrs:
            self._detached(name, node, "match pattern on")

    # -------------------------------------------------------------------- calls
    def _visit_Call(self, node: ast.Call, parent: ast.AST | None) -> None:
        callee = self._resolve(node.func)
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
        target = self._resolve(node.args[0]) if index == 1 and node.args else None
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if target is not None:  # getattr(os, "system") is os.system
                    self._attribute(arg.value, node, f"{callee}() of")
                    self._qualified(f"{target}.{arg.value}", node)
                    continue
                for part in arg.value.split("."):
                    self._detached(part, node, f"{callee}() of")
            elif self.rules.dynamic_attributes != "allow":
                self._add(
                    "attribute.dynamic",
                    node,
                    f"{callee}() with a computed attribute name (use a dict or a literal name instead)",
                    action=self.rules.dynamic_attributes,
                )

    # ------------------------------------------------------------------ strings
    def _visit_Expr(self, node: ast.Expr, parent: ast.AST | None) -> None:
        # Pre-order: the statement is seen before its value.
        if isinstance(node.value, ast.Constant):
            self._bare_strings.add(id(node.value))

    def _visit_Constant(self, node: ast.Constant, parent: ast.AST | None) -> None:
        if not isinstance(node.value, str) or id(node) in self._bare_strings:
            return  # docstrings and bare string statements are never evaluated as names
        text = node.value
        if IDENTIFIER.match(text):
            if self.rules.attribute_verdict(text):
                self._add("string.attribute", node, f"string {text!r} names a denied attribute")
        elif DOTTED.match(text):
            # "os.system" handed to something that resolves names (dictConfig, pydoc.locate, mock.patch),
            # "0.__globals__" handed to a formatter.
            for part in text.split(".")[1:]:
                if self.rules.attribute_verdict(part):
                    self._add("string.attribute", node, f"string {text!r} names a denied attribute {part!r}")
            patterns = self.rules.qualified_patterns
            if patterns is not None and patterns.fullmatch(text):
                self._add("string.qualified", node, f"string {text!r} names a denied function")
        if "{" in text:
            for field in FORMAT_FIELD.findall(text):
                for name in FIELD_ATTRIBUTE.findall(field.split("!")[0].split(":")[0]):
                    if self.rules.attribute_verdict(name):
                        self._add("string.format_attribute", node, f"format field reads denied attribute {name!r}")

    # ------------------------------------------------------------------ helpers
    def _resolve(self, node: ast.AST) -> str | None:
        """``os.path.join`` -> its qualified name through the aliases, if it starts at one."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self._aliases.get(node.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])
