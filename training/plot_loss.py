"""Plot a run's training and held-out loss from its train_log.json.

    python training/plot_loss.py RUN/train_log.json docs/model_loss.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def plot(log_path: Path, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.loads(log_path.read_text())
    log, summary = data["log"], data["summary"]
    tokens_per_step = summary["tokens"] / max(1, summary["steps"])
    train = [(e["step"] * tokens_per_step / 1e6, e["loss"]) for e in log if "lr" in e]
    held = [(e["step"] * tokens_per_step / 1e6, e["held_out_loss"]) for e in log if "held_out_loss" in e]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    ax.plot(*zip(*train, strict=True), label="training loss (batch)", linewidth=1)
    ax.plot(*zip(*held, strict=True), "o-", label="held-out packages", markersize=3)
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_ylim(bottom=min(v for _, v in held + train) - 0.1, top=min(6.0, max(v for _, v in train)))
    ax.set_title(f"default model ({summary['parameters'] / 1e6:.1f}M parameters)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    plot(args.log, args.out)


if __name__ == "__main__":
    main()
