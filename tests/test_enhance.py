"""LLM transcript cleanup: the batch validator (pure), then a real model on a real transcript."""

from __future__ import annotations

from ingest.enhance import check_batch, line_ok, parse_lines

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
