// One audio player for the whole page (#player, outside the tabs so switching tabs never stops it).
// Every playable moment in the app is a link `<a class="play" href="<audio url>#t=<seconds>&ep=<episode id>">`
// (see ui/render.py); a click plays that audio from that second. Links with the class `open` also open the
// episode in the Episode tab, through the hidden #open-episode textbox that the Python side listens to.
(function () {
  if (window.audiorag) return;

  function player() { return document.getElementById("player"); }

  function same(a, b) {
    if (!a || !b) return false;
    try {
      return decodeURIComponent(new URL(a, location.href).href) === decodeURIComponent(new URL(b, location.href).href);
    } catch (e) { return a === b; }
  }

  function setTitle(title) {
    const el = document.getElementById("now-playing");
    if (el && title) el.textContent = title;
  }

  function play(src, t, ep, title) {
    const p = player();
    if (!p || !src) return;
    const start = Math.max(0, Number.isFinite(t) ? t : 0);
    p.dataset.episode = ep || "";
    setTitle(title);
    const go = () => {
      p.currentTime = start;
      const pr = p.play();
      if (pr && pr.catch) pr.catch(() => {});
    };
    if (!same(p.src, src)) {
      p.src = src;
      p.addEventListener("loadedmetadata", go, { once: true });
      p.load();
    } else if (p.readyState >= 1) {
      go();
    } else {
      p.addEventListener("loadedmetadata", go, { once: true });
    }
  }

  // Put an episode in the player without playing it, unless something is playing now.
  function load(src, ep, title) {
    const p = player();
    if (!p || !src || same(p.src, src)) return;
    if (!p.paused && !p.ended) return;
    p.src = src;
    p.dataset.episode = ep || "";
    setTitle(title);
  }

  function openEpisode(ep) {
    const box = document.querySelector("#open-episode textarea, #open-episode input");
    if (!box || !ep) return;
    // A nonce makes every click a change, even for the episode that is already open.
    box.value = ep + "|" + Date.now();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function parse(a) {
    const href = a.getAttribute("href") || "";
    const hash = href.indexOf("#");
    const params = new URLSearchParams(hash >= 0 ? href.slice(hash + 1) : "");
    return {
      src: a.dataset.src !== undefined ? a.dataset.src : (hash >= 0 ? href.slice(0, hash) : href),
      t: parseFloat(a.dataset.start !== undefined ? a.dataset.start : (params.get("t") || "0")),
      ep: a.dataset.episode !== undefined ? a.dataset.episode : (params.get("ep") || ""),
      title: a.dataset.title || a.textContent.replace(/^\[|\]$/g, "").trim(),
    };
  }

  // The transcript line being played is highlighted and kept in view (lines carry data-start, see ui/render.py).
  function follow() {
    const p = player();
    const box = document.querySelector("#ep-transcript .transcript");
    if (!p || !box || box.dataset.episode !== p.dataset.episode) return;
    let cur = null;
    for (const a of box.querySelectorAll("a.seg")) {
      if (parseFloat(a.dataset.start) <= p.currentTime + 0.05) cur = a; else break;
    }
    let word = null;  // word by word, where the line has word times
    if (cur) for (const w of cur.querySelectorAll("span.w")) { if (parseFloat(w.dataset.t) <= p.currentTime + 0.05) word = w; else break; }
    const was = box.querySelector("span.w.now");
    if (was !== word) { if (was) was.classList.remove("now"); if (word) word.classList.add("now"); }
    const old = box.querySelector("a.seg.playing");
    if (old === cur) return;
    if (old) old.classList.remove("playing");
    if (!cur) return;
    cur.classList.add("playing");
    const top = cur.offsetTop - box.offsetTop;
    if (!editing() && (top < box.scrollTop || top > box.scrollTop + box.clientHeight - 40)) {
      box.scrollTop = Math.max(0, top - box.clientHeight / 3);
    }
  }
  document.addEventListener("timeupdate", follow, true);  // media events do not bubble; capture sees them

  // Editing the transcript: with "Edit text" ticked, a click on a line edits it in place; Enter or leaving the
  // line saves it, Escape cancels, ↺ goes back to the original. Edits reach Python through #seg-edit.
  function editing() {
    const box = document.getElementById("ep-transcript");
    return !!(box && box.classList.contains("editing"));
  }

  function sendEdit(ep, seg, text, revert) {
    const box = document.querySelector("#seg-edit textarea, #seg-edit input");
    if (!box) return;
    box.value = JSON.stringify({ep: ep, seg: seg, text: text, revert: !!revert, nonce: Date.now()});
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function editLine(a) {
    const txt = a.querySelector(".txt");
    if (!txt || txt.isContentEditable) return;
    const before = txt.textContent;
    txt.contentEditable = "true";
    txt.focus();
    const done = (save) => {
      txt.removeEventListener("blur", onBlur);
      txt.removeEventListener("keydown", onKey);
      txt.contentEditable = "false";
      const after = txt.textContent.trim();
      if (save && after && after !== before.trim()) {
        sendEdit(a.closest(".transcript").dataset.episode, parseInt(a.dataset.seg, 10), after, false);
      } else {
        txt.textContent = before;
      }
    };
    const onBlur = () => done(true);
    const onKey = (e) => {
      if (e.key === "Enter") { e.preventDefault(); done(true); }
      if (e.key === "Escape") { e.preventDefault(); done(false); }
    };
    txt.addEventListener("blur", onBlur);
    txt.addEventListener("keydown", onKey);
  }

  document.addEventListener("change", function (e) {
    const box = document.getElementById("ep-transcript");
    if (box && e.target.closest && e.target.closest("#ep-edit")) box.classList.toggle("editing", e.target.checked);
  }, true);

  document.addEventListener("click", function (e) {
    const rev = e.target.closest && e.target.closest("#ep-transcript a.revert");
    if (rev) {
      e.preventDefault();
      e.stopPropagation();
      sendEdit(rev.closest(".transcript").dataset.episode, parseInt(rev.dataset.seg, 10), "", true);
      return;
    }
    const a = e.target.closest && e.target.closest("a.play");
    if (!a) return;
    if (editing() && a.classList.contains("seg")) {
      e.preventDefault();
      e.stopPropagation();
      editLine(a);
      return;
    }
    e.preventDefault();
    e.stopPropagation();
    const m = parse(a);
    play(m.src, m.t, m.ep, m.title);
    if (a.classList.contains("open")) openEpisode(m.ep);
  }, true);

  window.audiorag = { play: play, load: load, openEpisode: openEpisode, parse: parse };
})();
