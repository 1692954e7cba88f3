"""The LanceDB store on a real library in the test's own data dir, with real MiniLM vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import rag.store as store_mod
from rag.schema import Chapter, Chunk, Episode, Segment, Word
from rag.store import EmbeddingMismatch, Store, StoreError, audio_dir

# Three episodes, each chunk about something no other chunk mentions.
CORPUS = {
    "ep-cooking-0001": ("Kitchen Talk", [
        "Feed the sourdough starter with rye flour and water every morning so the bread rises well.",
        "A whetstone keeps the chef's knife sharp; hold the blade at fifteen degrees.",
        "Simmer the tomato sauce slowly with garlic and basil for an hour.",
    ]),
    "ep-space-0002": ("Space Hour", [
        "Saturn's rings are mostly chunks of water ice orbiting the planet.",
        "The Mars rover drilled into red rock looking for signs of ancient microbes.",
        "Astronauts on the International Space Station exercise two hours a day.",
    ]),
    "ep-history-0003": ("Old Times", [
        "Gutenberg's printing press with movable type changed Europe in the fifteenth century.",
        "The Magna Carta was sealed by King John at Runnymede in 1215.",
        "Roman aqueducts carried water into cities using gravity alone.",
    ]),
}


@pytest.fixture(scope="module")
def embedder(pack):
    from rag.embed import get_embedder
    from rag.settings import Settings

    folder = pack("all-minilm-l6-v2")
    return get_embedder(Settings(models_dir=str(folder.parent)))


@pytest.fixture(scope="module")
def corpus_vectors(embedder) -> dict[str, np.ndarray]:
    return {eid: embedder.embed(texts) for eid, (_, texts) in CORPUS.items()}


def episode_parts(eid: str, status: str = "ready", texts: list[str] | None = None):
    title, default = CORPUS[eid]
    texts = default if texts is None else texts
    segs = [
        Segment(id=i, start=10.0 * i, end=10.0 * i + 9.5, text=t,
                words=[Word(start=10.0 * i, end=10.0 * i + 0.4, word=t.split()[0], probability=0.9)])
        for i, t in enumerate(texts)
    ]
    chunks = [Chunk(id=f"{eid}-c{i}", episode_id=eid, start=s.start, end=s.end, text=s.text, segment_ids=[s.id])
              for i, s in enumerate(segs)]
    ep = Episode(id=eid, title=title, source=f"/recordings/{eid}.mp3", duration=30.0, language="en", status=status,
                 audio_path=f"/lib/audio/{eid}.mp3", tags=["demo"], chapters=[Chapter(title="Start", start=0.0)])
    return ep, segs, chunks


def write(store: Store, eid: str, vectors: dict[str, np.ndarray], texts: list[str] | None = None):
    ep, segs, chunks = episode_parts(eid, texts=texts)
    vec = vectors[eid] if texts is None else vectors[eid][: len(texts)]
    return store.write_episode(ep, segs, chunks, vec)


@pytest.fixture
def library(settings, corpus_vectors) -> Store:
    store = Store(settings)
    for eid in CORPUS:
        write(store, eid, corpus_vectors)
    return store


def test_write_and_read_back(settings, corpus_vectors):
    store = Store(settings)
    ep, segs, chunks = episode_parts("ep-space-0002", status="processing")
    stored = store.write_episode(ep, segs, chunks, corpus_vectors["ep-space-0002"])
    assert stored.status == "ready"
    got = store.get_episode("ep-space-0002")
    assert got == ep.model_copy(update={"status": "ready"})  # every field, chapters and created included
    assert store.segments("ep-space-0002") == segs  # words survive the JSON column
    assert store.segments("ep-space-0002", ids=[2]) == segs[2:]
    assert store.chunks("ep-space-0002") == chunks
    assert [e.id for e in store.list_episodes()] == ["ep-space-0002"]
    assert store.counts() == {"episodes": 1, "ready": 1, "segments": 3, "chunks": 3}
    assert store.get_episode("nope") is None
    assert store.embedding_info() == ("all-minilm-l6-v2", 384)
    # a second process (new connection) sees it
    assert Store(settings).get_episode("ep-space-0002") == got


def test_rewrite_is_idempotent_and_drops_stale_rows(library, corpus_vectors):
    before = library.counts()
    write(library, "ep-cooking-0001", corpus_vectors)
    write(library, "ep-cooking-0001", corpus_vectors)
    assert library.counts() == before == {"episodes": 3, "ready": 3, "segments": 9, "chunks": 9}
    # re-processed into fewer chunks: the leftover rows of the old version must go
    write(library, "ep-cooking-0001", corpus_vectors, texts=CORPUS["ep-cooking-0001"][1][:1])
    assert library.counts() == {"episodes": 3, "ready": 3, "segments": 7, "chunks": 7}
    assert [c.id for c in library.chunks("ep-cooking-0001")] == ["ep-cooking-0001-c0"]
    assert len(library.chunks("ep-space-0002")) == 3  # other episodes untouched


@pytest.mark.parametrize("mode", ["vector", "text", "hybrid"])
@pytest.mark.parametrize("query,expected", [
    ("how do I keep my sourdough starter alive", "ep-cooking-0001-c0"),
    ("ice particles circling Saturn", "ep-space-0002-c0"),
    ("Magna Carta King John", "ep-history-0003-c1"),
    ("rover drilled rock on Mars", "ep-space-0002-c1"),
])
def test_search_finds_the_right_chunk(library, embedder, mode, query, expected):
    vec = embedder.embed([query])[0]
    hits = {
        "vector": lambda: library.vector_search(vec, 3),
        "text": lambda: library.text_search(query, 3),
        "hybrid": lambda: library.hybrid_search(query, vec, 3),
    }[mode]()
    assert hits and hits[0].chunk_id == expected, [h.chunk_id for h in hits]
    top = hits[0]
    eid = expected.rsplit("-c", 1)[0]
    idx = int(expected.rsplit("-c", 1)[1])
    assert top.episode_id == eid and top.title == CORPUS[eid][0]
    assert top.text == CORPUS[eid][1][idx] and top.start == 10.0 * idx and top.segment_ids == [idx]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_search_within_episodes(library, embedder):
    q = "Saturn rings made of ice"
    vec = embedder.embed([q])[0]
    only = ["ep-history-0003"]
    for hits in (library.vector_search(vec, 5, episode_ids=only), library.text_search("water", 5, episode_ids=only),
                 library.hybrid_search(q, vec, 5, episode_ids=only)):
        assert hits and {h.episode_id for h in hits} == {"ep-history-0003"}
    assert library.vector_search(vec, 5, episode_ids=[]) == []
    assert library.text_search("water", 5, episode_ids=["unknown"]) == []


def test_processing_episode_is_invisible(settings, corpus_vectors, embedder):
    """The state a killed writer leaves: episode row `processing`, some or all of its rows written."""
    store = Store(settings)
    write(store, "ep-cooking-0001", corpus_vectors)
    ep, segs, chunks = episode_parts("ep-space-0002", status="processing")
    store.put_episode(ep)
    store.write_segments(ep.id, segs)
    store.write_chunks(ep.id, chunks, corpus_vectors[ep.id])
    assert store.counts()["chunks"] == 6
    q = "ice particles circling Saturn"
    vec = embedder.embed([q])[0]
    # "water" is in both episodes' text; the nearest vectors to q are the hidden episode's
    for hits in (store.vector_search(vec, 10), store.text_search("water", 10), store.hybrid_search(q, vec, 10)):
        assert hits and all(h.episode_id == "ep-cooking-0001" for h in hits)
    assert store.text_search("Saturn rings", 10) == []
    assert store.text_search("Saturn rings", 10, episode_ids=["ep-space-0002"]) == []
    assert [e.id for e in store.list_episodes()] == ["ep-cooking-0001"]
    assert {e.id for e in store.list_episodes(include_incomplete=True)} == {"ep-cooking-0001", "ep-space-0002"}
    # finishing the write makes it visible
    store.write_episode(ep, segs, chunks, corpus_vectors[ep.id])
    assert store.text_search("Saturn rings", 1)[0].chunk_id == "ep-space-0002-c0"


def test_episode_is_never_ready_without_all_its_rows(settings, corpus_vectors, monkeypatch):
    """Rows that vanish while an episode is written (another process sweeping, say) are counted back: the
    episode stays `processing` with a one-line error, and is not complete (ingest redoes such an episode)."""
    store = Store(settings)
    ep, segs, chunks = episode_parts("ep-space-0002")
    real = store.write_chunks
    monkeypatch.setattr(store, "write_chunks", lambda eid, c, v: real(eid, c[:1], v[:1]))  # one of three kept
    with pytest.raises(StoreError, match="1 of 3 chunks were stored; ingest it again"):
        store.write_episode(ep, segs, chunks, corpus_vectors[ep.id])
    assert store.get_episode(ep.id).status == "processing" and store.list_episodes() == []
    monkeypatch.undo()
    store.write_episode(ep, segs, chunks, corpus_vectors[ep.id])
    assert store.is_complete(ep.id) and store.row_counts(ep.id) == (len(segs), len(chunks))
    store._table("chunks").delete(f"episode_id = '{ep.id}'")
    assert not store.is_complete(ep.id)


def test_rewrite_hides_episode_until_done(library, corpus_vectors, monkeypatch):
    """While an existing episode is being rewritten it is `processing`: a crash mid-way leaves it hidden."""
    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(library, "write_chunks", crash)
    with pytest.raises(RuntimeError):
        write(library, "ep-history-0003", corpus_vectors)
    assert library.get_episode("ep-history-0003").status == "processing"
    assert library.text_search("Magna Carta", 5) == []


def test_empty_library(settings, embedder):
    store = Store(settings)
    vec = embedder.embed(["anything"])[0]
    assert store.vector_search(vec, 5) == [] and store.text_search("anything", 5) == []
    assert store.hybrid_search("anything", vec, 5) == []
    assert store.list_episodes() == [] and store.embedding_info() is None
    store.optimize()  # nothing to do, no error


def test_delete_removes_rows_and_vectors(library, embedder):
    assert library.delete_episode("ep-space-0002") == "/lib/audio/ep-space-0002.mp3"
    assert library.get_episode("ep-space-0002") is None
    assert library.segments("ep-space-0002") == [] and library.chunks("ep-space-0002") == []
    assert library.counts() == {"episodes": 2, "ready": 2, "segments": 6, "chunks": 6}
    vec = embedder.embed(["ice particles circling Saturn"])[0]
    assert all(h.episode_id != "ep-space-0002" for h in library.vector_search(vec, 10))
    assert library.delete_episode("ep-space-0002") is None


def test_embedding_mismatch(library, settings, corpus_vectors):
    other = settings.model_copy(update={"embed": settings.embed.model_copy(update={"model": "some-other-model"})})
    store = Store(other)  # listing and deleting need no embedder
    assert len(store.list_episodes()) == 3
    with pytest.raises(EmbeddingMismatch, match="'all-minilm-l6-v2'.*audiorag reindex"):
        store.vector_search(np.ones(384, np.float32), 3)
    with pytest.raises(EmbeddingMismatch):
        write(store, "ep-space-0002", corpus_vectors)

    @dataclass
    class Named:  # only the name and dimension matter to the store
        name: str
        dim: int

    with pytest.raises(EmbeddingMismatch, match="all-minilm-l6-v2"):
        Store(settings, embedder=Named("some-other-model", 768))
    library.optimize()  # the metadata survives compaction
    with pytest.raises(EmbeddingMismatch, match="384-d"):
        library.vector_search(np.ones(768, np.float32), 3)
    # reindex path: a fresh chunks table for the new model
    store.reset_chunks(Named("some-other-model", 8))
    assert store.embedding_info() == ("some-other-model", 8) and store.counts()["chunks"] == 0
    with pytest.raises(EmbeddingMismatch):
        Store(settings).vector_search(np.ones(384, np.float32), 3)


def test_migrations_run_once(settings, monkeypatch):
    calls = []

    def m999_test(store):
        calls.append(store.uri)

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, m999_test])
    first = Store(settings)
    assert calls == [first.uri]
    assert Store(settings).migrate() == [] and calls == [first.uri]
    names = [r["name"] for r in first.db.open_table("_migrations").search().limit(None).to_list()]
    assert names == [m.__name__ for m in store_mod.MIGRATIONS]


def test_a_table_another_process_is_still_creating_is_not_there_yet(settings, corpus_vectors):
    """LanceDB lists a table from its folder, which a creating process makes before the table's first version:
    opening it then fails ("was not found"). Such a table counts as absent, and the library opens and writes."""
    from pathlib import Path

    root = Path(settings.data_path("library"))
    for name in ("_migrations", "chunks"):  # what a first writer elsewhere has begun, at the worst moment
        (root / f"{name}.lance").mkdir(parents=True)
    store = Store(settings)
    assert "_migrations" in store._table_names() and store._has("_migrations")  # created here, under the lock
    assert "chunks" in store._table_names() and not store._has("chunks") and store._chunks() is None
    write(store, "ep-space-0002", corpus_vectors)
    assert store._has("chunks") and store.counts()["chunks"] == 3


def test_find_episode(library):
    assert library.find_episode("ep-history-0003").title == "Old Times"
    assert library.find_episode("ep-hist").id == "ep-history-0003"
    assert library.find_episode("space hour").id == "ep-space-0002"
    assert library.find_episode("kitchen").id == "ep-cooking-0001"
    assert library.find_episode("no such thing") is None
    with pytest.raises(StoreError, match="matches 3 episodes"):
        library.find_episode("ep-")


def test_set_episode_fields(library):
    ep = library.set_episode_fields("ep-cooking-0001", summary="About bread.", tags=["food", "bread"],
                                    chapters=[Chapter(title="Knives", start=10.0)])
    got = library.get_episode("ep-cooking-0001")
    assert got == ep and got.tags == ["food", "bread"] and got.chapters[0].title == "Knives"
    assert got.status == "ready" and library.counts()["chunks"] == 9
    with pytest.raises(StoreError, match="bogus"):
        library.set_episode_fields("ep-cooking-0001", bogus=1)
    with pytest.raises(StoreError, match="no episode"):
        library.set_episode_fields("missing", summary="x")


def test_optimize_indexes_and_drops_orphans(library, corpus_vectors):
    # rows whose episode row is gone (a delete killed after its first step)
    ep, segs, chunks = episode_parts("ep-space-0002")
    library._table("episodes").delete("id = 'ep-space-0002'")
    library.optimize()
    assert library.counts() == {"episodes": 2, "ready": 2, "segments": 6, "chunks": 6}
    chunks_table = library._table("chunks")
    fts = [ix for ix in chunks_table.list_indices() if ix.columns == ["text"]]
    assert fts and chunks_table.index_stats(fts[0].name).num_unindexed_rows == 0
    assert library.text_search("Magna Carta", 1)[0].chunk_id == "ep-history-0003-c1"


def test_audio_dir(settings):
    assert audio_dir(settings) == settings.data_path("audio") and Store(settings).audio_dir() == audio_dir(settings)


def test_retry_conflicts_redoes_only_a_retryable_commit_conflict():
    from rag.locks import retry_conflicts

    calls = []

    def flaky(x):
        calls.append(x)
        if len(calls) < 3:
            raise RuntimeError("lance error: Retryable commit conflict for version 7: …")
        return x * 2

    assert retry_conflicts(flaky, 21) == 42 and calls == [21, 21, 21]
    with pytest.raises(RuntimeError, match="disk full"):
        retry_conflicts(lambda: (_ for _ in ()).throw(RuntimeError("disk full")))
    never = []
    with pytest.raises(RuntimeError, match="Retryable"):
        retry_conflicts(lambda: never.append(1) or (_ for _ in ()).throw(RuntimeError("Retryable commit conflict")),
                        tries=2)
    assert len(never) == 2
