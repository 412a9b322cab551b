"""Repository-level prompt formats of code model families, detected from the tokenizer's special tokens.

A prompt is built as a list of pieces, each tokenized on its own and concatenated, so that the
repository part of a prompt has the same token ids whatever follows it (the engine's prefix cache
and segment cache key on token ids). Special tokens are looked up by id, never parsed out of text.

Layouts (PSM = prefix-suffix-middle; SPM = suffix-prefix-middle, only where the family trained it):
    qwen:      <|repo_name|>R\\n <|file_sep|>P\\nTEXT\\n ...
               <|file_sep|>F\\n<|fim_prefix|>A<|fim_suffix|>B<|fim_middle|>
    starcoder: <repo_name>R <file_sep>P\\nTEXT ... <file_sep><fim_prefix>F\\nA<fim_suffix>B<fim_middle>
               SPM: ... <file_sep><fim_prefix>F\\n<fim_suffix>B<fim_middle>A
    deepseek:  BOS #P\\nTEXT\\n ... #F\\n<｜fim▁begin｜>A<｜fim▁hole｜>B<｜fim▁end｜>
    plain:     # P\\nTEXT\\n ... # F\\nA   (left to right: the suffix is dropped)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

PSM = "psm"
SPM = "spm"


class TokenizerLike(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def token_id(self, text: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Piece:
    """One part of a prompt: either one special token or plain text (tokenized alone)."""

    text: str
    special: bool = False


@dataclass(frozen=True, slots=True)
class PromptFormat:
    name: str
    fim_prefix: str | None = None
    fim_suffix: str | None = None
    fim_middle: str | None = None
    file_sep: str | None = None
    repo_name: str | None = None
    path_in_fim_prefix: bool = False  # starcoder2 puts the path after <fim_prefix>
    spm: bool = False  # the family was trained on suffix-prefix-middle too
    bos: bool = False  # prepend the tokenizer's BOS token

    @property
    def has_fim(self) -> bool:
        return self.fim_prefix is not None

    def repo_header(self, repo: str) -> list[Piece]:
        if self.repo_name is None:
            return []
        sep = "\n" if self.name == "qwen" else ""
        return [Piece(self.repo_name, True), Piece(f"{repo}{sep}")]

    def file_block(self, path: str, text: str) -> list[Piece]:
        """One context segment of another file (or one part of it)."""
        body = text if text.endswith("\n") else text + "\n"
        if self.file_sep is None:
            return [Piece(f"{comment_for(path)} {path}\n{body}")]
        return [Piece(self.file_sep, True), Piece(f"{path}\n{body}")]

    def current_file(self, path: str, prefix: str, suffix: str, order: str = PSM) -> list[Piece]:
        """The file being edited, cut at the cursor; the model's answer follows these pieces."""
        if order not in (PSM, SPM):
            raise ValueError(f"unknown FIM order {order!r}")
        if order == SPM and not self.spm:
            raise ValueError(f"prompt format {self.name} has no suffix-prefix-middle order")
        if not self.has_fim:
            return [Piece(f"{comment_for(path)} {path}\n{prefix}")]
        head: list[Piece]
        if self.file_sep is None:
            head = [Piece(f"{comment_for(path)} {path}\n")]
        elif self.path_in_fim_prefix:
            head = [Piece(self.file_sep, True)]
        else:
            head = [Piece(self.file_sep, True), Piece(f"{path}\n")]
        start = [Piece(self.fim_prefix, True)]  # type: ignore[arg-type]
        if self.path_in_fim_prefix:
            start.append(Piece(f"{path}\n"))
        if order == SPM:
            return head + start + [Piece(self.fim_suffix, True), Piece(suffix),  # type: ignore[arg-type]
                                   Piece(self.fim_middle, True), Piece(prefix)]  # type: ignore[arg-type]
        return head + start + [Piece(prefix), Piece(self.fim_suffix, True), Piece(suffix),  # type: ignore[arg-type]
                               Piece(self.fim_middle, True)]  # type: ignore[arg-type]

    def stop_texts(self) -> tuple[str, ...]:
        """Texts that end a completion: the next file or the end of the hole."""
        stops = [t for t in (self.file_sep, self.repo_name, self.fim_prefix, self.fim_suffix, self.fim_middle)
                 if t]
        if self.name == "plain":
            stops.append("\n# ")
        return tuple(stops)


QWEN = PromptFormat("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>",
                    "<|repo_name|>")
STARCODER = PromptFormat("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>",
                         "<repo_name>", path_in_fim_prefix=True, spm=True)
STARCODER1 = PromptFormat("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<filename>",
                          "<reponame>", spm=True)
DEEPSEEK = PromptFormat("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", bos=True)
PLAIN = PromptFormat("plain")

FORMATS = {"qwen": QWEN, "starcoder": STARCODER, "deepseek": DEEPSEEK, "plain": PLAIN}


def detect_format(has_token: Callable[[str], bool]) -> PromptFormat:
    """The richest format whose special tokens the tokenizer has (has_token(text) -> bool)."""
    if all(has_token(t) for t in ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")):
        if has_token("<|file_sep|>") and has_token("<|repo_name|>"):
            return QWEN
        return PromptFormat("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    if all(has_token(t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")):
        if has_token("<file_sep>") and has_token("<repo_name>"):
            return STARCODER
        if has_token("<filename>") and has_token("<reponame>"):
            return STARCODER1
        return PromptFormat("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", spm=True)
    if all(has_token(t) for t in DEEPSEEK_TOKENS):
        return DEEPSEEK
    return PLAIN


DEEPSEEK_TOKENS = ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>")


def format_for_tokenizer(tokenizer: TokenizerLike) -> PromptFormat:
    specials = getattr(tokenizer, "special_tokens", None)
    if isinstance(specials, dict):
        return detect_format(specials.__contains__)
    return detect_format(lambda text: tokenizer.token_id(text) is not None)


def tokenize_pieces(tokenizer: TokenizerLike, pieces: Sequence[Piece]) -> list[int]:
    ids: list[int] = []
    for piece in pieces:
        if piece.special:
            token = tokenizer.token_id(piece.text)
            if token is None:
                raise ValueError(f"tokenizer has no special token {piece.text!r}")
            ids.append(token)
        elif piece.text:
            ids.extend(tokenizer.encode(piece.text))
    return ids


_HASH_COMMENT = (".py", ".sh", ".rb", ".pl", ".r", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".mk")


def comment_for(path: str) -> str:
    lower = path.lower()
    if lower.endswith(_HASH_COMMENT) or lower.rsplit("/", 1)[-1] in ("makefile", "dockerfile"):
        return "#"
    if lower.endswith((".sql", ".lua", ".hs")):
        return "--"
    return "//"
