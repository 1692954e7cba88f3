"""One file → one complete Episode in the store: decode → transcribe (or import) → clean → chunk → embed → write.

Idempotent (the episode id is the hash of the audio bytes; the same bytes with the same settings are skipped
without writing anything), resumable (an episode is only visible once all its rows are written, so a killed run
simply redoes the file it was on), and batch-friendly (one bad file is reported and the batch goes on).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from rag import vocab
from rag.errors import AudioragError, display
from rag.schema import Episode, Transcript

AUDIO_EXTS = {".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".webm", ".mp4", ".m4v", ".mov",
              ".mkv", ".wma", ".aiff", ".aif"}
TRANSCRIPT_EXTS = {".json", ".srt", ".vtt", ".txt"}
EMBED_BATCH = 256  # chunks embedded at a time (the time budget is checked between batches)
CHUNK_VERSION = 1  # bump when chunking changes so existing episodes are re-processed

Status = Literal["ingested", "unchanged", "failed", "skipped"]
StageCallback = Callable[[str, float], None]  # (stage name, fraction of this file done)


@dataclass
class Item:
    path: Path
    kind: Literal["audio", "transcript"]
    audio: Path | None = None  # the audio to keep for playback (the file itself, or a transcript's sidecar)
    explicit: bool = True  # named on the command line (a bad one fails) vs found in a folder scan
    sidecar: "Result | None" = None  # the report of the audio this transcript stands in for (told if it fails)


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


def _not_a_transcript(path: Path) -> str | None:
    """Why a JSON file found in a folder is not a transcript (its real error), or None when it is shaped like one
    (the import then judges its content) or cannot be judged here (too big, unreadable: the import says why)."""
    from ingest.transcripts import TranscriptError, read_transcript_text, whisper_shape
    from rag.settings import get_settings

    try:
        if path.stat().st_size > get_settings().ingest.max_transcript_mb * 1e6:
            return None
        text = read_transcript_text(path)
        if not text.strip():
            return "not a transcript (empty file)"
        whisper_shape(json.loads(text))
    except json.JSONDecodeError as exc:
        return f"not a transcript (not valid JSON (line {exc.lineno}: {exc.msg}))"
    except TranscriptError as exc:
        return f"not a transcript ({exc})"
    except (OSError, ValueError):
        return None
    return None


def _scan(folder: Path, recursive: bool) -> tuple[list[Path], list[Result]]:
    """The files in a folder, and a report for every entry that is not one (hidden entries aside)."""
    from ingest.decode import special_file

    files: list[Path] = []
    skipped: list[Result] = []
    for f in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if any(part.startswith(".") for part in f.relative_to(folder).parts):
            continue
        if f.is_dir():
            if f.is_symlink():  # never followed (a link can lead back up the tree, or out of it)
                skipped.append(Result(str(f), "skipped", reason="a link to a folder: not followed (name the folder "
                                                                "itself to ingest what is in it)"))
            elif not recursive:
                skipped.append(Result(str(f), "skipped", reason="a folder (add --recursive to ingest what is in it)"))
            continue
        why = special_file(f)
        if why is None:
            files.append(f)
        else:
            skipped.append(Result(str(f), "skipped", reason=why))
    return files, skipped


def collect(paths: list[str | Path], recursive: bool = False) -> tuple[list[Item], list[Result]]:
    """Expand the paths into work items. A transcript with an audio file of the same stem beside it wins over that
    audio (its text is used, the audio is linked for playback). Entries found in folder scans that are not audio or
    transcripts, or not regular files (FIFOs, sockets, dangling symlinks, symlink loops), are reported as skipped,
    each with its reason, never as failures."""
    from ingest.transcripts import find_sidecar_audio

    found: list[tuple[Path, bool]] = []
    skipped: list[Result] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            files, odd = _scan(p, recursive)
            found += [(f, False) for f in files]
            skipped += odd
        else:
            found.append((p, True))
    items: list[Item] = []
    claimed_audio: dict[Path, Item] = {}
    seen: set[Path] = set()
    for f, explicit in found:
        ext = f.suffix.lower()
        key = f.resolve() if f.exists() else f
        if key in seen:
            continue
        seen.add(key)
        if ext in TRANSCRIPT_EXTS:
            why = _not_a_transcript(f) if not explicit and ext == ".json" else None
            if why:
                skipped.append(Result(str(f), "skipped", reason=why))
                continue
            if not explicit and ext == ".txt" and f.name.lower() in {"readme.txt", "license.txt", "licence.txt"}:
                skipped.append(Result(str(f), "skipped", reason="not a transcript (a README or licence)"))
                continue
            side = find_sidecar_audio(f) if f.exists() else None
            item = Item(f, "transcript", audio=side, explicit=explicit)
            if side is not None:
                claimed_audio[side.resolve()] = item
            items.append(item)
        elif ext in AUDIO_EXTS or explicit:
            items.append(Item(f, "audio", audio=f, explicit=explicit))
        else:
            skipped.append(Result(str(f), "skipped", reason=f"not an audio or transcript file ({ext or 'no extension'})"))
    kept = []
    for item in items:
        owner = claimed_audio.get(item.path.resolve()) if item.kind == "audio" and item.path.exists() else None
        if owner is not None:
            owner.sidecar = Result(str(item.path), "skipped",
                                   reason=f"its transcript beside it ({owner.path.name}) is imported instead")
            skipped.append(owner.sidecar)
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
    from ingest.speakers import diarizes

    if item.kind == "audio" and diarizes(settings):  # absent when off: libraries made before keep their keys
        parts["diarize"] = [settings.diarize.backend, settings.diarize.speakers]
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

    def transcript_for(self, item: Item, language: str | None, stages: dict, on_stage: StageCallback,
                       notes: list[str], vocabulary: list[str] = ()):
        """The timed transcript of an item, validated (rag.schema.validate_transcript), the audio duration when
        known, and the recording's diarization (None for imports or when off). What the caller should be told (a
        truncated recording) is appended to `notes`. Whisper is prompted with the `vocabulary` (rag/vocab.py)."""
        from ingest.budget import budget
        from rag.schema import validate_transcript

        limits = self.settings.ingest
        if item.kind == "transcript":
            return (*self._imported(item, stages, on_stage), None)
        from ingest.decode import decode_noted

        t0 = time.perf_counter()
        on_stage("decode", 0.05)
        with budget(limits.decode_timeout_s, "ingest.decode_timeout_s"):
            audio, note = decode_noted(item.path)
        if note:
            notes.append(note)
        stages["decode"] = time.perf_counter() - t0
        duration = len(audio) / 16000
        from ingest.asr import noting, prompting, reporting
        from ingest.speakers import diarize_stage, start_diarize
        with start_diarize(audio, self.settings) as pending:  # beside the transcription: it needs the audio only
            on_stage("transcribe", 0.1)
            t0 = time.perf_counter()

            def heard(seconds: float) -> None:  # 10 % → 60 % of the file's bar while its audio is transcribed
                on_stage("transcribe", 0.1 + 0.5 * min(1.0, seconds / duration) if duration else 0.1)
            told = lambda text: notes.append(text) if text not in notes else None  # noqa: E731  (a backend's notes)
            with budget(limits.transcribe_timeout_s, "ingest.transcribe_timeout_s"), reporting(heard), \
                    prompting(vocabulary), noting(told), pending.beside():
                transcript = self.asr.transcribe(audio, language=language, word_timestamps=True)
            stages["transcribe"] = time.perf_counter() - t0
            if not transcript.text:
                raise IngestError("no speech found in the recording")
            from ingest.segment import resegment

            t0 = time.perf_counter()
            transcript = validate_transcript(resegment(transcript, audio), duration)
            stages["segment"] = time.perf_counter() - t0
            transcript, diarization = diarize_stage(transcript, pending, stages, on_stage)
        return transcript, duration, diarization

    def _imported(self, item: Item, stages: dict, on_stage: StageCallback) -> tuple[Transcript, float | None]:
        """A transcript file within the size budgets, checked against its recording's length when one is beside it."""
        from ingest.transcripts import load_transcript

        limits = self.settings.ingest
        size = item.path.stat().st_size
        if size > limits.max_transcript_mb * 1e6:
            raise IngestError(f"too big to import: {size / 1e6:.1f} MB (the budget is {limits.max_transcript_mb:g} MB, "
                              "setting ingest.max_transcript_mb)")
        t0 = time.perf_counter()
        on_stage("import", 0.1)
        duration = None
        if item.audio is not None:
            from ingest.decode import probe

            with contextlib.suppress(Exception):  # the transcript still imports without its audio length
                duration = probe(item.audio).get("duration")
        transcript = load_transcript(item.path, duration=duration)
        words = len(transcript.text.split())
        if words > limits.max_transcript_words:
            raise IngestError(f"too long to import: {words:,} words (the budget is {limits.max_transcript_words:,}, "
                              "setting ingest.max_transcript_words)")
        stages["import"] = time.perf_counter() - t0
        duration = duration or transcript.duration
        if duration is None and transcript.has_times and transcript.segments:
            duration = max(s.end for s in transcript.segments)
        return transcript, duration

    def ingest_item(self, item: Item, *, enhance: bool = False, language: str | None = None,
                    on_stage: StageCallback = lambda s, f: None, force: bool = False) -> Result:
        """One file → one complete episode, claimed first (rag.locks): an overlapping ingest waits, then finds it ready."""
        t_start = time.perf_counter()
        stages: dict[str, float] = {}
        notes: list[str] = []
        res = Result(str(item.path), "failed")
        try:
            from ingest.decode import content_hash, special_file

            why = special_file(item.path)
            if why:
                raise IngestError(why)
            if item.path.stat().st_size == 0:
                raise IngestError("empty file (0 bytes)")
            id_source = item.audio if item.audio is not None else item.path
            episode_id = content_hash(id_source)
            key = settings_key(self.settings, item, enhance, language)
            res.episode_id = episode_id
            from rag.locks import episode_lock

            with episode_lock(self.settings, episode_id):  # a ready episode without all its rows is redone
                existing = self.store.get_episode(episode_id)
                if (existing is not None and existing.status == "ready" and existing.settings_key == key
                        and not force and self.store.is_complete(episode_id)):
                    res.status, res.title, res.duration = "unchanged", existing.title, existing.duration
                    res.reason = "already in the library with the same settings"
                    return res
                words = vocab.words_for(self.store, episode_id)  # the episode's vocabulary, then the library's
                transcript, duration, diarization = self.transcript_for(item, language, stages, on_stage, notes, words)
                res.title = self._index(item, transcript, duration, episode_id, key, existing, enhance, stages,
                                        on_stage, diarization, words)
            res.status, res.duration = "ingested", duration
            res.reason = "; ".join(notes) or None
            on_stage("done", 1.0)
        except Exception as exc:  # noqa: BLE001 — one bad file never stops the batch
            res.status = "failed"
            res.reason = display(exc)
            if item.sidecar is not None:
                item.sidecar.reason = f"not ingested: its transcript beside it ({item.path.name}) failed: {res.reason}"
        finally:
            res.seconds = time.perf_counter() - t_start
            res.stages = stages
        return res

    def _index(self, item: Item, transcript: Transcript, duration: float | None, episode_id: str, key: str,
               existing: Episode | None, enhance: bool, stages: dict, on_stage: StageCallback,
               diarization=None, vocabulary: list[str] = ()) -> str:
        """Clean, chunk, embed and store a validated transcript as one ready episode; returns its title."""
        from ingest.budget import budget, check
        from ingest.normalize import normalize_transcript

        transcript = normalize_transcript(transcript, vocabulary)
        if enhance:
            on_stage("enhance", 0.6)
            t0 = time.perf_counter()
            from ingest.enhance import enhance_transcript

            transcript = enhance_transcript(transcript, settings=self.settings, vocabulary=vocabulary).transcript
            stages["enhance"] = time.perf_counter() - t0

        on_stage("chunk", 0.7)
        t0 = time.perf_counter()
        from ingest.chunk import chunk_transcript

        chunks = chunk_transcript(episode_id, transcript)
        stages["chunk"] = time.perf_counter() - t0

        on_stage("embed", 0.75)
        t0 = time.perf_counter()
        import numpy as np

        limit = self.settings.ingest.import_timeout_s if item.kind == "transcript" else None
        with budget(limit, "ingest.import_timeout_s"):
            parts = []
            for i in range(0, max(len(chunks), 1), EMBED_BATCH):
                check()
                parts.append(self.embedder.embed([c.text for c in chunks[i : i + EMBED_BATCH]]))
            vectors = np.concatenate(parts)
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
        segments = transcript.segments
        if diarization is not None:
            from rag.voices import store_voices

            segments = store_voices(self.store, episode_id, diarization, segments)
        self.store.write_episode(episode, segments, chunks, vectors)
        stages["store"] = time.perf_counter() - t0
        return title

