"""One matplotlib panel per benchmark, drawn from CSV rows (so a past run can be charted again from the history)."""

from __future__ import annotations

import math


def _v(r: dict) -> float:
    try:
        return float(r["value"])
    except (TypeError, ValueError):
        return float("nan")


def _label(r: dict) -> str:
    return " / ".join(x for x in (r.get("backend"), r.get("model")) if x)


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="gray")


def empty(ax, rows: list[dict]) -> None:
    ax.set_axis_off()
    _note(ax, "no benchmark results")


def asr(ax, rows: list[dict]) -> None:
    """Real-time factor per backend and model (bars), WER written on each bar."""
    rtf = [r for r in rows if r["metric"] == "rtf"]
    if not rtf:
        return _note(ax, "asr: no rows")
    wer = {(r["backend"], r["model"]): _v(r) for r in rows if r["metric"] == "wer"}
    labels = [_label(r) for r in rtf]
    vals = [_v(r) for r in rtf]
    colors = ["tab:gray" if r["backend"] == "faster-whisper" else "tab:blue" for r in rtf]
    bars = ax.barh(labels, vals, color=colors)
    for bar, r in zip(bars, rtf):
        w = wer.get((r["backend"], r["model"]))
        if w is not None and not math.isnan(w):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f"  WER {w:.1%}", va="center", fontsize=8)
    ratio = [r for r in rows if r["metric"] == "ingest_vs_faster_whisper_int8"]
    extra = "; ".join(f"{r['model']}: ingest/plain faster-whisper {_v(r):.2f}x" for r in ratio)
    ax.set_title("ASR real-time factor (lower is faster)" + (f"\n{extra}" if extra else ""), fontsize=9)
    ax.set_xlabel("transcription seconds per audio second")
    ax.invert_yaxis()
    ax.tick_params(labelsize=8)


def embed(ax, rows: list[dict]) -> None:
    cps = [r for r in rows if r["metric"] == "chunks_per_s"]
    if not cps:
        return _note(ax, "embed: no rows")
    bars = ax.barh([_label(r) for r in cps], [_v(r) for r in cps], color="tab:green")
    mem = {(r["backend"], r["model"]): _v(r) for r in rows if r["metric"] == "peak_rss_mb"}
    q = {(r["backend"], r["model"]): _v(r) for r in rows if r["metric"] == "query_ms"}
    for bar, r in zip(bars, cps):
        key = (r["backend"], r["model"])
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f"  {_v(r):.1f}/s, query {q.get(key, float('nan')):.0f} ms, +{mem.get(key, float('nan')):.0f} MB",
                va="center", fontsize=8)
    ax.set_title("Embedding throughput (chunks/s, higher is better)", fontsize=9)
    ax.set_xlim(0, max(_v(r) for r in cps) * 1.9)
    ax.tick_params(labelsize=8)


def _size(label: str) -> int:
    return int(label[:-1]) * 1000 if label.endswith("k") else int(label)


def search(ax, rows: list[dict]) -> None:
    """p50 latency (solid) and p95 (dashed) per mode against table size, log-log; recall of the ANN index noted."""
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in rows:
        mode, _, rest = r["metric"].rpartition("_p")
        if not mode or "@" not in rest:
            continue
        q, size = rest.split("@", 1)
        if q not in ("50", "95"):
            continue
        series.setdefault((mode, q), []).append((_size(size), _v(r)))
    if not series:
        return _note(ax, "search: no rows")
    colors = {"vector_flat": "tab:red", "vector_ann": "tab:blue", "fts": "tab:green", "hybrid": "tab:purple"}
    for (mode, q), pts in sorted(series.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", linestyle="-" if q == "50" else "--",
                color=colors.get(mode), label=f"{mode} p{q}", alpha=1.0 if q == "50" else 0.5)
    recall = sorted(((_size(r["metric"].split("@")[1]), _v(r)) for r in rows if r["metric"].startswith("recall10_ann@")))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks in the table")
    ax.set_ylabel("ms per query")
    rec = ", ".join(f"{n // 1000}k: {v:.2f}" for n, v in recall)
    ax.set_title("Search latency (p50 solid, p95 dashed)" + (f"\nANN recall@10 vs exact — {rec}" if rec else ""),
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.tick_params(labelsize=8)


def llm(ax, rows: list[dict]) -> None:
    """Prompt and generation tokens/s (bars, left axis) and time to first token (line, right axis) per prompt size."""
    models = sorted({f"{r['model']} ({r['backend']})" for r in rows if r["metric"].startswith("prompt_tps@")})
    if not models:
        return _note(ax, "llm: no rows")
    get = {(f"{r['model']} ({r['backend']})", r["metric"]): _v(r) for r in rows}
    sizes = sorted({int(r["metric"].split("@")[1]) for r in rows if r["metric"].startswith("prompt_tps@")})
    width = 0.8 / (2 * len(models))
    ax2 = ax.twinx()
    for mi, model in enumerate(models):
        xs = list(range(len(sizes)))
        off = (2 * mi) * width - 0.4 + width / 2
        ax.bar([x + off for x in xs], [get.get((model, f"prompt_tps@{s}"), float("nan")) for s in sizes], width,
               label=f"{model} prompt tok/s", alpha=0.8)
        ax.bar([x + off + width for x in xs], [get.get((model, f"gen_tps@{s}"), float("nan")) for s in sizes], width,
               label=f"{model} gen tok/s", alpha=0.8)
        ax2.plot(xs, [get.get((model, f"ttft_s@{s}"), float("nan")) for s in sizes], marker="o", color="black",
                 linestyle=["-", "--", ":", "-."][mi % 4], label=f"{model} TTFT")
    ax.set_xticks(range(len(sizes)), [f"{s} tokens" for s in sizes])
    ax.set_ylabel("tokens/s")
    ax2.set_ylabel("time to first token (s)")
    ax.set_yscale("log")
    ax.set_title("LLM (model (backend)): tokens/s (bars) and time to first token (line)", fontsize=9)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.tick_params(labelsize=8)


def ingest(ax, rows: list[dict]) -> None:
    """The share of each stage in one file's ingest, as one stacked bar."""
    shares = [(r["metric"].split(":", 1)[1], _v(r)) for r in rows if r["metric"].startswith("stage_share:")]
    if not shares:
        return _note(ax, "ingest: no rows")
    total = next((_v(r) for r in rows if r["metric"] == "total_s"), float("nan"))
    rtf = next((_v(r) for r in rows if r["metric"] == "rtf"), float("nan"))
    left = 0.0
    cmap = __import__("matplotlib").colormaps["tab10"]
    for i, (stage, share) in enumerate(sorted(shares, key=lambda s: -s[1])):
        ax.barh([0], [share], left=left, color=cmap(i % 10), label=f"{stage} {share:.1f}%")
        if share > 6:
            ax.text(left + share / 2, 0, stage, ha="center", va="center", fontsize=8, color="white")
        left += share
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.set_xlabel("% of ingest time")
    label = _label(next(r for r in rows if r["metric"].startswith("stage_share:")))
    ax.set_title(f"Ingest of one recording ({label}): {total:.1f} s total, RTF {rtf:.2f}", fontsize=9)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))


PANELS = [("asr", asr), ("embed", embed), ("search", search), ("llm", llm), ("ingest", ingest)]
