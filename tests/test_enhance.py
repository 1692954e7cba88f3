"""LLM transcript cleanup: the batch validator (pure), then a real model on a real transcript."""

from __future__ import annotations

import pytest

from ingest.enhance import check_batch, line_ok, parse_lines
from rag.schema import Segment, Transcript, Word

BATCH = [(3, "um so welcome back to the show"), (4, "today uh we talk about bees"), (5, "and why they matter")]


def test_parse_numbered_lines():
    numbered, stray = parse_lines("[3] So, welcome.\n[4]Today.\n\nnote: done")
    assert numbered == [(3, "So, welcome."), (4, "Today.")]
    assert stray == ["note: done"]


def test_a_clean_batch_is_accepted():
    out = "[3] So, welcome back to the show.\n[4] Today we talk about bees,\n[5] and why they matter."
    texts, reason = check_batch(BATCH, out)
    assert reason == "ok"
    assert texts == ["So, welcome back to the show.", "Today we talk about bees,", "and why they matter."]


def test_dropped_merged_invented_reordered_batches_are_rejected():
    dropped = "[3] So, welcome back to the show.\n[5] And why they matter."
    merged = "[3] So, welcome back to the show. Today we talk about bees,\n[5] and why they matter."
    invented = "[3] Welcome back to the show.\n[4] Today we talk about bees,\n[5] and why they matter.\n[6] Thanks!"
    reordered = "[4] Today we talk about bees,\n[3] So, welcome back to the show.\n[5] and why they matter."
    stray = "Here is the cleaned text:\n[3] So, welcome back.\n[4] Today we talk about bees,\n[5] and why they matter."
    for out, why in ((dropped, "dropped"), (merged, "dropped"), (invented, "invented"), (reordered, "reordered"),
                     (stray, "unnumbered")):
        texts, reason = check_batch(BATCH, out)
        assert texts is None and why in reason, (out, reason)


def test_a_line_that_changes_the_words_keeps_its_raw_text():
    out = "[3] So, welcome back to the show.\n[4] Today we talk about wasps and hornets,\n[5] and why they matter."
    texts, reason = check_batch(BATCH, out)
    assert reason == "ok"
    assert texts[1] == "today uh we talk about bees"  # raw kept
    assert texts[0] == "So, welcome back to the show."


def test_line_ok():
    assert line_ok("um i think uh it was fine", "I think it was fine.")
    assert not line_ok("i think it was fine", "I think it was terrible.")
    assert not line_ok("the lighthouse was built in 1874", "The lighthouse.")  # content lost
    assert not line_ok("some words", "")


# -- with the real local LLM --------------------------------------------------------------------------------------

RAW = [
    "um so welcome back everybody to the show",
    "today uh we are talking about bees in the city",
    "you know a healthy hive holds fifty thousand bees",
    "and the biggest threat is uh the varroa mite",
]


def raw_transcript() -> Transcript:
    segs, t = [], 0.0
    for i, text in enumerate(RAW):
        words = [Word(start=t + j * 0.3, end=t + j * 0.3 + 0.25, word=w) for j, w in enumerate(text.split())]
        segs.append(Segment(id=10 + i, start=t, end=words[-1].end, text=text, words=words))
        t = words[-1].end + 0.5
    return Transcript(segments=segs, language="en", model="test", duration=t, has_word_times=True)


@pytest.mark.slow
def test_enhance_keeps_ids_times_and_words(settings):
    from ingest.enhance import enhance_transcript

    src = raw_transcript()
    res = enhance_transcript(src, settings, batch_size=2)
    out = res.transcript
    st = res.stats
    assert [(s.id, s.start, s.end, s.words) for s in out.segments] == [(s.id, s.start, s.end, s.words) for s in src.segments]
    assert st.segments == 4 and st.batches == 2 and st.accepted_batches + st.rejected_batches == 2
    assert len(st.reasons) == st.rejected_batches
    for before, after in zip(src.segments, out.segments):
        assert after.text == before.text or line_ok(before.text, after.text)
    assert st.changed == sum(a.text != b.text for a, b in zip(src.segments, out.segments))
