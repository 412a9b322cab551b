"""Completion scores shared by the quality benchmark and the model's evaluation."""

from __future__ import annotations


def edit_similarity(a: str, b: str) -> float:
    """1 - Levenshtein distance / longer length (CrossCodeEval's edit similarity), in [0, 1]."""
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))
