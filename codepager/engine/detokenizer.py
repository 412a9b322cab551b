"""Incremental detokenization with stop strings (plain Python; any tokenizer with decode(ids)).

Text is re-decoded from the completion's ids (byte-level BPE may split one character over several
tokens, shown as U+FFFD until complete, so such a tail is held back). While generating, the last
len(longest stop string) - 1 characters are held back too, so that a stop string's beginning is
never streamed and then retracted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

REPLACEMENT = "\ufffd"


class Decoder(Protocol):
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str: ...


class Detokenizer:
    def __init__(self, tokenizer: Decoder, stop: list[str], *, skip_special_tokens: bool = True) -> None:
        self.tokenizer = tokenizer
        self.stop = list(stop)
        self.skip_special_tokens = skip_special_tokens
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.ids: list[int] = []
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def add(self, token_ids: Sequence[int]) -> bool:
        """Append tokens; True when the text now contains a stop string (text cut before it)."""
        if self.stopped:
            return True
        self.ids.extend(token_ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=self.skip_special_tokens)
        if not text.endswith(REPLACEMENT):
            self._set_text(text)
        return self.stopped

    def _set_text(self, text: str) -> None:
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=-1)
        if cut >= 0:
            text, self.stopped = text[:cut], True
        self.text = text

    def delta(self, final: bool) -> str:
        """Text not yet handed out that can no longer change."""
        if final:
            if not self.stopped:  # a dangling partial character is flushed as is
                self._set_text(self.tokenizer.decode(self.ids, skip_special_tokens=self.skip_special_tokens))
            boundary = len(self.text)
        else:
            boundary = len(self.text) - self.hold
        out = self.text[self.emitted:boundary] if boundary > self.emitted else ""
        self.emitted = max(self.emitted, boundary)
        return out
