"""From windowed local speakers to who spoke when, with overlap (numpy and scipy only; the pyannote 3.x recipe).

Input: `seg` (windows, frames, local speakers) 0/1 activity from the segmentation model, `emb` (windows, local
speakers, dim) one embedding each (NaN where none). Steps:
- the speaker count per frame: the number of active local speakers, averaged over the windows covering the frame
  and rounded;
- clustering: the embeddings of local speakers with enough speech are clustered (agglomerative, centroid linkage on
  unit vectors, a distance threshold; clusters under `min_cluster_size` members fold into the nearest large one),
  or cut to a given count; then every active local speaker goes to its nearest centroid (cosine), two local
  speakers of one window never to the same one (Hungarian assignment);
- reconstruction: each window's activity per global speaker (max over its local speakers), summed over the windows
  covering a frame; in each frame the `count` most active speakers are on; runs of frames become turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClusterSettings:
    threshold: float = 0.65  # euclidean distance of unit embeddings (cosine 1 - d²/2) at which clusters stop merging
    min_cluster_size: int = 1  # embeddings; smaller clusters join the nearest large one
    min_active: float = 0.1  # of a window's frames a local speaker must fill (alone) for its embedding to be clustered
    max_speakers: int = 8
    min_duration_off: float = 0.0  # gaps of one speaker shorter than this are bridged (s)


@dataclass
class Geometry:
    step: float  # seconds between windows
    frame_step: float  # seconds between model frames
    frame_duration: float
    duration: float  # of the recording

    def offsets(self, n_windows: int) -> np.ndarray:
        return np.rint(np.arange(n_windows) * self.step / self.frame_step).astype(int)

    def n_frames(self) -> int:
        return int(np.floor(self.duration / self.frame_step)) + 1

    def time(self, frame: np.ndarray | int) -> np.ndarray | float:
        return frame * self.frame_step + self.frame_duration / 2


def aggregate(values: np.ndarray, geo: Geometry, average: bool) -> np.ndarray:
    """Overlap-add (windows, frames, k) into (recording frames, k): summed, or averaged over covering windows."""
    n_win, n_frames, k = values.shape
    total = geo.n_frames()
    acc, cover = np.zeros((total, k)), np.zeros((total, 1))
    for c, o in enumerate(geo.offsets(n_win)):
        n = max(0, min(n_frames, total - o))
        v = values[c, :n]
        ok = ~np.isnan(v)
        acc[o: o + n] += np.where(ok, v, 0.0)
        cover[o: o + n] += ok.any(axis=1, keepdims=True)
    return acc / np.maximum(cover, 1.0) if average else acc


def speaker_count(seg: np.ndarray, geo: Geometry, max_speakers: int) -> np.ndarray:
    count = aggregate(seg.sum(axis=2, keepdims=True), geo, average=True)[:, 0]
    return np.clip(np.rint(count), 0, max_speakers).astype(int)


def training_set(seg: np.ndarray, emb: np.ndarray, min_active: float) -> tuple[np.ndarray, np.ndarray]:
    """(window, local speaker) pairs whose embedding is clustered: valid, and speaking alone long enough."""
    alone = seg * (seg.sum(axis=2, keepdims=True) == 1)
    active = alone.sum(axis=1) >= min_active * seg.shape[1]
    valid = ~np.isnan(emb).any(axis=2)
    return np.nonzero(active & valid)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def agglomerate(x: np.ndarray, cfg: ClusterSettings, speakers: int | None) -> np.ndarray:
    """Cluster labels 0… of unit embeddings: threshold (or a given count), small clusters folded into large ones."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(x)
    if n < 2 or speakers == 1:
        return np.zeros(n, dtype=int)
    tree = linkage(x, method="centroid", metric="euclidean")
    min_size = min(cfg.min_cluster_size, max(1, round(0.1 * n)))
    if speakers:
        labels = _cut_to(tree, n, speakers, min_size)
    else:
        labels = fcluster(tree, cfg.threshold, criterion="distance") - 1
        if len(_large(labels, min_size)) > cfg.max_speakers:
            labels = _cut_to(tree, n, cfg.max_speakers, min_size)
    return _fold_small(x, labels, min_size)


def _large(labels: np.ndarray, min_size: int) -> np.ndarray:
    ids, counts = np.unique(labels, return_counts=True)
    return ids[counts >= min_size]


def _cut_to(tree: np.ndarray, n: int, k: int, min_size: int) -> np.ndarray:
    """The cut of the dendrogram whose number of large clusters is closest to k (fewest merges on a tie)."""
    from scipy.cluster.hierarchy import fcluster

    best, best_gap = None, None
    for m in range(1, n + 1):
        labels = fcluster(tree, m, criterion="maxclust") - 1
        gap = abs(len(_large(labels, min_size)) - k)
        if best_gap is None or gap < best_gap:
            best, best_gap = labels, gap
        if gap == 0:
            break
    return best


def _fold_small(x: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
    large = _large(labels, min_size)
    if not len(large):
        return np.zeros(len(x), dtype=int)
    cents = unit(np.stack([x[labels == k].mean(axis=0) for k in large]))
    nearest = np.argmax(x @ cents.T, axis=1)
    remap = {k: i for i, k in enumerate(large)}
    return np.array([remap.get(k, nearest[i]) for i, k in enumerate(labels)], dtype=int)


def assign(emb: np.ndarray, seg: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """(windows, local speakers) → global cluster, -1 when silent; one window's speakers to different clusters."""
    from scipy.optimize import linear_sum_assignment

    n_win, n_spk, _ = emb.shape
    sim = unit(np.nan_to_num(emb)) @ unit(centroids).T  # (windows, local, clusters)
    hard = np.full((n_win, n_spk), -1, dtype=int)
    active = seg.sum(axis=1) > 0
    for c in range(n_win):
        local = np.flatnonzero(active[c])
        if not len(local):
            continue
        rows, cols = linear_sum_assignment(-sim[c, local])
        hard[c, local[rows]] = cols
        for j in set(range(len(local))) - set(rows):  # more local speakers than clusters: the nearest
            hard[c, local[j]] = int(np.argmax(sim[c, local[j]]))
    return hard


def reconstruct(seg: np.ndarray, hard: np.ndarray, count: np.ndarray, geo: Geometry, k: int) -> np.ndarray:
    """(recording frames, k) 0/1: each frame's `count` most active global speakers."""
    n_win, n_frames, _ = seg.shape
    per = np.full((n_win, n_frames, k), np.nan, dtype=np.float32)
    for c in range(n_win):
        for g in set(hard[c]) - {-1}:
            per[c, :, g] = seg[c][:, hard[c] == g].max(axis=1)
    act = aggregate(per, geo, average=False)
    n = min(len(act), len(count))
    act, count = act[:n], np.minimum(count[:n], k)
    order = np.argsort(-act, axis=1, kind="stable")
    binary = np.zeros_like(act)
    for c in range(1, k + 1):
        rows = np.flatnonzero(count >= c)
        binary[rows, order[rows, c - 1]] = 1.0
    return binary


def turns_of(binary: np.ndarray, geo: Geometry, min_off: float) -> list[tuple[float, float, int]]:
    out = []
    for g in range(binary.shape[1]):
        on = np.concatenate([[0], binary[:, g] > 0, [0]]).astype(int)
        edges = np.flatnonzero(np.diff(on))
        runs = [[float(geo.time(a)), float(min(geo.time(b), geo.duration))] for a, b in zip(edges[::2], edges[1::2])]
        merged: list[list[float]] = []
        for run in runs:
            if merged and run[0] - merged[-1][1] < min_off:
                merged[-1][1] = run[1]
            else:
                merged.append(run)
        out += [(a, b, g) for a, b in merged if b > a]
    return out


def diarize(seg: np.ndarray, emb: np.ndarray, geo: Geometry, cfg: ClusterSettings,
            speakers: int | None) -> tuple[list[tuple[float, float, int]], np.ndarray]:
    """Turns (start, end, cluster) and the clusters' centroids (k, dim)."""
    count = speaker_count(seg, geo, cfg.max_speakers)
    win, spk = training_set(seg, emb, cfg.min_active)
    if not len(win):  # nothing long enough alone: every valid embedding
        valid = ~np.isnan(emb).any(axis=2) & (seg.sum(axis=1) > 0)
        win, spk = np.nonzero(valid)
    if not len(win):
        return [], np.zeros((0, emb.shape[2]), dtype=np.float32)
    x = unit(emb[win, spk].astype(np.float64))
    labels = agglomerate(x, cfg, speakers)
    k = int(labels.max()) + 1
    centroids = np.stack([x[labels == g].mean(axis=0) for g in range(k)])
    hard = assign(emb, seg, centroids)
    binary = reconstruct(seg, hard, count, geo, k)
    used = [g for g in range(k) if binary[:, g].any()]
    turns = turns_of(binary[:, used], geo, cfg.min_duration_off)
    return turns, centroids[used].astype(np.float32)
