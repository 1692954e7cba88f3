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

  document.addEventListener("click", function (e) {
    const a = e.target.closest && e.target.closest("a.play");
    if (!a) return;
    e.preventDefault();
    e.stopPropagation();
    const m = parse(a);
    play(m.src, m.t, m.ep, m.title);
    if (a.classList.contains("open")) openEpisode(m.ep);
  }, true);

  window.audiorag = { play: play, load: load, openEpisode: openEpisode, parse: parse };
})();
