"""Recursion with functools.lru_cache and cache: Fibonacci, partitions, edit distance, Hanoi."""

import sys
from functools import cache, lru_cache

sys.setrecursionlimit(5000)


@lru_cache(maxsize=None)
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@cache
def partitions(n, largest):
    if n == 0:
        return 1
    if n < 0 or largest == 0:
        return 0
    return partitions(n - largest, largest) + partitions(n, largest - 1)


def edit_distance(a, b):
    @lru_cache(maxsize=None)
    def d(i, j):
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def hanoi(n, source="A", target="C", spare="B", moves=None):
    moves = [] if moves is None else moves
    if n:
        hanoi(n - 1, source, spare, target, moves)
        moves.append((source, target))
        hanoi(n - 1, spare, target, source, moves)
    return moves


print(fib(90), fib.cache_info().hits > 0)
print([partitions(n, n) for n in range(1, 13)])
print(edit_distance("kitten", "sitting"), edit_distance("sunday", "saturday"))
print(len(hanoi(10)), hanoi(2))
fib.cache_clear()
print(fib.cache_info().currsize)
