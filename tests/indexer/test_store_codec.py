"""The store's JSON encoding: the prebuilt C encoder writes exactly what json.JSONEncoder writes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from codepager.indexer.store_codec import encode_json

REFERENCE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(json_values)
def test_encode_json_matches_the_stdlib_encoder(value: object) -> None:
    assert encode_json(value) == REFERENCE.encode(value)


@pytest.mark.parametrize("value", [
    "plain", 'q"uote\\back\nline\t\x00\x1f', "é ü 漢字 \ud800 😀", (1, "a"), [],
])
def test_encode_json_on_awkward_strings_and_tuples(value: object) -> None:
    assert encode_json(value) == REFERENCE.encode(value)
