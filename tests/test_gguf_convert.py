"""GGUF → mlx-lm conversion: name/layout mapping on tiny synthetic tensors and GGUF files, then the real packs
against an independent reference (transformers reading the same GGUF)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from rag.models import PACK_GGUF, ModelError
from rag.models.convert_gguf import convert_weights, hf_name, map_tensor, unpermute_qk


def llamacpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf.py `LlamaModel.permute` (HF half-split rope rows → interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# -- pure mapping ------------------------------------------------------------------------------------------------
def test_names_llama_and_gemma3():
    assert hf_name("token_embd.weight", "llama") == "model.embed_tokens.weight"
    assert hf_name("output_norm.weight", "gemma3") == "model.norm.weight"
    assert hf_name("output.weight", "llama") == "lm_head.weight"
    assert hf_name("blk.7.attn_output.weight", "llama") == "model.layers.7.self_attn.o_proj.weight"
    assert hf_name("blk.3.ffn_down.weight", "gemma3") == "model.layers.3.mlp.down_proj.weight"
    # ffn_norm is the only pre-MLP norm in llama, but one of four norms in Gemma 3
    assert hf_name("blk.0.ffn_norm.weight", "llama") == "model.layers.0.post_attention_layernorm.weight"
    assert hf_name("blk.0.ffn_norm.weight", "gemma3") == "model.layers.0.pre_feedforward_layernorm.weight"
    assert hf_name("blk.0.post_attention_norm.weight", "gemma3") == "model.layers.0.post_attention_layernorm.weight"
    assert hf_name("blk.0.post_ffw_norm.weight", "gemma3") == "model.layers.0.post_feedforward_layernorm.weight"
    assert hf_name("blk.2.attn_k_norm.weight", "gemma3") == "model.layers.2.self_attn.k_norm.weight"
    assert hf_name("rope_freqs.weight", "llama") is None
    with pytest.raises(ModelError):
        hf_name("blk.0.attn_q_norm.weight", "llama")  # no such tensor in a llama model
    with pytest.raises(ModelError):
        hf_name("blk.0.attn_q.weight", "qwen2")


def test_llama_qk_permutation_is_undone():
    rng = np.random.default_rng(0)
    n_head, n_kv, head_dim, hidden = 4, 2, 8, 12
    q = rng.standard_normal((n_head * head_dim, hidden)).astype(np.float32)
    k = rng.standard_normal((n_kv * head_dim, hidden)).astype(np.float32)
    q_gguf, k_gguf = llamacpp_permute(q, n_head), llamacpp_permute(k, n_kv)
    assert not np.array_equal(q_gguf, q)  # the permutation does something, so the test can fail
    name, q_back = map_tensor("blk.1.attn_q.weight", q_gguf, "llama", n_head, n_kv)
    assert name == "model.layers.1.self_attn.q_proj.weight"
    np.testing.assert_array_equal(q_back, q)
    _, k_back = map_tensor("blk.1.attn_k.weight", k_gguf, "llama", n_head, n_kv)
    np.testing.assert_array_equal(k_back, k)
    # K must be un-permuted with the KV head count, not the query head count
    assert not np.array_equal(unpermute_qk(k_gguf, n_head), k)
    # V and Gemma's Q are not permuted by llama.cpp
    _, v = map_tensor("blk.1.attn_v.weight", k_gguf, "llama", n_head, n_kv)
    np.testing.assert_array_equal(v, k_gguf)
    _, gq = map_tensor("blk.1.attn_q.weight", q_gguf, "gemma3", n_head, n_kv)
    np.testing.assert_array_equal(gq, q_gguf)


def test_gemma_norms_lose_the_baked_in_one():
    w = np.full(6, 1.25, np.float32)
    for gname in ("blk.0.attn_norm.weight", "blk.0.attn_q_norm.weight", "blk.0.post_ffw_norm.weight", "output_norm.weight"):
        _, out = map_tensor(gname, w, "gemma3", 4, 1)
        np.testing.assert_allclose(out, 0.25)
    _, llama_norm = map_tensor("blk.0.attn_norm.weight", w, "llama", 4, 1)
    np.testing.assert_array_equal(llama_norm, w)
    _, proj = map_tensor("blk.0.ffn_up.weight", w.reshape(2, 3), "gemma3", 4, 1)
    np.testing.assert_array_equal(proj, w.reshape(2, 3))


# -- tiny synthetic GGUF files: shapes, quantized reads, config, and mlx-lm accepting the result -------------------
def _write_gguf(path: Path, arch: str, hf: dict[str, np.ndarray], meta: dict, quant: set[str]) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(meta["layers"])
    w.add_context_length(128)
    w.add_embedding_length(meta["hidden"])
    w.add_feed_forward_length(meta["ffn"])
    w.add_head_count(meta["heads"])
    w.add_head_count_kv(meta["kv_heads"])
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(meta["rope"])
    w.add_key_length(meta["head_dim"])
    w.add_value_length(meta["head_dim"])
    if arch == "llama":
        w.add_rope_dimension_count(meta["head_dim"])
    else:
        w.add_sliding_window(512)
    w.add_token_list([f"t{i}" for i in range(meta["vocab"])])
    w.add_bos_token_id(2)
    w.add_eos_token_id(1)
    for name, arr in hf.items():
        if name in quant:
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _tiny(arch: str, rng) -> tuple[dict, dict[str, np.ndarray]]:
    # mlx-lm's Gemma 3 needs at least one global layer: 6 layers (5 sliding + 1 full)
    meta = dict(layers=2 if arch == "llama" else 6, hidden=64, ffn=96, heads=2, kv_heads=1, head_dim=32, vocab=40, rope=10000.0)
    h, f, d = meta["hidden"], meta["ffn"], meta["head_dim"]
    t = {"token_embd.weight": rng.standard_normal((meta["vocab"], h)), "output_norm.weight": rng.standard_normal(h)}
    for i in range(meta["layers"]):
        b = f"blk.{i}."
        t.update({
            b + "attn_q.weight": rng.standard_normal((meta["heads"] * d, h)),
            b + "attn_k.weight": rng.standard_normal((meta["kv_heads"] * d, h)),
            b + "attn_v.weight": rng.standard_normal((meta["kv_heads"] * d, h)),
            b + "attn_output.weight": rng.standard_normal((h, meta["heads"] * d)),
            b + "ffn_gate.weight": rng.standard_normal((f, h)),
            b + "ffn_up.weight": rng.standard_normal((f, h)),
            b + "ffn_down.weight": rng.standard_normal((h, f)),
            b + "attn_norm.weight": rng.standard_normal(h),
            b + "ffn_norm.weight": rng.standard_normal(h),
        })
        if arch == "gemma3":
            t.update({
                b + "attn_q_norm.weight": rng.standard_normal(d),
                b + "attn_k_norm.weight": rng.standard_normal(d),
                b + "post_attention_norm.weight": rng.standard_normal(h),
                b + "post_ffw_norm.weight": rng.standard_normal(h),
            })
    return meta, {k: v.astype(np.float32) for k, v in t.items()}


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_tiny_gguf_round_trip_loads_in_mlx_lm(tmp_path, arch):
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import load_model

    rng = np.random.default_rng(1)
    meta, gg = _tiny(arch, rng)
    quant = {"blk.0.ffn_up.weight", "token_embd.weight"}
    _write_gguf(tmp_path / "tiny.gguf", arch, gg, meta, quant)
    cfg = convert_weights(tmp_path / "tiny.gguf", tmp_path / "out", progress=lambda m: None, dtype_name="float32")

    assert cfg["model_type"] == {"llama": "llama", "gemma3": "gemma3_text"}[arch]
    assert cfg["tie_word_embeddings"] is True and cfg["vocab_size"] == meta["vocab"]
    assert cfg["num_key_value_heads"] == 1 and cfg["head_dim"] == meta["head_dim"]
    if arch == "gemma3":
        assert cfg["eos_token_id"] == [1, 106] and cfg["rope_local_base_freq"] == 10000.0
        assert cfg["layer_types"] == ["sliding_attention"] * 5 + ["full_attention"]
    assert json.loads((tmp_path / "out" / "config.json").read_text()) == cfg

    model, _ = load_model(tmp_path / "out", strict=True)  # every parameter present, no extras
    params = dict(tree_flatten(model.parameters()))
    assert params["model.layers.0.mlp.up_proj.weight"].shape == (meta["ffn"], meta["hidden"])
    np.testing.assert_allclose(np.array(params["model.layers.0.mlp.up_proj.weight"]), gg["blk.0.ffn_up.weight"], atol=0.05)
    np.testing.assert_allclose(np.array(params["model.embed_tokens.weight"]), gg["token_embd.weight"], atol=0.05)
    q = np.array(params["model.layers.1.self_attn.q_proj.weight"])
    norm = np.array(params["model.layers.1.input_layernorm.weight"])
    if arch == "llama":
        np.testing.assert_array_equal(q, unpermute_qk(gg["blk.1.attn_q.weight"], meta["heads"]))
        np.testing.assert_array_equal(norm, gg["blk.1.attn_norm.weight"])
    else:
        np.testing.assert_array_equal(q, gg["blk.1.attn_q.weight"])
        np.testing.assert_allclose(norm, gg["blk.1.attn_norm.weight"] - 1, atol=1e-6)
    logits = model(mx.array([[1, 2, 3]]))
    assert logits.shape == (1, 3, meta["vocab"])


# -- real packs vs transformers reading the GGUF ---------------------------------------------------------------
PROMPT = (
    "The recording starts with a short introduction. Then the speaker explains how the library indexes "
    "every episode, so that a question about a topic can be answered with the exact moment it was said."
)


def _gguf_source(folder: Path, tmp: Path) -> Path:
    """The GGUF the pack was converted from, as shipped: the pack keeps it (`model.gguf`, checksummed in its
    manifest), so the test needs no source package (the set-up drops them). Linked into an empty folder: next to
    the pack's own config and tokenizer files, transformers would read those instead of the GGUF's."""
    link = tmp / "reference" / PACK_GGUF
    link.parent.mkdir()
    link.symlink_to(folder / PACK_GGUF)
    return link


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemma-3-270m", "smollm2-135m-instruct"])
def test_converted_pack_matches_transformers(pack, tmp_path, name):
    import mlx.core as mx
    import torch
    from mlx_lm import load
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = pack(name)
    model, tok = load(str(folder))
    ids = tok.encode(PROMPT)
    assert 20 <= len(ids) <= 80
    t0 = time.perf_counter()
    ours = np.array(model(mx.array([ids]))[0].astype(mx.float32))
    ours_s = time.perf_counter() - t0

    gguf_path = _gguf_source(folder, tmp_path)
    ref_tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    assert ref_tok.encode(PROMPT) == ids  # the saved tokenizer is the GGUF's tokenizer
    ref = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32)
    with torch.no_grad():
        theirs = ref(torch.tensor([ids])).logits[0].float().numpy()

    assert ours.shape == theirs.shape
    diff = float(np.abs(ours - theirs).max())
    same = ours.argmax(-1) == theirs.argmax(-1)
    print(f"\n{name}: {len(ids)} tokens, max |logit diff| {diff:.4g}, argmax agree {same.sum()}/{len(ids)}, "
          f"mlx forward {ours_s:.2f} s")
    assert same.all(), f"argmax differs at positions {np.nonzero(~same)[0].tolist()}"
    assert diff < 0.5
