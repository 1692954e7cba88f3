"""Finding an episode by a reference (id, prefix, title), and the library's search over the chunks table: vector
(cosine), full text (BM25 over the native FTS index) and hybrid (both, fused by reciprocal rank). Only chunks of `ready` episodes are ever returned. `Store` inherits it."""

from __future__ import annotations

from typing import Callable, Iterable

from rag.errors import StoreError
from rag.schema import Episode, SearchHit
from rag.tables import EPISODES, _in


def no_episode(ref: str) -> str:
    """What a user is told when a reference names no episode."""
    return f"no episode matches '{ref}' (see: audiorag list)"


class StoreSearch:
    """Finding episodes and searching chunks for a Store: uses its `_table`, `_chunks`, `get_episode`,
    `list_episodes` and `check_embedding`."""

    def find_episode(self, ref: str) -> Episode | None:
        """By id, unique id prefix, title (case-insensitive) or unique part of a title. None when nothing
        matches; StoreError when several do."""
        ref = ref.strip()
        if not ref:
            return None
        exact = self.get_episode(ref)
        if exact is not None:
            return exact
        episodes = self.list_episodes(include_incomplete=True)
        folded = ref.casefold()
        for test in (
            lambda e: e.id.startswith(ref),
            lambda e: e.title.casefold() == folded,
            lambda e: folded in e.title.casefold(),
        ):
            found = [e for e in episodes if test(e)]
            if len(found) == 1:
                return found[0]
            if found:
                names = "; ".join(f"{e.id[:12]} {e.title}" for e in found[:5])
                raise StoreError(f"'{ref}' matches {len(found)} episodes ({names}); give more of the id")
        return None

    def require_episode(self, ref: str, error: type[Exception] | None = None):
        """find_episode, or `error` (default StoreError) with the one line every command shows when nothing
        matches."""
        ep = self.find_episode(ref)
        if ep is None:
            raise (error or StoreError)(no_episode(ref))
        return ep

    def _visible(self, episode_ids: Iterable[str] | None) -> dict[str, str]:
        """{id: title} of the ready episodes a search may return (within `episode_ids` when given)."""
        rows = self._table(EPISODES).search().where("status = 'ready'").select(["id", "title"]).limit(None).to_list()
        titles = {r["id"]: r["title"] for r in rows}
        if episode_ids is not None:
            wanted = set(episode_ids)
            titles = {k: v for k, v in titles.items() if k in wanted}
        return titles

    def _hits(self, rows: list[dict], titles: dict[str, str], score: Callable[[dict], float]) -> list[SearchHit]:
        return [
            SearchHit(chunk_id=r["id"], episode_id=r["episode_id"], title=titles.get(r["episode_id"], ""),
                      start=r["start"], end=r["end"], text=r["text"], score=float(score(r)),
                      segment_ids=list(r.get("segment_ids") or []))
            for r in rows if r["episode_id"] in titles
        ]

    def _vector(self, vec) -> list[float]:
        import numpy as np

        v = np.asarray(vec, dtype=np.float32).reshape(-1)
        self.check_embedding(len(v))
        return v.tolist()

    _COLS = ["id", "episode_id", "start", "end", "text", "segment_ids"]

    def vector_search(self, vec, k: int = 10, episode_ids: Iterable[str] | None = None) -> list[SearchHit]:
        """Nearest chunks by cosine similarity (score = 1 − cosine distance)."""
        table = self._chunks()
        titles = self._visible(episode_ids)
        if table is None or not titles or k <= 0:
            return []
        v = self._vector(vec)
        rows = (table.search(v, query_type="vector").distance_type("cosine")
                .where(_in("episode_id", titles), prefilter=True).select([*self._COLS, "_distance"])
                .limit(k).to_list())
        return self._hits(rows, titles, lambda r: 1.0 - r["_distance"])

    def text_search(self, q: str, k: int = 10, episode_ids: Iterable[str] | None = None) -> list[SearchHit]:
        """BM25 full-text search over chunk text (stemmed, stop words removed)."""
        table = self._chunks()
        titles = self._visible(episode_ids)
        if table is None or not titles or k <= 0 or not q.strip():
            return []
        rows = (table.search(q, query_type="fts", fts_columns="text")
                .where(_in("episode_id", titles), prefilter=True).select([*self._COLS, "_score"])
                .limit(k).to_list())
        return self._hits(rows, titles, lambda r: r["_score"])

    def hybrid_search(self, q: str, vec, k: int = 10, episode_ids: Iterable[str] | None = None) -> list[SearchHit]:
        """Vector and full-text results fused by reciprocal rank (LanceDB's RRFReranker)."""
        from lancedb.rerankers import RRFReranker

        if not q.strip():
            return self.vector_search(vec, k, episode_ids)
        table = self._chunks()
        titles = self._visible(episode_ids)
        if table is None or not titles or k <= 0:
            return []
        v = self._vector(vec)
        rows = (table.search(query_type="hybrid", fts_columns="text").vector(v).text(q).distance_type("cosine")
                .where(_in("episode_id", titles), prefilter=True)  # no select(): it warns in hybrid mode
                .rerank(RRFReranker()).limit(k).to_list())
        return self._hits(rows, titles, lambda r: r["_relevance_score"])
