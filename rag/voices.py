"""Speakers in the library: each episode's voices (label, name, speaking time, voice embedding), renaming, and
the voices known across episodes.

A diarized segment's `speaker` is what is shown: the label (S1, S2, …) until the user names it, then the name.
The speakers table keeps the label beside the name, so a rename rewrites the episode's segments (and words) from
the old name to the new and nothing else changes: chunk ids, vectors and citations stay valid.

Across episodes: a named voice is a profile (the mean of its embeddings over the episodes where it was named).
An unnamed voice whose embedding is within `settings.diarize.match` cosine of a profile gets that name
*proposed* — shown by `audiorag speakers EPISODE` and in the app, applied only when the user accepts it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from rag.errors import UserInputError
from rag.schema import Segment, Speaker

if TYPE_CHECKING:
    from ingest.diarize import Diarization
    from rag.store import Store

_LABEL = re.compile(r"^S\d+$")


def is_label(name: str) -> bool:
    """A diarization label (S1, S2, …) rather than a name someone gave."""
    return bool(_LABEL.match(name or ""))


def shown_speaker(speaker: str | None, voices: set[str]) -> str | None:
    """The speaker as people are shown it (citations, transcript paragraphs): a name always; a bare label (S1)
    only when the episode has another voice to tell it from — a monologue's "· S1" says nothing."""
    if not speaker or (is_label(speaker) and len(voices) <= 1):
        return None
    return speaker


def speakers_of(diarization: "Diarization", episode_id: str, names: dict[str, str] | None = None) -> list[Speaker]:
    """The rows for a fresh diarization; `names` (label → name) keeps the names of an earlier run."""
    seconds: dict[str, float] = defaultdict(float)
    for t in diarization.turns:
        seconds[t.speaker] += t.end - t.start
    names = names or {}
    return [Speaker(episode_id=episode_id, id=label, name=names.get(label, label), seconds=round(seconds[label], 3),
                    vector=[float(x) for x in diarization.voices.get(label, [])], engine=diarization.engine)
            for label in diarization.speakers]


def store_voices(store: "Store", episode_id: str, diarization: "Diarization", segments: list[Segment]) -> list[Segment]:
    """Store a fresh diarization's voices, keeping names given before to the same labels (the engine labels the
    same audio the same way); returns the segments with those names."""
    from ingest.speakers import rename_in_segments

    names = {s.id: s.name for s in episode_speakers(store, episode_id)}
    write_speakers(store, episode_id, speakers_of(diarization, episode_id, names))
    return rename_in_segments(segments, {k: v for k, v in names.items() if k != v})


def write_speakers(store: "Store", episode_id: str, speakers: list[Speaker]) -> None:
    import pyarrow as pa

    from rag.tables import SPEAKERS, _to_row

    table = store._table(SPEAKERS)
    store._replace_rows(SPEAKERS, episode_id, pa.Table.from_pylist([_to_row(s) for s in speakers], schema=table.schema))


def episode_speakers(store: "Store", episode_id: str | None = None) -> list[Speaker]:
    """One episode's voices (S1 first), or every episode's."""
    from ingest.diarize import speaker_order
    from rag.tables import SPEAKERS, _from_row, _sql

    q = store._table(SPEAKERS).search()
    if episode_id is not None:
        q = q.where(f"episode_id = {_sql(episode_id)}")
    rows = [_from_row(Speaker, r) for r in q.limit(None).to_list()]
    return sorted(rows, key=lambda s: (s.episode_id, speaker_order(s.id)))


class RenameError(UserInputError):
    """A rename that cannot be applied; one line."""


def parse_renames(pairs: list[str]) -> dict[str, str]:
    """['S1=Diane', 'S2 = Sheila'] → {'S1': 'Diane', 'S2': 'Sheila'}."""
    out = {}
    for pair in pairs:
        for part in filter(None, (p.strip() for p in pair.split(","))):
            old, sep, new = part.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise RenameError(f"Cannot read the rename '{part}': write it as S1=Diane")
            out[old.strip()] = " ".join(new.split())
    return out


def rename(store: "Store", episode_id: str, renames: dict[str, str]) -> list[Speaker]:
    """Rename voices of one episode: keys are labels (S1) or current names. Returns the episode's speakers."""
    from ingest.speakers import rename_in_segments

    speakers = episode_speakers(store, episode_id)
    by_key = {s.id.casefold(): s for s in speakers} | {s.name.casefold(): s for s in speakers}
    segments = store.segments(episode_id)
    if not speakers:  # an import that came with its own speaker names: rename those in the segments
        present = {s.speaker for s in segments if s.speaker}
        missing = [k for k in renames if k not in present]
        if missing:
            raise RenameError(f"No speaker {', '.join(missing)} in this episode (it has: {', '.join(sorted(present)) or 'none'})")
        store.write_segments(episode_id, rename_in_segments(segments, renames))
        return []
    mapping: dict[str, str] = {}
    for key, new in renames.items():
        spk = by_key.get(key.casefold())
        if spk is None:
            known = ", ".join(f"{s.id} ({s.name})" if s.name != s.id else s.id for s in speakers)
            raise RenameError(f"No speaker '{key}' in this episode (it has: {known})")
        if is_label(new) and new != spk.id:
            raise RenameError(f"'{new}' looks like a diarization label; choose a name")
        mapping[spk.id] = new
    names = {s.name: mapping[s.id] for s in speakers if s.id in mapping}
    store.write_segments(episode_id, rename_in_segments(segments, names))
    updated = [s.model_copy(update={"name": mapping.get(s.id, s.name)}) for s in speakers]
    write_speakers(store, episode_id, updated)
    return updated


def _unit(vec):
    import numpy as np

    v = np.asarray(vec, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n else v


def profiles(store: "Store", exclude_episode: str | None = None) -> list[dict]:
    """Known voices: every name given to a voice, with its episodes, speaking time and mean embedding."""
    import numpy as np

    groups: dict[str, list[Speaker]] = defaultdict(list)
    for s in episode_speakers(store):
        if not is_label(s.name) and s.vector and s.episode_id != exclude_episode:
            groups[s.name].append(s)
    out = []
    for name, rows in sorted(groups.items(), key=lambda kv: kv[0].casefold()):
        out.append({"name": name, "episodes": sorted({r.episode_id for r in rows}),
                    "seconds": round(sum(r.seconds for r in rows), 1),
                    "vector": _unit(np.mean([_unit(r.vector) for r in rows], axis=0))})
    return out


def proposals(store: "Store", episode_id: str, threshold: float | None = None) -> dict[str, dict]:
    """{label: {"name", "similarity"}} for this episode's unnamed voices that sound like a known one."""
    if threshold is None:
        from rag.settings import get_settings

        threshold = store.settings.diarize.match if store.settings else get_settings().diarize.match
    known = profiles(store, exclude_episode=episode_id)
    if not known:
        return {}
    out = {}
    taken = {s.name for s in episode_speakers(store, episode_id)}
    for spk in episode_speakers(store, episode_id):
        if not is_label(spk.name) or not spk.vector:
            continue
        v = _unit(spk.vector)
        scored = sorted(((float(v @ p["vector"]), p["name"]) for p in known if p["name"] not in taken), reverse=True)
        if scored and scored[0][0] >= threshold:
            out[spk.id] = {"name": scored[0][1], "similarity": round(scored[0][0], 3)}
    return out


def speaker_rows(store: "Store", episode_id: str) -> list[dict]:
    """One episode's speakers as shown (CLI, app): id (label), name, seconds, proposed name or None. An import that
    brought its own names has no voices: its names alone."""
    speakers = episode_speakers(store, episode_id)
    if not speakers:
        return [{"id": None, "name": n, "seconds": None, "proposed": None}
                for n in segment_speaker_names(store.segments(episode_id))]
    proposed = proposals(store, episode_id)
    return [{"id": s.id, "name": s.name, "seconds": s.seconds, "proposed": proposed.get(s.id)} for s in speakers]


def segment_speaker_names(segments: list[Segment]) -> list[str]:
    """The speakers of some segments, in order of first appearance."""
    return list(dict.fromkeys(s.speaker for s in segments if s.speaker))
