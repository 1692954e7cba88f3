"""The web app as a daily tool, in headless Chromium against a real `audiorag serve` process (real models, the
library on disk): answers stream in the page, a question asked during an answer is queued and answered after it,
and the conversation is still listed and reopens — citations playable — after a reload and a server restart.
Screenshots go to the artifacts dir (tests/conftest.py ARTIFACTS) under ui_webapp/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ASR_DIR, ROOT, free_port, stop_process
from tests.test_serve import wait_listening
from tests.test_ui_browser import CHROMIUM, OBSERVE, launch_browser

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed")]

Q1 = "What does the speaker ask Americans to do?"
Q2 = "What is printing?"
Q3 = "Which arts does printing differ from?"
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}




def _env(data: Path, models_dir: Path) -> dict:
    env = dict(os.environ, AUDIORAG_DATA_DIR=str(data), AUDIORAG_CONFIG=str(data.parent / "none.toml"),
               AUDIORAG_MODELS_DIR=str(models_dir), GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(ROOT))
    env.pop("AUDIORAG_AUTH", None)
    return env


def _cli(env: dict, *args: str, timeout: float = 900) -> str:
    proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


class Server:
    """`audiorag serve` on a free port over one data dir; start() again after stop() is a server restart."""

    def __init__(self, env: dict):
        self.env, self.proc, self.url = env, None, ""

    def start(self) -> str:
        port = free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=ROOT,
                                     env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_listening(port, self.proc, timeout=300)
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None


@pytest.fixture(scope="module")
def served(tmp_path_factory, models_dir, asr_manifest):
    """A library with whisper_jfk.wav and the LJSpeech long-form reading, and a server over it."""
    data = tmp_path_factory.mktemp("webapp") / "data"
    env = _env(data, models_dir)
    _cli(env, "ingest", str(ASR_DIR / "wav16k" / "whisper_jfk.wav"),
         str(ASR_DIR / "ljspeech_LJ001_0001-0032_concat.wav"))
    server = Server(env)
    server.start()
    yield server
    server.stop()


def _open(p, url: str, viewport: dict):
    from playwright.sync_api import expect

    browser = launch_browser(p)
    page = browser.new_page(viewport=viewport)
    page.goto(url)
    expect(page.locator("#lib-status")).to_contain_text(" ready", timeout=180_000)
    return browser, page


def _clicked_citation_plays(page) -> None:
    """Click the chat's first citation: the player plays that episode from the cited second (±1 s)."""
    cite = page.locator("#chat a.cite").first
    cited = float(cite.get_attribute("data-start") or cite.get_attribute("href").split("#t=")[1].split("&")[0])
    page.evaluate("""() => { const p = document.getElementById('player'); window.__from = null;
        p.addEventListener('playing', () => { if (window.__from === null) window.__from = p.currentTime; }); }""")
    cite.click()
    page.wait_for_function("() => window.__from !== null && !document.getElementById('player').paused",
                           timeout=60_000)
    assert abs(page.evaluate("() => window.__from") - cited) <= 1.0


def _status(page) -> str:
    return page.evaluate("() => document.querySelector('#ask-status .ask-status')?.dataset.state || ''")


def test_streamed_queued_kept_across_reload_and_restart(served, artifacts):
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts / "ui_webapp"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page = _open(p, served.url, DESKTOP)
        page.get_by_role("tab", name="Ask").click()
        page.evaluate(OBSERVE)
        page.locator("#question textarea").fill(Q1)
        page.locator("#ask-btn").click()
        # a second question while the first is being answered: queued visibly, not lost
        page.wait_for_function("() => document.querySelector('#ask-status .ask-status')?.dataset.state === 'retrieving'"
                               " || document.querySelector('#ask-status .ask-status')?.dataset.state === 'answering'",
                               timeout=120_000)
        page.locator("#question textarea").fill(Q2)
        page.locator("#question textarea").press("Enter")
        expect(page.locator("#chat small.queued")).to_have_count(1, timeout=60_000)
        expect(page.locator("#ask-status")).to_contain_text("1 question queued", timeout=60_000)
        assert page.locator("#question textarea").input_value() == ""
        page.wait_for_function("() => [...document.querySelectorAll('#chat span.draft')].some("
                               "d => !d.textContent.includes('…'))", timeout=600_000)  # the model's own words
        page.screenshot(path=str(shots / "ask-streaming-desktop.png"), full_page=True)
        # both answered, in order
        expect(page.locator("#chat small.queued")).to_have_count(0, timeout=900_000)
        page.wait_for_function("() => document.querySelector('#ask-status .ask-status')?.dataset.state === 'done'",
                               timeout=900_000)
        page.screenshot(path=str(shots / "ask-done-desktop.png"), full_page=True)
        states = page.evaluate("() => window.__states")
        first = [s for s in states if s["n"] == 1]
        final_at = next(i for i, s in enumerate(first) if s["cite"])
        partial = [s for s in first[:final_at] if s["text"] and not s["cite"]]
        assert len(partial) >= 5, first  # the answer rendered in ≥ 5 successive partial states before the final
        assert "country" in first[final_at]["text"].lower()
        users = page.locator("#chat [data-testid='user']").all_inner_texts()
        assert [u.strip() for u in users][:2] == [Q1, Q2], users
        bots = page.locator("#chat [data-testid='bot']")
        expect(bots).to_have_count(2)
        assert "print" in bots.nth(1).inner_text().lower()
        figures = page.locator("#chat small.figs").first.inner_text()
        assert "first token" in figures and "tokens/s" in figures, figures

        # after a reload: listed on the Chats tab, reopens with playable citations
        page.reload()
        expect(page.locator("#lib-status")).to_contain_text(" ready", timeout=120_000)
        _reopen(page, shots, "reload")
        browser.close()

        served.stop()
        served.start()
        browser, page = _open(p, served.url, DESKTOP)
        _reopen(page, shots, "restart")
        browser.close()

    listed = json.loads(_cli(served.env, "chats", "list", "--json"))
    conv = next(c for c in listed if c["title"] == Q1)
    assert conv["questions"] == 2
    md = _cli(served.env, "chats", "export", conv["id"], "--format", "md")
    exported = json.loads(_cli(served.env, "chats", "export", conv["id"], "--format", "json"))
    cites = [c for t in exported["turns"] for c in t["citations"]]
    assert cites
    for c in cites:  # every citation as [Title @ mm:ss] with its episode id and seconds
        assert c["label"][1:-1] in md and f"episode `{c['episode_id']}`, {c['start']} s" in md, (c, md)


def _reopen(page, shots: Path, when: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Chats").click()
    cell = page.locator("#chats").get_by_role("gridcell", name=Q1).first
    expect(cell).to_be_visible(timeout=60_000)
    cell.click()  # selects that conversation
    expect(page.locator("#chat-pick input")).to_have_value(re.compile(re.escape(Q1)), timeout=30_000)
    page.screenshot(path=str(shots / f"chats-{when}-desktop.png"), full_page=True)
    page.locator("#chat-open").click()
    expect(page.get_by_role("tab", name="Ask")).to_have_attribute("aria-selected", "true", timeout=30_000)
    expect(page.locator("#chat a.cite").first).to_be_visible(timeout=60_000)
    _clicked_citation_plays(page)


def _srt_cues(srt: str) -> list[tuple[str, str]]:
    """(time line, text) of every SRT cue."""
    cues = []
    for block in srt.strip().split("\n\n"):
        lines = block.strip().splitlines()
        if len(lines) >= 3:
            cues.append((lines[1], " ".join(lines[2:])))
    return cues


def test_edited_line_is_searched_and_exported_with_the_new_text(served, artifacts):
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts / "ui_webapp"
    shots.mkdir(parents=True, exist_ok=True)
    jfk = next(e for e in json.loads(_cli(served.env, "list", "--json")) if e["title"] == "whisper jfk")
    before = _srt_cues(_cli(served.env, "export", jfk["id"], "--format", "srt"))
    line = next(i for i, (_, text) in enumerate(before) if "country" in text)
    with sync_playwright() as p:
        browser, page = _open(p, served.url, DESKTOP)
        page.get_by_role("tab", name="Episode").click()
        page.locator("#ep-select input").click()
        page.get_by_role("option", name=re.compile("whisper jfk")).click()
        seg = page.locator("#ep-transcript a.seg").nth(line)
        expect(seg).to_contain_text("country", timeout=60_000)
        page.screenshot(path=str(shots / "episode-desktop.png"), full_page=True)
        page.locator("#ep-edit input").check()
        seg.click()
        txt = seg.locator(".txt")
        expect(txt).to_have_attribute("contenteditable", "true")
        txt.evaluate("(el, t) => { el.textContent = t; }", before[line][1].replace("country", "homeland"))
        txt.press("Enter")
        expect(page.locator("#ep-transcript a.seg.edited")).to_have_count(1, timeout=300_000)
        expect(page.locator("#ep-transcript a.seg.edited")).to_contain_text("homeland")
        page.screenshot(path=str(shots / "episode-edited-desktop.png"), full_page=True)
        browser.close()

    found = json.loads(_cli(served.env, "search", "homeland", "--episode", jfk["id"], "--json"))["results"]
    assert any("homeland" in r["text"] for r in found), found
    old = json.loads(_cli(served.env, "search", "your country", "--episode", jfk["id"], "--json"))["results"]
    assert not any("country" in r["text"] for r in old), old
    after = _srt_cues(_cli(served.env, "export", jfk["id"], "--format", "srt"))
    assert [t for t, _ in after] == [t for t, _ in before]  # the same times
    assert "homeland" in after[line][1] and "country" not in after[line][1]

    # undo puts the original back; a rename shows everywhere
    with sync_playwright() as p:
        browser, page = _open(p, served.url, DESKTOP)
        page.get_by_role("tab", name="Episode").click()
        page.locator("#ep-select input").click()
        page.get_by_role("option", name=re.compile("whisper jfk")).click()
        expect(page.locator("#ep-transcript a.seg.edited")).to_have_count(1, timeout=60_000)
        page.locator("#ep-edit input").check()
        page.locator("#ep-transcript a.revert").first.click()
        expect(page.locator("#ep-transcript a.seg.edited")).to_have_count(0, timeout=300_000)
        expect(page.locator("#ep-transcript a.seg").nth(line)).to_contain_text("country")
        page.locator("#ep-title input, #ep-title textarea").first.fill("JFK inaugural address")
        page.locator("#ep-rename").click()
        expect(page.locator("#ep-header h2")).to_have_text("JFK inaugural address", timeout=60_000)
        browser.close()
    assert _srt_cues(_cli(served.env, "export", jfk["id"], "--format", "srt")) == before
    titles = [e["title"] for e in json.loads(_cli(served.env, "list", "--json"))]
    assert "JFK inaugural address" in titles


TABS = ("Library", "Episode", "Ask", "Chats", "Compare", "Models", "Teach", "Settings")

# table headers whose text runs over more than one line (a header broken inside a word, "ti / me")
BROKEN_HEADERS = """() => [...document.querySelectorAll('.table-wrap th span.header')].filter(h => h.offsetParent)
  .filter(h => [...h.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim()).some(n => {
    const r = document.createRange(); r.selectNodeContents(n);
    return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size > 1;
  })).map(h => h.textContent.trim())"""


def _shoot_both(page, shots: Path, name: str, also=None) -> None:
    """The current view at desktop and at phone width (the same page, resized), back at desktop after; `also`
    (page, size, where) runs further checks at each width."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(400)
        page.screenshot(path=str(shots / f"{name}-{label}.png"), full_page=True)
        assert page.evaluate(BROKEN_HEADERS) == [], (name, label)  # headers break between words, never inside
        if also is not None:
            also(page, size, (name, label))
    page.set_viewport_size(DESKTOP)


def test_phone_layout_and_every_tab_at_both_widths(served, artifacts):
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts / "ui_webapp"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser, page = _open(p, served.url, PHONE)
        # the player keeps a usable seek bar on a phone; "Now playing" is not squeezed to a letter
        audio = page.locator("#player").bounding_box()
        assert audio and audio["width"] >= 0.8 * PHONE["width"] - 40, audio
        assert page.locator("#player-bar .label").bounding_box()["width"] > 40
        assert page.locator("footer button.settings").count() == 0 or not page.locator("footer button.settings").is_visible()

        page.get_by_role("tab", name="Ask").click()
        page.locator("#question textarea").fill(Q1)
        page.locator("#ask-btn").click()
        page.wait_for_function("() => [...document.querySelectorAll('#chat span.draft')].some("
                               "d => !d.textContent.includes('…'))", timeout=600_000)
        page.screenshot(path=str(shots / "ask-streaming-phone.png"), full_page=True)
        page.wait_for_function("() => document.querySelector('#ask-status .ask-status')?.dataset.state === 'done'",
                               timeout=900_000)
        page.screenshot(path=str(shots / "ask-done-phone.png"), full_page=True)
        # citations wrap inside their bubble instead of running off the screen
        for box in page.locator("#chat a.cite").evaluate_all("as => as.map(a => a.getBoundingClientRect().right)"):
            assert box <= PHONE["width"] + 1, box
        # Stop cuts the answer being written (kept as far as it got, marked stopped) and puts the question still
        # waiting back in the box. A short answer may end before the click lands; then the waiting one is the
        # answer being written, and that one is cut instead: either way one answer ends "Stopped". (In a new chat:
        # as a follow-up to Q1, Q2 is refused at once, with nothing to stop.)
        page.locator("#clear-btn").click()
        expect(page.locator("#chat [data-testid='user']")).to_have_count(0, timeout=30_000)
        page.locator("#question textarea").fill(Q2)
        page.locator("#ask-btn").click()
        page.wait_for_function("() => ['retrieving', 'answering'].includes("
                               "document.querySelector('#ask-status .ask-status')?.dataset.state)", timeout=600_000)
        page.locator("#question textarea").fill(Q3)
        page.locator("#ask-btn").click()
        expect(page.locator("#chat small.queued")).to_have_count(1, timeout=60_000)
        page.locator("#stop-btn").click()
        page.wait_for_function("() => document.querySelector('#ask-status .ask-status')?.dataset.state === "
                               "'stopped'", timeout=300_000)
        expect(page.locator("#chat small.queued")).to_have_count(0, timeout=60_000)
        users = [u.strip() for u in page.locator("#chat [data-testid='user']").all_inner_texts()]
        box = page.locator("#question textarea").input_value()
        last = page.locator("#chat [data-testid='bot']").last
        if box == Q3:  # Q3 was still waiting: put back; Q2's answer was cut — or, on a busy machine, had just ended
            assert users[-1] == Q2, (box, users)
            if "Stopped" not in last.inner_text():
                expect(last.locator("a.cite")).not_to_have_count(0)  # then it is whole, with its citation
        else:  # Q3 was being written: that one is cut
            assert box == "" and users[-1] == Q3, (box, users)
            expect(last).to_contain_text("Stopped", timeout=60_000)
        page.set_viewport_size(DESKTOP)

        page.get_by_role("tab", name="Compare").click()
        page.locator("#cmp-question textarea, #cmp-question input").first.fill(Q1)
        page.locator("#cmp-btn").click()
        page.wait_for_function("() => document.querySelector('#cmp-out-a .cmp-side')?.dataset.state === 'done' && "
                               "document.querySelector('#cmp-out-b .cmp-side')?.dataset.state === 'done'",
                               timeout=900_000)
        for side in ("a", "b"):
            expect(page.locator(f"#cmp-out-{side} a.cite").first).to_be_visible()
        assert "first token" in page.locator("#cmp-out-a").inner_text() or \
            "tokens/s" in page.locator("#cmp-out-a").inner_text()
        _shoot_both(page, shots, "compare")

        page.get_by_role("tab", name="Episode").click()
        page.locator("#ep-select input").click()
        page.get_by_role("option", name=re.compile("ljspeech")).click()
        expect(page.locator("#ep-transcript p.para").first).to_be_visible(timeout=60_000)
        align = page.locator("#ep-transcript .transcript").evaluate("e => getComputedStyle(e).textAlign")
        assert align in ("left", "start"), align
        # the playing line is highlighted: play from the third line and wait for it
        third = page.locator("#ep-transcript a.seg").nth(2)
        third.click()
        expect(third).to_have_class(re.compile("playing"), timeout=60_000)
        page.evaluate("() => document.getElementById('player').pause()")
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            _shoot_both(page, shots, tab.lower())
        browser.close()


def test_choosing_files_replaces_the_selection_and_mistakes_are_short(served, artifacts, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    a, b = tmp_path / "first take.srt", tmp_path / "second take.srt"
    for f in (a, b):
        f.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello there.\n", encoding="utf-8")
    with sync_playwright() as p:
        browser, page = _open(p, served.url, DESKTOP)
        page.locator("#ingest-btn").click()  # nothing chosen: a short warning, and no error badge stays
        expect(page.get_by_text("Choose one or more files first.")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        assert page.locator("#upload .error, #ingest-progress .error").count() == 0
        page.locator("#upload input[type=file]").set_input_files(str(a))
        expect(page.locator("#upload")).to_contain_text("first take", timeout=60_000)
        page.locator("#upload input[type=file]").set_input_files(str(b))
        expect(page.locator("#upload")).to_contain_text("second take", timeout=60_000)
        expect(page.locator("#upload")).not_to_contain_text("first take", timeout=30_000)
        page.screenshot(path=str(artifacts / "ui_webapp" / "library-chosen-desktop.png"), full_page=True)
        browser.close()
