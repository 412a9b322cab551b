from __future__ import annotations

import pytest

from codepager.context.prompt_format import (
    DEEPSEEK,
    PLAIN,
    PSM,
    QWEN,
    SPM,
    STARCODER,
    detect_format,
    tokenize_pieces,
)


class CharTokenizer:
    """One id per character, plus the given special tokens (as a real tokenizer splits them)."""

    def __init__(self, specials: list[str]) -> None:
        self.specials = {text: 1000 + i for i, text in enumerate(specials)}

    def token_id(self, text: str) -> int | None:
        return self.specials.get(text)

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        names = {v: k for k, v in self.specials.items()}
        return "".join(names.get(i, chr(i) if i < 1000 else "?") for i in ids)


QWEN_SPECIALS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|repo_name|>",
                 "<|endoftext|>"]


def render(fmt, tok, pieces):
    return tok.decode(tokenize_pieces(tok, pieces))


def test_detects_each_family() -> None:
    assert detect_format(set(QWEN_SPECIALS).__contains__) == QWEN
    star = {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<repo_name>"}
    assert detect_format(star.__contains__) == STARCODER
    assert detect_format({"<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"}.__contains__) == DEEPSEEK
    assert detect_format({"<|endoftext|>"}.__contains__) == PLAIN
    only_fim = detect_format({"<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"}.__contains__)
    assert only_fim.has_fim and only_fim.file_sep is None


def test_qwen_layout_is_exactly_the_training_format() -> None:
    tok = CharTokenizer(QWEN_SPECIALS)
    pieces = (QWEN.repo_header("repo") + QWEN.file_block("a.py", "def f():\n    pass")
              + QWEN.file_block("b.py", "X = 1\n") + QWEN.current_file("c.py", "x = f(", ")\n"))
    assert render(QWEN, tok, pieces) == (
        "<|repo_name|>repo\n<|file_sep|>a.py\ndef f():\n    pass\n<|file_sep|>b.py\nX = 1\n"
        "<|file_sep|>c.py\n<|fim_prefix|>x = f(<|fim_suffix|>)\n<|fim_middle|>"
    )


def test_special_tokens_are_ids_not_text() -> None:
    tok = CharTokenizer(QWEN_SPECIALS)
    ids = tokenize_pieces(tok, QWEN.current_file("c.py", "<|fim_middle|>", ""))
    # the text "<|fim_middle|>" typed in a buffer stays characters; only the real marker is special
    assert ids.count(tok.token_id("<|fim_middle|>")) == 1


def test_starcoder_spm_keeps_suffix_before_prefix() -> None:
    tok = CharTokenizer(["<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<repo_name>"])
    text = render(STARCODER, tok, STARCODER.current_file("c.py", "AB", "CD", order=SPM))
    assert text == "<file_sep><fim_prefix>c.py\n<fim_suffix>CD<fim_middle>AB"
    psm = render(STARCODER, tok, STARCODER.current_file("c.py", "AB", "CD", order=PSM))
    assert psm == "<file_sep><fim_prefix>c.py\nAB<fim_suffix>CD<fim_middle>"


def test_spm_refused_where_not_trained() -> None:
    with pytest.raises(ValueError, match="suffix-prefix-middle"):
        QWEN.current_file("c.py", "a", "b", order=SPM)


def test_deepseek_and_plain_use_path_comments() -> None:
    tok = CharTokenizer(["<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"])
    pieces = DEEPSEEK.file_block("src/a.js", "let a = 1;") + DEEPSEEK.current_file("b.py", "x", "y")
    expected = "// src/a.js\nlet a = 1;\n# b.py\n<｜fim▁begin｜>x<｜fim▁hole｜>y<｜fim▁end｜>"
    assert render(DEEPSEEK, tok, pieces) == expected
    assert DEEPSEEK.bos
    plain = render(PLAIN, tok, PLAIN.file_block("a.py", "A") + PLAIN.current_file("b.py", "x = ", "ignored"))
    assert plain == "# a.py\nA\n# b.py\nx = "


def test_repository_part_tokens_do_not_depend_on_what_follows() -> None:
    tok = CharTokenizer(QWEN_SPECIALS)
    repo = QWEN.repo_header("r") + QWEN.file_block("a.py", "def f(): pass")
    one = tokenize_pieces(tok, repo + QWEN.current_file("c.py", "x = 1", ""))
    two = tokenize_pieces(tok, repo + QWEN.current_file("c.py", "y = 22", "z"))
    n = len(tokenize_pieces(tok, repo))
    assert one[:n] == two[:n]
