"""Checkout: reserve stock for every cart line and print a receipt."""

from __future__ import annotations

from shop.cart import Cart
from shop.inventory import Inventory, OutOfStock
from shop.money import format_price


def checkout(cart: Cart, inventory: Inventory) -> str:
    """Reserve every line of the cart and return the receipt text."""
    receipt = []
    for line in cart.lines:
        try:
            inventory.reserve_items(line.code, line.quantity)
        except OutOfStock:
            receipt.append(f"{line.code}: out of stock")
            continue
        receipt.append(f"{line.code} x{line.quantity}: {format_price(line.subtotal())}")
    total = cart.total_price()
    receipt.append(f"total: {format_price(total)}")
    return "\n".join(receipt)
