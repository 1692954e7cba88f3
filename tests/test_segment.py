"""Re-segmentation at sentence ends and audio pauses (synthetic audio and words)."""

import numpy as np

from ingest.segment import find_silences, merge_fragments, resegment
from rag.schema import Segment, Transcript, Word

SR = 16000


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def test_find_silences_locates_pauses():
    audio = np.concatenate([tone(1.0), silence(0.5), tone(1.0), silence(0.1), tone(1.0)])
    sil = find_silences(audio)
    assert len(sil) == 1  # the 0.1 s gap is too short to count
    s, e = sil[0]
    assert abs(s - 1.0) < 0.05 and abs(e - 1.5) < 0.05


def _t(words):
    ws = [Word(start=a, end=b, word=w) for a, b, w in words]
    return Transcript(segments=[Segment(id=0, start=ws[0].start, end=ws[-1].end, text="".join(w.word for w in ws), words=ws)])


def test_split_at_pause_even_when_word_swallows_it():
    # speech 0-1 s, pause 1.0-1.5 s, speech 1.5-2.5 s; the aligner stretched "than" over the pause
    audio = np.concatenate([tone(1.0), silence(0.5), tone(1.0)])
    t = _t([(0.0, 0.3, " much"), (0.3, 0.6, " better"), (0.6, 1.45, " than"), (1.45, 1.8, " in"),
            (1.8, 2.1, " the"), (2.1, 2.5, " ugly")])
    out = resegment(t, audio)
    assert [s.text for s in out.segments] == ["much better than", "in the ugly"]
    assert abs(out.segments[1].start - 1.5) < 0.05  # the first word moved out of the pause
    assert [s.id for s in out.segments] == [0, 1]


def test_split_at_sentence_end_without_audio_and_keep_every_word():
    t = _t([(0, 1, " Hello"), (1, 2, " there."), (2, 3, " New"), (3, 4, " one?"), (4, 5, " Yes")])
    out = resegment(t, None)
    assert [s.text for s in out.segments] == ["Hello there.", "New one?", "Yes"]
    assert [w.word for s in out.segments for w in s.words] == [w.word for w in t.segments[0].words]
    assert [(s.start, s.end) for s in out.segments] == [(0, 2), (2, 4), (4, 5)]


def test_no_words_is_left_alone():
    t = Transcript(segments=[Segment(id=3, start=1, end=2, text="x")])
    assert resegment(t, tone(3)) is t


def test_stripped_words_are_joined_with_spaces():
    t = _t([(0, 1, "And"), (1, 2, "so,"), (2, 3, "my"), (3, 4, "fellow"), (4, 5, "Americans.")])
    assert [s.text for s in resegment(t, None).segments] == ["And so, my fellow Americans."]
    ja = _t([(0, 1, "日本"), (1, 2, "語。")]).model_copy(update={"language": "ja"})
    assert resegment(ja, None).segments[0].text == "日本語。"


def test_fragments_join_a_neighbour_but_short_sentences_stay():
    def groups(*texts):
        t = 0.0
        out = []
        for text in texts:
            g = []
            for w in text.split():
                g.append(Word(start=t, end=t + 0.3, word=w))
                t += 0.3
            out.append(g)
        return out

    def texts(gs):
        return [" ".join(w.word for w in g) for g in gs]

    # "of" goes on with the phrase before it; "The" opens the sentence after it; "Yes." is a sentence of its own
    assert texts(merge_fragments(groups("the art", "of making books.", "The", "first books were printed.",
                                        "Yes.", "i .e."))) == \
        ["the art of making books.", "The first books were printed.", "Yes.", "i .e."]
    # a sentence-ending fragment after an unfinished phrase joins it; a trailing opener joins what is before it
    assert texts(merge_fragments(groups("printed in black letter,", "i .e.", "and so", "on"))) == \
        ["printed in black letter, i .e.", "and so on"]
    # every word is kept, in order, with its times
    gs = groups("a", "b c", "d e f.", "g")
    merged = merge_fragments(gs)
    assert [w for g in merged for w in g] == [w for g in gs for w in g]
    assert all(len(g) >= 3 or g[-1].word.endswith(".") for g in merged[:-1])
