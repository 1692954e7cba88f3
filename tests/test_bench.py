"""`audiorag bench`: rows in the history CSV with every metric named, a PNG, and the ASR comparison row."""

from __future__ import annotations

import csv
import math

import pytest

from rag.bench import common, expand, list_runs, load_csv, make_png, run_bench
from rag.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- pure functions ------------------------------------------------------------------------------------------------
def test_wer_matches_jiwer_after_normalisation():
    jiwer = pytest.importorskip("jiwer")
    pairs = [
        ("In 1455, the Gutenberg Bible was printed.", "in fourteen fifty five the gutenberg bible was printed"),
        ("And so, my fellow Americans: ask not", "and so my fellow american ask not what"),
        ("forty-two line Bible", "42 line bible"),
        ("the 3rd of May", "the third may"),
    ]
    for ref, hyp in pairs:
        expected = jiwer.wer(common.normalize_text(ref), common.normalize_text(hyp))
        assert common.wer(ref, hyp) == pytest.approx(expected)
    assert common.wer("forty-two line Bible", "42 line bible") == 0.0
    assert common.word_errors("a b c", "a x c d") == (2, 3)


def test_expand_names():
    assert expand(["all"]) == ["search", "embed", "asr", "llm", "ingest", "ui"]
    assert expand(["ingest", "asr"]) == ["asr", "ingest"]
    assert expand(["diarize", "asr"]) == ["asr", "diarize"]  # run when named, never by `all`
    with pytest.raises(ValueError, match="unknown benchmark nope"):
        expand(["nope"])


def test_csv_roundtrip_keeps_awkward_notes(settings):
    ctx = common.Ctx(settings=settings)
    rows = [ctx.row("embed", "chunks_per_s", 12.5, "chunks/s", "mlx", "m", 'a, "quoted" note\nwith a newline'),
            ctx.row("embed", "error", float("nan"), "", notes="boom")]
    common.append_rows(rows, settings)
    common.append_rows(rows[:1], settings)
    back = load_csv(settings)
    assert [r["metric"] for r in back] == ["chunks_per_s", "error", "chunks_per_s"]
    assert back[0]["notes"] == rows[0]["notes"] and back[0]["value"] == 12.5 and math.isnan(back[1]["value"])
    with open(common.csv_location(settings), newline="") as f:
        assert next(csv.reader(f)) == common.COLUMNS  # one header, at the top
    (run,) = list_runs(settings)
    assert run["rows"] == 3 and run["errors"] == 1 and run["benches"] == ["embed"]


def test_png_draws_every_panel(tmp_path, settings):
    """Synthetic rows of every bench make one chart (the panels' parsing of metric names is exercised)."""
    ctx = common.Ctx(settings=settings)
    r = ctx.row
    rows = [r("asr", "rtf", 0.1, "x", "ctranslate2", "whisper-tiny.en"), r("asr", "wer", 0.05, "", "ctranslate2", "whisper-tiny.en"),
            r("asr", "rtf", 0.12, "x", "faster-whisper", "whisper-tiny.en"),
            r("asr", "ingest_vs_faster_whisper_int8", 0.9, "ratio", "ctranslate2", "whisper-tiny.en"),
            r("embed", "chunks_per_s", 9, "chunks/s", "mlx", "all-minilm-l6-v2"),
            r("embed", "peak_rss_mb", 300, "MB", "mlx", "all-minilm-l6-v2"),
            r("llm", "prompt_tps@200", 300, "tokens/s", "mlx", "m"), r("llm", "gen_tps@200", 20, "tokens/s", "mlx", "m"),
            r("llm", "ttft_s@200", 0.7, "s", "mlx", "m"), r("llm", "prompt_tps@800", 280, "tokens/s", "mlx", "m"),
            r("ingest", "stage_share:transcribe", 80, "%", "ctranslate2", "whisper-tiny.en"),
            r("ingest", "stage_share:embed", 20, "%", "ctranslate2", "whisper-tiny.en"),
            r("ingest", "total_s", 10, "s", "ctranslate2", "whisper-tiny.en")]
    for size in ("1k", "10k"):
        for mode in ("vector_flat", "vector_ann", "fts", "hybrid"):
            rows += [r("search", f"{mode}_p50@{size}", 5, "ms", "lancedb"), r("search", f"{mode}_p95@{size}", 9, "ms", "lancedb")]
        rows.append(r("search", f"recall10_ann@{size}", 0.95, "fraction", "lancedb"))
    out = make_png(rows, tmp_path / "all.png")
    data = (tmp_path / "all.png").read_bytes()
    assert out.endswith("all.png") and data.startswith(PNG_MAGIC) and len(data) > 20_000
    make_png([], tmp_path / "empty.png")
    assert (tmp_path / "empty.png").read_bytes().startswith(PNG_MAGIC)


# -- real runs -----------------------------------------------------------------------------------------------------
SEARCH_METRICS = [f"{mode}_p{q}" for mode in ("vector_flat", "vector_ann", "fts", "hybrid") for q in (50, 95)] + [
    "recall10_ann", "recall10_ann_norefine", "write_s", "fts_index_s", "ann_index_s"]


def test_bench_search_and_embed_write_csv_and_png(settings, capsys):
    assert main(["bench", "search", "--quick", "--search-sizes", "1000,3000"]) == 0
    assert main(["bench", "embed", "--quick", "--json"]) == 0
    rows = load_csv(settings)
    metrics = {(r["bench"], r["metric"]) for r in rows}
    for size in ("1k", "3k"):
        for m in SEARCH_METRICS:
            assert ("search", f"{m}@{size}") in metrics, f"{m}@{size} missing"
    for m in ("chunks_per_s", "tokens_per_s", "query_ms", "load_s", "peak_rss_mb", "wall_s"):
        assert ("embed", m) in metrics, m
    assert not [r for r in rows if r["metric"] == "error"]
    value = {(r["bench"], r["metric"]): r["value"] for r in rows}
    assert 0.5 <= value[("search", "recall10_ann@3k")] <= 1.0
    assert value[("search", "vector_flat_p50@1k")] > 0 and value[("embed", "chunks_per_s")] > 0
    assert value[("embed", "peak_rss_mb")] > 10  # loading the model grows the process
    assert all(r["machine"] and r["versions"] and r["run_id"] and r["timestamp"] for r in rows)
    runs = list_runs(settings)
    assert [run["benches"] for run in runs] == [["embed"], ["search"]]  # newest first
    for run in runs:
        assert run["png"] and open(run["png"], "rb").read(8) == PNG_MAGIC
    assert '"metric": "chunks_per_s"' in capsys.readouterr().out  # --json printed the rows


@pytest.mark.slow
def test_bench_asr_has_the_faster_whisper_comparison_row(settings, asr_manifest, tmp_path):
    png = tmp_path / "asr.png"
    rows = run_bench(["asr"], settings=settings, asr_files=1, asr_models=["whisper-tiny.en"], png=png)
    assert not [r for r in rows if r["metric"] == "error"], rows
    (cmp,) = [r for r in rows if r["metric"] == "ingest_vs_faster_whisper_int8"]
    assert cmp["model"] == "whisper-tiny.en" and cmp["backend"] == "ctranslate2" and cmp["value"] > 0
    by = {(r["backend"], r["metric"]): r["value"] for r in rows}
    for backend in ("ctranslate2", "faster-whisper", "mlx"):
        assert by[(backend, "rtf")] > 0
        assert by[(backend, "wer")] < 0.2  # whisper_jfk: tiny.en gets it (nearly) right on every backend
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert {r["metric"] for r in load_csv(settings)} >= {"rtf", "wer", "ingest_vs_faster_whisper_int8"}


@pytest.mark.slow
def test_llm_measure_generates_exactly_max_tokens(settings):
    """EOS is masked, so generation speed is always measured over the same number of tokens."""
    from rag.bench.llm import measure, prompt_ids
    from rag.llm import load_mlx

    llm = load_mlx("smollm2-135m-instruct", settings)
    ids = prompt_ids(llm.tokenizer, 200)
    assert len(ids) == 200
    r = measure(llm.model, llm.tokenizer, ids, 12)
    assert r["gen_tokens"] == 12 and r["prompt_tokens"] == 200
    assert 0 < r["ttft_s"] <= r["total_s"] and r["prompt_tps"] > 0 and r["gen_tps"] > 0


@pytest.mark.slow
def test_llm_llamacpp_measure_matches_mlx_prompt_and_budget(settings):
    """The llama.cpp rows are measured on the same token ids and budget as mlx-lm's (where llama.cpp runs)."""
    from rag.bench.llm import llamacpp_for, measure_llamacpp, prompt_ids
    from rag.llm import load_mlx

    cpp = llamacpp_for("smollm2-135m-instruct", settings)
    if cpp is None:
        pytest.skip("llama.cpp backend not available here (Linux x86_64 only)")
    ids = prompt_ids(load_mlx("smollm2-135m-instruct", settings).tokenizer, 200)
    r = measure_llamacpp(cpp, ids, 12)
    assert r["gen_tokens"] == 12 and r["prompt_tokens"] == 200
    assert 0 < r["ttft_s"] <= r["total_s"] and r["prompt_tps"] > 0 and r["gen_tps"] > 0


def test_slowdowns_are_times_slower_for_times_and_rates(settings):
    from rag.bench.common import Ctx
    from rag.bench.load import mark_loaded, slowdowns

    ctx = Ctx(settings=settings, _machine="m", _versions="v")
    quiet = [ctx.row("embed", "query_ms", 20, "ms"), ctx.row("llm", "gen_tps@200", 30, "tokens/s"),
             ctx.row("embed", "peak_rss_mb", 100, "MB"), ctx.row("embed", "wall_s", 3, "s")]
    loaded = mark_loaded([ctx.row("embed", "query_ms", 30, "ms"), ctx.row("llm", "gen_tps@200", 10, "tokens/s"),
                          ctx.row("embed", "peak_rss_mb", 100, "MB"), ctx.row("embed", "wall_s", 9, "s"),
                          ctx.row("ui", "error", float("nan"), "", notes="boom")], 1, "")
    assert [r["metric"] for r in loaded] == ["under_load:query_ms", "under_load:gen_tps@200",
                                             "under_load:peak_rss_mb", "under_load:wall_s", "error"]
    assert "under load: 1 busy process" in loaded[-1]["notes"] and "boom" in loaded[-1]["notes"]
    got = {r["metric"]: r["value"] for r in slowdowns(quiet, loaded, ctx)}
    assert got == {"slowdown:query_ms": 1.5, "slowdown:gen_tps@200": 3.0}  # memory and wall time are not speeds


@pytest.mark.slow
def test_bench_under_load_runs_twice_and_stops_its_burners(settings):
    import multiprocessing as mp

    assert main(["bench", "embed", "--quick", "--under-load", "1"]) == 0
    rows = load_csv(settings)
    metrics = {r["metric"] for r in rows}
    assert {"query_ms", "under_load:query_ms", "slowdown:query_ms", "slowdown:chunks_per_s"} <= metrics
    assert len({r["run_id"] for r in rows}) == 1  # one run: quiet and loaded side by side
    loaded = next(r for r in rows if r["metric"] == "under_load:query_ms")
    assert "under load: 1 busy process" in loaded["notes"]
    assert not [p for p in mp.active_children() if p.name.startswith("audiorag-bench-burner")]
