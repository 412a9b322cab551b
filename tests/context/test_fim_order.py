"""What one keystroke recomputes under prefix caching: PSM puts the suffix after the edit point,
SPM (where the family trained it) keeps the suffix before it."""

from __future__ import annotations

from codepager.context.prompt_format import PSM, SPM, STARCODER, tokenize_pieces

PAGE = 16


class CharTokenizer:
    specials = {"<fim_prefix>": 1001, "<fim_suffix>": 1002, "<fim_middle>": 1003, "<file_sep>": 1004,
                "<repo_name>": 1005}

    def token_id(self, text: str) -> int | None:
        return self.specials.get(text)

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]


def recomputed(before: list[int], after: list[int]) -> int:
    """Tokens of `after` past the last whole page it shares with `before` (what a prefix cache recomputes)."""
    common = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b),
                  min(len(before), len(after)))
    return len(after) - (common // PAGE) * PAGE


def test_spm_recomputes_only_the_typed_tail_psm_also_the_suffix() -> None:
    tok = CharTokenizer()
    prefix = "".join(f"line_{i} = {i}\n" for i in range(40)) + "total = "
    suffix = "".join(f"after_{i} = {i}\n" for i in range(40))
    cost = {}
    for order in (PSM, SPM):
        before = tokenize_pieces(tok, STARCODER.current_file("a.py", prefix, suffix, order=order))
        after = tokenize_pieces(tok, STARCODER.current_file("a.py", prefix + "x", suffix, order=order))
        cost[order] = recomputed(before, after)
    assert cost[SPM] <= PAGE + 2  # the last page of the prefix and the new character
    assert cost[PSM] >= len(suffix)  # everything after the edit point, the whole suffix included
