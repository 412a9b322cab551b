"""A model's tokenizer through the `tokenizers` library (tokenizer.json), with the special tokens
named by tokenizer_config.json and generation_config.json."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer as _HFTokenizer

from codepager.errors import ModelLoadError


class Tokenizer:
    def __init__(
        self, backend: _HFTokenizer, *, tokenizer_config: dict[str, Any], generation_config: dict[str, Any],
        digest: str,
    ) -> None:
        self._backend = backend
        self.digest = digest
        self.special_tokens: dict[str, int] = {
            token.content: token_id for token_id, token in backend.get_added_tokens_decoder().items()
        }
        self.vocab_size: int = backend.get_vocab_size(with_added_tokens=True)
        self.bos_token_id: int | None = self._named_token_id(tokenizer_config.get("bos_token"))
        self.eos_token_ids: frozenset[int] = frozenset(
            _as_int_list(generation_config.get("eos_token_id"))
            | {i for i in [self._named_token_id(tokenizer_config.get("eos_token"))] if i is not None}
        )
        self.add_bos: bool = self._adds_bos(tokenizer_config)

    @classmethod
    def from_dir(cls, path: str | os.PathLike) -> Tokenizer:
        directory = Path(path)
        tokenizer_path = directory / "tokenizer.json"
        if not tokenizer_path.is_file():
            raise ModelLoadError(f"missing tokenizer.json in model directory {directory}")
        raw = tokenizer_path.read_bytes()
        try:
            backend = _HFTokenizer.from_str(raw.decode("utf-8"))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ModelLoadError(f"cannot parse {tokenizer_path}: {reason}") from exc
        digest = hashlib.sha256(raw)
        tokenizer_config = _read_optional_json(directory / "tokenizer_config.json", digest)
        generation_config = _read_optional_json(directory / "generation_config.json", None)
        return cls(backend, tokenizer_config=tokenizer_config, generation_config=generation_config,
                   digest=digest.hexdigest())

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; never adds BOS/EOS (special-token texts in `text` become their ids)."""
        return self._backend.encode(text, add_special_tokens=False).ids

    def encode_prompt(self, text: str) -> list[int]:
        """encode(text) with BOS first when the model expects one (and the text has none)."""
        ids = self.encode(text)
        bos = self.bos_token_id
        if self.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids = [bos, *ids]
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def token_id(self, text: str) -> int | None:
        return self._backend.token_to_id(text)

    def _named_token_id(self, entry: Any) -> int | None:
        if isinstance(entry, dict):  # {"content": "<s>", "lstrip": false, ...}
            entry = entry.get("content")
        if not isinstance(entry, str):
            return None
        return self._backend.token_to_id(entry)

    def _adds_bos(self, tokenizer_config: dict[str, Any]) -> bool:
        """Whether the model expects BOS first: tokenizer_config's add_bos_token, else whether
        tokenizer.json's post-processor inserts it."""
        if self.bos_token_id is None:
            return False
        if "add_bos_token" in tokenizer_config:
            return bool(tokenizer_config["add_bos_token"])
        ids = self._backend.encode("a", add_special_tokens=True).ids
        return bool(ids) and ids[0] == self.bos_token_id


def _read_optional_json(path: Path, digest: Any) -> dict[str, Any]:
    if not path.is_file():
        return {}
    raw = path.read_bytes()
    if digest is not None:
        digest.update(raw)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot parse {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_int_list(value: Any) -> set[int]:
    if isinstance(value, list):
        return {v for v in value if _as_int(v) is not None}
    single = _as_int(value)
    return set() if single is None else {single}
