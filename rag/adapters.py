"""Fine-tuned adapters as model packs: `<models_dir>/<name>/` with mlx-lm's `adapter_config.json` and
`adapters.safetensors`, and a `manifest.json` (role "adapter", its base model, the data it was trained on, the
iterations, the figures measured, sha256 of every file) written by `audiorag finetune` (rag/finetune.py).

`llm.adapter` (or `--adapter NAME`) names one: the mlx backend loads the adapter's base model with it
(rag/llm/mlx.py); llama.cpp cannot apply one, so an adapter makes the LLM run on mlx-lm. A plain mlx-lm adapter
folder (no manifest) may be given as a path too; its base is then whatever model is chosen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rag.models import PACKS, ModelError

ROLE = "adapter"
CONFIG = "adapter_config.json"
WEIGHTS = "adapters.safetensors"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str) -> str:
    if not NAME.match(name or "") or name in PACKS:
        taken = f" ('{name}' is a model pack)" if name in PACKS else ""
        raise ModelError(f"an adapter name is letters, digits, '.', '_' or '-' (at most 64), not a pack's{taken}")
    return name


def _fix(name: str) -> str:
    return f"train it again: audiorag finetune --name {name} --force"


def adapter_path(spec: str, models_dir: Path) -> tuple[Path, dict | None]:
    """(folder, manifest or None) for an adapter pack name or an mlx-lm adapter folder; ModelError if neither."""
    from rag.models.pull import read_manifest

    folder = Path(models_dir) / spec
    manifest = read_manifest(spec, models_dir) if NAME.match(spec) else None
    if manifest is not None:
        if manifest.get("role") != ROLE:
            raise ModelError(f"'{spec}' is a {manifest.get('role', 'model')} pack, not an adapter "
                             "(see: audiorag models list)")
        return folder, manifest
    if folder.is_dir() and NAME.match(spec):
        raise ModelError(f"adapter '{spec}' has no readable manifest.json; {_fix(spec)}")
    path = Path(spec).expanduser()
    if path.is_dir() and (path / CONFIG).exists():
        return path, None
    raise ModelError(f"no adapter '{spec}' in {models_dir} (train one: audiorag finetune --name {spec}; "
                     "see: audiorag models list)")


def checked_adapter(spec: str, models_dir: Path) -> tuple[Path, dict | None]:
    """adapter_path(), with an adapter pack's files checked against its manifest (sizes; sha256 of any file
    changed since) and its config readable: a corrupt adapter is one line, not a traceback."""
    from rag.models.pull import verify

    folder, manifest = adapter_path(spec, models_dir)
    if manifest is not None:
        verify(spec, models_dir, quick=True, what="adapter", fix=_fix(spec))
    label = spec if manifest is not None else str(folder)
    try:
        config = json.loads((folder / CONFIG).read_text())
        assert isinstance(config.get("lora_parameters"), dict) and int(config["num_layers"]) >= -1
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise ModelError(f"adapter '{label}' is corrupted ({CONFIG} unreadable); {_fix(spec)}") from None
    if not (folder / WEIGHTS).is_file():
        raise ModelError(f"adapter '{label}' is corrupted ({WEIGHTS} missing); {_fix(spec)}")
    return folder, manifest


def base_of(spec: str, models_dir: Path) -> str | None:
    """The model an adapter pack was trained on (None for a plain folder, or when it cannot be read)."""
    try:
        _, manifest = adapter_path(spec, models_dir)
    except ModelError:
        return None
    return (manifest or {}).get("base")


def check_base(spec: str, manifest: dict | None, model: str) -> None:
    """A ModelError when adapter `spec` was trained on another model than `model`."""
    base = (manifest or {}).get("base")
    if base and base != model and Path(str(model)).expanduser() != Path(manifest.get("base_path", "")):
        raise ModelError(f"adapter '{spec}' was trained on {base}, not {model}: choose {base} "
                         f"(--llm-model {base}) or an adapter trained on {model}")


def load_error(spec: str, model: str, exc: BaseException) -> ModelError:
    """What mlx-lm's failure to apply an adapter means, in one line."""
    first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0].rstrip(":")
    if "incompatible tensors" in first or "shape" in first:
        return ModelError(f"adapter '{spec}' does not fit {model} (it was trained on another model)")
    return ModelError(f"adapter '{spec}' cannot be loaded on {model}: {first}")


def list_adapters(models_dir: Path) -> list[dict]:
    """Every adapter pack in the models dir, as rows for `audiorag models list`: name, base, data, iterations,
    figures, size, ready."""
    from rag.models.pull import dir_size, read_manifest

    rows = []
    root = Path(models_dir)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        manifest = read_manifest(folder.name, root)
        if not manifest or manifest.get("role") != ROLE:
            continue
        try:
            checked_adapter(folder.name, root)
            ready = True
        except ModelError:
            ready = False
        rows.append({"name": folder.name, "role": ROLE, "base": manifest.get("base"),
                     "data": manifest.get("data", {}), "iterations": manifest.get("iterations"),
                     "figures": manifest.get("figures", {}), "created": manifest.get("created"),
                     "size_mb": round(dir_size(folder) / 1e6, 1), "path": str(folder), "ready": ready})
    return rows


def figures_line(row: dict) -> str:
    """'ppl 31.2 → 24.8, 200 it, 310 s' for a listing."""
    f = row.get("figures") or {}
    parts = []
    if f.get("perplexity_base") is not None and f.get("perplexity_after") is not None:
        parts.append(f"held-out ppl {f['perplexity_base']:.1f} → {f['perplexity_after']:.1f}")
    if row.get("iterations") is not None:
        parts.append(f"{row['iterations']} it")
    if f.get("train_seconds") is not None:
        parts.append(f"{f['train_seconds']:.0f} s")
    return ", ".join(parts)
