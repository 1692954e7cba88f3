"""Search: lexical helpers and the segment-level refinement (pure), then hybrid search on a real library."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.schema import Segment
from rag.search import (
    candidate_units,
    content_terms,
    overlap,
    rank_units,
    segments_in,
    stem,
)


def S(i: int, start: float, end: float, text: str) -> Segment:
    return Segment(id=i, start=start, end=end, text=text)


def test_stem_matches_word_forms():
    assert stem("printing") == stem("printed") == stem("prints") == "print"
    assert stem("countries") == "country"
    assert stem("americans") == stem("american")
    assert stem("receive") == stem("received") == stem("receives")
    assert stem("glass") == "glass"  # not 'glas'


def test_content_terms_drop_question_words():
    assert content_terms("What does the speaker ask Americans to do?") == ["ask", "american"]
    assert content_terms("Who built the lighthouse in 1874?") == ["built", "lighthous", "1874"]


def test_overlap_is_a_fraction_of_query_terms():
    assert overlap("Who built the lighthouse?", "The lighthouse was built in 1874.") == 1.0
    assert overlap("Who built the lighthouse?", "The harbor hosts a rowing race.") == 0.0
    assert overlap("the of and", "anything") == 0.0


def test_segments_in_a_chunk_window():
    segs = [S(0, 0, 4, "a b"), S(1, 4.3, 9, "c d"), S(2, 9.2, 15, "e f"), S(3, 15.3, 20, "g h")]
    assert [s.id for s in segments_in(segs, 4.3, 15.0)] == [1, 2]
    assert [s.id for s in segments_in(segs, 0, 20)] == [0, 1, 2, 3]


def test_candidate_units_singles_and_pairs():
    segs = [S(0, 0, 4, "one"), S(1, 4, 8, "two"), S(2, 8, 9, "  ")]
    units = candidate_units(segs)
    assert [[s.id for s in u] for u in units] == [[0], [1], [0, 1]]


def test_rank_units_prefers_the_matching_segment_over_the_chunk_start():
    segs = [S(0, 0.0, 5.0, "Welcome to our walking tour of the old harbor."),
            S(1, 5.4, 11.0, "The lighthouse was built in 1874 by Thomas Greene."),
            S(2, 11.4, 16.0, "Every summer there is a rowing race.")]
    units = [[s] for s in segs]
    # unit vectors: the query points at segment 1
    q = np.array([0.0, 1.0, 0.0])
    vecs = np.array([[1.0, 0.0, 0.0], [0.2, 0.98, 0.0], [0.0, 0.3, 0.95]])
    ranked = rank_units("Who built the lighthouse?", q, units, vecs)
    score, cos, lex, unit = ranked[0]
    assert unit[0].id == 1 and lex == 1.0 and abs(cos - 0.98) < 1e-6
    # lexical overlap breaks a near tie in cosine
    vecs2 = np.array([[0.0, 0.9, 0.43], [0.0, 0.88, 0.47], [0.0, 0.3, 0.95]])
    assert rank_units("Who built the lighthouse?", q, units, vecs2)[0][3][0].id == 1


# -- on a real library (real ASR, embeddings, LanceDB) ----------------------------------------------------------

@pytest.mark.slow
def test_search_finds_the_moment(library):
    from rag.search import search

    res = search("What does the speaker ask Americans to do?", settings=library.settings)
    assert res.best.episode_id == library.ids["jfk"] and res.best.start < 2.0
    res = search("Sweynheim and Pannartz began printing near Rome", settings=library.settings)
    best = res.best
    assert best.episode_id == library.ids["printing"]
    # LJ001-0031 starts at 215.8 s in the reading; a chunk starts up to a minute earlier
    assert abs(best.start - 215.8) <= 5.0, best
    assert "subiaco" in best.text.lower() or "sweynheim" in best.text.lower() or "rome" in best.text.lower()


@pytest.mark.slow
def test_search_filters(library):
    from rag.search import SearchError, search
    from rag.store import Store

    harbor = library.ids["harbor"]
    res = search("lighthouse", settings=library.settings, episode=harbor[:10])
    assert res.passages and {p.episode_id for p in res.passages} == {harbor}
    res = search("lighthouse", settings=library.settings, episode=library.ids["bees"])
    assert all(p.episode_id == library.ids["bees"] for p in res.passages)
    store = Store(library.settings)
    store.set_episode_fields(library.ids["comet"], tags=["astronomy-test"])
    res = search("what is the tail made of", settings=library.settings, tags=["Astronomy-Test"])
    assert res.passages and {p.episode_id for p in res.passages} == {library.ids["comet"]}
    assert search("lighthouse", settings=library.settings, tags=["no-such-tag"]).passages == []
    with pytest.raises(SearchError, match="no episode matches"):
        search("lighthouse", settings=library.settings, episode="no-such-episode")


@pytest.mark.slow
def test_search_cli_json(library, capsys):
    code = library.cli("search", "honey bees in the city", "--json", "-k", "3")
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["query"] == "honey bees in the city" and 1 <= len(out["results"]) <= 3
    top = out["results"][0]
    assert top["episode_id"] == library.ids["bees"]
    assert {"episode_id", "title", "start", "end", "text", "score"} <= set(top)
    assert out["strong"] is True and not any(r.get("weak") for r in out["results"])


@pytest.mark.slow
def test_search_for_a_topic_never_recorded_says_so(library, capsys):
    from rag.answerable import MAX_WEAK

    assert library.cli("search", "Peru", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["strong"] is False and 1 <= len(out["results"]) <= MAX_WEAK and all(r["weak"] for r in out["results"])
    assert library.cli("search", "Peru") == 0
    text = capsys.readouterr().out
    assert text.startswith("No strong match for 'Peru'") and text.count("(weak)") == len(out["results"])
