"""Turn a role's model setting (pack name, local folder or hub id) into something a backend can load."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from rag.models import PACKS, ModelError, pack_dir


def resolve_model(spec: str, role: str, settings=None, auto_pull: bool = True) -> Path | str:
    """Pack name → its verified folder (pulled on first use); folder → Path; hub id → str if downloads allowed."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if spec in PACKS:
        pack = PACKS[spec]
        if pack.role != role:
            raise ModelError(f"model pack '{spec}' is a {pack.role} model, not a {role} model")
        from rag.models.pull import pull, read_manifest, verify

        if read_manifest(spec, settings.models_path) is None and auto_pull:
            pull(spec, settings.models_path, progress=lambda m: print(m, file=sys.stderr))
        verify(spec, settings.models_path, quick=True)
        return pack_dir(spec, settings.models_path)
    path = Path(spec).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{role} model '{spec}' is a file; give a model folder or a pack name")
        return path
    if "/" in spec and not spec.startswith((".", "/", "~")) and settings.allow_downloads:
        os.environ.pop("HF_HUB_OFFLINE", None)
        return spec
    raise ModelError(
        f"{role} model '{spec}' is neither a pack ({', '.join(p for p in PACKS if PACKS[p].role == role)}) "
        "nor a local folder" + ("" if settings.allow_downloads else "; to fetch a hub id set AUDIORAG_ALLOW_DOWNLOADS=1")
    )
