"""One plugin seam for every backend (as simonw/llm plugs models): speech-to-text, LLM, embeddings, diarization.

A backend is a factory `load(spec, settings) -> backend object` named by `"module:attr"`. Ours are listed below;
another package adds one by declaring an entry point in the group `audiorag.<role>`:

    [project.entry-points."audiorag.asr"]
    mywhisper = "mypkg.asr:load"

after which `audiorag ingest --asr-backend mywhisper …` uses it and `audiorag plugins` lists it. The factory gets
the role's model spec (e.g. `settings.asr.model`) and the settings object; what it returns must follow the role's
protocol (ingest.asr.base.AsrBackend, rag.llm.base.LLM, rag.embed.Embedder).

Modules are imported only when a backend is first used, by name: the registries import no backend module.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import asdict, dataclass
from typing import Any, Callable

from rag.models import ModelError

ROLES = ("asr", "llm", "embed", "diarize")

BUILTIN: dict[str, dict[str, str]] = {
    "asr": {
        "mlx": "ingest.asr.mlx:load",
        "ctranslate2": "ingest.asr.ctranslate2:load",
        "openai": "ingest.asr.openai:load",
    },
    "llm": {
        "mlx": "rag.llm.mlx:load",
        "llamacpp": "rag.llm.llamacpp:load",
        "openai": "rag.llm.openai:load",
    },
    "embed": {
        "mlx": "rag.embed.mlx:load",
    },
    "diarize": {
        "powerset": "ingest.diarize.powerset:load",
        "senko": "ingest.diarize.senko:load",
    },
}


@dataclass(frozen=True)
class Plugin:
    role: str
    name: str
    target: str  # "module:attr"
    source: str  # "builtin" or the distribution that declares it

    def to_dict(self) -> dict:
        return asdict(self)


def group(role: str) -> str:
    return f"audiorag.{role}"


@functools.lru_cache(maxsize=None)
def _entry_points(role: str) -> tuple[Plugin, ...]:
    """Installed packages' backends for `role`, scanned once per process (it reads every package's metadata, and
    the registries ask on every model lookup: each search embeds its question)."""
    from importlib.metadata import entry_points

    found = []
    for ep in entry_points(group=group(role)):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        if dist.replace("_", "-").lower() == "mlx-audio-rag":
            continue  # our own, should the package ever declare them: BUILTIN is the list
        found.append(Plugin(role, ep.name.lower(), ep.value, dist))
    return tuple(found)


def plugins(role: str | None = None) -> list[Plugin]:
    """Every backend known for `role` (all roles when None): ours first, then installed packages' entry points.
    A third-party name never replaces a built-in one."""
    roles = [role] if role else list(ROLES)
    out: list[Plugin] = []
    for r in roles:
        if r not in ROLES:
            raise ModelError(f"unknown backend role '{r}'; roles: {', '.join(ROLES)}")
        builtin = BUILTIN[r]
        out += [Plugin(r, name, target, "builtin") for name, target in builtin.items()]
        out += [p for p in _entry_points(r) if p.name not in builtin]
    return out


def names(role: str) -> list[str]:
    return [p.name for p in plugins(role)]


def factory(role: str, name: str) -> Callable[..., Any]:
    """The `load(spec, settings)` of backend `name` for `role`, imported now."""
    name = (name or "").strip().lower()
    plugin = next((p for p in plugins(role) if p.name == name), None)
    if plugin is None:
        raise ModelError(f"unknown {role} backend '{name}'; installed: auto, {', '.join(names(role))}")
    module, _, attr = plugin.target.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in (attr or "load").split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"{role} backend '{name}' ({plugin.target}, from {plugin.source}) cannot be loaded: "
                         f"{exc}") from exc
    return obj
