import os

# Triton kernels run on the CPU through the interpreter; it must be chosen before triton.jit runs.
try:
    import torch

    _has_cuda = torch.cuda.is_available()
except ImportError:  # pragma: no cover
    _has_cuda = False
if not _has_cuda:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from codepager.model.testing import make_tiny_model_dir  # noqa: E402

SAMPLE_REPO = Path(__file__).resolve().parent / "data" / "repo_sample"


def pytest_collection_modifyitems(config, items):
    if _has_cuda:
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 model, one per test module."""
    return make_tiny_model_dir(tmp_path_factory.mktemp("model"), "qwen2")


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A copy of tests/data/repo_sample, a git repository with nothing committed (folders that need a
    commit, such as tests/indexer, override this)."""
    root = tmp_path / "shop-repo"
    shutil.copytree(SAMPLE_REPO, root)
    import git  # the GPU machine has no gitpython: import where used

    git.Repo.init(root)
    return root
