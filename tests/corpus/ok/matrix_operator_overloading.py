"""A small immutable Matrix class with operator overloading and indexing."""


class Matrix:
    def __init__(self, rows):
        self.rows = tuple(tuple(float(x) for x in row) for row in rows)
        if len({len(r) for r in self.rows}) > 1:
            raise ValueError("ragged rows")

    @property
    def shape(self):
        return len(self.rows), len(self.rows[0]) if self.rows else 0

    @classmethod
    def identity(cls, n):
        return cls([[1 if i == j else 0 for j in range(n)] for i in range(n)])

    def __getitem__(self, index):
        r, c = index
        return self.rows[r][c]

    def __add__(self, other):
        return Matrix([[a + b for a, b in zip(r1, r2)] for r1, r2 in zip(self.rows, other.rows)])

    def __mul__(self, scalar):
        return Matrix([[a * scalar for a in row] for row in self.rows])

    __rmul__ = __mul__

    def __matmul__(self, other):
        cols = list(zip(*other.rows))
        return Matrix([[sum(a * b for a, b in zip(row, col)) for col in cols] for row in self.rows])

    def __pow__(self, n):
        result = Matrix.identity(self.shape[0])
        for _ in range(n):
            result = result @ self
        return result

    def __eq__(self, other):
        return isinstance(other, Matrix) and self.rows == other.rows

    def __iter__(self):
        return iter(self.rows)

    def __repr__(self):
        return "Matrix(" + ", ".join(str(list(map(int, r))) for r in self.rows) + ")"


fib = Matrix([[1, 1], [1, 0]])
print(fib**10, (fib**10)[0, 1])
a = Matrix([[1, 2], [3, 4]])
print(a + a == 2 * a, a @ Matrix.identity(2) == a, a.shape, [sum(row) for row in a])
