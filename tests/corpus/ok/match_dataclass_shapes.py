"""Structural pattern matching on dataclasses, sequences, mappings and literals."""

import math
from dataclasses import dataclass


@dataclass
class Point:
    x: float
    y: float


@dataclass
class Circle:
    center: Point
    radius: float


@dataclass
class Rect:
    corner: Point
    width: float
    height: float


def area(shape):
    match shape:
        case Circle(radius=r) if r >= 0:
            return math.pi * r * r
        case Rect(width=w, height=h):
            return w * h
        case Point():
            return 0.0
        case _:
            raise TypeError(f"not a shape: {shape!r}")


def describe(event):
    match event:
        case {"type": "click", "pos": (x, y)}:
            return f"click at {x},{y}"
        case {"type": "key", "key": "q" | "Q"}:
            return "quit"
        case {"type": "key", "key": str(k)}:
            return f"key {k}"
        case [first, *rest]:
            return f"batch of {1 + len(rest)} starting with {describe(first)}"
        case Point(x=0, y=0):
            return "origin"
        case _:
            return "unknown"


shapes = [Circle(Point(0, 0), 1), Rect(Point(1, 1), 2, 3), Point(5, 5)]
print([round(area(s), 3) for s in shapes])
EVENTS = [{"type": "click", "pos": (3, 4)}, {"type": "key", "key": "Q"}, {"type": "key", "key": "a"}]
for event in [*EVENTS, [{"type": "key", "key": "x"}, {}], Point(0, 0), 42]:
    print(describe(event))
