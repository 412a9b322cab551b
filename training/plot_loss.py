"""Plot training and held-out loss of one run, or of several stages run one after the other.

    python training/plot_loss.py RUN/train_log.json docs/model_loss.png
    python training/plot_loss.py STAGE1/train_log.json STAGE2/train_log.json docs/model_loss.png

Each stage's steps continue where the previous stage's last step ended, on an axis of training tokens.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def stage_points(data: dict, offset_tokens: float) -> tuple[list, list, float]:
    """(training points, held-out points, tokens at the stage's end), x in millions of tokens."""
    log, summary = data["log"], data["summary"]
    tokens_per_step = summary["tokens"] / max(1, summary["steps"])

    def x(step: int) -> float:
        return (offset_tokens + step * tokens_per_step) / 1e6

    train = [(x(e["step"]), e["loss"]) for e in log if "lr" in e]
    held = [(x(e["step"]), e["held_out_loss"]) for e in log if "held_out_loss" in e]
    return train, held, offset_tokens + summary["tokens"]


def plot(log_paths: list[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    offset, lows, highs, params = 0.0, [], [], 0
    for number, path in enumerate(log_paths, 1):
        data = json.loads(path.read_text())
        params = data["summary"]["parameters"]
        train, held, end = stage_points(data, offset)
        name = f"stage {number}: " if len(log_paths) > 1 else ""
        ax.plot(*zip(*train, strict=True), label=f"{name}training loss (batch)", linewidth=0.8, alpha=0.8)
        ax.plot(*zip(*held, strict=True), "o-", label=f"{name}held-out packages", markersize=3)
        if number > 1:
            ax.axvline(offset / 1e6, color="grey", linestyle=":", linewidth=1)
        lows += [v for _, v in held + train]
        highs += [v for _, v in train]
        offset = end
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_ylim(bottom=min(lows) - 0.1, top=min(6.0, max(highs)))
    ax.set_title(f"default model ({params / 1e6:.1f}M parameters)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", type=Path, nargs="+", help="train_log.json of each stage, in order")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    plot(args.logs, args.out)


if __name__ == "__main__":
    main()
