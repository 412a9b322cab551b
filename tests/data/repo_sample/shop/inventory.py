"""Stock levels per product code."""

from __future__ import annotations

STOCK_LIMIT = 1000


class OutOfStock(Exception):
    """Raised when an order asks for more than the shelf holds."""


class Inventory:
    """Stock levels, keyed by product code."""

    def __init__(self) -> None:
        self.levels: dict[str, int] = {}

    def restock(self, code: str, quantity: int) -> None:
        """Add quantity units of a product, up to STOCK_LIMIT."""
        self.levels[code] = min(STOCK_LIMIT, self.levels.get(code, 0) + quantity)

    def reserve_items(self, code: str, quantity: int) -> int:
        """Take quantity units off the shelf; returns what is left."""
        left = self.levels.get(code, 0) - quantity
        if left < 0:
            raise OutOfStock(code)
        self.levels[code] = left
        return left
