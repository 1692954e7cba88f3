"""The library's tables as data: their names, their Arrow schemas (derived from rag.schema), and how a model
becomes a row and back. rag.store opens and writes them; the modules that keep them (rag.purge, rag.optimize,
rag.voices, rag.edit) use these names and helpers without importing the store, so none of them depends on it.
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable

from pydantic import BaseModel

from rag.errors import StoreError
from rag.schema import Chunk, Episode, Segment, Speaker, VocabEntry

if TYPE_CHECKING:
    import pyarrow as pa

EPISODES, SEGMENTS, CHUNKS, MIGRATIONS_TABLE = "episodes", "segments", "chunks", "_migrations"
SPEAKERS = "speakers"  # one row per (episode, diarized voice): name and voice embedding (rag/voices.py)
VOCABULARY, EPISODE_VOCABULARY = "vocabulary", "episode_vocabulary"  # spellings to keep (rag/vocab.py)
PENDING = "_pending_deletes"  # deletes that were asked for and are not finished yet (see rag.purge)
LOCKED_TABLES = (EPISODES, SEGMENTS, CHUNKS, PENDING)  # every write to these holds the library lock (Store.writing)
META_MODEL, META_DIM = b"embedding_model", b"embedding_dim"
VECTOR_INDEX_MIN_ROWS = 50_000  # below this a flat (exact) vector search is fast enough: ~23 ms at 20k x 384


# -- tables derived from rag.schema ---------------------------------------------------------------------------


def _column(annotation: Any) -> tuple["pa.DataType", bool]:
    """(Arrow type, stored as JSON?) for a pydantic field. Scalars and lists of scalars map to Arrow types;
    nested models (a segment's words, an episode's chapters) are stored as JSON strings."""
    import pyarrow as pa

    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _column(args[0])
    if origin is typing.Literal:
        return pa.string(), False
    if origin is list and args and args[0] in (str, int, float):
        return pa.list_({str: pa.string(), int: pa.int32(), float: pa.float32()}[args[0]]), False
    simple = {str: pa.string(), float: pa.float64(), int: pa.int64(), bool: pa.bool_(),
              datetime: pa.timestamp("us", tz="UTC")}
    if annotation in simple:
        return simple[annotation], False
    return pa.string(), True


def _fields(model: type[BaseModel]) -> list["pa.Field"]:
    import pyarrow as pa

    return [pa.field(name, _column(f.annotation)[0]) for name, f in model.model_fields.items()]


def episodes_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema(_fields(Episode))


def speakers_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema(_fields(Speaker))


def vocabulary_schema(per_episode: bool) -> "pa.Schema":
    """The library-wide list has no episode_id column (so the orphan sweep of rag.optimize leaves it alone)."""
    import pyarrow as pa

    return pa.schema([f for f in _fields(VocabEntry) if per_episode or f.name != "episode_id"])


def segments_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field("episode_id", pa.string()), *_fields(Segment)])


def chunks_schema(model: str, dim: int) -> "pa.Schema":
    import pyarrow as pa

    fields = [f for f in _fields(Chunk)] + [pa.field("vector", pa.list_(pa.float32(), dim))]
    return pa.schema(fields, metadata={META_MODEL: model.encode(), META_DIM: str(dim).encode()})


@functools.cache
def _json_fields(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for name, f in model.model_fields.items() if _column(f.annotation)[1])


def _to_row(obj: BaseModel, **extra: Any) -> dict[str, Any]:
    """A model as a table row. Refuses NaN and infinities (JSON and search cannot hold them): a StoreError."""
    row = obj.model_dump(mode="python")
    what = f"{type(obj).__name__.lower()} {getattr(obj, 'id', '')}".strip()
    for name, value in row.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"refusing to store {what}: its {name} is {value}")
    for name in _json_fields(type(obj)):
        try:
            row[name] = json.dumps(obj.model_dump(mode="json", include={name})[name], ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise StoreError(f"refusing to store {what}: its {name} hold a NaN or infinite number") from None
    return {**extra, **row}


def _from_row(model: type[BaseModel], row: dict[str, Any]) -> Any:
    data = {k: v for k, v in row.items() if k in model.model_fields}
    for name in _json_fields(model):
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
        elif data.get(name) is None:
            data.pop(name, None)
    for name in ("tags", "segment_ids"):
        if name in data and data[name] is None:
            data[name] = []
    for name, field in model.model_fields.items():  # a column added by a migration reads null on old rows:
        if name in data and data[name] is None and not field.is_required() and field.default is not None:
            data.pop(name)  # the model's default, not a validation error
    return model.model_validate(data)


def _sql(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(_sql(v) for v in values)})"
