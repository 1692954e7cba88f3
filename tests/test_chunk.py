"""ingest.chunk on synthetic segments: coverage, limits, overlap, odd inputs."""

from __future__ import annotations

import random

import pytest

from ingest.chunk import chunk_transcript, estimate_tokens
from rag.schema import Segment, Transcript


def transcript(durations: list[float], words: int | list[int] = 10, gap: float = 0.2, **kw) -> Transcript:
    segs, t = [], 0.0
    for i, d in enumerate(durations):
        n = words if isinstance(words, int) else words[i]
        segs.append(Segment(id=i, start=round(t, 3), end=round(t + d, 3), text=" ".join([f"w{i}"] * n)))
        t += d + gap
    return Transcript(segments=segs, **kw)


def check_invariants(chunks, t: Transcript, max_seconds=60, max_tokens=220):
    by_id = {s.id: s for s in t.segments}
    covered = [i for c in chunks for i in c.segment_ids]
    assert set(covered) == {s.id for s in t.segments if s.text.strip()}, "every segment with text is in a chunk"
    for k, c in enumerate(chunks):
        segs = [by_id[i] for i in c.segment_ids]
        assert c.id == f"ep1:{k:05d}" and c.episode_id == "ep1"
        assert c.start == segs[0].start and c.end == max(s.end for s in segs)
        assert c.text == " ".join(s.text for s in segs)
        assert c.segment_ids == sorted(c.segment_ids)  # consecutive whole segments, in order
        assert c.segment_ids == list(range(c.segment_ids[0], c.segment_ids[-1] + 1))
        if len(segs) > 1:
            assert c.end - c.start <= max_seconds and estimate_tokens(c.text) <= max_tokens
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert b.segment_ids[-1] > a.segment_ids[-1], "each chunk adds new segments"
        assert b.start >= a.start


def test_windows_are_about_target_and_overlap_by_whole_segments():
    t = transcript([4.8] * 100)  # 5 s a segment (with the gap), 13 tokens each
    chunks = chunk_transcript("ep1", t)
    check_invariants(chunks, t)
    for a, b in zip(chunks[:-2], chunks[1:-1], strict=True):
        assert 50 <= a.end - a.start <= 60
        overlap = a.end - b.start
        assert 5 <= overlap <= 15, overlap  # about 10 s: two whole 5 s segments
        assert set(a.segment_ids) & set(b.segment_ids) == {i for i in a.segment_ids if by_start(t, i) >= b.start}
    assert chunks[-1].segment_ids[-1] == 99


def by_start(t: Transcript, seg_id: int) -> float:
    return next(s.start for s in t.segments if s.id == seg_id)


def test_no_overlap_when_asked():
    t = transcript([4.8] * 40)
    chunks = chunk_transcript("ep1", t, overlap_seconds=0)
    check_invariants(chunks, t)
    ids = [i for c in chunks for i in c.segment_ids]
    assert ids == sorted(set(ids))  # each segment exactly once


def test_token_limit_cuts_before_the_time_limit():
    t = transcript([2.0] * 30, words=40)  # 52 tokens a segment: 4 fit in 220, well before 50 s
    chunks = chunk_transcript("ep1", t)
    check_invariants(chunks, t)
    assert max(len(c.segment_ids) for c in chunks) == 4
    assert all(estimate_tokens(c.text) <= 220 for c in chunks)


def test_long_segment_is_its_own_chunk():
    t = transcript([5, 5, 90, 5, 5], words=[10, 10, 300, 10, 10])
    chunks = chunk_transcript("ep1", t)
    check_invariants(chunks, t)
    alone = [c for c in chunks if 2 in c.segment_ids]
    assert [c.segment_ids for c in alone] == [[2]]
    assert alone[0].start == t.segments[2].start and alone[0].end == t.segments[2].end


def test_single_segment_and_empty_transcripts():
    t = transcript([3.0])
    assert [(c.id, c.segment_ids, c.start, c.end) for c in chunk_transcript("ep1", t)] == [("ep1:00000", [0], 0, 3)]
    assert chunk_transcript("ep1", Transcript(segments=[])) == []
    blank = Transcript(segments=[Segment(id=0, start=0, end=1, text="  ")])
    assert chunk_transcript("ep1", blank) == []


def test_blank_segments_are_skipped_and_unsorted_input_is_ordered():
    t = transcript([4.8] * 30)
    t.segments[5].text = ""
    shuffled = Transcript(segments=random.Random(0).sample(t.segments, len(t.segments)))
    chunks = chunk_transcript("ep1", shuffled)
    assert chunks == chunk_transcript("ep1", t)
    assert all(5 not in c.segment_ids for c in chunks)
    assert {i for c in chunks for i in c.segment_ids} == set(range(30)) - {5}


def test_random_transcripts_keep_the_invariants():
    rng = random.Random(42)
    for _ in range(50):
        n = rng.randint(1, 80)
        t = transcript([rng.uniform(0.3, 30) for _ in range(n)], words=[rng.randint(1, 90) for _ in range(n)],
                       gap=rng.choice([0.0, 0.5, 3.0]))  # fmt: skip
        check_invariants(chunk_transcript("ep1", t), t)


def test_ids_are_deterministic():
    t = transcript([4.8] * 40)
    assert chunk_transcript("abc", t) == chunk_transcript("abc", t)
    assert [c.id for c in chunk_transcript("abc", t)][:2] == ["abc:00000", "abc:00001"]


def test_untimed_transcript_is_chunked_by_words():
    segs = [Segment(id=i, start=0, end=0, text=" ".join(f"p{i}w{k}" for k in range(60))) for i in range(10)]
    t = Transcript(segments=segs, has_times=False)
    chunks = chunk_transcript("ep1", t)
    words = [w for s in segs for w in s.text.split()]
    assert all(c.start == 0 and c.end == 0 for c in chunks)
    assert all(estimate_tokens(c.text) <= 220 for c in chunks)
    seen = [w for c in chunks for w in c.text.split()]
    assert set(seen) == set(words)
    assert sorted(set(seen), key=words.index) == words  # in order
    first, second = chunks[0].text.split(), chunks[1].text.split()
    assert 10 <= len(set(first) & set(second)) <= 40  # word overlap
    for c in chunks:
        expected = sorted({int(w[1 : w.index("w")]) for w in c.text.split()})
        assert c.segment_ids == expected


def test_token_estimate_counts_cjk_characters():
    assert estimate_tokens("one two three") == 4
    assert estimate_tokens("日本語の文") == 5
    assert estimate_tokens("") == 0


def test_bad_parameters():
    with pytest.raises(ValueError):
        chunk_transcript("ep1", transcript([1.0]), target_seconds=70, max_seconds=60)
    with pytest.raises(ValueError):
        chunk_transcript("ep1", transcript([1.0]), overlap_seconds=50)


def test_real_reference_transcript(asr_manifest):
    """The 231 s LJSpeech reading with its exact sentence times: 32 real segments of 1.5-10 s."""
    long_form = asr_manifest["long_form"][0]
    segs = [
        Segment(id=i, start=s["start_s"], end=s["end_s"], text=s["text"]) for i, s in enumerate(long_form["segments"])
    ]
    t = Transcript(segments=segs, duration=long_form["duration_s"])
    chunks = chunk_transcript("ep1", t)
    check_invariants(chunks, t)
    assert 4 <= len(chunks) <= 8
    assert chunks[0].start == 0.0 and chunks[-1].end == segs[-1].end
    assert all(c.end - c.start <= 60 for c in chunks)
    assert " ".join(s.text for s in segs).startswith(chunks[0].text)
