"""The engine: requests in, streamed tokens and text out (single-threaded; see engine_loop for a
thread-safe front).

    engine = LLMEngine.from_model_dir(path)
    engine.add_request("def add(a, b):", SamplingParams(max_tokens=16), request_id="r1")
    while engine.has_unfinished():
        for out in engine.step(): print(out.new_text, end="")
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import torch

from codepager.engine import decode_burst as bursts
from codepager.engine.blend import BlendSelector
from codepager.engine.block_manager import BlockManager
from codepager.engine.config import EngineConfig, SamplingParams
from codepager.engine.decode_burst import AheadBurst
from codepager.engine.detokenizer import Detokenizer
from codepager.engine.model_runner import LaunchedBurst, ModelRunner, torch_dtype
from codepager.engine.outputs import EngineStats, RequestOutput
from codepager.engine.request_state import TrackedRequest, detokenize_new, progress_output, request_output
from codepager.engine.sampler import make_generator, sample
from codepager.engine.scheduler import ScheduledChunk, Scheduler
from codepager.engine.segments import SegmentHandle, Tokens
from codepager.engine.sequence import PromptPart, Sequence, SequenceStatus
from codepager.errors import RequestError
from codepager.model.loader import LoadedModel, load_model

Prompt = str | list[int] | list[PromptPart]


class LLMEngine:
    def __init__(self, loaded: LoadedModel, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.runner = ModelRunner(loaded.model, self.config)
        self.block_manager = BlockManager(self.runner.num_pages,
                                          enable_prefix_caching=self.config.enable_prefix_caching)
        self.max_model_len = self.config.max_model_len or loaded.config.max_position_embeddings
        if self.runner.device.type == "cuda":  # a few kernels fewer per step; CPU computes them
            loaded.model.cache_rope(self.max_model_len)
        self.eos_token_ids = sorted(self.tokenizer.eos_token_ids)
        self.scheduler = Scheduler(
            self.block_manager, max_num_seqs=self.config.max_num_seqs,
            max_num_batched_tokens=self.config.batched_tokens_for(self.runner.device.type),
            max_model_len=self.max_model_len,
            eos_token_ids=self.eos_token_ids,
        )
        self.blend = BlendSelector(loaded.model, self.runner.k_pool, self.runner.v_pool)
        self.scheduler.select_blend = self.blend
        self.decode_burst = self.config.decode_burst_for(self.runner.device.type)
        self.decode_ahead = self.config.decode_ahead
        self.num_decode_bursts = 0
        self.num_bursts_ahead_used = 0
        self._ahead: AheadBurst | None = None
        self._requests: dict[str, TrackedRequest] = {}
        self._undelivered: list[RequestOutput] = []
        self._ids = itertools.count()

    @classmethod
    def from_model_dir(cls, model_dir: str | os.PathLike, config: EngineConfig | None = None) -> LLMEngine:
        config = config or EngineConfig()
        loaded = load_model(model_dir, device=config.device, dtype=torch_dtype(config.dtype))
        return cls(loaded, config)

    # -- requests -----------------------------------------------------------------------------

    def encode_prompt(self, text: str) -> list[int]:
        return self.tokenizer.encode_prompt(text)

    def add_request(
        self, prompt: Prompt, params: SamplingParams | None = None, request_id: str | None = None,
    ) -> str:
        """Queue a request; prompt is text, token ids, or a list of token lists, segment handles
        and segment placements (`handle.placed(recompute_head=16)`, `handle.placed(blend=0.15)`)."""
        params = params or SamplingParams()
        if isinstance(prompt, str):
            parts: list[PromptPart] = [self.encode_prompt(prompt)]
        elif prompt and all(map(isinstance, prompt, itertools.repeat(int))):
            parts = [list(prompt)]
        else:
            parts = list(prompt)
        request_id = request_id if request_id is not None else f"req-{next(self._ids)}"
        if request_id in self._requests:
            raise RequestError(f"request id {request_id!r} is already in use")
        seq = Sequence(parts, params, request_id)
        vocab = self.loaded.config.vocab_size
        if min(seq.token_ids) < 0 or max(seq.token_ids) >= vocab:
            raise RequestError(f"prompt has token ids outside the vocabulary of {vocab}")
        self.scheduler.add(seq)
        generator = None if params.greedy else make_generator(params.seed, self.runner.device)
        self._requests[request_id] = TrackedRequest(seq, Detokenizer(self.tokenizer, params.stop), generator)
        return request_id

    def cancel(self, request_id: str) -> RequestOutput | None:
        """Stop a request now and free its pages; None if the id is unknown or already finished."""
        request = self._requests.pop(request_id, None)
        if request is None:
            return None
        self.scheduler.cancel(request.seq)
        return request_output(request, finished=True)

    def has_unfinished(self) -> bool:
        return bool(self._requests) or bool(self._undelivered) or not self.scheduler.is_finished()

    # -- segments -----------------------------------------------------------------------------

    def encode_segment(self, token_ids: list[int], preamble: Tokens = ()) -> SegmentHandle:
        """KV of `token_ids` at local positions P..P+L-1 after `preamble` (P = its length; the
        preamble's pages are not part of the handle), computed once and cached by content; the
        caller holds the handle until release_segment. Other requests progress meanwhile."""
        if not token_ids:
            raise RequestError("empty segment")
        handle = self.scheduler.segments.lookup(token_ids, preamble)
        if handle is not None:
            return handle
        seq = Sequence([list(preamble), list(token_ids)], SamplingParams(), encode_only=True)
        self.scheduler.add(seq)
        while not seq.is_finished:
            self._undelivered.extend(self._step())
        if seq.segment_handle is None:
            raise RequestError(f"segment of {len(token_ids)} tokens does not fit the KV pool")
        return seq.segment_handle

    def release_segment(self, handle: SegmentHandle) -> None:
        self.scheduler.segments.release(handle)

    # -- stepping -----------------------------------------------------------------------------

    def step(self) -> list[RequestOutput]:
        outputs, self._undelivered = self._undelivered, []
        return outputs + self._step()

    def _step(self) -> list[RequestOutput]:
        ahead, self._ahead = self._ahead, None  # used by this step's burst, or dropped
        chunks = self.scheduler.schedule()
        if not self.scheduler.waiting:
            steps = bursts.burst_length(chunks, max_steps=self.decode_burst, max_model_len=self.max_model_len)
            if steps > 1 and (steps := self.scheduler.reserve_ahead([c.seq for c in chunks], steps)) > 1:
                return self._burst(chunks, steps, ahead)
            if ahead is not None and ahead.matches([c.seq for c in chunks], 1) and bursts.pure_decode(chunks):
                return self._burst(chunks, 1, ahead)  # a sequence's last token, launched ahead
        computing = [c for c in chunks if c.positions]
        sampled: dict[int, int] = {}
        if computing:
            sampled = self._run_model(computing, bursts.decode_follows(
                chunks, running=len(self.scheduler.running), waiting=bool(self.scheduler.waiting),
                ahead=self.decode_ahead, max_steps=self.decode_burst))
        self.scheduler.postprocess(chunks, sampled)
        return self._collect_outputs()

    def _burst(
        self, chunks: list[ScheduledChunk], steps: int, ahead: AheadBurst | None,
    ) -> list[RequestOutput]:
        """`steps` greedy decode steps in one host round trip (decode_burst.py), then each step's
        tokens postprocessed in order as if it had run alone; tokens after a finish are dropped.
        The burst launched ahead by the previous step is this one when it matches."""
        seqs = [c.seq for c in chunks]
        if ahead is not None and ahead.matches(seqs, steps):
            launched, steps = ahead.tokens, ahead.steps
            self.num_bursts_ahead_used += 1
        else:
            launched = self.runner.launch_burst(seqs, steps)  # [steps, len(seqs)] on the device
        self._ahead = self._launch_ahead(seqs, steps, launched) if self.decode_ahead else None
        tokens = launched.tolist()  # waits for this burst only, not for the one launched ahead
        self.num_decode_bursts += 1
        watched = [self._requests[s.request_id] for s in seqs if s.params.stop]
        for step_tokens in tokens:
            live = [(seq, t) for seq, t in zip(seqs, step_tokens, strict=True)
                    if seq.status is SequenceStatus.RUNNING]
            step_chunks = [ScheduledChunk(seq, len(seq) - 1, len(seq)) for seq, _ in live]
            self.scheduler.postprocess(step_chunks, {seq.seq_id: t for seq, t in live})
            for request in watched:  # a stop string ends the request at this step, as without bursts
                self._detokenize(request)
        return self._collect_outputs()

    def _launch_ahead(self, seqs: list[Sequence], steps: int, launched: LaunchedBurst, *,
                      captured_only: bool = False) -> AheadBurst | None:
        """Launch the burst that follows `launched` (decode_burst.py), when one would follow (and,
        captured_only, from an already captured graph: behind a prefill anything slower would
        delay the first token; the next decode step captures it)."""
        if self.scheduler.waiting:
            return None
        after = bursts.burst_length_after(seqs, steps, max_steps=min(self.decode_ahead, self.decode_burst),
                                   max_model_len=self.max_model_len)
        if after < 1 or (after := self.scheduler.reserve_ahead(seqs, steps + after) - steps) < 1:
            return None
        tokens = self.runner.launch_burst(seqs, after, ahead=steps, first_ids=launched.device[-1],
                                          captured_only=captured_only)
        if tokens is None:
            return None
        return AheadBurst(seq_ids=[s.seq_id for s in seqs],
                          first_positions=[len(s) - 1 + steps for s in seqs], steps=after, tokens=tokens)

    def _run_model(self, chunks: list[ScheduledChunk], decode_follows: bool = False) -> dict[int, int]:
        result = self.runner.forward(chunks)
        rows: list[int] = []
        sampling: list[ScheduledChunk] = []
        kept: list[tuple[TrackedRequest, list[int], int]] = []  # request, positions, first row in `rows`
        for chunk, (lo, _hi) in zip(chunks, result.row_ranges, strict=True):
            request = self._requests.get(chunk.seq.request_id)
            if request is not None and request.seq is chunk.seq and chunk.seq.params.keep_prompt_logits:
                prompt_rows = [(p, lo + i) for i, p in enumerate(chunk.positions)
                               if p < chunk.seq.num_prompt_tokens]
                kept.append((request, [p for p, _ in prompt_rows], len(rows)))
                rows.extend(r for _, r in prompt_rows)
        sample_start = len(rows)
        for chunk, (_lo, hi) in zip(chunks, result.row_ranges, strict=True):
            if chunk.samples:
                sampling.append(chunk)
                rows.append(hi - 1)
        if not rows:
            return {}
        logits = self.runner.compute_logits(result.hidden[rows])  # (len(rows), vocab)
        for request, positions, start in kept:
            request.prompt_logits.update(zip(positions, logits[start:start + len(positions)], strict=True))
        if not sampling:
            return {}
        params = [c.seq.params for c in sampling]
        generators = [self._generator_of(c.seq) for c in sampling]
        greedy = LaunchedBurst.of(logits[sample_start:].argmax(dim=-1)[None])  # [1, rows]
        if decode_follows:
            self._ahead = self._launch_ahead([c.seq for c in sampling], 1, greedy, captured_only=True)
        tokens = sample(logits[sample_start:], greedy.tolist()[0], params, generators)
        return {c.seq.seq_id: t for c, t in zip(sampling, tokens, strict=True)}

    def _generator_of(self, seq: Sequence) -> torch.Generator | None:
        request = self._requests.get(seq.request_id)
        return request.generator if request is not None else None

    def _collect_outputs(self) -> list[RequestOutput]:
        outputs: list[RequestOutput] = []
        for request_id, request in list(self._requests.items()):
            seq = request.seq
            self._detokenize(request)
            if seq.is_finished:
                del self._requests[request_id]
            if seq.num_completion_tokens > request.reported_tokens or seq.is_finished:
                outputs.append(request_output(request, finished=seq.is_finished))
        return outputs

    def _detokenize(self, request: TrackedRequest) -> None:
        """Give the detokenizer the request's new tokens; a stop string ends the request."""
        if detokenize_new(request, self._stop_ids(request.seq)) and not request.seq.is_finished:
            self.scheduler.finish(request.seq, "stop")

    def _stop_ids(self, seq: Sequence) -> list[int]:
        if seq.params.ignore_eos:
            return []
        return seq.params.stop_token_ids if seq.params.stop_token_ids is not None else self.eos_token_ids

    # -- conveniences -------------------------------------------------------------------------

    def generate(self, prompts: list[Prompt], params: SamplingParams | None = None) -> list[RequestOutput]:
        """Run prompts together to completion; final outputs in prompt order."""
        ids = [self.add_request(p, params) for p in prompts]
        finals: dict[str, RequestOutput] = {}
        while any(i not in finals for i in ids):
            for out in self.step():
                if out.finished:
                    finals[out.request_id] = out
        return [finals[i] for i in ids]

    def stream(self, prompt: Prompt, params: SamplingParams | None = None) -> Iterator[RequestOutput]:
        """One request's deltas, one output per engine step (a decode burst is one step, with
        several new tokens): a step that produced nothing for it (a prefill chunk, a wait for pages)
        yields an output with no new tokens, so the caller can stop (close the generator) within
        one step or burst of deciding to (other requests progress too)."""
        request_id = self.add_request(prompt, params)
        others: list[RequestOutput] = []
        try:
            while True:
                mine: list[RequestOutput] = []
                for out in self.step():
                    (mine if out.request_id == request_id else others).append(out)
                request = self._requests.get(request_id)
                if not mine:
                    if request is None:  # ended by someone else's cancel, which got its output
                        return
                    mine.append(progress_output(request))
                for out in mine:
                    yield out
                    if out.finished:
                        return
        finally:
            self.cancel(request_id)
            self._undelivered = others + self._undelivered

    def stats(self) -> EngineStats:
        bm, scheduler = self.block_manager, self.scheduler
        return EngineStats(
            num_pages=bm.num_pages, free_pages=bm.num_free_pages, cached_free_pages=len(bm.free_cached),
            tokens_computed=scheduler.tokens_computed, prefix_cache_hit_tokens=bm.cache_hit_tokens,
            segment_hits=scheduler.segments.stats.hits, segment_misses=scheduler.segments.stats.misses,
            live_segments=len(scheduler.segments.live), num_preemptions=scheduler.num_preemptions,
            running=len(scheduler.running), waiting=len(scheduler.waiting),
            decode_bursts=self.num_decode_bursts, decode_bursts_ahead=self.num_bursts_ahead_used,
        )
