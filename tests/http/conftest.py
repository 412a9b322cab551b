"""A real codepager HTTP server on a free loopback port (uvicorn in a thread) over a tiny random model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from codepager.engine.config import EngineConfig
from codepager.engine.engine_loop import EngineLoop
from codepager.engine.llm_engine import LLMEngine
from codepager.http.app import create_app
from codepager.http.config import HttpConfig
from codepager.http.server import HttpServer
from codepager.model.loader import LoadedModel, load_model
from codepager.model.testing import make_tiny_model_dir

MODEL_NAME = "tiny"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("http_model") / MODEL_NAME, "qwen2", seed=5)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir) -> LoadedModel:
    return load_model(tiny_model_dir)


@dataclass
class RunningServer:
    server: HttpServer
    loop: EngineLoop
    config: HttpConfig

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def engine(self) -> LLMEngine:
        return self.loop.engine


@pytest.fixture
def start_server(tiny_loaded) -> Iterator:
    """start_server(**HttpConfig settings) -> RunningServer with its own engine; stopped after the test."""
    running: list[RunningServer] = []

    def start(num_pages: int = 256, **settings) -> RunningServer:
        settings.setdefault("model_name", MODEL_NAME)
        settings.setdefault("port", 0)
        config = HttpConfig(**settings)
        loop = EngineLoop(LLMEngine(tiny_loaded, EngineConfig(num_pages=num_pages)))
        server = HttpServer(create_app(loop, config), config.host, config.port).start()
        running.append(RunningServer(server, loop, config))
        return running[-1]

    yield start
    for item in running:
        item.server.stop()
        item.loop.close()


@pytest.fixture
def server(start_server) -> RunningServer:
    return start_server()
