"""Audio features: what can be done with an episode, by which backend, and whether it can run here now.

A feature (transcription, summary, question) has providers; each provider says where it runs (rag.privacy's
words: "this machine" or the host), what it needs, an availability check for the settings and one episode, and
one way to run it. `audiorag features [EPISODE] [--json]` lists them, `audiorag run FEATURE EPISODE …` runs the
first available provider (or the one named with `--via`), and the web app's Episode tab shows what an episode
offers. Transcript-based providers use the local (or configured) text models; the `voxtral` providers send the
episode's *audio* to a Voxtral server at `llm.base_url` (rag.voxtral), for what a transcript loses.

Nothing here imports a model: checks read the settings and the episode row; runs import lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rag.errors import AudioragError

SUMMARY_PROMPT = "Summarize this recording in three sentences: who speaks, about what, and what is decided."


class FeatureError(AudioragError):
    """A feature that cannot run: unknown, unavailable for this episode, or missing its question. One line."""


@dataclass(frozen=True)
class Provider:
    name: str  # "whisper", "transcript", "voxtral"
    needs: str  # what it needs, in words
    where: Callable[[object], str]  # settings -> "this machine" or the host the data goes to
    check: Callable[[object, object], str]  # (settings, episode or None) -> "" when available, else why not
    run: Callable[..., dict]  # (settings, store, episode, question) -> a JSON-able result


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    providers: tuple[Provider, ...]
    needs_question: bool = False


def _asr_where(s) -> str:
    from rag.privacy import where

    return where(s.asr.base_url)


def _llm_where(s) -> str:
    from rag.privacy import where

    return where(s.llm.base_url)


def _needs_audio(s, ep) -> str:
    if ep is not None and not ep.audio_path:
        return "no audio copy in the library (a transcript imported without its recording)"
    return ""


def _needs_voxtral(s, ep) -> str:
    if not s.llm.base_url:
        return "needs a Voxtral server at llm.base_url (docs/scaling.md)"
    return _needs_audio(s, ep)


def _always(s, ep) -> str:
    return ""


def _transcribe(s, store, ep, question=None) -> dict:
    from ingest.decode import decode
    from ingest.transcribe import transcribe_audio
    from rag.storage import local_copy

    transcript = transcribe_audio(decode(local_copy(ep.audio_path, s), max_seconds=None))
    return {"text": " ".join(seg.text.strip() for seg in transcript.segments),
            "segments": [{"start": seg.start, "end": seg.end, "text": seg.text} for seg in transcript.segments]}


def _summary_transcript(s, store, ep, question=None) -> dict:
    from rag.summarize import summarize_episode

    meta, report = summarize_episode(ep.id, settings=s, store=store, keep_title=True)
    return {"text": meta.summary, **meta.model_dump(mode="json"), "from_model": report.model_fields}


def _answer_dict(answer) -> dict:
    return {"text": answer.answer, **answer.to_dict()}


def _summary_voxtral(s, store, ep, question=None) -> dict:
    from rag.voxtral import ask_audio

    return _answer_dict(ask_audio(ep.id, SUMMARY_PROMPT, settings=s, store=store))


def _ask_transcript(s, store, ep, question=None) -> dict:
    from rag.answer import ask_sync

    return _answer_dict(ask_sync(question, episode=ep.id, settings=s, store=store))


def _ask_voxtral(s, store, ep, question=None) -> dict:
    from rag.voxtral import ask_audio

    return _answer_dict(ask_audio(ep.id, question, settings=s, store=store))


WHISPER = Provider("whisper", "the episode's audio copy; the configured Whisper (local, or asr.base_url)",
                   _asr_where, _needs_audio, _transcribe)
FEATURES: dict[str, Feature] = {f.name: f for f in [
    Feature("transcription", "the episode's audio transcribed again with the configured Whisper (nothing stored)",
            (WHISPER,)),
    Feature("summary", "a short summary of the episode", (
        Provider("transcript", "the transcript; the summary model (stored on the episode)", _llm_where, _always,
                 _summary_transcript),
        Provider("voxtral", "the audio copy; a Voxtral server at llm.base_url", _llm_where, _needs_voxtral,
                 _summary_voxtral))),
    Feature("question", "an answer to a question about the episode, citing the moment", (
        Provider("transcript", "the transcript; the answering model", _llm_where, _always, _ask_transcript),
        Provider("voxtral", "the audio copy; a Voxtral server at llm.base_url", _llm_where, _needs_voxtral,
                 _ask_voxtral)), needs_question=True),
]}


def listing(settings, episode=None) -> list[dict]:
    """Every feature × provider: where it runs, what it needs, whether it is available (and why not)."""
    rows = []
    for f in FEATURES.values():
        for p in f.providers:
            why = p.check(settings, episode)
            rows.append({"feature": f.name, "provider": p.name, "description": f.description, "needs": p.needs,
                         "where": p.where(settings), "available": not why, "reason": why})
    return rows


def pick(name: str, settings, episode, via: str | None = None) -> tuple[Feature, Provider]:
    """The feature and the provider that will run it: `via`, or the first available."""
    feature = FEATURES.get(name)
    if feature is None:
        raise FeatureError(f"Unknown feature '{name}' (choose from {', '.join(FEATURES)}).")
    providers = [p for p in feature.providers if via in (None, p.name)]
    if not providers:
        raise FeatureError(f"'{name}' has no provider '{via}' (choose from "
                           f"{', '.join(p.name for p in feature.providers)}).")
    for p in providers:
        if not p.check(settings, episode):
            return feature, p
    why = "; ".join(f"{p.name}: {p.check(settings, episode)}" for p in providers)
    raise FeatureError(f"'{name}' cannot run on '{episode.title}' here ({why}).")


def run(name: str, episode_ref: str, *, question: str | None = None, via: str | None = None, settings=None,
        store=None) -> dict:
    """Run a feature on one episode: {"feature", "provider", "where", "episode_id", "title", "result"}."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if store is None:
        from rag.store import Store

        store = Store(settings)
    ep = store.require_episode(episode_ref, FeatureError)
    feature, provider = pick(name, settings, ep, via)
    if feature.needs_question and not (question or "").strip():
        raise FeatureError(f"'{name}' needs a question: audiorag run {name} EPISODE \"your question\".")
    result = provider.run(settings, store, ep, question)
    return {"feature": feature.name, "provider": provider.name, "where": provider.where(settings),
            "episode_id": ep.id, "title": ep.title, "result": result}
