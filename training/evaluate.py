"""Next-line completion on held-out packages: in-file context only vs repository context (CPU, greedy).

Targets are lines of held-out packages that use a name imported from another module of the same
package (the cross-file case). The cursor sits at the start of the line; the model fills the hole
and its first line is compared with the real one (exact match, edit similarity, both on stripped
text). Repository context comes from samples.select_context with the cursor's prefix only (never
the target line).

    python training/evaluate.py codepager/default_model --out training/runs/default_model_eval.json
"""

from __future__ import annotations

import argparse
import io
import json
import random
import time
import tokenize
from pathlib import Path

import corpus
import torch
from samples import RepoView, SampleConfig, _clip_lines, fim_body, render, select_context
from tokenizer_train import SPECIAL_TOKENS
from tokenizers import Tokenizer

from codepager.scoring import edit_similarity

CONTEXT_CHARS = 2400


def cross_file_targets(repo: RepoView, rng: random.Random, per_repo: int) -> list[tuple[str, int]]:
    """(path, line) of lines that use a name imported from another module of the same repository."""
    found = []
    for path in repo.files:
        view = repo.view(path)
        if view is None:
            continue
        names = {n for imp in view.imports if repo.resolve(path, imp.module, imp.names, imp.level)
                 for n in imp.names}
        if not names:
            continue
        lines = view.text.splitlines()
        for i in sorted(_lines_using(view.text, names)):
            text = lines[i].strip()
            if i > 5 and 10 <= len(text) <= 120 and not text.startswith(("#", "import ", "from ", "@")):
                found.append((path, i))
    return rng.sample(found, min(per_repo, len(found)))


def _lines_using(text: str, names: set[str]) -> set[int]:
    """0-based lines where one of `names` appears as code (not in a string or comment)."""
    used = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.string in names and tok.start[0] == tok.end[0]:
                used.add(tok.start[0] - 1)
    except (tokenize.TokenError, SyntaxError):
        pass
    return used


def build_prompts(repo: RepoView, path: str, line: int, cfg: SampleConfig) -> tuple[str, str, str]:
    """(in-file prompt, repository-context prompt, target line)."""
    view = repo.view(path)
    assert view is not None
    lines = view.text.splitlines(keepends=True)
    before, target, after = "".join(lines[:line]), lines[line], "".join(lines[line + 1 :])
    prefix = before[-cfg.prefix_chars :]
    if len(prefix) < len(before):
        prefix = prefix[prefix.find("\n") + 1 :]
    suffix = _clip_lines(after, cfg.suffix_chars)
    body = fim_body(prefix, suffix)
    rng = random.Random(f"eval:{path}:{line}")
    context = select_context(repo, view, prefix, "", rng, cfg, CONTEXT_CHARS, outlines=2, windows=3)
    return render(repo.name, [], path, body), render(repo.name, context, path, body), target.rstrip("\n")


def complete_line(model, tokenizer: Tokenizer, prompt: str, max_new: int = 40) -> tuple[str, int]:
    """Greedy decoding until the first newline or a special token."""
    ids = tokenizer.encode(prompt).ids
    stops = {tokenizer.token_to_id(t) for t in SPECIAL_TOKENS}
    generated: list[int] = []
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), use_cache=True)
        for _ in range(max_new):
            token = int(out.logits[0, -1].argmax())
            if token in stops:
                break
            generated.append(token)
            if "\n" in tokenizer.decode([token]):
                break
            out = model(input_ids=torch.tensor([[token]]), past_key_values=out.past_key_values,
                        use_cache=True)
    return tokenizer.decode(generated).split("\n", 1)[0], len(ids)


def evaluate(model_dir: Path, targets: int, seed: int) -> dict:
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    cfg = SampleConfig()
    repos, _ = corpus.all_repositories()
    _, held = corpus.split(repos)
    rng = random.Random(seed)
    per_repo = -(-targets // len(held))
    rows, started = [], time.time()
    for repo in held:
        view = RepoView(repo.name, repo.root, repo.files)
        for path, line in cross_file_targets(view, rng, per_repo):
            in_file, with_repo, target = build_prompts(view, path, line, cfg)
            row = {"repo": repo.name, "path": path, "line": line + 1, "target": target.strip()}
            for name, prompt in (("in_file", in_file), ("with_repo", with_repo)):
                pred, n_tokens = complete_line(model, tokenizer, prompt)
                row[name] = {"prediction": pred.strip(), "prompt_tokens": n_tokens,
                             "exact": pred.strip() == target.strip(),
                             "edit_similarity": edit_similarity(pred.strip(), target.strip())}
            rows.append(row)
    summary = {"targets": len(rows), "packages": [r.name for r in held],
               "seconds": round(time.time() - started)}
    for name in ("in_file", "with_repo"):
        summary[name] = {
            "exact_match": round(100 * sum(r[name]["exact"] for r in rows) / len(rows), 1),
            "edit_similarity": round(100 * sum(r[name]["edit_similarity"] for r in rows) / len(rows), 1),
            "mean_prompt_tokens": round(sum(r[name]["prompt_tokens"] for r in rows) / len(rows)),
        }
    return {"summary": summary, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = evaluate(args.model_dir, args.targets, args.seed)
    print(json.dumps(result["summary"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
