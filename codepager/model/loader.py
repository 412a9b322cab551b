"""Load a Hugging Face model directory offline: config.json, *.safetensors (single or sharded),
tokenizer.json. Checkpoint quirks (shards, tied embeddings, dtype, the model's fused q/k/v and gate/up
projections over the checkpoint's separate tensors) are handled here, not in the model."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open

from codepager.errors import ModelLoadError
from codepager.model.config import ModelConfig
from codepager.model.decoder import CausalLM
from codepager.model.fingerprint import model_fingerprint
from codepager.model.rope import rope_parameters
from codepager.model.tokenizer import Tokenizer

TIED_HEAD = "lm_head.weight"
# the model's fused projection -> the checkpoint projections concatenated along its output rows
FUSED_PROJECTIONS = {
    "self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj"),
}


@dataclass
class LoadedModel:
    path: Path
    config: ModelConfig
    model: CausalLM
    tokenizer: Tokenizer
    fingerprint: str


def load_model(
    model_dir: str | os.PathLike, *, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
) -> LoadedModel:
    """dtype None: float32 on CPU, bfloat16 on CUDA."""
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"model directory not found: {path}")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"invalid device {device!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device} requested but CUDA is not available")
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = ModelConfig.from_dir(path)
    tokenizer = Tokenizer.from_dir(path)
    weight_map = _weight_map(path)
    model = _build_model(config, weight_map, device=device, dtype=dtype)
    fingerprint = model_fingerprint(config, sorted(set(weight_map.values())), tokenizer.digest, dtype)
    return LoadedModel(path=path, config=config, model=model, tokenizer=tokenizer, fingerprint=fingerprint)


def _weight_map(path: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file holding it."""
    index_path = path / "model.safetensors.index.json"
    if index_path.is_file():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            entries = index["weight_map"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"cannot read shard index {index_path}: {exc}") from exc
        shards = {name: path / file for name, file in entries.items()}
        for shard in sorted(set(shards.values())):
            if not shard.is_file():
                raise ModelLoadError(f"missing weights shard {shard.name} listed in {index_path.name}")
        return shards
    files = [path / "model.safetensors"] if (path / "model.safetensors").is_file() else []
    files = files or sorted(path.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"no *.safetensors weights in model directory {path}")
    weight_map: dict[str, Path] = {}
    for file in files:
        with _open_safetensors(file) as handle:
            weight_map.update(dict.fromkeys(handle.keys(), file))
    return weight_map


def fuse_projections(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with the checkpoint's (Hugging Face) names -> the model's: each group of
    FUSED_PROJECTIONS parts concatenated into one tensor (weights and biases alike). Rewrites and
    returns `state` itself, so each group's parts are freed as soon as they are concatenated."""
    for name in list(state):
        for target, parts in FUSED_PROJECTIONS.items():
            head, found, kind = name.partition(f".{parts[0]}.")
            if found:
                names = [f"{head}.{part}.{kind}" for part in parts]
                state[f"{head}.{target}.{kind}"] = torch.cat([state.pop(n) for n in names])
    return state


def checkpoint_shapes(
    config: ModelConfig, model_shapes: dict[str, tuple[int, ...]],
) -> dict[str, tuple[int, ...]]:
    """The model's tensor names and shapes -> the checkpoint's (fused projections split back)."""
    q_rows, kv_rows = config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim
    rows = {
        "self_attn.qkv_proj": (q_rows, kv_rows, kv_rows),
        "mlp.gate_up_proj": (config.intermediate_size, config.intermediate_size),
    }
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in model_shapes.items():
        for target, parts in FUSED_PROJECTIONS.items():
            head, found, kind = name.partition(f".{target}.")
            if found:
                for part, part_rows in zip(parts, rows[target], strict=True):
                    shapes[f"{head}.{part}.{kind}"] = (part_rows, *shape[1:])
                break
        else:
            shapes[name] = shape
    return shapes


def _open_safetensors(file: Path) -> Any:
    try:
        return safe_open(str(file), framework="pt")
    except (SafetensorError, OSError) as exc:
        raise ModelLoadError(f"corrupt or truncated weights file {file.name}: {exc}") from exc


def _build_model(
    config: ModelConfig, weight_map: dict[str, Path], *, device: torch.device, dtype: torch.dtype,
) -> CausalLM:
    with torch.device("meta"):
        model = CausalLM(config)
    expected = checkpoint_shapes(config, {name: tuple(p.shape) for name, p in model.state_dict().items()})
    if config.tie_word_embeddings:
        expected.pop(TIED_HEAD, None)
    missing = sorted(name for name in expected if name not in weight_map)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ModelLoadError(f"weights are missing tensor {missing[0]}{more}")

    state: dict[str, torch.Tensor] = {}
    with ExitStack() as stack:
        handles: dict[Path, Any] = {}
        for name, shape in expected.items():
            file = weight_map[name]
            if file not in handles:
                handles[file] = stack.enter_context(_open_safetensors(file))
            try:
                stored_shape = tuple(handles[file].get_slice(name).get_shape())
                if stored_shape != shape:
                    raise ModelLoadError(
                        f"tensor {name} has shape {list(stored_shape)} in {file.name} but config.json "
                        f"implies {list(shape)}"
                    )
                tensor = handles[file].get_tensor(name)
            except SafetensorError as exc:
                raise ModelLoadError(f"cannot read tensor {name} from {file.name}: {exc}") from exc
            if not tensor.is_floating_point():
                raise ModelLoadError(f"tensor {name} in {file.name} has non-float dtype {tensor.dtype}")
            state[name] = tensor.to(device=device, dtype=dtype)
    state = fuse_projections(state)
    if config.tie_word_embeddings:
        state[TIED_HEAD] = state["model.embed_tokens.weight"]
    model.load_state_dict(state, strict=True, assign=True)
    if config.tie_word_embeddings:
        model.tie_weights()
    inv_freq, _ = rope_parameters(config)
    model.rope_inv_freq = inv_freq.to(device)
    model.eval()
    model.requires_grad_(False)
    return model
