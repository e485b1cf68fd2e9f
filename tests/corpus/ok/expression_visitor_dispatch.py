"""Evaluate and pretty-print an expression tree with the classic visitor pattern (getattr dispatch)."""

from dataclasses import dataclass


@dataclass
class Num:
    value: float


@dataclass
class BinOp:
    op: str
    left: object
    right: object


@dataclass
class Neg:
    operand: object


class Visitor:
    def visit(self, node):
        method = getattr(self, "visit_" + type(node).__name__, self.generic_visit)
        return method(node)

    def generic_visit(self, node):
        raise TypeError(f"no visitor for {type(node).__name__}")


class Evaluator(Visitor):
    OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}

    def visit_Num(self, node):
        return node.value

    def visit_BinOp(self, node):
        return self.OPS[node.op](self.visit(node.left), self.visit(node.right))

    def visit_Neg(self, node):
        return -self.visit(node.operand)


class Printer(Visitor):
    def visit_Num(self, node):
        return f"{node.value:g}"

    def visit_BinOp(self, node):
        return f"({self.visit(node.left)} {node.op} {self.visit(node.right)})"

    def visit_Neg(self, node):
        return f"-{self.visit(node.operand)}"


tree = BinOp("*", BinOp("+", Num(2), Num(3)), Neg(BinOp("/", Num(9), Num(4))))
print(Printer().visit(tree), "=", Evaluator().visit(tree))
