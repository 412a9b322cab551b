"""Cross-file completion quality (CrossCodeEval style) for every context / KV-reuse mode.

Targets come from benchmarks/quality_targets.py (lines using a name defined in another file of the
same installed package; cursor at the start of the line's code; the rest of the file as suffix).
Each mode completes every target through codepager.Assistant (greedy):

  in-file              no repository context (FIM over the buffer only)
  exact                repository context, full prefill (prefix-cached)
  segments             repository context, each item an independently encoded segment
  segments+preamble    ... each segment encoded after the shared preamble
  segments+head        ... each segment's first 16 tokens recomputed in context (EPIC)
  segments+blend       ... the 15 % most deviating segment tokens recomputed in context (CacheBlend)

Scores: exact match (first line, stripped) and edit similarity; for the exact mode the context
sources present when a target was hit that in-file missed; prompt tokens; tokens the request ran
through the model (segment encodes included); share of prompt tokens whose KV was reused
(prefix-cache hits, placed segments); segment-cache hit rate; time to first token (p50).

    python benchmarks/quality.py [--model DIR] [--packages click,jinja2,httpx,requests]
        [--targets-per-repo 12] [--modes in-file,exact,segments,...] [--json results.json]

A subset for a quick check: --packages click --targets-per-repo 6.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from quality_targets import Target, copy_package, find_targets  # benchmarks/ is on sys.path

from codepager.assistant import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.context.config import ContextConfig
from codepager.engine.config import EngineConfig
from codepager.indexer.config import IndexConfig
from codepager.scoring import edit_similarity

MODES = ("in-file", "exact", "segments", "segments+preamble", "segments+head", "segments+blend")
# click, jinja2, httpx, requests are held out of the embedded model's training data (training/corpus.py)
DEFAULT_PACKAGES = ("click", "jinja2", "httpx", "requests")


def run_mode(assistant: Assistant, targets: list[Target], mode: str, max_tokens: int) -> list[dict]:
    rows = []
    for target in targets:
        assistant.assembler.forget_selections()  # each target picks its own context, like a fresh cursor
        result = assistant.complete(
            target.path, target.buffer, target.line, target.column, max_tokens=max_tokens,
            repo_context=mode != "in-file", exact=mode == "exact",
            reuse=mode if mode.startswith("segments") else None,
        )
        first_line = result.completion.split("\n", 1)[0].strip()
        rows.append({
            "target": f"{target.repo}/{target.path}:{target.line + 1}", "expected": target.expected,
            "got": first_line, "em": first_line == target.expected,
            "es": edit_similarity(first_line, target.expected), "prompt_tokens": result.prompt_tokens,
            "cached_tokens": result.cached_tokens, "computed_tokens": result.computed_tokens,
            "first_token_ms": result.timings_ms["first_token"], "sources": result.sources,
            "items": len(result.segments), "items_cached": sum(s.cached for s in result.segments),
        })
    return rows


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    return {
        "targets": n,
        "exact_match": round(100 * sum(r["em"] for r in rows) / n, 1),
        "edit_similarity": round(100 * sum(r["es"] for r in rows) / n, 1),
        "prompt_tokens": round(statistics.mean(r["prompt_tokens"] for r in rows)),
        "computed_tokens": round(statistics.mean(r["computed_tokens"] for r in rows)),
        "item_hit_rate": _rate(sum(r["items_cached"] for r in rows), sum(r["items"] for r in rows)),
        "reused_kv_share": round(sum(r["cached_tokens"] for r in rows)
                                 / max(1, sum(r["prompt_tokens"] for r in rows)), 3),
        "first_token_ms_p50": round(statistics.median(r["first_token_ms"] for r in rows), 1),
    }


def agreement(rows: list[dict], exact_rows: list[dict]) -> float:
    """Share of targets whose first line equals the exact mode's (how faithful a reuse mode is)."""
    same = sum(r["got"] == e["got"] for r, e in zip(rows, exact_rows, strict=True))
    return round(100 * same / len(rows), 1)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def hit_sources(exact_rows: list[dict], infile_rows: list[dict]) -> dict[str, int]:
    """Context sources present where repository context turned an in-file miss into a hit."""
    counts: Counter[str] = Counter()
    for with_repo, alone in zip(exact_rows, infile_rows, strict=True):
        if with_repo["em"] and not alone["em"]:
            counts.update(with_repo["sources"].keys())
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: the embedded model)")
    parser.add_argument("--packages", default=",".join(DEFAULT_PACKAGES))
    parser.add_argument("--targets-per-repo", type=int, default=12)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--suffix-tokens", type=int, help="FIM suffix budget (default: ContextConfig's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="write every row and the summary here")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(unknown)}")
    rng = random.Random(args.seed)
    rows: dict[str, list[dict]] = {m: [] for m in modes}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codepager-quality-") as tmp:
        for package in args.packages.split(","):
            root = copy_package(package, Path(tmp))
            context = ContextConfig() if args.suffix_tokens is None else ContextConfig(
                suffix_tokens=args.suffix_tokens)
            config = AssistantConfig(model_dir=args.model, max_tokens=args.max_tokens, persist_kv=False,
                                     context=context, index=IndexConfig(cache_dir=Path(tmp) / "cache"),
                                     engine=EngineConfig(device=args.device))
            with Assistant.open(root, config) as assistant:
                targets = find_targets(assistant.index, package, args.targets_per_repo, rng)
                print(f"{package}: {len(targets)} targets", file=sys.stderr)
                for mode in modes:
                    rows[mode] += run_mode(assistant, targets, mode, args.max_tokens)
    summary = {m: summarise(r) for m, r in rows.items() if r}
    if "exact" in rows and "in-file" in rows:
        summary["exact"]["hit_sources"] = hit_sources(rows["exact"], rows["in-file"])
    for mode in summary:
        if "exact" in rows:
            summary[mode]["same_as_exact"] = agreement(rows[mode], rows["exact"])
    print_table(summary, args, time.perf_counter() - started)
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    return 0


def print_table(summary: dict, args: argparse.Namespace, seconds: float) -> None:
    print(f"device: {args.device} ({platform.processor() or platform.machine()}), model: "
          f"{args.model or 'embedded default'}, packages: {args.packages}, {seconds:.0f} s")
    print("| mode | targets | exact match | edit sim. | same as exact | prompt tokens | computed tokens "
          "| reused KV | items cached | first token p50 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mode, s in summary.items():
        hits = "–" if s["item_hit_rate"] is None else f"{100 * s['item_hit_rate']:.0f} %"
        print(f"| {mode} | {s['targets']} | {s['exact_match']} | {s['edit_similarity']} "
              f"| {s.get('same_as_exact', '–')} | {s['prompt_tokens']} | {s['computed_tokens']} "
              f"| {100 * s['reused_kv_share']:.0f} % | {hits} | {s['first_token_ms_p50']} |")
    if "hit_sources" in summary.get("exact", {}):
        print(f"context sources of exact-mode hits that in-file missed: {summary['exact']['hit_sources']}")


if __name__ == "__main__":
    sys.exit(main())
