"""`codepager.explain` with an instruct (chat-template) model: the prose streams through `$/progress`
and ends up in the Markdown; calls, callers and the git history are there too."""

from __future__ import annotations

import json

import git
import pytest
import pytest_asyncio

from .lsp_session import open_document, start_client, wait_ready
from .test_profiles import explain_params

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHATML_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                   "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    from codepager.model.testing import make_tiny_model_dir

    # seed 7: greedy output that decodes to text in several pieces
    model = make_tiny_model_dir(tmp_path_factory.mktemp("lsp_chat_model") / "tiny", "qwen2", seed=7)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["chat_template"] = CHATML_TEMPLATE
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    return model


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(module_repo, server_env, chat_model):
    repo = git.Repo.init(module_repo)
    actor = git.Actor("Ada", "ada@example.com")
    repo.git.add(A=True)
    repo.index.commit("initial shop", author=actor, committer=actor)
    client, _result = await start_client(module_repo, server_env, "visual-studio-code",
                                         {"modelPath": str(chat_model), "maxTokens": 16})
    await wait_ready(client)
    yield client, module_repo
    await client.shutdown_session()
    await client.stop()


async def test_prose_streams_through_progress(session):
    client, repo = session
    uri = open_document(client, repo / "shop" / "cart.py")
    before = set(client.progress_reports)
    # line 33 (0-based 32): "    def total_price(self) -> Money:"
    result = await client.workspace_execute_command_async(explain_params(uri, 31, 10))
    explanation = result["explanation"]
    assert explanation["prose"] and explanation["prose"] in result["markdown"]
    assert {c["name"] for c in explanation["calls"]} >= {"Money", "subtotal"}
    assert [c["subject"] for c in explanation["history"]] == ["initial shop"]
    runs = [client.progress_reports[t] for t in set(client.progress_reports) - before
            if getattr(client.progress_reports[t][0], "title", "") == "codepager: explain"]
    assert len(runs) == 1
    reports = [r.message for r in runs[0] if getattr(r, "kind", "") == "report"]
    assert len(reports) > 1  # several pieces, each the tail of the prose so far
    assert all(r.strip() in explanation["prose"] for r in reports)
    assert all(len(a) <= len(b) for a, b in zip(reports, reports[1:], strict=False))
