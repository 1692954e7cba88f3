"""Issue 18, validation at the door: one validator for every imported transcript and ASR result, a store that
refuses NaN and infinities, and a migration that fails episodes an older version stored with impossible times —
so a poisoned library still lists, exports, searches and serves every other episode."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.transcripts import TranscriptError, load_transcript
from rag.schema import InvalidTranscript, Segment, Transcript, Word, format_ts, validate_transcript
from tests.conftest import ROOT

POISON = '{"segments": [{"start": NaN, "end": Infinity, "text": "poison"}, {"start": -3, "end": 2, "text": "x"}]}'
GOOD_SRT = "1\n00:00:01,000 --> 00:00:04,000\nThe lighthouse keeper counts ships at dawn.\n"


def _t(*times, has_times=True, words=()):
    """Cues as an ASR backend or a parser might hand them over (model_construct: even ones Segment would refuse)."""
    return Transcript.model_construct(segments=[Segment.model_construct(id=i, start=a, end=b, text=f"cue {i}", speaker=None,
                                                        words=list(words) if i == 0 else [])
                                for i, (a, b) in enumerate(times)], has_times=has_times, duration=None)


@pytest.mark.parametrize(("times", "message"), [
    ([(math.nan, 1.0)], r"^segment 0 \('cue 0'\): its start time is not a number"),
    ([(0.0, math.inf)], r"^segment 0 \('cue 0'\): its end time is infinite"),
    ([(0.0, 1.0), (-2.0, 1.0)], r"^segment 1 \('cue 1'\): its start time is negative"),
    ([(0.0, 1.0), (3.0, 2.0)], r"^segment 1 \('cue 1'\): ends at 2.000 s, before it starts"),
    ([(5.0, 6.0), (1.0, 2.0)], r"^segment 1 \('cue 1'\): starts at 1.000 s, before the segment above it .*not sorted"),
])
def test_validator_names_the_first_bad_cue(times, message):
    with pytest.raises(InvalidTranscript, match=message):
        validate_transcript(_t(*times))


def test_validator_bounds_times_by_the_recording_and_checks_words():
    with pytest.raises(InvalidTranscript, match=r"ends at 30.000 s, after the recording ends \(10.000 s\)"):
        validate_transcript(_t((0.0, 2.0), (25.0, 30.0)), duration=10.0)
    clamped = validate_transcript(_t((0.0, 10.4)), duration=10.0)  # within the slack: clamped, not refused
    assert clamped.segments[0].end == 10.0 and clamped.duration == 10.0
    with pytest.raises(InvalidTranscript, match=r"^segment 0 \('cue 0'\), word 0 \('hi'\): its time is not a number"):
        validate_transcript(_t((0.0, 1.0), words=[Word(start=math.nan, end=0.5, word="hi")]))
    with pytest.raises(InvalidTranscript, match="has no text"):
        validate_transcript(Transcript(segments=[Segment(id=0, start=0, end=1, text="  ")]))
    untimed = _t((0.0, 0.0), (0.0, 0.0), has_times=False)  # plain text: no times to check
    assert validate_transcript(untimed).segments == untimed.segments


def test_nan_infinity_negative_whisper_json_is_refused_with_one_line(tmp_path):
    bad = tmp_path / "poison.json"
    bad.write_text(POISON)
    with pytest.raises(TranscriptError) as info:
        load_transcript(bad)
    assert str(info.value) == "poison.json: segment 0 ('poison'): its start time is not a number (nan)"
    env = {**os.environ, "AUDIORAG_DATA_DIR": str(tmp_path / "data"), "AUDIORAG_CONFIG": str(tmp_path / "none.toml")}
    r = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(bad), "--json"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 1
    (result,) = json.loads(r.stdout)["results"]
    line = "poison.json: segment 0 ('poison'): its start time is not a number (nan)"  # a file name keeps its case
    assert result["status"] == "failed" and result["reason"] == line
    assert r.stderr.strip().splitlines()[-1] == f"  {bad}: {line}"


def test_display_and_writers_never_crash_on_a_stored_value():
    from ingest.writers import get_writer

    assert [format_ts(x) for x in (math.nan, math.inf, -math.inf, None, -5, 3725.9)] == \
        ["--:--", "--:--", "--:--", "--:--", "00:00", "1:02:05"]
    poisoned = Transcript(segments=[Segment(id=0, start=math.nan, end=math.inf, text="poison"),
                                    Segment(id=1, start=-1.0, end=2.0, text="x")], duration=math.nan)
    for fmt in ("srt", "vtt", "json", "md", "txt"):
        out = get_writer(fmt).write(poisoned)
        assert "poison" in out
    data = json.loads(get_writer("json").write(poisoned))  # valid JSON: NaN and infinity become null
    assert data["segments"][0]["start"] is None and data["duration"] is None


def test_store_refuses_non_finite_floats(settings):
    from rag.schema import Episode
    from rag.store import Store, StoreError

    store = Store(settings)
    with pytest.raises(StoreError, match="refusing to store episode e1: its duration is nan"):
        store.put_episode(Episode(id="e1", title="t", source="s", duration=math.nan))
    with pytest.raises(StoreError, match="refusing to store segment 0: its end is inf"):
        store.write_segments("e1", [Segment(id=0, start=0.0, end=math.inf, text="x")])
    with pytest.raises(StoreError, match="its words hold a NaN"):
        store.write_segments("e1", [Segment(id=0, start=0.0, end=1.0, text="x",
                                            words=[Word(start=math.nan, end=1.0, word="x")])])
    assert store.counts()["episodes"] == 0 and store.counts()["segments"] == 0


@pytest.fixture
def poisoned_library(settings, pack, tmp_path, monkeypatch):
    """A library as an older version left it: one good episode, and one it stored with NaN, infinite and
    negative times as ready (no validator, no store check, no migration m002 yet)."""
    import numpy as np
    import pyarrow as pa

    import rag.store as store_mod
    from ingest.pipeline import Item, Pipeline

    pack(settings.embed.model)
    with monkeypatch.context() as old_version:
        old_version.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
        store = store_mod.Store(settings)
        good = tmp_path / "lighthouse.srt"
        good.write_text(GOOD_SRT)
        res = Pipeline(settings, store=store).ingest_item(Item(good, "transcript"))
        assert res.status == "ingested", res.reason
        db = store.db
        eps, segs, chunks = (db.open_table(n) for n in ("episodes", "segments", "chunks"))
        row = {**eps.search().limit(1).to_list()[0], "id": "badbadbadbad0000", "title": "Poisoned",
               "source": "poison.json", "duration": math.nan, "status": "ready", "audio_path": None}
        eps.add(pa.Table.from_pylist([row], schema=eps.schema))
        rows = [{"episode_id": "badbadbadbad0000", "id": 0, "start": math.nan, "end": math.inf, "text": "poison",
                 "words": '[{"start": NaN, "end": Infinity, "word": "poison", "probability": null}]', "speaker": None},
                {"episode_id": "badbadbadbad0000", "id": 1, "start": -3.0, "end": 2.0, "text": "lighthouse",
                 "words": "[]", "speaker": None}]
        segs.add(pa.Table.from_pylist(rows, schema=segs.schema))
        chunk = {"id": "badbadbadbad0000-0", "episode_id": "badbadbadbad0000", "start": math.nan, "end": math.inf,
                 "text": "poison lighthouse keeper", "segment_ids": [0, 1],
                 "vector": np.ones(chunks.schema.field("vector").type.list_size, dtype=np.float32).tolist()}
        chunks.add(pa.Table.from_pylist([chunk], schema=chunks.schema))
    return res.episode_id


def _cli(settings, *args):
    env = {**os.environ, "AUDIORAG_DATA_DIR": settings.data_dir, "AUDIORAG_MODELS_DIR": settings.models_dir}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900)


@pytest.mark.slow
def test_a_poisoned_library_lists_exports_searches_and_serves_the_rest(settings, poisoned_library, app_url):
    good = poisoned_library
    listed = _cli(settings, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [e["id"] for e in json.loads(listed.stdout)] == [good]  # strict JSON: no NaN anywhere
    everything = _cli(settings, "list", "--all")
    assert everything.returncode == 0 and "failed" in everything.stdout, everything.stderr
    for fmt in ("srt", "vtt", "json", "md", "txt"):
        out = _cli(settings, "export", good, "-f", fmt)
        assert out.returncode == 0 and "lighthouse keeper" in out.stdout, out.stderr
        bad = _cli(settings, "export", "badbadbad", "-f", fmt)  # the failed one still exports, never crashes
        assert bad.returncode == 0 and "Traceback" not in bad.stderr, bad.stderr
    found = _cli(settings, "search", "lighthouse keeper", "--json")
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout, parse_constant=lambda c: pytest.fail(f"{c} in search --json"))["results"]
    assert hits and {h["episode_id"] for h in hits} == {good}
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    served = client.predict(True, api_name="/list_episodes")
    assert {e["id"]: e["status"] for e in served} == {good: "ready", "badbadbadbad0000": "failed"}
    assert "lighthouse keeper" in client.predict(good, api_name="/get_episode")["segments"][0]["text"]
