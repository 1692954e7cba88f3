"""Speaker turns → a speaker on every word and segment, with segments split where the speaker changes.

Each word takes the speaker whose turns overlap it most (a word between turns takes the nearest turn within
`NEAREST_S`). A segment is then cut into runs of consecutive words of one speaker; a run shorter than
`MIN_RUN_WORDS` words is too short to be a turn of its own (a back-channel "yeah" over the other voice, or a
boundary word the engine put a few hundred ms off) and keeps the segment's dominant speaker: such a segment is
marked `overlap` — two voices within it, the dominant one named. A segment without word times takes the speaker
that overlaps it most. Ids are renumbered in time order, so the result is an ordinary transcript.
"""

from __future__ import annotations

import bisect
import contextlib
from collections import Counter

from ingest.diarize import Turn
from ingest.segment import join_words
from rag.schema import Segment, Transcript, Word

NEAREST_S = 1.0
MIN_RUN_WORDS = 2


class _Turns:
    def __init__(self, turns: list[Turn]) -> None:
        self.turns = sorted(turns, key=lambda t: t.start)
        self.starts = [t.start for t in self.turns]

    def speaker_at(self, start: float, end: float) -> str | None:
        """The speaker overlapping [start, end] most, else the nearest one within NEAREST_S."""
        if not self.turns:
            return None
        i = bisect.bisect_right(self.starts, end)
        share: Counter[str] = Counter()
        for t in self.turns[max(0, i - 50):i]:
            ov = min(end, t.end) - max(start, t.start)
            if ov > 0:
                share[t.speaker] += ov
        if share:
            return share.most_common(1)[0][0]
        mid = (start + end) / 2
        near = min(self.turns, key=lambda t: max(t.start - mid, mid - t.end, 0.0))
        return near.speaker if max(near.start - mid, mid - near.end, 0.0) <= NEAREST_S else None


def _runs(words: list[Word]) -> list[list[Word]]:
    runs: list[list[Word]] = []
    for w in words:
        if runs and runs[-1][-1].speaker == w.speaker:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def _absorb_short(runs: list[list[Word]]) -> tuple[list[list[Word]], bool]:
    """Fold runs too short to be turns into their neighbours (the longer side); True when any was folded."""
    folded = False
    while len(runs) > 1:
        short = [i for i, r in enumerate(runs) if len(r) < MIN_RUN_WORDS]
        if not short:
            break
        i = min(short, key=lambda j: len(runs[j]))
        left = runs[i - 1] if i > 0 else None
        right = runs[i + 1] if i + 1 < len(runs) else None
        target = i - 1 if right is None or (left is not None and len(left) >= len(right)) else i + 1
        speaker = runs[target][0].speaker
        runs[i] = [w.model_copy(update={"speaker": speaker}) for w in runs[i]]
        lo, hi = sorted((i, target))
        runs[lo:hi + 1] = [runs[lo] + runs[hi]]
        runs = _runs([w for r in runs for w in r])  # neighbours of one speaker join
        folded = True
    return runs, folded


def split_segment(seg: Segment, turns: _Turns, language: str | None = None) -> list[Segment]:
    if not seg.words:
        return [seg.model_copy(update={"speaker": turns.speaker_at(seg.start, seg.end) or seg.speaker})]
    words = [w.model_copy(update={"speaker": turns.speaker_at(w.start, w.end)}) for w in seg.words]
    known = Counter(w.speaker for w in words if w.speaker)
    fallback = known.most_common(1)[0][0] if known else seg.speaker
    words = [w if w.speaker else w.model_copy(update={"speaker": fallback}) for w in words]
    runs, folded = _absorb_short(_runs(words))
    if len(runs) == 1:
        return [seg.model_copy(update={"words": runs[0], "speaker": runs[0][0].speaker, "overlap": folded})]
    return [Segment(id=seg.id, start=r[0].start, end=max(r[-1].end, r[0].start), text=join_words(r, language),
                    words=r, speaker=r[0].speaker) for r in runs]


def assign_speakers(transcript: Transcript, turns: list[Turn]) -> Transcript:
    """The transcript with a speaker on each word and segment, segments split at speaker changes."""
    if not turns:
        return transcript
    index = _Turns(turns)
    out: list[Segment] = []
    for seg in transcript.segments:
        out += split_segment(seg, index, transcript.language)
    out = [s.model_copy(update={"id": i}) for i, s in enumerate(out)]
    return transcript.model_copy(update={"segments": out})


def diarizes(settings) -> bool:
    """Does ingest label speakers with these settings (ingest.diarize.wanted)?"""
    from ingest.diarize import wanted

    return wanted(settings)


def diarize_transcript(transcript: Transcript, audio, settings=None):
    """(transcript with a speaker on every word and segment, Diarization), or (transcript, None) when the
    settings say not to diarize."""
    from rag.settings import get_settings

    settings = settings or get_settings()
    if not diarizes(settings):
        return transcript, None
    from ingest.diarize import get_diarizer

    diarization = get_diarizer(settings).diarize(audio, speakers=settings.diarize.speakers)
    return assign_speakers(transcript, diarization.turns), diarization


class Diarizing:
    """One recording's diarization, run in a thread beside its transcription (it needs the audio only): on a
    machine with a core to spare the speakers cost little wall time. `result()` waits for it and re-raises its
    error. From the start until the transcription ends (`with pending.beside(): transcribe…`) the diarization
    leaves a core to it."""

    def __init__(self, audio, settings) -> None:
        import threading

        from ingest.diarize.base import beside_other_work

        self.settings, self.audio = settings, audio
        self.value = self.error = None
        self.stop = threading.Event()
        self.mark = beside_other_work()
        self.mark.__enter__()  # before the thread starts, so its first batch already sees the transcription
        self.thread = threading.Thread(target=self._run, name="audiorag-diarize", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from ingest.diarize.base import _STOP

        _STOP.event = self.stop
        try:
            from ingest.diarize import get_diarizer

            self.value = get_diarizer(self.settings).diarize(self.audio, speakers=self.settings.diarize.speakers)
        except BaseException as exc:  # noqa: BLE001 — raised again in the ingest's own thread by result()
            self.error = exc

    def end_mark(self) -> None:
        if self.mark is not None:
            self.mark.__exit__(None, None, None)
            self.mark = None

    @contextlib.contextmanager
    def beside(self):
        """Wrap the transcription in this: when it ends the diarization gets every free core."""
        try:
            yield
        finally:
            self.end_mark()

    def __enter__(self) -> "Diarizing":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        """An ingest that failed before taking the result stops the diarization at its next batch and waits for
        it: no diarization outlives its ingest (a torch thread alive at exit aborts the process)."""
        if kind is not None:
            self.stop.set()
        self.end_mark()
        self.thread.join()

    def result(self):
        self.end_mark()
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


class _NotDiarizing:
    """What ingest holds when it does not diarize."""

    def __enter__(self) -> "_NotDiarizing":
        return self

    def __exit__(self, *exc) -> None:
        return None

    @staticmethod
    def beside():
        return contextlib.nullcontext()


def start_diarize(audio, settings) -> Diarizing | _NotDiarizing:
    """The recording's diarization started in the background, or a stand-in when the settings say not to."""
    return Diarizing(audio, settings) if diarizes(settings) else _NotDiarizing()


def diarize_stage(transcript: Transcript, pending: Diarizing | _NotDiarizing, stages: dict, on_stage):
    """Ingest's diarize stage: wait for the diarization started beside the transcription and give the transcript
    its speakers. `stages["diarize"]` is the wait: what diarizing added to the ingest's time after the
    transcription (which it also slows where the cores are few: rag/bench/diarize.py measures the whole)."""
    if not isinstance(pending, Diarizing):
        return transcript, None
    import time

    on_stage("diarize", 0.55)
    t0 = time.perf_counter()
    diarization = pending.result()
    stages["diarize"] = time.perf_counter() - t0
    return assign_speakers(transcript, diarization.turns), diarization


def rename_in_segments(segments: list[Segment], names: dict[str, str]) -> list[Segment]:
    """Segments (and their words) with speakers renamed by `names` (old → new)."""
    out = []
    for s in segments:
        words = [w.model_copy(update={"speaker": names.get(w.speaker, w.speaker)}) if w.speaker in names else w
                 for w in s.words]
        out.append(s.model_copy(update={"speaker": names.get(s.speaker, s.speaker), "words": words}))
    return out
