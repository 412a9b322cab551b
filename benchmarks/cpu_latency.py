"""CPU completion latency: warm single-line completions through the Assistant while a line is typed.

A copy of a real package (default: this interpreter's `email` package, about 2k-token prompts with
the default context budgets) is indexed in a temporary directory. In one file a line near the middle
is removed and then typed back one character at a time; after each character the Assistant
completes at the cursor (a single line: the completion stops at the newline), as an editor asks
while the user types. Rows:
  cold    the first completion after loading (nothing cached: full prefill of the prompt)
  warm    every later completion (p50 / p90 over --runs): the repository part and the unchanged
          buffer hit the prefix cache, only the changed tail is computed
  hf      transformers `generate` (sdpa, DynamicCache, greedy) on the warm prompt with the same
          number of new tokens, on the same CPU threads: the peer, which recomputes the prompt
Columns: context ms (assembly), first token ms, total ms, tokens generated, prompt tokens, computed
tokens (prompt tokens run through the model). Timings are wall clock from the call.

    python benchmarks/cpu_latency.py [--model DIR] [--package email] [--file message.py] [--runs 30]
                                     [--threads 2] [--dtype float32|bfloat16] [--suffix-tokens N]
                                     [--attention fast|reference] [--profile N] [--json OUT]

--suffix-tokens overrides ContextConfig.suffix_tokens (the FIM suffix budget, which in PSM order is
recomputed on every keystroke); --profile N prints the cProfile of the last warm completion (top N).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import statistics
import sysconfig
import tempfile
import time
from pathlib import Path

import torch

from codepager import Assistant
from codepager.assistant_config import AssistantConfig
from codepager.context.config import ContextConfig
from codepager.context.reuse import PREFIX, plan_prompt
from codepager.engine.config import EngineConfig
from codepager.indexer.config import IndexConfig
from codepager.model import attention_backend

CODE_LINE = re.compile(r"^\s+(return \w|[\w.]+ = \w)")  # a statement, not docstring prose


NUMERIC = ("total_ms", "cpu_ms", "context_ms", "first_token_ms", "tokens", "prompt_tokens", "computed_tokens")


def copy_package(name: str, dest: Path) -> Path:
    source = Path(sysconfig.get_paths()["stdlib"]) / name
    if not source.is_dir():
        raise SystemExit(f"no package {name!r} in {source.parent}")
    repo = dest / "repo"
    shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return repo


def typing_session(text: str, min_chars: int) -> tuple[int, str, str]:
    """(line number, text without that line's content, the line) for a code line near the middle."""
    lines = text.split("\n")
    middle = len(lines) // 2
    for number in list(range(middle, len(lines))) + list(range(middle - 1, 0, -1)):
        if len(lines[number].strip()) >= min_chars and CODE_LINE.match(lines[number]):
            break
    else:
        raise SystemExit("no code line long enough to type")
    line = lines[number]
    lines[number] = ""
    return number, "\n".join(lines), line


def buffer_with(text_without: str, number: int, typed: str) -> str:
    lines = text_without.split("\n")
    lines[number] = typed
    return "\n".join(lines)


def row_of(result, cpu_ms: float) -> dict:
    timings = result.timings_ms
    return {"cpu_ms": cpu_ms, "context_ms": timings["context"], "first_token_ms": timings["first_token"],
            "total_ms": timings["total"], "tokens": len(result.token_ids),
            "prompt_tokens": result.prompt_tokens, "computed_tokens": result.computed_tokens,
            "finish_reason": result.finish_reason, "completion": result.completion}


def timed_complete(assistant: Assistant, rel: str, text: str, line: int, column: int) -> dict:
    cpu_started = time.process_time()
    result = assistant.complete(rel, text, line, column)
    return row_of(result, (time.process_time() - cpu_started) * 1000)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(rows: list[dict], q: float) -> dict:
    return {key: percentile([r[key] for r in rows], q) for key in rows[0] if key in NUMERIC}


def transformers_peer(model_dir: Path, prompt: list[int], new_tokens: int, runs: int) -> dict:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model.eval()
    ids = torch.tensor([prompt])
    times, cpu = [], []
    for _ in range(runs + 1):  # the first run warms up
        started, cpu_started = time.perf_counter(), time.process_time()
        with torch.inference_mode():
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    first = []
    for _ in range(runs):
        started = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=1, do_sample=False,
                           pad_token_id=0)
        first.append((time.perf_counter() - started) * 1000)
    return {"cpu_ms": statistics.median(cpu[1:]), "first_token_ms": statistics.median(first),
            "total_ms": statistics.median(times[1:]),
            "tokens": new_tokens, "prompt_tokens": len(prompt), "computed_tokens": len(prompt)}


def prompt_ids(assistant: Assistant, rel: str, text: str, line: int, column: int) -> list[int]:
    from codepager.context.buffer import position_to_offset

    context = assistant.assembler.assemble(rel, text, position_to_offset(text, line, column))
    plan = plan_prompt(context, PREFIX, assistant.segments)
    return [token for part in plan.parts for token in part]


def profile_keystroke(assistant: Assistant, rel: str, without: str, number: int, line: str, typed: int,
                      top: int) -> None:
    """cProfile of one more warm keystroke: the line typed to `typed` characters (one more than before)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    row = timed_complete(assistant, rel, buffer_with(without, number, line[:typed]), number, typed)
    profiler.disable()
    print(f"profiled keystroke: {row['total_ms']:.1f} ms, {row['computed_tokens']} computed tokens")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    if args.attention == "reference":  # the plain-torch references, as before the fast CPU path
        attention_backend.cpu_paged_attention = attention_backend.reference_paged_attention
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_package(args.package, Path(tmp))
        overrides = {} if args.suffix_tokens is None else {"suffix_tokens": args.suffix_tokens}
        context = ContextConfig(**overrides)
        config = AssistantConfig(model_dir=args.model, index=IndexConfig(cache_dir=Path(tmp) / "cache"),
                                 engine=EngineConfig(dtype=args.dtype), persist_kv=False, context=context)
        rel = f"{args.package}/{args.file}"
        load_started = time.perf_counter()
        with Assistant.open(repo, config) as assistant:
            load_ms = (time.perf_counter() - load_started) * 1000
            text = (repo / rel).read_text()
            number, without, line = typing_session(text, args.runs + 8)
            indent = len(line) - len(line.lstrip())
            start = indent + 4
            cold = timed_complete(assistant, rel, buffer_with(without, number, line[:start]), number, start)
            warm = [timed_complete(assistant, rel, buffer_with(without, number, line[:typed]), number, typed)
                    for typed in range(start + 1, start + 1 + args.runs)]
            last = buffer_with(without, number, line[:start + args.runs])
            if args.profile:
                profile_keystroke(assistant, rel, without, number, line, start + args.runs + 1, args.profile)
            prompt = prompt_ids(assistant, rel, last, number, start + args.runs)
        tokens = max(1, round(statistics.median(r["tokens"] for r in warm)))
        peer = None
        if args.hf_runs:
            peer = transformers_peer(config.resolved_model_dir, prompt, tokens, args.hf_runs)
    return {
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "threads": torch.get_num_threads(), "torch": torch.__version__},
        "setup": {"package": args.package, "suffix_tokens": config.context.suffix_tokens, "file": rel,
                  "line": number + 1, "typed_line": line.strip(),
                  "attention": args.attention, "dtype": args.dtype, "model": str(config.resolved_model_dir),
                  "load_ms": load_ms},
        "cold": cold, "warm_p50": summary(warm, 0.5), "warm_p90": summary(warm, 0.9),
        "warm": warm, "hf": peer,
    }


def print_report(report: dict) -> None:
    setup = report["setup"]
    print(f"{setup['file']}:{setup['line']} typing {setup['typed_line']!r}, attention={setup['attention']}, "
          f"suffix_tokens={setup['suffix_tokens']}, "
          f"dtype={setup['dtype']}, threads={report['machine']['threads']}, load {setup['load_ms']:.0f} ms")
    columns = list(NUMERIC)
    print("| row | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name in ("cold", "warm_p50", "warm_p90", "hf"):
        row = report[name]
        if row is None:
            continue
        cells = [f"{row[c]:.1f}" if isinstance(row.get(c), float) else str(row.get(c, "")) for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: embedded)")
    parser.add_argument("--package", default="email", help="stdlib package copied as the repository")
    parser.add_argument("--file", default="message.py", help="file of the package to type in")
    parser.add_argument("--runs", type=int, default=30, help="warm completions (one per typed character)")
    parser.add_argument("--hf-runs", type=int, default=5, help="transformers generate runs (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                        help="engine dtype (default: the loader's, float32 on CPU)")
    parser.add_argument("--suffix-tokens", type=int, default=None,
                        help="FIM suffix budget in tokens (default: ContextConfig's)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the top N cProfile entries of one extra warm keystroke")
    parser.add_argument("--attention", choices=("fast", "reference"), default="fast")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    args = parser.parse_args()
    report = run(args)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
