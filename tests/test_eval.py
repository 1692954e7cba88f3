"""Eval: scoring (pure), manifests spoken by espeak-ng, and the full `audiorag eval` on real models."""

from __future__ import annotations

import csv
import json
import wave

import pytest

from rag.eval import (
    CSV_FIELDS,
    QuestionResult,
    contains_gold,
    csv_rows,
    first_hit_rank,
    load_manifest,
    metrics,
    write_csv,
)


def test_first_hit_rank_uses_episode_and_window():
    cited = [("other", 3.0), ("ep", 40.0), ("ep", 12.5), ("ep", 10.0)]
    assert first_hit_rank(cited, "ep", 10.0, 15.0, tolerance=2.0) == 3
    assert first_hit_rank(cited, "ep", 10.0, 15.0, tolerance=2.0, k=2) is None
    assert first_hit_rank(cited, "ep", 42.5, 50.0, tolerance=2.0) is None
    assert first_hit_rank(cited, "ep", 42.0, 50.0, tolerance=2.0) == 2


def test_contains_gold_ignores_case_and_punctuation():
    assert contains_gold('"It burned whale-oil." [Harbor @ 00:11]', ["whale oil"])
    assert not contains_gold("It burned whales.", ["whale oil"])
    assert contains_gold("Built in 1874.", ["eighteen seventy four"])
    # a thousands separator is part of the number ("6,400" is not "6" and "400"), a list's comma is not
    assert contains_gold("It flows for about 6,400 kilometers.", ["6400 kilometers"])
    assert contains_gold("A hive holds around 50,000 bees.", ["fifty thousand"])
    assert contains_gold("In 1903, 400 people came.", ["1903 400 people"])
    assert contains_gold("It has 2,500,000 rivets.", ["two million five hundred thousand rivets"])
    assert contains_gold("The tower is 40 meters tall.", ["forty meters"])


def test_metrics():
    rs = [QuestionResult("a", True, False, 1, 1, True, 1.0), QuestionResult("b", True, False, 2, 3, False, 1.0),
          QuestionResult("c", True, True, None, 1, False, 1.0), QuestionResult("d", False, True, None, None, False, 1.0),
          QuestionResult("e", False, False, None, None, False, 3.0)]
    m = metrics(rs)
    assert m["hit@1"] == pytest.approx(1 / 3) and m["hit@5"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 0.5) / 3)
    assert m["search_mrr"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    assert m["answer_contains_gold"] == pytest.approx(1 / 3)
    assert m["false_abstain"] == pytest.approx(1 / 3) and m["abstain_recall"] == 0.5
    assert m["abstain_accuracy"] == pytest.approx(3 / 5)
    assert m["seconds_per_question"] == pytest.approx(7 / 5)


def test_manifest_with_spoken_sentences(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({
        "name": "tiny",
        "episodes": [{"id": "a", "sentences": ["The lighthouse was built in 1874.", "It burned whale oil."]}],
        "questions": [{"question": "What did it burn?", "episode": "a", "sentence": 1, "answer": "whale oil"},
                      {"question": "What is the capital of Peru?", "answerable": False}],
    }))
    name, eps, qs = load_manifest(manifest, audio_dir=tmp_path / "audio")
    assert name == "tiny" and len(eps) == 1 and len(qs) == 2
    (s0, e0), (s1, e1) = eps[0].sentence_times
    assert s0 == 0.0 and e0 < s1 < e1
    with wave.open(str(eps[0].path)) as w:
        assert abs(w.getnframes() / w.getframerate() - (e1 + 0.4)) < 0.01
    assert (qs[0].start, qs[0].end, qs[0].answers) == (s1, e1, ["whale oil"])
    assert not qs[1].answerable
    # spoken once, then reused from the cache
    mtime = eps[0].path.stat().st_mtime_ns
    assert load_manifest(manifest, audio_dir=tmp_path / "audio")[1][0].path.stat().st_mtime_ns == mtime


def test_csv_rows_format(settings):
    rows = csv_rows({"hit@1": 0.5, "mrr": 0.75}, settings, "tiny", "hybrid")
    path = write_csv(rows, settings)
    write_csv(rows, settings)
    with open(path) as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == CSV_FIELDS and len(got) == 4
    assert got[0]["metric"] == "tiny/hybrid/hit@1" and float(got[1]["value"]) == 0.75
    from rag.answer import answer_model_name

    assert got[0]["model"] == answer_model_name(settings)


def test_csv_rows_name_the_adapter(settings):
    from rag.answer import answer_model_name

    tuned = settings.model_copy(update={"llm": settings.llm.model_copy(update={"adapter": "shop"})})
    (row,) = csv_rows({"hit@1": 0.5}, tuned, "tiny", "hybrid")
    assert row["model"] == f"{answer_model_name(tuned)}+shop" and row["backend"] == "mlx"
    (plain,) = csv_rows({"hit@1": 0.5}, settings, "tiny", "hybrid")
    assert "+" not in plain["model"]  # with and without the adapter: two series in the history
    assert csv_rows({"hit@1": 0.5}, tuned, "tiny", "extractive")[0]["model"] == "none"


def test_eval_adapter_errors_are_one_line_before_anything_is_ingested(settings, capsys, tmp_path):
    from rag.cli import main
    from rag.settings import set_settings

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"name": "never", "episodes": [], "questions": []}))
    try:
        unknown = main(["eval", str(manifest), "--adapter", "no-such-adapter", "--mode", "hybrid",
                        "--data-dir", settings.data_dir])
        err = capsys.readouterr().err.strip().splitlines()
        extractive = main(["eval", str(manifest), "--adapter", "x", "--mode", "extractive",
                           "--data-dir", settings.data_dir])
        err2 = capsys.readouterr().err.strip().splitlines()
    finally:
        set_settings(None)
    assert unknown == 2 and len(err) == 1 and err[0].startswith("error: No adapter 'no-such-adapter'"), err
    assert extractive == 2 and err2 == ["error: --adapter changes the answers a model writes; --mode extractive "
                                        "writes none (use --mode hybrid, generative or model)"], err2
    assert not (tmp_path / "data" / "eval").exists()


# -- the full command on the real library --------------------------------------------------------------------------

@pytest.mark.slow
def test_eval_command(library, capsys):
    code = library.cli("eval", str(library.manifest), "--mode", "extractive", "--library", "current", "--json")
    out = json.loads(capsys.readouterr().out)
    code_llm = library.cli("eval", str(library.manifest), "--mode", "hybrid", "--limit", "3", "--library", "current",
                           "--json")
    out_llm = json.loads(capsys.readouterr().out)
    assert code == 0 and code_llm == 0
    m = out["extractive"]["metrics"]
    assert m["questions"] == len(library.questions)
    # retrieval on real ASR of real and synthetic speech: most first citations land in the gold window
    assert m["hit@1"] >= 0.6 and m["hit@5"] >= m["hit@1"] and m["mrr"] >= m["hit@1"]
    assert m["abstain_recall"] >= 0.5 and m["false_abstain"] <= 0.2
    assert len(out_llm["hybrid"]["results"]) == 3
    with open(f"{library.settings.data_dir}/bench/eval.csv") as f:
        rows = list(csv.DictReader(f))
    metrics_written = {r["metric"] for r in rows}
    assert "spoken-qa-mini/extractive/hit@1" in metrics_written and "spoken-qa-mini/hybrid/mrr" in metrics_written


@pytest.mark.slow
def test_every_eval_answer_shows_each_sentence_and_link_once(models_dir, tmp_path):
    """The whole spoken-qa-v2 set (219 questions) answered extractively, and a few with the local LLM: no answer
    shows a sentence twice or a moment's link twice. The library is built once per machine and ASR/embedding
    model (`--library cache`), so CI transcribes it only on a fresh machine."""
    from pathlib import Path

    from rag.eval import evaluate
    from rag.settings import Settings

    manifest = Path(__file__).parent / "data" / "spoken_qa" / "eval.json"
    settings = Settings(data_dir=str(tmp_path / "data"), models_dir=str(models_dir))
    m, results = evaluate(manifest, settings=settings, mode="extractive", library="cache", progress=lambda _: None)
    assert m["questions"] == 219 and m["answers_with_repeats"] == 0, [r.answer for r in results if r.repeats]
    kinds = {r.kind for r in results}
    assert kinds == {"answerable", "follow_up", "on_topic", "off_topic"}
    # the pipeline scores what it should: most answerable questions cited at the gold moment, off-topic refused
    assert m["hit@5"] >= 0.6 and m["refused_off_topic"] >= 0.9 and m["follow_up_hit@1"] > 0
    hm, hybrid = evaluate(manifest, settings=settings, mode="hybrid", library="cache", split="dev", limit=8,
                          progress=lambda _: None)
    assert hm["answers_with_repeats"] == 0 and len(hybrid) == 8
