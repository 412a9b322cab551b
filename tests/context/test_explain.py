from __future__ import annotations

from codepager.context.explain import identifier_at, signature_and_doc

PY = '''def add_line(self, code: str,
             unit_price: Money, quantity: int = 1) -> CartLine:
    """Add a product line to the cart.

    More words.
    """
    line = CartLine(code, unit_price, quantity)
'''

JS = """// Sum two numbers.
// Returns their total.
function add(a, b) {
  return a + b;
}
"""


def test_python_signature_spans_lines_and_docstring_is_first_paragraph() -> None:
    signature, doc = signature_and_doc(PY, 0)
    assert signature == "\n".join(PY.split("\n")[:2])
    assert doc == "Add a product line to the cart."


def test_c_like_signature_and_comment_above() -> None:
    signature, doc = signature_and_doc(JS, 2)
    assert signature == "function add(a, b)"
    assert doc == "Sum two numbers.\nReturns their total."


def test_identifier_under_cursor() -> None:
    text = "total = cart.total_price()\n"
    assert identifier_at(text, text.index("total_price") + 3) == "total_price"
    assert identifier_at(text, text.index("cart") + 4) == "cart"  # just after the name still counts
    assert identifier_at(text, text.index("(") + 1) is None
