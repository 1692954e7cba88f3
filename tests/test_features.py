"""Audio features (rag.features): the registry, availability per episode, and running one — from the transcript with
the real models, and from the audio through a Voxtral-shaped server.

The Voxtral server is a FAKE (vLLM cannot run on this machine): a small HTTP server that answers
`/v1/chat/completions` the way vLLM serving Voxtral does, and checks that the request carries the recording as an
`input_audio` part. The real one: `vllm serve mistralai/Voxtral-Mini-3B-2507 --tokenizer_mode mistral …`
(docs/scaling.md)."""

from __future__ import annotations

import base64
import json

import pytest

from rag.features import FEATURES, FeatureError, listing, pick, run
from tests.fakes import JsonServer, chat_reply


def _voxtral_reply(raw: bytes) -> tuple[int, dict]:
    """Answers as vLLM serving Voxtral does; what it was sent is read back from the server's requests."""
    return 200, chat_reply("He asks what you can do for your country.", "voxtral")


def _seen(server: JsonServer) -> list[dict]:
    """Each request: how much audio it carried (a RIFF WAV?) and its text parts."""
    out = []
    for _, raw in server.requests:
        parts = json.loads(raw)["messages"][-1]["content"]
        audio = [p for p in parts if p.get("type") == "input_audio"]
        wav = base64.b64decode(audio[0]["input_audio"]["data"]) if audio else b""
        out.append({"audio_bytes": len(wav), "riff": wav[:4] == b"RIFF",
                    "text": " ".join(p.get("text", "") for p in parts)})
    return out


@pytest.fixture
def voxtral():
    with JsonServer(_voxtral_reply) as server:
        yield server


def _jfk(library):
    from rag.store import Store

    store = Store(library.settings)
    return store, next(e for e in store.list_episodes() if "jfk" in e.title.lower())


def test_listing_says_what_runs_where_and_why_not(library):
    store, ep = _jfk(library)
    rows = {(r["feature"], r["provider"]): r for r in listing(library.settings, ep)}
    assert set(rows) == {(f.name, p.name) for f in FEATURES.values() for p in f.providers}
    assert rows[("question", "transcript")]["available"] and rows[("transcription", "whisper")]["available"]
    assert rows[("question", "transcript")]["where"] == "this machine"
    assert not rows[("question", "voxtral")]["available"]
    assert "llm.base_url" in rows[("question", "voxtral")]["reason"]
    # a transcript imported without its recording cannot be heard or transcribed again
    no_audio = ep.model_copy(update={"audio_path": None})
    rows = {(r["feature"], r["provider"]): r for r in listing(library.settings, no_audio)}
    assert not rows[("transcription", "whisper")]["available"] and "audio" in rows[("transcription", "whisper")]["reason"]
    with pytest.raises(FeatureError, match="cannot run"):
        pick("transcription", library.settings, no_audio)
    with pytest.raises(FeatureError, match="Unknown feature"):
        pick("sing", library.settings, ep)
    with pytest.raises(FeatureError, match="no provider"):
        pick("summary", library.settings, ep, via="oracle")


def test_question_from_the_transcript_cites_this_episode(library):
    store, ep = _jfk(library)
    out = run("question", ep.id, question="What does he tell his fellow Americans to ask?",
              settings=library.settings, store=store)
    assert (out["feature"], out["provider"], out["where"]) == ("question", "transcript", "this machine")
    assert out["result"]["citations"] and all(c["episode_id"] == ep.id for c in out["result"]["citations"])
    with pytest.raises(FeatureError, match="needs a question"):
        run("question", ep.id, settings=library.settings, store=store)


def test_question_about_the_audio_goes_to_the_voxtral_server(library, voxtral):
    settings = library.settings.model_copy(update={"llm": library.settings.llm.model_copy(
        update={"base_url": voxtral.url + "/v1", "remote_model": "voxtral"})})
    store, ep = _jfk(library)
    rows = {(r["feature"], r["provider"]): r for r in listing(settings, ep)}
    assert rows[("question", "voxtral")]["available"]
    assert rows[("question", "voxtral")]["where"].endswith("(this machine)")  # a loopback server, named
    out = run("question", ep.id, question="What does he ask?", via="voxtral", settings=settings, store=store)
    assert out["provider"] == "voxtral" and out["result"]["answer"] == "He asks what you can do for your country."
    seen = _seen(voxtral)
    assert seen and seen[0]["riff"] and seen[0]["audio_bytes"] > 16000 * 2 * 5
    assert "What does he ask?" in seen[0]["text"]
    cite = out["result"]["citations"][0]
    assert cite["episode_id"] == ep.id and cite["start"] == 0.0 and cite["end"] >= 10.0  # the stretch it heard
    summary = run("summary", ep.id, via="voxtral", settings=settings, store=store)
    assert summary["result"]["text"] and "Summarize" in _seen(voxtral)[-1]["text"]


def test_cli_lists_features_as_json(library, capsys):
    assert library.cli("features", "--json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"feature", "provider", "where", "available", "reason"} <= set(rows[0])
    assert library.cli("run", "question", "no-such-episode", "why?") == 2
    assert "No episode matches" in capsys.readouterr().err
