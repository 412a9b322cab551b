"""Assistant: the facade the CLI and the language server share (index + engine + watcher + buffers).

Positions are 0-based lines and 0-based columns counted in characters (code points) of the buffer
text; adapters convert (the CLI from 1-based, the LSP from UTF-16). One engine serves every call;
calls are serialised by a lock, and a running completion can be cancelled from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from codepager.assistant_config import AssistantConfig
from codepager.context.assembler import AssembledContext, ContextAssembler
from codepager.context.buffer import position_to_offset, strip_indent
from codepager.context.explain import Explanation, IndexSymbols, add_history, explain_at
from codepager.context.explain_prose import write_prose
from codepager.context.index_view import IndexView
from codepager.context.postprocess import cursor_shape, postprocess
from codepager.context.prompt_format import format_for_tokenizer
from codepager.context.result import CompletionResult, ContextSegmentInfo
from codepager.context.reuse import PREFIX, REUSE_MODES, PromptPlan, SegmentCache, plan_prompt
from codepager.engine.config import SamplingParams
from codepager.engine.llm_engine import LLMEngine
from codepager.errors import RequestError
from codepager.indexer.errors import IndexerError
from codepager.indexer.index import DirtyReport, RepositoryIndex
from codepager.kv_persistence import KVPersistence


class Assistant:
    def __init__(self, index: RepositoryIndex, engine: LLMEngine, config: AssistantConfig) -> None:
        self.index = index
        self.engine = engine
        self.config = config
        self.lock = threading.RLock()
        tokenizer = engine.tokenizer
        self.format = format_for_tokenizer(tokenizer)
        bos = tokenizer.bos_token_id if (tokenizer.add_bos or self.format.bos) else None
        self.view = IndexView(index, config.repo_name)
        self.assembler = ContextAssembler(self.view, tokenizer, self.format, config.context, bos_token_id=bos,
                                          max_prompt_tokens=engine.max_model_len - config.max_tokens)
        persistence = None
        if config.persist_kv and isinstance(engine, LLMEngine):  # a remote server keeps its own cache
            persistence = KVPersistence(engine, index.store, engine.loaded.fingerprint)
        self.persistence = persistence
        self.segments = SegmentCache(engine, persistence=persistence)
        self._watcher: Any = None
        self._closed = False

    @classmethod
    def open(cls, repo: str | Path, config: AssistantConfig | None = None, *,
             engine: LLMEngine | None = None) -> Assistant:
        """Index the repository (incrementally) and load the model (or share a loaded engine)."""
        config = config or AssistantConfig()
        index = RepositoryIndex.open(repo, config.index)
        try:
            index.build()
            if engine is None and config.remote is not None:
                from codepager.remote_backend import RemoteBackend

                engine = RemoteBackend.open(config.remote, config.resolved_model_dir)
            elif engine is None:
                engine = LLMEngine.from_model_dir(config.resolved_model_dir, config.engine)
        except BaseException:
            index.close()
            raise
        assistant = cls(index, engine, config)
        if config.watch:
            assistant.start_watching()
        return assistant

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            if self._watcher is not None:
                self._watcher.stop()
            self.segments.clear()
            self.index.close()

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keeping current ------------------------------------------------------------------------

    def start_watching(self) -> None:
        from codepager.indexer.watcher import IndexWatcher

        if self._watcher is None:
            self._watcher = IndexWatcher(self.index, self.apply_dirty).start()

    def apply_dirty(self, reports: list[DirtyReport]) -> None:
        """Files changed (watcher, re-index, buffers): drop their cached KV, refresh retrieval."""
        with self.lock:
            for report in reports:
                if report.is_empty:
                    continue
                self.segments.drop_path(report.path)
                self.assembler.refresh_file(report.path)

    def relative_path(self, path: str | Path) -> str:
        try:
            rel = self.index.relative(path if Path(path).is_absolute() else self.index.root / path)
        except IndexerError as err:
            raise RequestError(str(err)) from err
        if rel.startswith("../") or rel == "..":
            raise RequestError(f"{path} is outside the repository {self.index.root}")
        return rel

    def set_buffer(self, path: str | Path, text: str) -> None:
        """An editor's unsaved buffer: it wins over the disk copy for every other file's context."""
        rel = self.relative_path(path)
        with self.lock:
            report = self.index.set_overlay(rel, text)
            self.assembler.note_edit(rel)
            self.apply_dirty([report])

    def close_buffer(self, path: str | Path) -> None:
        rel = self.relative_path(path)
        with self.lock:
            self.apply_dirty([self.index.clear_overlay(rel)])

    def file_changed(self, path: str | Path) -> DirtyReport:
        """A file was saved / changed on disk: re-index it now (the watcher does this by itself)."""
        rel = self.relative_path(path)
        with self.lock:
            report = self.index.update_file(rel)
            self.apply_dirty([report])
            return report

    # -- completion -----------------------------------------------------------------------------

    def read_buffer(self, rel: str) -> str:
        file = self.index.root / rel
        if not file.is_file():
            raise RequestError(f"{rel}: no such file in {self.index.root}")
        data = file.read_bytes()
        if b"\0" in data[:8192]:
            raise RequestError(f"{rel} is a binary file")
        return data.decode("utf-8", errors="replace")

    def complete(self, path: str | Path, text: str | None, line: int, column: int, *,
                 max_tokens: int | None = None, reuse: str | None = None, exact: bool = False,
                 repo_context: bool = True, on_text: Callable[[str], None] | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> CompletionResult:
        """Complete at (line, column) of `text` (the file on disk when None)."""
        started = time.perf_counter()
        rel = self.relative_path(path)
        if text is None:
            text = self.read_buffer(rel)
        if "\0" in text[:8192]:
            raise RequestError(f"{rel} is a binary file")
        try:
            offset = position_to_offset(text, line, column)
        except ValueError as err:
            raise RequestError(f"{rel}: {err}") from err
        mode = PREFIX if exact else (reuse or self.config.reuse)
        if mode not in REUSE_MODES:
            raise RequestError(f"unknown reuse mode {mode!r}; known: {', '.join(REUSE_MODES)}")
        with self.lock:
            context = self.assembler.assemble(rel, text, offset, repo_context=repo_context)
            computed_before = self.engine.stats().tokens_computed
            plan = plan_prompt(context, mode, self.segments)
            context_ms = (time.perf_counter() - started) * 1000
            params = self._sampling(context, max_tokens)
            raw, first_ms, output = self._generate(plan, params, started, on_text, should_cancel)
            generated = len(output.token_ids) if output is not None else 0
            # each generated token after the first was one more decode step through the model
            computed = self.engine.stats().tokens_computed - computed_before - max(0, generated - 1)
        cut = context.cut
        completion = postprocess(strip_indent(raw, cut.indent), cut.prefix + cut.indent, cut.suffix,
                                 stop_texts=self.format.stop_texts())
        cached_tokens = output.prompt_tokens_cached if output else 0
        if mode != PREFIX and output is not None:  # + placed segments whose KV was already there
            cached_tokens = plan.reused_tokens(output.prompt_tokens_computed)
        total_ms = (time.perf_counter() - started) * 1000
        timings = {"context": context_ms, "first_token": first_ms, "total": total_ms}
        return CompletionResult(
            completion=completion, raw=raw, token_ids=list(output.token_ids) if output else [],
            segments=self._segment_infos(context, plan, mode, cached_tokens), prompt_tokens=plan.num_tokens,
            computed_tokens=computed, cached_tokens=cached_tokens,
            timings_ms={k: round(v, 2) for k, v in timings.items()},
            reuse=mode, cancelled=output is None or output.finish_reason == "cancelled",
            finish_reason=output.finish_reason if output else None, sources=dict(context.sources),
        )

    def _sampling(self, context: AssembledContext, max_tokens: int | None) -> SamplingParams:
        stops = list(self.format.stop_texts())
        shape = cursor_shape(context.cut.prefix, context.cut.suffix)
        line_start = context.cut.prefix.rsplit("\n", 1)[-1]
        if not shape.multiline and not any(c in line_start for c in "([{"):
            stops.append("\n")
        return SamplingParams(max_tokens=max_tokens or self.config.max_tokens, stop=stops)

    def _generate(self, plan: PromptPlan, params: SamplingParams, started: float,
                  on_text: Callable[[str], None] | None,
                  should_cancel: Callable[[], bool] | None) -> tuple[str, float, Any]:
        # The engine yields after every step, token or not (a prefill chunk), so a cancel is seen
        # within one step; one already cancelled never reaches the engine.
        first_ms = 0.0
        final = None
        pieces: list[str] = []
        if should_cancel is not None and should_cancel():
            return "", (time.perf_counter() - started) * 1000, None
        with closing(self.engine.stream(plan.parts, params)) as stream:
            for output in stream:
                if output.new_token_ids and not first_ms:
                    first_ms = (time.perf_counter() - started) * 1000
                if output.new_text:
                    pieces.append(output.new_text)
                    if on_text is not None:
                        on_text(output.new_text)
                final = output
                if output.finished:
                    break
                if should_cancel is not None and should_cancel():
                    final = None
                    break
        if not first_ms:
            first_ms = (time.perf_counter() - started) * 1000
        return "".join(pieces), first_ms, final

    def _segment_infos(self, context: AssembledContext, plan: PromptPlan, mode: str,
                       cached_tokens: int) -> list[ContextSegmentInfo]:
        infos = []
        for i, item in enumerate(context.items):
            if mode == PREFIX:
                cached = plan.item_offsets[i][1] <= cached_tokens
            else:
                cached = plan.item_reused[i]
            infos.append(ContextSegmentInfo(item.path, item.symbol, len(item.tokens), cached, item.source))
        return infos

    # -- explain / status -------------------------------------------------------------------------

    def explain(self, path: str | Path, line: int, column: int | None = None, text: str | None = None, *,
                should_cancel: Callable[[], bool] | None = None,
                on_text: Callable[[str], None] | None = None) -> Explanation:
        """The symbol at (line, column), or the line's first identifier when column is None: index
        facts, git history, and prose streamed through on_text when the model is a chat model."""
        rel = self.relative_path(path)
        if text is None:
            text = self.read_buffer(rel)
        with self.lock:
            explanation = explain_at(IndexSymbols(self.index), rel, text, line, column)
        add_history(explanation, self.index.root)  # git subprocess: no lock held
        if should_cancel is None or not should_cancel():
            with self.lock:
                explanation.prose = write_prose(self.engine, explanation, on_text=on_text,
                                                should_cancel=should_cancel)
        return explanation

    def status(self) -> dict[str, Any]:
        with self.lock:
            stats = self.engine.stats()
            return {
                "repository": str(self.index.root),
                "index": self.index.status(),
                "model": {"path": str(self.engine.loaded.path), "fingerprint": self.engine.loaded.fingerprint,
                          "prompt_format": self.format.name},
                "engine": {"num_pages": stats.num_pages, "free_pages": stats.free_pages,
                           "tokens_computed": stats.tokens_computed,
                           "prefix_cache_hit_tokens": stats.prefix_cache_hit_tokens,
                           "segment_hits": stats.segment_hits, "segment_misses": stats.segment_misses,
                           "live_segments": stats.live_segments},
                "context": {"windows": len(self.assembler.windows), "segment_handles": len(self.segments),
                            "reuse": self.config.reuse},
                "watching": self._watcher is not None,
            }
