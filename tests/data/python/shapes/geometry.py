"""Plane geometry primitives."""

import math
from dataclasses import dataclass

ORIGIN_NAME = "origin"


@dataclass(frozen=True)
class Point:
    """A point in the plane.

    Coordinates are floats.
    """

    x: float
    y: float

    def norm(self) -> float:
        """Distance from the origin."""
        return math.hypot(self.x, self.y)

    def moved(self, dx: float, dy: float) -> "Point":
        return Point(self.x + dx, self.y + dy)


def distance(a: Point, b: Point) -> float:
    """Euclidean distance between two points."""
    return math.hypot(a.x - b.x, a.y - b.y)
