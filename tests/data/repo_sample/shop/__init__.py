"""A tiny shop: money, inventory, carts and checkout."""
