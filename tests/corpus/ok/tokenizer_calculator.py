"""A tiny tokenizer and precedence-climbing interpreter for arithmetic with variables."""

import math
import operator
import re

TOKEN = re.compile(r"\s*(?:(\d+\.?\d*)|([A-Za-z_]\w*)|(\*\*|[-+*/%()=]))")
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "%": 2, "**": 3}
FUNCS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod}


def tokenize(text):
    pos, tokens, text = 0, [], text.rstrip()
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match:
            raise SyntaxError(f"bad character at {pos}: {text[pos]!r}")
        number, name, op = match.groups()
        tokens.append(("num", float(number)) if number else ("name", name) if name else ("op", op))
        pos = match.end()
    return tokens + [("end", None)]


class Interpreter:
    def __init__(self):
        self.env = {"pi": math.pi, "e": math.e}

    def run(self, line):
        self.tokens = tokenize(line)
        target = self.tokens[0][1] if self.tokens[1] == ("op", "=") else None
        self.i = 2 if target else 0
        self.env[target or "_"] = value = self.expr(1)
        return value

    def take(self):
        self.i += 1
        return self.tokens[self.i - 1]

    def expr(self, min_precedence):
        left = self.atom()
        while (tok := self.tokens[self.i])[0] == "op" and PRECEDENCE.get(tok[1], 0) >= min_precedence:
            precedence = PRECEDENCE[self.take()[1]]
            right = self.expr(precedence if tok[1] == "**" else precedence + 1)
            left = left**right if tok[1] == "**" else FUNCS[tok[1]](left, right)
        return left

    def atom(self):
        kind, value = self.take()
        if value == "(":
            inner = self.expr(1)
            self.take()
            return inner
        if value == "-":
            return -self.atom()
        return value if kind == "num" else self.env[value]


calc = Interpreter()
for line in ["x = 3", "y = x ** 2 + 1", "(y - x) * 2 / 4", "2 ** 3 ** 2", "-x + 10 % 4", "r = 2", "pi * r ** 2"]:
    print(f"{line:<18} => {calc.run(line):g}")
