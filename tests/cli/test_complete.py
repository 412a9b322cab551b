"""`codepager complete` and `codepager explain` on the sample repository with a tiny random model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from codepager.cli.complete import parse_position
from codepager.cli.main import main
from codepager.errors import ConfigError


def cli(repo: Path, model_dir: Path, *args: str) -> list[str]:
    return ["complete", *args, "--repo", str(repo), "--model", str(model_dir), "--max-tokens", "3",
            "--cache-dir", str(repo.parent / "cache"), "--device", "cpu"]


def test_position_parsing() -> None:
    assert parse_position("a/b.py:3:7") == (Path("a/b.py"), 2, 6)
    assert parse_position("c:/x.py:1:1") == (Path("c:/x.py"), 0, 0)
    assert parse_position("a.py:3", need_column=False) == (Path("a.py"), 2, None)
    for bad in ("a.py", "a.py:0:1", "a.py:3"):
        with pytest.raises(ConfigError):
            parse_position(bad)


def test_json_result_has_the_contract_fields(repo, model_dir) -> None:
    file = repo / "shop/checkout.py"
    command = [sys.executable, "-m", "codepager", *cli(repo, model_dir, f"{file}:20:13", "--json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert isinstance(result["completion"], str)
    assert set(result["timings_ms"]) == {"context", "first_token", "total"}
    segments = result["context"]["segments"]
    assert segments and all({"path", "symbol", "tokens", "cached"} <= set(s) for s in segments)
    assert all(s["path"] != "shop/checkout.py" for s in segments)
    assert result["context"]["prompt_tokens"] > sum(s["tokens"] for s in segments)


def test_requests_file_runs_many_in_one_process(repo, model_dir, tmp_path, capsys) -> None:
    file = repo / "shop/checkout.py"
    buffer = "from shop.money import format_price\n\n\nprint(format_price(\n"
    requests = tmp_path / "r.jsonl"
    requests.write_text("\n".join(json.dumps(r) for r in [
        {"file": str(file), "line": 20, "col": 13},
        {"file": str(file), "line": 20, "col": 13},
        {"file": str(file), "line": 4, "col": 20, "text": buffer},
        {"file": str(file), "line": 400, "col": 1},
    ]) + "\n")
    assert main(cli(repo, model_dir, "--requests", str(requests))) == 2  # one request failed
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 4
    first, second, buffered, failed = lines
    assert second["context"]["prompt_tokens"] == first["context"]["prompt_tokens"]
    assert all(s["cached"] for s in second["context"]["segments"])  # same prompt: prefix cache hits
    assert buffered["context"]["prompt_tokens"] != first["context"]["prompt_tokens"]
    assert "line 400" in failed["error"]


def test_text_file_is_the_buffer(repo, model_dir, tmp_path, capsys) -> None:
    buffer = tmp_path / "unsaved.py"
    text = (repo / "shop/checkout.py").read_text() + "\n" * 30 + "total = \n"
    buffer.write_text(text)
    line = text.count("\n")  # the last line: "total = "
    position = f"{repo / 'shop/checkout.py'}:{line}:9"  # exists only in the buffer
    assert main(cli(repo, model_dir, position, "--text-file", str(buffer), "--no-repo-context")) == 0
    assert main(cli(repo, model_dir, position)) == 2
    assert f"line {line} is past the end" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["outside", "binary", "column"])
def test_bad_positions_and_files_are_one_line_errors(repo, model_dir, tmp_path, capsys, case) -> None:
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x = 1\n")
    (repo / "data.bin").write_bytes(b"\x00\x01\x02\x03")
    position = {"outside": f"{outside}:1:1", "binary": f"{repo / 'data.bin'}:1:1",
                "column": f"{repo / 'shop/money.py'}:1:500"}[case]
    assert main(cli(repo, model_dir, position)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("codepager complete: error:")
    assert {"outside": "outside", "binary": "binary", "column": "column 500"}[case] in err


def test_explain_reports_definition_and_references(repo, capsys) -> None:
    position = f"{repo / 'shop/checkout.py'}:21:40"
    assert main(["explain", position, "--repo", str(repo), "--cache-dir", str(repo.parent / "cache"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "format_price" and out["definition"]["path"] == "shop/money.py"
    assert out["docstring"] == "Render an amount as '12.34 EUR'."
    assert "shop/money.py:25" in out["markdown"]
