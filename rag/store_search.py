"""The library's search over the chunks table: vector (cosine), full text (BM25 over the native FTS index) and
hybrid (both, fused by reciprocal rank). Only chunks of `ready` episodes are ever returned. `Store` inherits it."""

from __future__ import annotations

from typing import Callable, Iterable

from rag.schema import SearchHit
from rag.tables import EPISODES, _in


class StoreSearch:
    """Searches for a Store: uses its `_table`, `_chunks` and `check_embedding`."""

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
