"""One file → one complete Episode in the store: decode → transcribe (or import) → clean → chunk → embed → write.

Idempotent (the episode id is the hash of the audio bytes; the same bytes with the same settings are skipped
without writing anything), resumable (an episode is only visible once all its rows are written, so a killed run
simply redoes the file it was on), and batch-friendly (one bad file is reported and the batch goes on).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from rag.errors import AudioragError, display
from rag.schema import Episode, Transcript

AUDIO_EXTS = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".m4v", ".mov",
              ".mkv", ".wma", ".aiff", ".aif"}
TRANSCRIPT_EXTS = {".json", ".srt", ".vtt", ".txt"}
CHUNK_VERSION = 1  # bump when chunking changes so existing episodes are re-processed

Status = Literal["ingested", "unchanged", "failed", "skipped"]
StageCallback = Callable[[str, float], None]  # (stage name, fraction of this file done)


@dataclass
class Item:
    path: Path
    kind: Literal["audio", "transcript"]
    audio: Path | None = None  # the audio to keep for playback (the file itself, or a transcript's sidecar)
    explicit: bool = True  # named on the command line (a bad one fails) vs found in a folder scan


@dataclass
class Result:
    path: str
    status: Status
    episode_id: str | None = None
    title: str | None = None
    reason: str | None = None
    duration: float | None = None
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class IngestError(AudioragError, RuntimeError):
    """A file that cannot be ingested; the message is one line for the user."""


def _sniff_transcript_json(path: Path) -> bool:
    try:
        from ingest.transcripts import load_transcript

        load_transcript(path)
        return True
    except Exception:  # noqa: BLE001 — any failure means "not a transcript we can read"
        return False


def collect(paths: list[str | Path], recursive: bool = False) -> tuple[list[Item], list[Result]]:
    """Expand the paths into work items. A transcript with an audio file of the same stem beside it wins over that
    audio (its text is used, the audio is linked for playback). Files found in folder scans that are not audio or
    transcripts are reported as skipped, never as failures."""
    from ingest.transcripts import find_sidecar_audio

    found: list[tuple[Path, bool]] = []
    skipped: list[Result] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            it = p.rglob("*") if recursive else p.iterdir()
            found += [(f, False) for f in sorted(it) if f.is_file() and not f.name.startswith(".")]
        else:
            found.append((p, True))
    items: list[Item] = []
    claimed_audio: set[Path] = set()
    seen: set[Path] = set()
    for f, explicit in found:
        ext = f.suffix.lower()
        key = f.resolve() if f.exists() else f
        if key in seen:
            continue
        seen.add(key)
        if ext in TRANSCRIPT_EXTS:
            if not explicit and ext == ".json" and not _sniff_transcript_json(f):
                skipped.append(Result(str(f), "skipped", reason="JSON file that is not a transcript"))
                continue
            if not explicit and ext == ".txt" and f.name.lower() in {"readme.txt", "license.txt", "licence.txt"}:
                skipped.append(Result(str(f), "skipped", reason="not a transcript"))
                continue
            side = find_sidecar_audio(f) if f.exists() else None
            if side is not None:
                claimed_audio.add(side.resolve())
            items.append(Item(f, "transcript", audio=side, explicit=explicit))
        elif ext in AUDIO_EXTS or explicit:
            items.append(Item(f, "audio", audio=f, explicit=explicit))
        else:
            skipped.append(Result(str(f), "skipped", reason=f"not an audio or transcript file ({ext or 'no extension'})"))
    kept = []
    for item in items:
        if item.kind == "audio" and item.path.exists() and item.path.resolve() in claimed_audio:
            skipped.append(Result(str(item.path), "skipped", reason="its transcript beside it is imported instead"))
            continue
        kept.append(item)
    return kept, skipped


def settings_key(settings, item: Item, enhance: bool, language: str | None) -> str:
    """What processing made an episode; a change means the episode is processed again."""
    parts = {
        "kind": item.kind,
        "asr": [settings.asr.model, settings.asr.backend] if item.kind == "audio" else None,
        "language": language,
        "enhance": [settings.llm.model] if enhance else None,
        "embed": settings.embed.model,
        "chunk": CHUNK_VERSION,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def title_from_path(path: Path) -> str:
    stem = path.stem.replace("_", " ").replace("-", " ").strip()
    return " ".join(stem.split()) or path.name


def keep_audio_copy(src: Path, episode_id: str, settings) -> str:
    """A hash-named copy of the audio inside the library (for playback); returns its location."""
    from rag.storage import put_file

    return put_file(src, f"audio/{episode_id}{src.suffix.lower()}", settings)


class Pipeline:
    """Holds the loaded backends for a batch, so models load once."""

    def __init__(self, settings=None, store=None):
        from rag.settings import get_settings

        self.settings = settings or get_settings()
        if store is None:
            from rag.store import Store

            store = Store(self.settings)
        self.store = store
        self._asr = None
        self._embedder = None

    @property
    def asr(self):
        if self._asr is None:
            from ingest.asr import get_asr

            self._asr = get_asr(self.settings)
        return self._asr

    @property
    def embedder(self):
        if self._embedder is None:
            from rag.embed import get_embedder

            self._embedder = get_embedder(self.settings)
        return self._embedder

    def transcript_for(self, item: Item, language: str | None, stages: dict, on_stage: StageCallback) -> tuple[Transcript, float | None]:
        """The timed transcript of an item, and the audio duration when known."""
        if item.kind == "transcript":
            from ingest.transcripts import load_transcript

            t0 = time.perf_counter()
            on_stage("import", 0.1)
            transcript = load_transcript(item.path)
            stages["import"] = time.perf_counter() - t0
            duration = transcript.duration
            if item.audio is not None:
                from ingest.decode import probe

                try:
                    duration = probe(item.audio).get("duration") or duration
                except Exception:  # noqa: BLE001 — the transcript still imports without its audio length
                    pass
            if duration is None and transcript.segments:
                duration = max(s.end for s in transcript.segments)
            return transcript, duration
        from ingest.decode import decode

        t0 = time.perf_counter()
        on_stage("decode", 0.05)
        audio = decode(item.path)
        stages["decode"] = time.perf_counter() - t0
        duration = len(audio) / 16000
        on_stage("transcribe", 0.1)
        t0 = time.perf_counter()
        transcript = self.asr.transcribe(audio, language=language, word_timestamps=True)
        stages["transcribe"] = time.perf_counter() - t0
        from ingest.segment import resegment

        t0 = time.perf_counter()
        transcript = resegment(transcript, audio)
        transcript.duration = duration
        stages["segment"] = time.perf_counter() - t0
        return transcript, duration

    def ingest_item(self, item: Item, *, enhance: bool = False, language: str | None = None,
                    on_stage: StageCallback = lambda s, f: None, force: bool = False) -> Result:
        t_start = time.perf_counter()
        stages: dict[str, float] = {}
        res = Result(str(item.path), "failed")
        try:
            if not item.path.exists():
                raise IngestError("file not found")
            if item.path.stat().st_size == 0:
                raise IngestError("empty file (0 bytes)")
            from ingest.decode import content_hash

            id_source = item.audio if item.audio is not None else item.path
            episode_id = content_hash(id_source)
            key = settings_key(self.settings, item, enhance, language)
            res.episode_id = episode_id
            existing = self.store.get_episode(episode_id)
            if existing is not None and existing.status == "ready" and existing.settings_key == key and not force:
                res.status, res.title, res.duration = "unchanged", existing.title, existing.duration
                res.reason = "already in the library with the same settings"
                return res

            transcript, duration = self.transcript_for(item, language, stages, on_stage)
            if not transcript.segments or not transcript.text:
                raise IngestError("no speech found in the recording" if item.kind == "audio" else "the transcript is empty")

            from ingest.normalize import normalize_transcript

            transcript = normalize_transcript(transcript)
            if enhance:
                on_stage("enhance", 0.6)
                t0 = time.perf_counter()
                from ingest.enhance import enhance_transcript

                transcript = enhance_transcript(transcript, settings=self.settings).transcript
                stages["enhance"] = time.perf_counter() - t0

            on_stage("chunk", 0.7)
            t0 = time.perf_counter()
            from ingest.chunk import chunk_transcript

            chunks = chunk_transcript(episode_id, transcript)
            stages["chunk"] = time.perf_counter() - t0

            on_stage("embed", 0.75)
            t0 = time.perf_counter()
            vectors = self.embedder.embed([c.text for c in chunks])
            stages["embed"] = time.perf_counter() - t0

            on_stage("store", 0.9)
            t0 = time.perf_counter()
            title = existing.title if existing is not None and existing.title else title_from_path(item.path)
            audio_path = keep_audio_copy(item.audio, episode_id, self.settings) if item.audio is not None else None
            episode = Episode(
                id=episode_id,
                title=title,
                source=str(item.path),
                duration=duration,
                language=transcript.language,
                status="ready",
                audio_path=audio_path,
                asr_model=transcript.model,
                settings_key=key,
            )
            if existing is not None:  # keep what the user or the LLM wrote about it
                episode = episode.model_copy(update={k: getattr(existing, k) for k in ("created", "tags", "summary", "description", "chapters")})
            self.store.write_episode(episode, transcript.segments, chunks, vectors)
            stages["store"] = time.perf_counter() - t0
            res.status, res.title, res.duration = "ingested", title, duration
            on_stage("done", 1.0)
        except Exception as exc:  # noqa: BLE001 — one bad file never stops the batch
            res.status = "failed"
            res.reason = display(exc)
        finally:
            res.seconds = time.perf_counter() - t_start
            res.stages = stages
        return res
