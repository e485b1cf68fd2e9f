"""Typing: Protocol, Generic containers, TypedDict, TypeVar bounds and overload-free helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypedDict, TypeVar, runtime_checkable


@runtime_checkable
class Shape(Protocol):
    def area(self) -> float: ...


class Square:
    def __init__(self, side: float) -> None:
        self.side = side

    def area(self) -> float:
        return self.side**2


T = TypeVar("T")
K = TypeVar("K")


class Stack(Generic[T]):
    def __init__(self) -> None:
        self._items: list[T] = []

    def push(self, item: T) -> None:
        self._items.append(item)

    def pop(self) -> T:
        return self._items.pop()

    def __len__(self) -> int:
        return len(self._items)


class Movie(TypedDict):
    title: str
    year: int


def group_by(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


stack: Stack[int] = Stack()
for n in range(3):
    stack.push(n * n)
print(len(stack), stack.pop(), isinstance(Square(2), Shape), isinstance("x", Shape))
movies: list[Movie] = [{"title": "Alien", "year": 1979}, {"title": "Heat", "year": 1995}, {"title": "Up", "year": 2009}]
print(group_by(movies, lambda m: m["year"] // 10 * 10))
print(sum(s.area() for s in [Square(1.5), Square(2)]))
