"""Train the default model's byte-level BPE tokenizer (Qwen2's pre-tokenizer, Qwen2.5-Coder's specials).

    python training/tokenizer_train.py OUT_DIR [--vocab 8192] [--sample-mb 40]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

EOS = "<|endoftext|>"
FIM_PREFIX, FIM_MIDDLE = "<|fim_prefix|>", "<|fim_middle|>"
FIM_SUFFIX, FIM_PAD = "<|fim_suffix|>", "<|fim_pad|>"
REPO_NAME, FILE_SEP = "<|repo_name|>", "<|file_sep|>"
SPECIAL_TOKENS = (EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD, REPO_NAME, FILE_SEP)

# Qwen2's split pattern (from its tokenizer.json): contractions, letters, single digits, punctuation runs,
# newlines, spaces.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|"
    r"\s+(?!\S)|\s+"
)


def new_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def train(texts: Iterator[str], vocab_size: int = 8192) -> Tokenizer:
    tokenizer = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def tokenizer_config() -> dict:
    added = {
        str(i): {"content": tok, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                 "special": True}
        for i, tok in enumerate(SPECIAL_TOKENS)
    }
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "added_tokens_decoder": added,
        "additional_special_tokens": list(SPECIAL_TOKENS[1:]),
        "bos_token": None,
        "eos_token": EOS,
        "pad_token": EOS,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 4096,
        "split_special_tokens": False,
    }


def save(tokenizer: Tokenizer, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(), indent=2) + "\n")


def sample_texts(paths: list[Path], sample_bytes: int, seed: int) -> Iterator[str]:
    """A seeded random sample of whole files, about sample_bytes in total."""
    order = list(paths)
    random.Random(seed).shuffle(order)
    taken = 0
    for path in order:
        if taken >= sample_bytes:
            return
        text = path.read_text(encoding="utf-8", errors="replace")
        taken += len(text)
        yield text


def main() -> None:
    import corpus  # training/ is run as a folder of scripts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--sample-mb", type=float, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    repos, _ = corpus.all_repositories()
    train_repos, _ = corpus.split(repos)
    paths = [r.root / f for r in train_repos for f in r.files]
    tokenizer = train(sample_texts(paths, int(args.sample_mb * 2**20), args.seed), args.vocab)
    save(tokenizer, args.out_dir)
    print(f"vocab {tokenizer.get_vocab_size()} -> {args.out_dir}")


if __name__ == "__main__":
    main()
