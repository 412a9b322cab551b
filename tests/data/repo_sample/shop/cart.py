"""A shopping cart of product lines."""

from __future__ import annotations

from shop.money import Money


class CartLine:
    """One product in a cart, with its unit price and quantity."""

    def __init__(self, code: str, unit_price: Money, quantity: int) -> None:
        self.code = code
        self.unit_price = unit_price
        self.quantity = quantity

    def subtotal(self) -> Money:
        return self.unit_price.times(self.quantity)


class Cart:
    """The lines a customer is about to buy."""

    def __init__(self) -> None:
        self.lines: list[CartLine] = []

    def add_line(self, code: str, unit_price: Money, quantity: int = 1) -> CartLine:
        """Add a product line to the cart."""
        line = CartLine(code, unit_price, quantity)
        self.lines.append(line)
        return line

    def total_price(self) -> Money:
        """The sum of every line's subtotal."""
        total = Money(0)
        for line in self.lines:
            total = total.add(line.subtotal())
        return total
