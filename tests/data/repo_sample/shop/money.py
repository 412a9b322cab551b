"""Money as integer cents, so that sums never round."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Money:
    """An amount of one currency in cents."""

    cents: int
    currency: str = "EUR"

    def add(self, other: Money) -> Money:
        """The sum of two amounts of the same currency."""
        if other.currency != self.currency:
            raise ValueError("currency mismatch")
        return Money(self.cents + other.cents, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.cents * quantity, self.currency)


def format_price(amount: Money) -> str:
    """Render an amount as '12.34 EUR'."""
    return f"{amount.cents // 100}.{amount.cents % 100:02d} {amount.currency}"


def parse_price(text: str) -> Money:
    """Parse '12.34 EUR' back into Money."""
    number, currency = text.split()
    units, cents = number.split(".")
    return Money(int(units) * 100 + int(cents), currency)
