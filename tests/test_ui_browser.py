"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright (never `playwright install`).

1. Upload whisper_jfk.wav through the page, wait for it to be ready, ask about it, see the answer stream in with a
   citation, click the citation, and check the page's audio element plays that episode from the cited second.
2. With networking cut (a network namespace with only loopback, `unshare -n`) the page renders completely and asks
   for nothing outside 127.0.0.1.

Screenshots of every step go to the artifacts dir (AUDIORAG_TEST_ARTIFACTS, default test-artifacts/).
Run this file as a script (`python tests/test_ui_browser.py --render-check OUT.json`) for the offline check alone.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # when run as a script
    sys.path.insert(0, str(ROOT))

import rag  # noqa: E402,F401  (BLAS preload before anything imports MLX)
from tests.conftest import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
QUESTION = "What does the speaker ask Americans to do?"
TABS = ["Library", "Episode", "Ask", "Search", "Models", "Benchmarks"]
LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt install chromium)")

# Every distinct state of the newest answer bubble, recorded in the page as it renders.
OBSERVE = """() => {
    window.__states = [];
    const chat = document.getElementById('chat');
    const snap = () => {
        const bots = chat.querySelectorAll('[data-testid="bot"]');
        if (!bots.length) return;
        const last = bots[bots.length - 1];
        const s = {n: bots.length, text: last.textContent.trim(), cite: !!last.querySelector('a.cite')};
        const prev = window.__states[window.__states.length - 1];
        if (!prev || prev.text !== s.text || prev.cite !== s.cite || prev.n !== s.n) window.__states.push(s);
    };
    new MutationObserver(snap).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def launch_browser(p):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def watch_network(page) -> dict:
    """Record failed requests and any request that leaves 127.0.0.1."""
    seen: dict = {"failed": [], "external": [], "console_errors": []}
    page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url} ({r.failure})"))
    page.on("request", lambda r: None if r.url.startswith(LOOPBACK) else seen["external"].append(r.url))
    page.on("console", lambda m: seen["console_errors"].append(m.text) if m.type == "error" else None)
    return seen


def real_failures(seen: dict) -> list[str]:
    """Failed requests, less the aborts that are part of normal operation: Gradio closes its queue's event stream
    when a request finishes, and the media element cancels a request for the audio when it seeks and asks for
    another byte range (a real playback failure shows up as the player's `error`, checked separately)."""
    benign = ("/gradio_api/queue/data", "/gradio_api/file=")
    return [f for f in seen["failed"] if not ("ERR_ABORTED" in f and any(b in f for b in benign))]


def player_state(page) -> dict:
    return page.evaluate("""() => { const p = document.getElementById('player');
        return {paused: p.paused, t: p.currentTime, src: p.currentSrc || p.src, playedFrom: window.__playedFrom ?? null,
                ready: p.readyState, error: p.error && p.error.code}; }""")


# -- the acceptance flow -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_upload_ask_click_citation_plays_the_moment(app_url, artifacts, asr_manifest):
    from playwright.sync_api import expect, sync_playwright

    from tests.conftest import ASR_DIR

    jfk = ASR_DIR / "wav16k" / "whisper_jfk.wav"
    shots = artifacts / "ui_browser"
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as p:
        browser = launch_browser(p)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        seen = watch_network(page)
        page.goto(app_url)
        expect(page.locator("#player")).to_be_attached(timeout=60_000)
        expect(page.locator("#lib-status")).to_contain_text(" ready", timeout=120_000)  # the page's data loaded
        page.screenshot(path=str(shots / "01-loaded.png"), full_page=True)

        # 1. upload through the page and add it to the library
        page.locator("#upload input[type=file]").set_input_files(str(jfk))
        expect(page.locator("#upload")).to_contain_text("whisper_jfk", timeout=60_000)  # name and ext are separate spans
        page.screenshot(path=str(shots / "02-uploaded.png"), full_page=True)
        page.locator("#ingest-btn").click()
        expect(page.locator("#ingest-progress tr[data-file='whisper_jfk.wav']")).to_be_attached(timeout=60_000)
        page.screenshot(path=str(shots / "03-ingesting.png"), full_page=True)

        # 2. it appears in the episodes table as ready
        row = page.locator("#episodes tr", has_text="whisper jfk")
        expect(row).to_contain_text("ready", timeout=900_000)
        expect(page.locator("#ingest-progress tr[data-status='ingested']")).to_have_count(1)
        page.screenshot(path=str(shots / "04-ready.png"), full_page=True)
        # a second visitor who opens the Episode tab before choosing anything sees the newest episode, not a blank
        other = browser.new_page(viewport={"width": 390, "height": 844})
        other.goto(app_url)
        expect(other.locator("#lib-status")).to_contain_text("1 episode,", timeout=120_000)
        other.locator("#tab-episode-button").click()
        expect(other.locator("#ep-header h2")).to_have_text("whisper jfk", timeout=60_000)
        expect(other.locator("#ep-transcript a.seg").first).to_be_visible()
        other.close()

        # 3. ask; record every state of the answer as it renders, to see it stream
        page.get_by_role("tab", name="Ask").click()
        page.evaluate(OBSERVE)
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#ask-btn").click()
        cite = page.locator("#chat a.cite").first
        expect(cite).to_be_visible(timeout=600_000)
        expect(page.locator("#passages")).to_contain_text("whisper jfk")
        page.screenshot(path=str(shots / "05-answer.png"), full_page=True)
        states = page.evaluate("() => window.__states")
        assert len(states) >= 2 and states[-1]["cite"] and not states[0]["cite"], states  # streamed, then cited
        answer = states[-1]["text"]

        # 4. click the citation: the episode opens and the player plays it from the cited second
        href = cite.get_attribute("href")
        src, _, frag = href.partition("#")
        params = dict(kv.split("=", 1) for kv in frag.split("&"))
        cited, episode_id = float(params["t"]), unquote(params["ep"])
        assert episode_id and src.startswith("/gradio_api/file=") and episode_id in src
        page.evaluate("""() => { const p = document.getElementById('player'); window.__playedFrom = null;
            p.addEventListener('playing', () => { if (window.__playedFrom === null) window.__playedFrom = p.currentTime; }); }""")
        cite.click()
        page.wait_for_function("() => { const p = document.getElementById('player'); "
                               "return !p.paused && p.currentTime > 0 && window.__playedFrom !== null; }", timeout=60_000)
        first = player_state(page)
        page.wait_for_timeout(800)
        second = player_state(page)
        expect(page.locator("#ep-header")).to_contain_text("whisper jfk", timeout=60_000)
        expect(page.get_by_role("tab", name="Episode")).to_have_attribute("aria-selected", "true")
        page.screenshot(path=str(shots / "06-playing.png"), full_page=True)

        assert episode_id in unquote(first["src"]), first
        assert not first["paused"] and not second["paused"], (first, second)
        assert second["t"] > first["t"], (first, second)  # advancing
        assert abs(first["playedFrom"] - cited) <= 1.0, (first, cited)  # from within 1 s of the cited time
        assert first["error"] is None
        assert "country" in answer.lower() and "isn't in your library" not in answer, answer

        # 5. beyond the acceptance line: a transcript line seeks, exports are offered, search results play,
        #    and delete asks first.
        line = page.locator("#ep-transcript a.seg").last
        line_start = float(line.get_attribute("data-start"))
        page.evaluate("() => { window.__playedFrom = null; document.getElementById('player').pause(); }")
        line.click()
        page.wait_for_function("() => !document.getElementById('player').paused && window.__playedFrom !== null")
        assert abs(player_state(page)["playedFrom"] - line_start) <= 1.0
        for fmt in ("srt", "vtt", "json", "md"):
            expect(page.locator(f"#export-{fmt}")).to_be_enabled()

        page.get_by_role("tab", name="Search").click()
        page.locator("#search-query textarea, #search-query input").first.fill("your country")
        page.locator("#search-btn").click()
        hit = page.locator("#search-results li.hit a.play").first
        expect(hit).to_be_visible(timeout=300_000)
        page.evaluate("() => { window.__playedFrom = null; document.getElementById('player').pause(); }")
        hit.click()
        page.wait_for_function("() => !document.getElementById('player').paused && window.__playedFrom !== null")
        assert abs(player_state(page)["playedFrom"] - float(hit.get_attribute("data-start"))) <= 1.0
        page.screenshot(path=str(shots / "07-search.png"), full_page=True)

        page.get_by_role("tab", name="Library").click()
        page.locator("#episodes").get_by_role("gridcell", name="whisper jfk").first.click()  # selects that episode
        expect(page.locator("#lib-episode input")).to_have_value(re.compile("whisper jfk"))
        page.locator("#delete-btn").click()
        expect(page.locator("#confirm-text")).to_contain_text("Delete “whisper jfk”?")
        page.screenshot(path=str(shots / "08-confirm-delete.png"), full_page=True)
        page.locator("#confirm-no").click()
        expect(page.locator("#confirm-yes")).to_be_hidden()
        expect(page.locator("#episodes")).to_contain_text("whisper jfk")  # cancel kept it
        page.locator("#delete-btn").click()
        page.locator("#confirm-yes").click()
        expect(page.locator("#lib-status")).to_contain_text("0 episodes", timeout=60_000)
        expect(page.locator("#episodes")).not_to_contain_text("whisper jfk")
        page.screenshot(path=str(shots / "09-deleted.png"), full_page=True)
        browser.close()

    assert not real_failures(seen) and not seen["external"], seen


# -- offline render --------------------------------------------------------------------------------------------
def render_check(out: Path, block_external: bool = False) -> dict:
    """Start the app with an empty library, open every tab, and report what the page requested and rendered."""
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="audiorag-render-"))
    os.environ["AUDIORAG_DATA_DIR"] = str(tmp / "data")
    os.environ["AUDIORAG_CONFIG"] = str(tmp / "none.toml")
    from rag.settings import Settings
    from ui.app import build_app, launch

    demo = build_app(Settings())
    _, url, _ = launch(demo, port=free_port(), prevent_thread_lock=True, quiet=True)
    report: dict = {"tabs": {}, "blocked": []}
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={"width": 1360, "height": 1000})
            seen = watch_network(page)
            if block_external:
                def route(r):
                    if r.request.url.startswith(LOOPBACK):
                        return r.continue_()
                    report["blocked"].append(r.request.url)
                    return r.abort()

                page.route("**/*", route)
            page.goto(url, wait_until="load")
            page.wait_for_selector("#player", state="attached", timeout=60_000)
            page.locator("#lib-status").get_by_text(" ready").wait_for(timeout=120_000)
            for tab in TABS:
                page.get_by_role("tab", name=tab).click()
                page.wait_for_timeout(400)
                report["tabs"][tab] = page.evaluate("""() => {
                    const panel = [...document.querySelectorAll('[role=tabpanel]')].find(e => e.offsetParent !== null);
                    return panel ? panel.innerText.trim().length : 0; }""")
                page.screenshot(path=str(out.with_name(f"offline-{tab.lower()}.png")), full_page=True)
            report["fonts"] = page.evaluate("async () => { await document.fonts.ready; return document.fonts.status; }")
            report["broken_images"] = page.evaluate(
                "() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
            report["stylesheets"] = page.evaluate("() => document.styleSheets.length")
            report["player"] = page.evaluate("() => !!document.querySelector('audio#player')")
            report["failed"] = real_failures(seen)
            report["external"] = seen["external"]
            report["console_errors"] = seen["console_errors"]
            browser.close()
    finally:
        demo.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out.write_text(json.dumps(report, indent=2))
    return report


def unshare_prefix() -> list[str] | None:
    """A command prefix that runs in a new network namespace with only loopback up, if this machine allows it."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return None
    flags = "-n" if os.geteuid() == 0 else "-rn"
    probe = subprocess.run(["unshare", flags, "sh", "-c", "ip link set lo up && ip -o link | grep -vc ': lo:'"],
                           capture_output=True, text=True)
    # the count of non-loopback links must be 0 (grep -c prints 0 and exits 1)
    if probe.stdout.strip() != "0":
        return None
    return ["unshare", flags, "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


def assert_rendered(report: dict) -> None:
    assert report["player"], report
    assert set(report["tabs"]) == set(TABS) and all(n > 0 for n in report["tabs"].values()), report["tabs"]
    assert report["fonts"] == "loaded", report
    assert report["stylesheets"] > 0 and not report["broken_images"], report
    assert not report["failed"], report["failed"]
    assert not report["external"], report["external"]


@pytest.mark.slow
def test_page_renders_completely_with_network_cut(artifacts):
    out = artifacts / "ui_browser" / "offline-render.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = unshare_prefix()
    if prefix is None:  # no network namespaces here: refuse every non-loopback request in the browser instead
        report = render_check(out, block_external=True)
        assert not report["blocked"], report["blocked"]
        assert_rendered(report)
        warnings.warn("unshare -n is not available here: checked with Playwright blocking non-loopback requests")
        return
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([*prefix, sys.executable, str(Path(__file__).resolve()), "--render-check", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["network"] == "loopback only", report
    assert_rendered(report)


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--render-check":
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout.splitlines()
        out = Path(argv[1])
        report = render_check(out)
        report["network"] = "loopback only" if all(": lo:" in ln for ln in links) else f"links: {links}"
        out.write_text(json.dumps(report, indent=2))
        print(json.dumps(report, indent=2))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
