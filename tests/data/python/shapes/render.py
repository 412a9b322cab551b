from __future__ import annotations

from shapes.geometry import Point, distance


class Canvas:
    """Collects points and renders them as text."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.points: list[Point] = []

    def add(self, point: Point) -> None:
        # keep insertion order
        self.points.append(point)

    def render(self) -> str:
        lines = [f"{p.x},{p.y}" for p in self.points]
        return "\n".join(lines)


def spread(canvas: Canvas) -> float:
    first, *rest = canvas.points
    return max(distance(first, p) for p in rest)


if __name__ == "__main__":
    canvas = Canvas(80)
    canvas.add(Point(1, 2).moved(1, 1))
    print(spread(canvas))
