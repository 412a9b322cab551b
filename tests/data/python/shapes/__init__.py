"""Shapes and how to draw them."""

from .geometry import Point, distance

__all__ = ["Point", "distance"]
