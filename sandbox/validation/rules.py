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

The module is long (about 770 lines) because it is one visitor: the binding pass,
the use pass and the capability checks (loader arguments, templates, pandas
expressions, reader URLs, modules as values) share its alias tables and its
findings, and splitting it would pass that state between modules.
"""

from __future__ import annotations

import ast
import re
import string
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
#: A URL a reader would fetch over the network (file:// and plain paths are local).
NETWORK_URL = re.compile(r"\s*(?:https?|ftps?|sftp|s3a?|gcs|gs|az|abfs|hdfs|webhdfs|wss?|smb)://", re.IGNORECASE)
#: In a pandas expression: a local reference (@x), a dunder, or an attribute of a name (a.b).
# Linear: a run of word characters is tried once, from its start (``[A-Za-z_]\w*\s*\.`` retried the run from
# every letter in it, quadratic: 4 s for a 10 KB literal).
EXPRESSION_REACH = re.compile(r"@|__|(?<!\w)(?=\w*?[A-Za-z_])\w++\s*+\.\s*+[A-Za-z_]")
#: matplotlib.use("module://name") imports the module ``name``.
MODULE_URL = "module://"
#: What in a string annotation is code rather than a type (functools.singledispatch's ``register``,
#: attrs and typing evaluate string annotations), and the builtins that would build one at run time.
ANNOTATION_CODE = (ast.Call, ast.Lambda, ast.NamedExpr, ast.comprehension, ast.Await, ast.Yield, ast.YieldFrom)
STRING_BUILDERS = ("str", "chr", "format", "repr", "ascii")
MAX_ANNOTATION = 1000
#: How deep a template built from literals is followed (``("{}" + " ") * n``).
MAX_TEMPLATE_DEPTH = 8
#: Steps spent following templates in one file (each is one node looked at): bounds names bound to
#: lists of names bound to lists ..., which would otherwise cost exponential time.
MAX_TEMPLATE_STEPS = 5_000
#: A class base that makes its instances strings (str, UserString, StrEnum, numpy.str_).
STR_BASE = re.compile(r"(?i)str")
#: Where a call's template or expression argument is, by the called method's name: str.format's
#: receiver is the template, ``str.format(template, ...)`` and ``Formatter(fmt, datefmt, style)`` name it.
TEMPLATE_KEYWORDS = ("fmt", "format")
EXPRESSION_KEYWORDS = ("expr",)
#: logging.Formatter's positional ``style``; "%" and "$" styles cannot read attributes.
STYLE_POSITION = 2
SAFE_STYLES = ("%", "$")
#: Dotted names longer than this (characters, or attribute links) are denied as too long to check: the
#: checks of one name cost its length times its links, and no real program comes near either.
MAX_NAME_CHARS = 256
MAX_CHAIN = 32
#: Distinct ``from m import *`` modules checked; every later name is checked against each of them.
MAX_STAR_IMPORTS = 16
TOO_LONG = f"a dotted name longer than {MAX_NAME_CHARS} characters or {MAX_CHAIN} links: too long to check"
#: Nodes no rule or bandit test looks at: contexts (Load/Store) and operators.
LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
Nodes = list[tuple[ast.AST, ast.AST | None]]
_FORMATTER = string.Formatter()


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
        self._module_names: set[str] = set()  # local names an `import` statement binds: always modules
        self._imported: set[str] = set()  # every module path an `import` statement names, and its parents
        self._star_modules: list[str] = []
        self._seen: set[tuple[str, int, int, str]] = set()
        self._bare_strings: set[int] = set()  # ids of docstrings and other string statements
        self._nodes: Nodes = []
        self._bound: dict[str, list[ast.expr] | None] | None = None  # built on first use: see _bound_values
        # Per name, so a name bound to many literals and used many times is looked at once.
        self._literal_cache: dict[str, list[str] | None] = {}
        self._scans: dict[tuple[str, str], str | None] = {}
        self._template_memo: dict[str, bool] = {}
        self._template_steps = MAX_TEMPLATE_STEPS  # for the whole file: templates cannot cost more than this
        self._str_subclass: bool | None = None  # whether the file subclasses a string type (see _library_object)
        # Keyed by the node's exact type, so each handler gets the node class it declares.
        self._bindings: dict[type[ast.AST], Callable[[Any], None]] = {
            ast.Import: self._bind_Import,
            ast.ImportFrom: self._bind_ImportFrom,
        }
        self._dispatch: dict[type[ast.AST], Callable[[Any, ast.AST | None], None]] = {
            node_type: getattr(self, f"_visit_{node_type.__name__}")
            for node_type in (ast.Name, ast.Attribute, ast.MatchClass, ast.Call, ast.Constant, ast.Expr, ast.arg)
        }
        # annotations (string annotations are evaluated where hints are read)
        self._dispatch.update(
            {
                ast.FunctionDef: self._visit_returns,
                ast.AsyncFunctionDef: self._visit_returns,
                ast.AnnAssign: self._visit_AnnAssign,
            }
        )

    def check(self, nodes: Nodes) -> list[Finding]:
        """Apply the rules to every node of ``flatten(tree)``."""
        self._nodes = nodes
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
        if self._too_long(module, node):
            return
        denied = self.rules.denied_module(module)
        if denied is not None:
            self._add("import.denied", node, f"{how} of module {module!r} is {denied[1]}")
            return
        verdict = self.rules.modules.verdict(module)
        if verdict:
            self._add("import.not_allowed", node, f"{how} of module {module!r}: {verdict}")

    def _resolved(self, qualified: str, node: ast.AST, called: bool) -> None:
        """A use of a name that resolves through the imports (``np.lib.format.read_array``)."""
        if self._too_long(qualified, node):
            return
        self._qualified(qualified, node)
        denied = self.rules.denied_module(qualified)
        if denied is not None and denied[0] != qualified.split(".", 1)[0]:  # the import itself was reported
            self._add("import.denied", node, f"use of module {denied[0]!r} through {qualified!r}: {denied[1]}")
        if not called and qualified in self.rules.argument_callables:
            keyword, _, reason = self.rules.argument_callables[qualified]
            message = f"{qualified} used as a value: its {keyword} argument cannot be checked (it {reason})"
            self._add("argument.denied", node, message + "; call it directly")

    def _qualified(self, qualified: str, node: ast.AST) -> None:
        """Check a dotted name and every tail of it (``shutil.os.system`` is also ``os.system``)."""
        if self._too_long(qualified, node):
            return
        patterns = self.rules.qualified_patterns
        parts = qualified.split(".")
        start = 0
        for part in parts[:-1]:  # each tail matched in place (``pos``): no copy of it per tail
            if patterns is not None and patterns.fullmatch(qualified, start):
                self._add("name.qualified_denied", node, f"use of {qualified[start:]!r} is denied by the policy")
                return
            start += len(part) + 1
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
            if "." in alias.name:
                self._qualified(alias.name, node)  # `import multiprocessing.popen_fork`
            parts = alias.name.split(".")
            self._imported.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            if alias.asname:
                self._aliases[alias.asname] = alias.name
                self._module_names.add(alias.asname)
            else:
                self._aliases[parts[0]] = parts[0]
                self._module_names.add(parts[0])

    def _bind_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports: the sandbox has no package to import from
        if self._too_long(node.module, node):
            return  # (each name imported would copy it)
        self._module(node.module, node, "import")
        for alias in node.names:
            if alias.name == "*":
                if node.module in self._star_modules:
                    continue
                if len(self._star_modules) >= MAX_STAR_IMPORTS:
                    self._add("source.too_complex", node, f"more than {MAX_STAR_IMPORTS} modules imported with *")
                    continue
                self._star_modules.append(node.module)
                continue
            qualified = f"{node.module}.{alias.name}"
            # `from os import path` may name a submodule: check it as one too.
            if self.rules.denied_module(qualified) is not None:
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
        if node.id in self._module_names:
            self._module_as_value(node, parent, node.id)
        called = isinstance(parent, ast.Call) and parent.func is node
        resolved = self._aliases.get(node.id)
        if resolved is not None and resolved != node.id:
            self._resolved(resolved, node, called)
        if self._star_modules and resolved is None:
            self._attribute(node.id, node, "use of")  # after `from m import *`, a name may be m's attribute
            for module in self._star_modules:
                self._resolved(f"{module}.{node.id}", node, called)
        name = resolved or node.id
        if name in DYNAMIC_ATTRIBUTE_CALLS and not called and not isinstance(node.ctx, ast.Store):
            self._add("attribute.dynamic", node, f"{name} used as a value (it reads attributes by computed name)")

    def _visit_Attribute(self, node: ast.Attribute, parent: ast.AST | None) -> None:
        self._attribute(node.attr, node, "access to")
        called = isinstance(parent, ast.Call) and parent.func is node
        qualified = self._resolve(node)
        if qualified:
            if qualified in self._imported:
                self._module_as_value(node, parent, qualified)
            self._resolved(qualified, node, called)
            if qualified in DYNAMIC_ATTRIBUTE_CALLS and not called:
                self._add("attribute.dynamic", node, f"{qualified} used as a value")
        if node.attr in self.rules.template_methods and not called:
            self._template(node.value, node, f".{node.attr} of a template used as a value")

    def _module_as_value(self, node: ast.Name | ast.Attribute, parent: ast.AST | None, module: str) -> None:
        """A module object anywhere but in front of an attribute (``[os][0]``, ``f(os)``, ``A.o = os``).

        The rules follow a module through imports, aliases and attribute chains; handed on as a
        value it arrives where no name says what it is, and every rule on its attributes is lost.
        """
        if not isinstance(node.ctx, ast.Load) or (isinstance(parent, ast.Attribute) and parent.value is node):
            return
        self._add(
            "module.as_value",
            node,
            f"module {module!r} used as a value: use its attributes where it is imported "
            "(a module handed on loses what the rules know of it)",
        )

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
        rules = self.rules
        if callee is not None and callee not in rules.argument_callables and self._star_modules:
            # `from numpy import *; load(f, None, True)`
            starred = (f"{module}.{callee}" for module in self._star_modules)
            callee = next((name for name in starred if name in rules.argument_callables), callee)
        if node.keywords:
            self._keywords(callee, node)
        if callee in rules.argument_callables:
            self._positional_argument(callee, node)
        func = node.func
        method = func.attr if isinstance(func, ast.Attribute) else callee
        if method is None:
            return
        if method in rules.template_methods and isinstance(func, ast.Attribute):
            receiver = func.value
            if isinstance(receiver, ast.Name) and receiver.id == "str":  # str.format(template, ...)
                receiver = node.args[0] if node.args else receiver
            self._template(receiver, node, f"{method}() of a template")
        name = method.rpartition(".")[2]
        if name in rules.expression_methods and (method is not callee or "." in method):  # df.query(), not eval()
            self._expression(node)
        elif (
            name == "Formatter"
            and len(node.args) > STYLE_POSITION
            and not _literal_in(node.args[STYLE_POSITION], SAFE_STYLES)
        ):
            self._styled_template(node)
        patterns = rules.url_reader_patterns
        if patterns is not None and patterns.fullmatch(name):
            self._url(node)

    def _keywords(self, callee: str | None, node: ast.Call) -> None:
        """Keywords that switch a capability on (``allow_pickle=True``, ``style="{"``), in any spelling."""
        denied = self.rules.argument_keywords
        for keyword in node.keywords:
            if keyword.arg is None:  # **mapping
                value = keyword.value
                if isinstance(value, ast.Dict):
                    for key, item in zip(value.keys, value.values, strict=True):
                        if isinstance(key, ast.Constant) and key.value in denied:
                            self._argument(str(key.value), item, node, denied[str(key.value)])
                        elif key is None or not isinstance(key, ast.Constant):
                            self._splat(callee, node)
                else:
                    self._splat(callee, node)
            elif keyword.arg in denied:
                self._argument(keyword.arg, keyword.value, node, denied[keyword.arg])
            elif keyword.arg == "style" and not _literal_in(keyword.value, SAFE_STYLES):
                self._styled_template(node)

    def _argument(self, keyword: str, value: ast.expr, node: ast.AST, reason: str) -> None:
        if not (isinstance(value, ast.Constant) and not value.value):
            self._add("argument.denied", node, f"{keyword} other than a literal False: it {reason}")

    def _splat(self, callee: str | None, node: ast.Call) -> None:
        if callee in self.rules.argument_callables:
            keyword, _, reason = self.rules.argument_callables[callee]
            self._add("argument.denied", node, f"{callee}() with * or ** arguments may pass {keyword} (it {reason})")

    def _positional_argument(self, callee: str, node: ast.Call) -> None:
        keyword, position, reason = self.rules.argument_callables[callee]
        for index, arg in enumerate(node.args):
            if isinstance(arg, ast.Starred):
                self._splat(callee, node)
            elif index == position:
                self._argument(f"{callee}() positional {keyword}", arg, node, reason)

    # ------------------------------------------------------- names in strings at run time
    def _styled_template(self, node: ast.Call) -> None:
        """logging's "{" style: the format string reads attributes of the record by name."""
        template = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg in TEMPLATE_KEYWORDS:
                template = keyword.value
        if template is not None:
            self._template(template, node, 'a "{"-style logging format')

    def _template(self, template: ast.expr, node: ast.AST, how: str) -> None:
        """A str.format template must be a literal (or a name only ever bound to literals), or made of
        whole literal templates (``"{:>8}" * n``, ``" ".join(["{}"] * n)``): every field is then one
        the string scan has seen."""
        if not self._whole_templates(template) and not self._library_object(template):
            self._add(
                "format.computed_template",
                node,
                f"{how} not traceable to a string literal: its fields read attributes by name "
                "(use a literal template or an f-string)",
            )

    def _whole_templates(self, node: ast.AST, depth: int = 0) -> bool:
        """``node`` is built only from literal templates each complete on its own (no field cut in two)."""
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str) and (depth == 0 or _complete_template(node.value))
        self._template_steps -= 1
        if depth > MAX_TEMPLATE_DEPTH or self._template_steps < 0:
            return False  # denied: too intricate to follow (names bound to lists of names ...)
        name = _bound_name(node)
        if name is not None and name in self._template_memo:
            return self._template_memo[name]
        values = self._bound_values(node)
        if values is not None:
            whole = all(self._whole_templates(value, depth + 1) for value in values)
            self._template_memo[name] = whole  # type: ignore[index]  # values come only from names
            return whole
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._whole_templates(node.left, depth + 1) and self._whole_templates(node.right, depth + 1)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):  # "{} " * n, [t] * n
            return self._whole_templates(node.left, depth + 1) or self._whole_templates(node.right, depth + 1)
        if isinstance(node, ast.List | ast.Tuple):
            return all(self._whole_templates(item, depth + 1) for item in node.elts)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
            return (
                len(node.args) == 1
                and not node.keywords
                and self._whole_templates(node.func.value, depth + 1)
                and self._whole_templates(node.args[0], depth + 1)
            )
        return False

    def _expression(self, node: ast.Call) -> None:
        """pandas eval/query: the expression resolves names and attributes (``@x.y``) at run time."""
        expression = node.args[0] if node.args else None
        for keyword in node.keywords:
            if keyword.arg in EXPRESSION_KEYWORDS:
                expression = keyword.value
        if expression is None:
            return  # model.eval(): nothing evaluated
        texts = self._literal_strings(expression)
        if texts is None:
            self._add(
                "expression.computed",
                node,
                "an eval()/query() expression not traceable to a string literal: pandas resolves its names and "
                "attributes at run time (use a literal, or pass a non-pandas argument by keyword)",
            )
        elif self._literal_match(expression, EXPRESSION_REACH, anchored=False) is not None:
            self._add(
                "expression.attribute",
                node,
                "an eval()/query() expression with @references, attributes or dunders: it can reach any object "
                "(use columns and operators only, or boolean indexing)",
            )

    def _url(self, node: ast.Call) -> None:
        """A reader given a network URL opens a socket (pandas, numpy.DataSource, lxml, xml.sax)."""
        candidates = [*node.args[:1], *(k.value for k in node.keywords if k.arg is not None)]
        for candidate in candidates:
            text = self._literal_match(candidate, NETWORK_URL, anchored=True)
            if text is not None:
                self._add("network.url", node, f"a reader given the URL {text[:60]!r}: the sandbox has no network")
                return

    def _library_object(self, node: ast.AST) -> bool:
        """Not a string the program made: a module attribute it never assigns (``np.lib.format``), or
        ``self``/``super()`` in a file that subclasses no string type (a logging.Formatter's ``format``)."""
        is_super = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
        if is_super or (isinstance(node, ast.Name) and node.id in ("self", "cls")):
            if self._str_subclass is None:
                classes = (n for n, _ in self._nodes if isinstance(n, ast.ClassDef))
                self._str_subclass = any(STR_BASE.search(ast.unparse(base)) for c in classes for base in c.bases)
            return not self._str_subclass
        if self._resolve(node) is None:
            return False
        self._bound_values(node)  # builds the bindings
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
        return name not in (self._bound or {})

    def _literal_strings(self, node: ast.AST) -> list[str] | None:
        """The string literals ``node`` can be (a literal, or a name or attribute only ever bound to literals)."""
        if isinstance(node, ast.Constant):
            return [node.value] if isinstance(node.value, str) else None
        name = _bound_name(node)
        if name is None:
            return None
        if name not in self._literal_cache:
            values = self._bound_values(node) or []
            texts = [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
            self._literal_cache[name] = texts if values and len(texts) == len(values) else None
        return self._literal_cache[name]

    def _literal_match(self, node: ast.AST, pattern: re.Pattern[str], anchored: bool) -> str | None:
        """The first literal ``node`` can be that ``pattern`` finds (at the start if ``anchored``), once per name."""
        texts = self._literal_strings(node)
        if not texts:
            return None
        find = pattern.match if anchored else pattern.search
        name = _bound_name(node)
        if name is None:  # a literal: one text
            return texts[0] if find(texts[0]) else None
        key = (name, pattern.pattern)
        if key not in self._scans:
            self._scans[key] = next((text for text in texts if find(text)), None)
        return self._scans[key]

    def _bound_values(self, node: ast.AST) -> list[ast.expr] | None:
        """What a name (or attribute name) is assigned, if every binding of it is a plain assignment."""
        name = _bound_name(node)
        if name is None:
            return None
        if self._bound is None:
            self._bound = _assigned_values(self._nodes)
        return self._bound.get(name)

    def _dynamic_attribute_call(self, callee: str, node: ast.Call) -> None:
        index = DYNAMIC_ATTRIBUTE_CALLS[callee]
        args = node.args if index is None else node.args[index : index + 1]
        target = self._resolve(node.args[0]) if index == 1 and node.args else None
        for arg in args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if target is not None:  # getattr(os, "system") is os.system
                    self._attribute(arg.value, node, f"{callee}() of")
                    self._resolved(f"{target}.{arg.value}", node, called=False)
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
            elif text in self.rules.argument_keywords:
                reason = self.rules.argument_keywords[text]
                self._add("string.keyword", node, f"string {text!r} names a denied keyword argument (it {reason})")
        elif DOTTED.match(text):
            # "os.system" handed to something that resolves names (dictConfig, pydoc.locate, mock.patch),
            # "0.__globals__" handed to a formatter.
            for part in text.split(".")[1:]:
                if self.rules.attribute_verdict(part):
                    self._add("string.attribute", node, f"string {text!r} names a denied attribute {part!r}")
            patterns = self.rules.qualified_patterns
            if patterns is not None and patterns.fullmatch(text):
                self._add("string.qualified", node, f"string {text!r} names a denied function")
        elif text.startswith(MODULE_URL):
            self._add("string.module_url", node, f"string {text[:60]!r}: matplotlib imports the module it names")
        if "{" in text:
            for field in FORMAT_FIELD.findall(text):
                for name in FIELD_ATTRIBUTE.findall(field.split("!")[0].split(":")[0]):
                    if self.rules.attribute_verdict(name):
                        self._add("string.format_attribute", node, f"format field reads denied attribute {name!r}")

    # -------------------------------------------------------------- annotations
    def _visit_arg(self, node: ast.arg, parent: ast.AST | None) -> None:
        if node.annotation is not None:
            self._annotation(node.annotation)

    def _visit_returns(self, node: ast.FunctionDef | ast.AsyncFunctionDef, parent: ast.AST | None) -> None:
        if node.returns is not None:
            self._annotation(node.returns)

    def _visit_AnnAssign(self, node: ast.AnnAssign, parent: ast.AST | None) -> None:
        self._annotation(node.annotation)

    def _annotation(self, annotation: ast.expr) -> None:
        """Annotations may name types, never run code: string annotations are evaluated by whatever
        reads the hints (functools.singledispatch's ``register``, attrs, typing), so neither may a
        string in one call anything, nor may one be built at run time (``"os.sys" + "tem(...)"``)."""
        if isinstance(annotation, ast.Name | ast.Attribute):
            return  # the common case
        for node in ast.walk(annotation):  # each annotation once: linear in the file
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "(" in node.value:
                try:
                    text = node.value.strip()
                    tree = ast.parse(text, mode="eval") if len(text) <= MAX_ANNOTATION else None
                except SyntaxError:
                    continue  # not an expression: evaluating it fails
                if tree is None or any(isinstance(n, ANNOTATION_CODE) for n in ast.walk(tree)):
                    self._add(
                        "annotation.code", node, "a string annotation that calls code: it runs where hints are read"
                    )
            elif _builds_text(node):
                self._add(
                    "annotation.code", node, "an annotation built as a string at run time: it is evaluated as code"
                )

    # ------------------------------------------------------------------ helpers
    def _resolve(self, node: ast.AST) -> str | None:
        """``os.path.join`` -> its qualified name through the aliases, if it starts at one.

        None, and a denial, past ``MAX_CHAIN`` links or ``MAX_NAME_CHARS``: every link of a
        chain is resolved in turn, so the walk is bounded to keep a long chain linear.
        """
        top = node
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            if len(parts) == MAX_CHAIN:
                self._add("source.too_complex", top, TOO_LONG)
                return None
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        base = self._aliases.get(node.id)
        if base is None:
            return None
        qualified = ".".join([base, *reversed(parts)])
        return None if self._too_long(qualified, top) else qualified

    def _too_long(self, name: str, node: ast.AST) -> bool:
        """Deny (and say so) a dotted name too long to check in bounded time."""
        if len(name) <= MAX_NAME_CHARS and name.count(".") < MAX_CHAIN:
            return False
        self._add("source.too_complex", node, TOO_LONG)
        return True


def _complete_template(text: str) -> bool:
    """Every ``{`` and ``}`` of ``text`` closes within it (as a field or an escape)."""
    try:
        for _ in _FORMATTER.parse(text):
            pass
    except ValueError:
        return False
    return True


def _builds_text(node: ast.AST) -> bool:
    """An f-string, string arithmetic (not ``A | B``), a str method call or str()/chr()/format()."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return not isinstance(node.op, ast.BitOr) and (_is_text(node.left) or _is_text(node.right))
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Attribute) and _is_text(func.value)) or (
            isinstance(func, ast.Name) and func.id in STRING_BUILDERS
        )
    return False


def _bound_name(node: ast.AST) -> str | None:
    """The name a binding map knows ``node`` by: a variable's, or an attribute's (``self.FMT``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_text(node: ast.expr) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))


def _literal_in(node: ast.expr, values: tuple[str, ...]) -> bool:
    return isinstance(node, ast.Constant) and node.value in values


#: Nodes that bind a name other than through ``ast.Name``: (type, field holding the name).
_OTHER_BINDINGS: dict[type[ast.AST], str] = {
    ast.arg: "arg",
    ast.ExceptHandler: "name",
    ast.MatchAs: "name",
    ast.MatchStar: "name",
    ast.MatchMapping: "rest",
    ast.FunctionDef: "name",
    ast.AsyncFunctionDef: "name",
    ast.ClassDef: "name",
}


def _assigned_values(nodes: Nodes) -> dict[str, list[ast.expr] | None]:
    """Name (or attribute name) -> the values assigned to it, None if any binding is not ``name = value``.

    Conservative: ``x.name = ...`` anywhere counts as a binding of ``name``; a name
    never bound in the file (a parameter, a library attribute) is unknown (absent).
    """
    bound: dict[str, list[ast.expr] | None] = {}
    for node, parent in nodes:
        kind = type(node)
        if kind is ast.Name or kind is ast.Attribute:
            if type(node.ctx) is not ast.Store:  # type: ignore[attr-defined]
                continue
            name = node.id if kind is ast.Name else node.attr  # type: ignore[attr-defined]
        elif kind is ast.alias:
            name = node.asname or node.name.split(".")[0]  # type: ignore[attr-defined]
        elif kind in _OTHER_BINDINGS:
            name = getattr(node, _OTHER_BINDINGS[kind])
            if name is None:
                continue
        else:
            continue
        value = getattr(parent, "value", None) if type(parent) in (ast.Assign, ast.AnnAssign) else None
        known = bound.get(name, [])
        if known is not None and value is not None:
            known.append(value)
            bound[name] = known
        else:
            bound[name] = None
    return bound
