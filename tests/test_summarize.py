"""Summaries and metadata: parsing and validation of model output (pure), then real models on real episodes."""

from __future__ import annotations

import json

import pytest

from rag.schema import Segment
from rag.summarize import (
    SummarizeError,
    chapter_groups,
    clean_line,
    key_terms,
    parse_tags,
    phrase_title,
    valid_heading,
    valid_sentences,
    validate_meta,
    windows,
)

SOURCE = ("The lighthouse at the end of the pier was built in 1874 by Thomas Greene. Its lamp burned whale oil "
          "until the town switched to electric light. Every summer the harbor hosts a rowing race.")


def segs(n: int, seconds: float = 10.0, words: int = 20) -> list[Segment]:
    return [Segment(id=i, start=i * seconds, end=(i + 1) * seconds - 0.5, text=" ".join(["word"] * words))
            for i in range(n)]


def test_windows_keep_whole_segments():
    ws = windows(segs(10, words=100), max_words=350)
    assert [len(w) for w in ws] == [3, 3, 3, 1]
    assert [s.id for w in ws for s in w] == list(range(10))


def test_chapter_groups_are_bounded_and_long_enough():
    ws = windows(segs(60, seconds=20, words=100), max_words=350)  # 20 windows of ~60 s
    groups = chapter_groups(ws, max_chapters=12, min_seconds=30)
    assert len(groups) <= 12
    assert [i for g in groups for i in g] == list(range(len(ws)))
    short = windows(segs(3, seconds=5, words=200), max_words=350)  # 3 windows of 5 s each
    assert chapter_groups(short, min_seconds=30) == [[0, 1, 2]]


def test_key_terms_and_phrase_title():
    assert key_terms(SOURCE, 3)[0] in {"lighthouse", "harbor"}
    assert key_terms("Printing printed prints. The type.", 1) == ["printing"]
    assert phrase_title("Bees bees honey honey hive") == "Bees, Honey and Hive"
    assert phrase_title("") == "Untitled recording"


def test_cleaning_model_lines():
    assert clean_line('Title: "The Old Harbor Lighthouse"\nmore text') == "The Old Harbor Lighthouse"
    assert clean_line("\n- **Why Bees Matter**") == "Why Bees Matter"
    assert valid_heading("Title: The Old Harbor.", 2, 10) == "The Old Harbor"
    assert valid_heading("Transcript: the lighthouse", 1, 8) is None
    assert valid_heading("one two three four five six seven eight nine ten eleven", 2, 10) is None
    assert valid_heading("???", 1, 8) is None


def test_summary_sentences_must_be_grounded():
    good = "Summary: The lighthouse was built in 1874 by Thomas Greene and burned whale oil"
    assert valid_sentences(good, SOURCE) == "The lighthouse was built in 1874 by Thomas Greene and burned whale oil."
    invented = "The speakers discuss the stock market, interest rates and inflation in Europe."
    assert valid_sentences(invented, SOURCE) is None
    assert valid_sentences("Lighthouse.", SOURCE) is None  # too short
    long = " ".join(["The lighthouse was built by Thomas Greene."] * 30)
    cut = valid_sentences(long, SOURCE, max_words=20)
    assert cut is not None and len(cut.split()) <= 20


def test_tags_parsing():
    assert parse_tags("Tags: Lighthouses, harbor history, rowing\n") == ["lighthouses", "harbor history", "rowing"]
    assert parse_tags("- bees\n- honey\n- city life") == ["bees", "honey", "city life"]
    assert parse_tags("this is a sentence that is way too long to be a tag, ok") is None
    assert parse_tags("bees, bees, bees") is None  # fewer than two distinct tags


def test_validate_meta():
    meta = validate_meta({"title": "Harbor", "description": "A tour.", "summary": "A tour of a harbor.",
                          "tags": ["Harbor", "harbor", "history"], "chapters": [{"title": "Start", "start": 0.0},
                                                                               {"title": "Race", "start": 25.0}]}, 40.0)
    assert meta.tags == ["harbor", "history"]
    with pytest.raises(SummarizeError, match="outside the episode"):
        validate_meta({"title": "H", "description": "d", "summary": "s", "chapters": [{"title": "x", "start": 50}]}, 40)
    with pytest.raises(SummarizeError, match="increasing"):
        validate_meta({"title": "H", "description": "d", "summary": "s",
                       "chapters": [{"title": "x", "start": 10}, {"title": "y", "start": 5}]}, 40)
    with pytest.raises(SummarizeError, match="did not validate"):
        validate_meta({"title": "H", "summary": "s"}, 40)


def test_leaked_example_words_are_caught():
    from rag import prompts
    from rag.summarize import extract_heading, leaked_terms

    msgs = prompts.summary_reduce_messages(["The lighthouse was built in 1874."])
    assert leaked_terms("A city beekeeper explains the lighthouse.", msgs, SOURCE) == {"city", "beekeeper"}
    assert leaked_terms("The lighthouse was built by Thomas Greene.", msgs, SOURCE) == set()
    assert extract_heading("Every summer the harbor hosts a rowing race between the fishing villages.") == \
        "Every summer the harbor hosts a rowing…"


# -- on a real library with the real local LLM ------------------------------------------------------------------

@pytest.mark.slow
def test_every_episode_gets_valid_metadata(library):
    from rag.schema import EpisodeMeta
    from rag.store import Store
    from rag.summarize import summarize_episode

    store = Store(library.settings)
    episodes = store.list_episodes()
    assert len(episodes) == len(library.ids)
    for ep in episodes:
        meta, report = summarize_episode(ep.id, settings=library.settings, store=store)
        EpisodeMeta.model_validate(meta.model_dump())
        assert meta.chapters and meta.chapters[0].start == 0.0
        assert all(0 <= c.start <= ep.duration for c in meta.chapters)
        assert [c.start for c in meta.chapters] == sorted({c.start for c in meta.chapters})
        assert meta.summary.strip() and meta.tags and report.calls >= 3
        stored = store.get_episode(ep.id)
        assert stored.summary == meta.summary and stored.tags == meta.tags
        assert stored.chapters == meta.chapters and stored.title == meta.title
    # the long reading gets several chapters, each starting at a real segment time
    lj = store.get_episode(library.ids["printing"])
    seg_starts = {s.start for s in store.segments(lj.id)}
    assert len(lj.chapters) >= 2 and all(c.start in seg_starts for c in lj.chapters[1:])


@pytest.mark.slow
def test_summarize_cli(library, capsys):
    from rag.store import Store

    title = Store(library.settings).get_episode(library.ids["jfk"]).title
    code = library.cli("summarize", library.ids["jfk"][:12], "--json", "--keep-title")
    bad = library.cli("summarize", "no-such-episode")
    assert code == 0 and bad == 1
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data[0]["episode_id"] == library.ids["jfk"] and data[0]["title"] == title
    assert "no episode matches" in out.err
