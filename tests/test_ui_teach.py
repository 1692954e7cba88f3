"""The web app's Teach tab (issue 16): the vocabulary, the corrections and their download, a fine-tune run.

- The tab's functions on a real store: vocabulary rows per scope, one-line errors for every bad input.
- The corrections download over HTTP from an app started in this process: the file the Download button points at
  is served, lies in the library's private exports (0600 in a 0700 folder), and holds what
  `audiorag corrections export` writes.
- In headless Chromium against a real `audiorag serve`: a word added in the tab is listed there and by
  `audiorag vocab list`; bad input is one line on the page and no traceback in the server's log; screenshots at
  desktop and phone width (artifacts dir, ui_teach/).
- The Start handler itself, a 2-step LoRA run on the real SmolLM2 pack (`slow`): the bar's steps, the figures and
  the adapter listed. (A run takes over a minute here, so the browser test does not start one.)
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.test_finetune import LINES, _srt


def _edited_library(settings, tmp_path):
    """The Kestrel SRT imported (real embeddings), one line corrected: (store, episode, corrected segment)."""
    from ingest.pipeline import Pipeline, collect
    from rag.edit import edit_segment

    srt = tmp_path / "kestrel.srt"
    srt.write_text(_srt(LINES, repeat=1), encoding="utf-8")
    pipe = Pipeline(settings)
    (res,) = [pipe.ingest_item(i) for i in collect([srt])[0]]
    assert res.status == "ingested", res.reason
    seg = pipe.store.segments(res.episode_id)[1]
    edit_segment(pipe.store, pipe.embedder, res.episode_id, seg.id, seg.text.replace("brass seat", "bronze seat"))
    return pipe.store, pipe.store.get_episode(res.episode_id), seg


def test_vocabulary_and_fine_tune_choices_are_checked_in_one_line(settings, tmp_path):
    import gradio as gr

    from rag.schema import Episode
    from ui import teach
    from ui.backend import Backend
    from ui.errors import friendly

    backend = Backend(settings.model_copy(update={"models_dir": str(tmp_path / "models")}))  # not the shared cache
    backend.store.put_episode(Episode(id="ep1" * 8, title="Normandy", source="n.wav", status="ready"))
    assert teach.split_words(" Rollo, Rio  Negro;\nDavies ,, ") == ["Rollo", "Rio  Negro", "Davies"]
    assert teach.add_words(backend, "Rollo, Rio  Negro", None) == ["Rollo", "Rio Negro"]
    assert teach.add_words(backend, "Davies", "ep1" * 8) == ["Davies"]
    assert [r[:2] for r in teach.vocab_rows(backend)] == [["Rio Negro", "whole library"], ["Rollo", "whole library"],
                                                         ["Davies", "Normandy"]]
    assert [r[0] for r in teach.vocab_rows(backend, "ep1" * 8)] == ["Davies"]  # that episode's own list
    assert teach.remove_words(backend, "rio negro", None) == 1
    assert [r[0] for r in teach.vocab_rows(backend)] == ["Rollo", "Davies"]

    (backend.settings.models_path / "taken").mkdir(parents=True)  # a folder of that name
    bad_vocab = [(teach.add_words, " , ", None), (teach.add_words, "!!", None), (teach.remove_words, "Nobody", None),
                 (teach.add_words, "Rollo", "no such episode"), (teach.add_words, "a b c d e", None)]
    bad_runs = [("", [], 10, 0), ("", ["text"], 0, 0), ("", ["text"], 10, -1), ("bad name!", ["text"], 10, 0),
                ("taken", ["text"], 10, 0), ("", ["text"], "many", 0), ("smollm2-135m-instruct", ["text"], 10, 0)]
    for call in [lambda f=f, w=w, e=e: f(backend, w, e) for f, w, e in bad_vocab] + \
                [lambda a=a: teach.finetune_request(backend, *a) for a in bad_runs]:
        with pytest.raises(gr.Error) as err:
            friendly(call)()
        assert err.value.message and "\n" not in err.value.message, err.value.message
    assert "tick “Replace an adapter of that name”" in _message(lambda: teach.finetune_request(backend, "taken",
                                                                                                ["text"], 10, 0))
    req = teach.finetune_request(backend, "taken", ["text", "qa"], "12", "1.5", replace=True)
    assert (req.name, req.sources, req.iters, req.minutes, req.force) == ("taken", ("text", "qa"), 12, 1.5, True)
    assert teach.finetune_request(backend, " ", ["text"], 5, 0).minutes is None  # 0: no time limit
    # the Start handler: a bad choice changes nothing on the page; data the run cannot use ends it in one line
    from ui.teach_tab import _trainer

    train = _trainer(backend)
    with pytest.warns(UserWarning, match="Iterations: a whole number"):
        assert list(train("", ["text"], 0, 0, False)) == [(gr.update(), gr.update())]
    empty = Backend(backend.settings.model_copy(update={"data_dir": str(tmp_path / "empty")}))
    with pytest.warns(UserWarning, match="Nothing to train on: the library has no transcripts"):
        shown = list(_trainer(empty)("", ["text"], 2, 0, False))
    assert "value=\"0\" max=\"2\"" in shown[0][0] and "data-state='failed'" in shown[-1][0]
    assert "Not trained: Nothing to train on" in shown[-1][0] and "ft-bar" not in shown[-1][0]


def _message(fn) -> str:
    import gradio as gr

    from ui.errors import friendly

    with pytest.raises(gr.Error) as err:
        friendly(fn)()
    return err.value.message


def test_corrections_download_is_served_private_and_matches_the_export(settings, tmp_path):
    import httpx
    from gradio_client import Client

    from rag.corrections import corrections, to_jsonl
    from ui import teach_tab
    from ui.app import build_app, launch

    store, ep, seg = _edited_library(settings, tmp_path)
    demo = build_app(settings)
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        note, table, button = teach_tab.corrections_view(demo.backend)
        (row,) = table["value"]
        assert row[0] == f"{ep.title} @ 00:04–00:08" and "brass seat" in row[1] and "bronze seat" in row[2], row
        assert note.startswith("1 correction:") and button["interactive"]
        path = Path(button["value"])
        exports = (Path(settings.data_dir) / "exports").resolve()
        assert path.resolve().parent.parent == exports  # the library's private exports, never a shared /tmp path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        got = httpx.get(f"{url}gradio_api/file={path}", timeout=30)
        assert got.status_code == 200, got.text[:200]
        assert got.text == to_jsonl(corrections(store))  # what `audiorag corrections export` writes
        (line,) = [json.loads(x) for x in got.text.splitlines()]
        assert (line["episode_id"], line["segment_id"], line["start"]) == (ep.id, seg.id, seg.start)
        # the same pairs through the API, and the vocabulary endpoints
        client = Client(url, verbose=False)
        assert client.predict(api_name="/corrections") == [line]
        assert [e["word"] for e in client.predict("Kestrel", "", api_name="/add_vocabulary")] == ["Kestrel"]
        with pytest.raises(Exception, match="'Nobody' is not in the vocabulary"):
            client.predict("Nobody", "", api_name="/remove_vocabulary")
    finally:
        demo.close()
    # no corrections: no file, and the button is off
    empty = settings.model_copy(update={"data_dir": str(tmp_path / "empty")})
    from ui.backend import Backend

    note, table, button = teach_tab.corrections_view(Backend(empty))
    assert table["value"] == [] and button["value"] is None and not button["interactive"]
    assert note.startswith("No corrections yet")


# -- in the browser ----------------------------------------------------------------------------------------------------
# a header whose text is cut off: a box inside it that hides overflow holds more than it shows
CLIPPED_HEADERS = """() => [...document.querySelectorAll('#tab-teach .table-wrap th')].filter(th => th.offsetParent)
  .filter(th => [...th.querySelectorAll('*')].some(e => getComputedStyle(e).overflow !== 'visible'
    && e.scrollWidth > e.clientWidth + 1)).map(th => th.textContent.trim())"""


def _not_cut(page, size: dict, where) -> None:
    assert page.evaluate(CLIPPED_HEADERS) == [], where  # no header is cut off
    assert page.evaluate("() => document.documentElement.scrollWidth") <= size["width"], where


def _shots(page, shots: Path, name: str) -> None:
    """Both widths, as test_ui_webapp shoots every tab (headers never broken inside a word), and nothing cut."""
    from tests.test_ui_webapp import _shoot_both

    _shoot_both(page, shots, name, also=_not_cut)


def _mistakes(page) -> list[str]:
    """The text of every warning or error message on the page (Gradio's toasts, one toast-text per message)."""
    return page.locator("[data-testid='toast-body']:is(.warning, .error) [data-testid='toast-text']").evaluate_all(
        "ts => ts.map(t => t.innerText.trim())")


@pytest.mark.slow
def test_teach_tab_adds_vocabulary_and_a_mistake_is_one_line(models_dir, tmp_path, artifacts):
    from playwright.sync_api import expect, sync_playwright

    from tests.test_ui_browser import CHROMIUM
    from tests.test_ui_webapp import DESKTOP, Server, _cli, _env, _open

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed")
    shots = artifacts / "ui_teach"
    shots.mkdir(parents=True, exist_ok=True)
    env = _env(tmp_path / "data", models_dir)
    (tmp_path / "kestrel.srt").write_text(_srt(LINES, repeat=2), encoding="utf-8")
    _cli(env, "ingest", str(tmp_path / "kestrel.srt"))
    (ep,) = json.loads(_cli(env, "list", "--json"))
    server = Server(env)
    server.start()
    proc = server.proc
    try:
        with sync_playwright() as p:
            browser, page = _open(p, server.url, DESKTOP)
            page.get_by_role("tab", name="Teach").click()
            expect(page.locator("#corr-note")).to_contain_text("No corrections yet", timeout=60_000)
            page.locator("#vocab-words input").fill("Kestrel, Rio  Negro")
            page.locator("#vocab-add").click()
            table = page.locator("#vocab-table")
            expect(table).to_contain_text("Rio Negro", timeout=60_000)
            expect(table.get_by_role("row").filter(has_text="Kestrel")).to_contain_text("whole library")
            expect(page.locator("#vocab-words input")).to_have_value("")  # the box is emptied for the next one
            # one episode's own list: chosen in the dropdown, added with Enter
            page.locator("#vocab-scope input").click()
            page.get_by_role("option", name=ep["title"]).click()
            expect(table).not_to_contain_text("Rio Negro", timeout=30_000)
            page.locator("#vocab-words input").fill("Spindle")
            page.locator("#vocab-words input").press("Enter")
            expect(table.get_by_role("row").filter(has_text="Spindle")).to_contain_text(ep["title"], timeout=60_000)
            _shots(page, shots, "teach-vocabulary")
            # a mistake: one line on the page, nothing added
            page.locator("#vocab-words input").fill("!!!")
            page.locator("#vocab-add").click()
            expect(page.get_by_text("A vocabulary entry needs a letter or a digit: '!!!'")).to_be_visible(
                timeout=30_000)
            errors = _mistakes(page)
            assert len(errors) == 1 and "\n" not in errors[0], errors
            assert errors[0] == "A vocabulary entry needs a letter or a digit: '!!!'", errors
            page.wait_for_timeout(1000)
            assert page.locator("#vocab-table .error, #vocab-row .error").count() == 0  # no error badge stays
            page.screenshot(path=str(shots / "teach-mistake-desktop.png"), full_page=True)
            # clicking a row picks its word; Remove takes it out of this episode's list
            table.get_by_text("Spindle", exact=True).locator("visible=true").first.click()
            expect(page.locator("#vocab-words input")).to_have_value("Spindle")
            page.locator("#vocab-remove").click()
            expect(table).not_to_contain_text("Spindle", timeout=30_000)
            browser.close()
        listed = {(e["word"], e["episode_id"]) for e in json.loads(_cli(env, "vocab", "list", "--json"))}
        assert listed == {("Kestrel", None), ("Rio Negro", None)}, listed
    finally:
        server.stop()
    log = proc.stderr.read()
    assert "Traceback" not in log, log[-3000:]  # a user's mistake is not a server error


# -- a fine-tune run through the Start handler ---------------------------------------------------------------------------
@pytest.mark.slow
def test_start_streams_the_run_and_lists_the_adapter(tmp_path, models_dir, monkeypatch):
    """Two steps of LoRA on SmolLM2 through the tab's own handler: a bar that counts the steps, the held-out
    perplexity before and after as the adapter's manifest has them, the adapter in the table; then the same name
    again is one warning, and nothing is trained."""
    from rag.adapters import list_adapters
    from rag.models.pull import pull
    from rag.settings import Settings, set_settings
    from ui import teach_tab
    from ui.backend import Backend

    models = tmp_path / "models"  # adapters are written beside the packs: never into the shared cache
    models.mkdir()
    for name in ("smollm2-135m-instruct", "all-minilm-l6-v2"):
        (models / name).symlink_to(pull(name, models_dir, progress=lambda m: None))
    monkeypatch.setenv("AUDIORAG_CONFIG", str(tmp_path / "audiorag.toml"))
    monkeypatch.setenv("AUDIORAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUDIORAG_MODELS_DIR", str(models))
    settings = Settings()
    set_settings(settings)
    try:
        _edited_library(settings, tmp_path)
        train = teach_tab._trainer(Backend(settings))
        shown = list(train("ui-run", ["text", "corrections"], 2, 0, False))
    finally:
        set_settings(None)
    statuses = [s for s, _ in shown]
    assert '<progress id="ft-bar" value="0" max="2">' in statuses[0]
    assert any('value="1" max="2"' in s and "iteration 1/2" in s for s in statuses), statuses  # fed by progress
    done, table = shown[-1]
    assert "data-state='done'" in done and "ft-bar" not in done
    (adapter,) = list_adapters(models)
    f = adapter["figures"]
    assert adapter["name"] == "ui-run" and adapter["iterations"] == 2 and adapter["ready"]
    assert f"<b class='ft-before'>{f['perplexity_before']}</b>" in done
    assert f"<b class='ft-after'>{f['perplexity_after']}</b>" in done
    assert adapter["data"]["sources"] == ["text", "corrections"] and adapter["data"]["corrections_records"] == 1
    assert table == [["ui-run", "smollm2-135m-instruct",
                      f"text, corrections · held-out ppl {f['perplexity_base']:.1f} → {f['perplexity_after']:.1f}, "
                      f"2 it, {f['train_seconds']:.0f} s"]]
    with pytest.warns(UserWarning, match="An adapter named 'ui-run' exists"):  # gr.Warning outside a page
        again = list(train("ui-run", ["text"], 2, 0, False))
    assert len(again) == 1 and list_adapters(models)[0]["iterations"] == 2
