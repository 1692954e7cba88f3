"""HTML and table rows for the web app: pure functions of the data, so they can be tested without a browser.

Every playable moment is one kind of link, understood by ui/player.js:

    <a class="play" href="/gradio_api/file=<audio>#t=<seconds>&ep=<episode id>" data-episode=… data-start=… data-src=…>

The facts live in the href because the Chatbot's HTML sanitiser strips `data-*` attributes but keeps a same-origin
href; the data attributes are there for everything else (and for tests). A link with the class `open` also opens
the episode in the Episode tab. An episode without audio (an imported transcript) gets a link with an empty path:
it still opens the episode, it just has nothing to play.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Iterable
from urllib.parse import quote

from rag.schema import Episode, Segment, citation_label, format_ts, unshown

FILE_ROUTE = "/gradio_api/file="

SrcFor = Callable[[str], str]  # episode id → URL of its audio ("" when it has none)


def audio_url(path: str | None) -> str:
    """The URL Gradio serves a local file under (the file must be inside the app's allowed_paths)."""
    if not path:
        return ""
    return FILE_ROUTE + quote(str(path), safe="/")


def play_href(src: str, start: float, episode_id: str) -> str:
    return f"{src}#t={max(0.0, start):.2f}&ep={quote(episode_id, safe='')}"


def play_link(label: str, *, src: str, start: float, episode_id: str, title: str = "", open_episode: bool = False,
              extra_class: str = "") -> str:
    """A link that plays `src` from `start` (and, with `open_episode`, opens the episode too). `label` is HTML."""
    classes = " ".join(c for c in ("play", "open" if open_episode else "", extra_class) if c)
    return (
        f'<a class="{classes}" href="{html.escape(play_href(src, start, episode_id))}" '
        f'data-episode="{html.escape(episode_id)}" data-start="{max(0.0, start):.2f}" '
        f'data-src="{html.escape(src)}" data-title="{html.escape(title)}">{label}</a>'
    )


def citation_link(c, src_for: SrcFor) -> str:
    """A citation (anything with episode_id, title, start) as a link that opens the episode and plays the moment."""
    return play_link(html.escape(citation_label(c.title, c.start, getattr(c, "speaker", None))),
                     src=src_for(c.episode_id), start=c.start,
                     episode_id=c.episode_id, title=c.title, open_episode=True, extra_class="cite")


def answer_parts(text: str, citations: Iterable, src_for: SrcFor) -> tuple[str, list[str]]:
    """The answer text (escaped) with its `[Title @ mm:ss]` labels made into links, and links for the citations
    the text does not show (rag.schema.unshown: each moment is linked once).

    The answer text is escaped: what the model wrote is shown, never interpreted as HTML. The labels in it were
    put there by our code from the citations (rag.answer), so each one maps to a citation."""
    citations = list(citations)
    links = {html.escape(citation_label(c.title, c.start, getattr(c, "speaker", None))): citation_link(c, src_for)
             for c in reversed(citations)}  # the first citation of a label wins
    body = html.escape(text.strip())
    if links:  # one pass: a link already put in is never searched again (no link inside a link)
        body = re.sub("|".join(map(re.escape, sorted(links, key=len, reverse=True))), lambda m: links[m[0]], body)
    return body.replace("\n", "  \n"), [citation_link(c, src_for) for c in unshown(text.strip(), citations)]


def answer_markdown(text: str, citations: Iterable, src_for: SrcFor) -> str:
    """The chat message for a final answer: its text with playable citations, then the sources it does not cite
    in the text."""
    body, rest = answer_parts(text, citations, src_for)
    return body + ("\n\n**Sources:** " + " ".join(rest) if rest else "")


def passages_html(passages: list[dict], src_for: SrcFor, heading: str = "Retrieved passages") -> str:
    """The panel beside the chat: what retrieval found, best first, each playable."""
    if not passages:
        return f'<div class="passages"><h4>{html.escape(heading)}</h4><p class="muted">Nothing retrieved yet.</p></div>'
    items = []
    for p in passages:
        link = play_link(html.escape(citation_label(p["title"], p["start"], p.get("speaker"))), src=src_for(p["episode_id"]),
                         start=p["start"], episode_id=p["episode_id"], title=p["title"], open_episode=True)
        score = f'<span class="score">score {p["score"]:.2f}</span>' if "score" in p else ""
        items.append(f'<li>{link} {score}<div class="ptext">{html.escape(p["text"].strip())}</div></li>')
    return f'<div class="passages"><h4>{html.escape(heading)}</h4><ol>{"".join(items)}</ol></div>'


def search_html(query: str, passages: list[dict], src_for: SrcFor) -> str:
    """Search results: timestamp (plays here), the matching text, and a link to open the episode."""
    if not query.strip():
        return '<div class="results"><p class="muted">Type a query to search the library.</p></div>'
    if not passages:
        return f'<div class="results"><p>No results for <b>{html.escape(query)}</b>.</p></div>'
    rows = []
    for p in passages:
        play = play_link(f"▶ {format_ts(p['start'])}–{format_ts(p['end'])}", src=src_for(p["episode_id"]),
                         start=p["start"], episode_id=p["episode_id"], title=p["title"])
        opener = play_link(html.escape(p["title"]), src=src_for(p["episode_id"]), start=p["start"],
                           episode_id=p["episode_id"], title=p["title"], open_episode=True, extra_class="title")
        weak = ' <span class="muted">(weak)</span>' if p.get("weak") else ""
        rows.append(f'<li class="hit">{play} {opener}{weak}<div class="ptext">{html.escape(p["text"].strip())}</div></li>')
    if any(p.get("weak") for p in passages):
        head = f'No strong match for <b>{html.escape(query)}</b> in your library. The nearest passages, weak:'
    else:
        head = f'{len(passages)} result(s) for <b>{html.escape(query)}</b>'
    return f'<div class="results"><p>{head}</p><ol>{"".join(rows)}</ol></div>'


PARAGRAPH_GAP = 1.2  # seconds of silence after a sentence that start a new paragraph
PARAGRAPH_SECONDS = 45.0  # a paragraph this long ends at its next sentence end


def speaker_label(segment: Segment) -> str:
    """The label a paragraph carries (empty when the transcript has no speakers)."""
    return segment.speaker or ""


def paragraphs(segments: list[Segment]) -> list[list[Segment]]:
    """Segments grouped into paragraphs: a new one after a sentence end followed by a pause (or once a paragraph
    is long), and whenever the speaker changes."""
    from rag.textnorm import ends_sentence

    out: list[list[Segment]] = []
    for s in segments:
        if out:
            prev, para = out[-1][-1], out[-1]
            sentence_break = ends_sentence(prev.text) and (
                s.start - prev.end >= PARAGRAPH_GAP or s.start - para[0].start >= PARAGRAPH_SECONDS)
            if not (sentence_break or speaker_label(s) != speaker_label(prev)):
                para.append(s)
                continue
        out.append([s])
    return out


def _line_text(s: Segment) -> str:
    """A line's text; with word times (and words that still spell the text), one span per word, so the page can
    follow the audio word by word."""
    if s.words and " ".join(w.word.strip() for w in s.words) == " ".join(s.text.split()):
        return " ".join(f'<span class="w" data-t="{w.start:.2f}">{html.escape(w.word.strip())}</span>'
                        for w in s.words)
    return html.escape(s.text.strip())


def transcript_html(episode: Episode, segments: list[Segment], src: str, edited: set[int] | None = None) -> str:
    """The transcript as left-aligned paragraphs of clickable lines (one per segment: a click plays from its
    start; ui/player.js highlights the line being played). Edited lines are marked and can be reverted."""
    if not segments:
        return '<div class="transcript"><p class="muted">No transcript.</p></div>'
    from rag.voices import shown_speaker
    from ui.speakers import speaker_tag

    edited = edited or set()
    paras = []
    order = list(dict.fromkeys(speaker_label(s) for s in segments if speaker_label(s)))
    for para in paragraphs(segments):
        who = shown_speaker(speaker_label(para[0]), set(order)) or ""
        head = f'<span class="ts">{format_ts(para[0].start)}</span>'
        if who:
            head += f" {speaker_tag(who, order)}"  # each voice in its colour (ui/speakers.py)
        lines = []
        for s in para:
            mark = ' <a class="revert" title="Back to the original text" data-seg="%d">↺</a>' % s.id if s.id in edited else ""
            link = play_link(f'<span class="txt">{_line_text(s)}</span>', src=src, start=s.start,
                             episode_id=episode.id, title=episode.title,
                             extra_class="seg edited" if s.id in edited else "seg")
            lines.append(link.replace("<a ", f'<a data-end="{s.end:.2f}" data-seg="{s.id}" ', 1) + mark)
        paras.append(f'<p class="para" data-speaker="{html.escape(who)}">{head} {" ".join(lines)}</p>')
    return f'<div class="transcript" data-episode="{html.escape(episode.id)}">{"".join(paras)}</div>'


def episode_header_html(episode: Episode, src: str) -> str:
    """Title line, facts and a play-from-start link for the Episode tab."""
    facts = [
        format_ts(episode.duration or 0),
        episode.language or "",
        episode.created.strftime("%Y-%m-%d"),
        episode.status,
        episode.asr_model or "",
    ]
    facts_html = " · ".join(html.escape(f) for f in facts if f)
    tags = "".join(f'<span class="tag">{html.escape(t)}</span>' for t in episode.tags)
    play = (play_link("▶ Play from the start", src=src, start=0.0, episode_id=episode.id, title=episode.title,
                      extra_class="start") if src else '<span class="muted">no audio linked to this transcript</span>')
    return (f'<div class="ep-head" data-episode="{html.escape(episode.id)}" data-src="{html.escape(src)}">'
            f'<h2>{html.escape(episode.title)}</h2><p class="facts">{facts_html}</p><p>{tags}</p><p>{play}</p>'
            f'<p class="muted small">id {html.escape(episode.id)} · from {html.escape(source_name(episode.source))}'
            '</p></div>')


def source_name(source: str) -> str:
    """What the page shows of where an episode came from: the file's name, never a path inside the library or
    on the server."""
    return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source


def meta_html(episode: Episode, src: str) -> str:
    """Summary, description and chapters (chapter starts are playable)."""
    if not (episode.summary or episode.description or episode.chapters):
        return '<div class="meta"><p class="muted">No summary yet: press “Generate summary”.</p></div>'
    parts = ['<div class="meta">']
    if episode.description:
        parts.append(f'<p class="desc"><i>{html.escape(episode.description)}</i></p>')
    if episode.summary:
        parts.append(f'<h4>Summary</h4><p>{html.escape(episode.summary)}</p>')
    if episode.chapters:
        items = "".join(
            f'<li>{play_link(format_ts(c.start), src=src, start=c.start, episode_id=episode.id, title=episode.title)} '
            f'{html.escape(c.title)}</li>'
            for c in episode.chapters
        )
        parts.append(f"<h4>Chapters</h4><ul class='chapters'>{items}</ul>")
    parts.append("</div>")
    return "".join(parts)


PROVIDER_WORDS = {"whisper": "with Whisper", "transcript": "from the transcript", "voxtral": "from the audio (Voxtral)"}


def features_html(rows: list[dict]) -> str:
    """What can be done with this episode (rag.features.listing), each with where it runs or why it cannot."""
    items = []
    for r in rows:
        mark, note = ("✓", r["where"]) if r["available"] else ("–", r["reason"])
        how = PROVIDER_WORDS.get(r["provider"], f'by {r["provider"]}')
        items.append(f'<li class="{"ok" if r["available"] else "off"}">{mark} {html.escape(r["feature"])} '
                     f'<span class="muted">{html.escape(how)}: {html.escape(note)}</span></li>')
    return f'<div class="features"><h4>What can be done here</h4><ul>{"".join(items)}</ul></div>'


EPISODE_COLUMNS = ["title", "duration", "date", "language", "tags", "status", "id"]


def episode_rows(episodes: Iterable[Episode]) -> list[list[str]]:
    """Rows for the Library table, newest first."""
    eps = sorted(episodes, key=lambda e: e.created, reverse=True)
    return [
        [e.title, format_ts(e.duration or 0), e.created.strftime("%Y-%m-%d %H:%M"), e.language or "",
         ", ".join(e.tags), e.status, e.id[:12]]
        for e in eps
    ]


def episode_choices(episodes: Iterable[Episode]) -> list[tuple[str, str]]:
    """(label, id) pairs for dropdowns; labels carry a short id so equal titles stay distinguishable."""
    return [(f"{e.title} · {e.id[:8]}", e.id) for e in sorted(episodes, key=lambda e: e.title.lower())]


STAGE_LABELS = {"queued": "waiting", "staging": "copying into the library", "decode": "decoding",
                "transcribe": "transcribing", "import": "reading transcript", "enhance": "cleaning up text",
                "chunk": "chunking", "embed": "embedding", "store": "writing", "done": "done"}


def progress_html(rows: list[dict]) -> str:
    """Per-file progress while a batch is ingested: name, stage, a bar, and the result when known."""
    if not rows:
        return ""
    out = ['<table class="ingest-progress"><tr><th>file</th><th>progress</th><th>status</th></tr>']
    for r in rows:
        frac = max(0.0, min(1.0, r.get("fraction", 0.0)))
        status = r.get("status") or STAGE_LABELS.get(r.get("stage", ""), r.get("stage", ""))
        if not r.get("status") and r.get("left") is not None:
            status += f" · about {format_ts(r['left'])} left"
        cls = {"ingested": "ok", "unchanged": "ok", "failed": "bad", "skipped": "warn"}.get(r.get("status", ""), "")
        reason = f'<div class="small">{html.escape(r["reason"])}</div>' if r.get("reason") else ""
        out.append(
            f'<tr data-file="{html.escape(r["name"])}" data-status="{html.escape(r.get("status") or "")}">'
            f'<td>{html.escape(r["name"])}</td>'
            f'<td><div class="bar {cls}"><div style="width:{frac * 100:.0f}%"></div></div></td>'
            f'<td class="{cls}">{html.escape(status)}{reason}</td></tr>'
        )
    out.append("</table>")
    return "".join(out)


# -- the Ask tab ---------------------------------------------------------------------------------------------------
STATE_LABELS = {"queued": "Queued", "retrieving": "Retrieving passages…", "answering": "Answering…",
                "done": "Done", "stopped": "Stopped", "idle": "Ready"}


def figures(model: str | None = None, ttft: float | None = None, tps: float | None = None) -> str:
    """`gemma-3-270m · first token 0.41 s · 12.3 tokens/s` (the parts that are known)."""
    parts = [model or ""]
    if ttft is not None:
        parts.append(f"first token {ttft:.2f} s")
    if tps is not None:
        parts.append(f"{tps:.1f} tokens/s")
    return " · ".join(p for p in parts if p)


def turn_messages(turn, src_for: SrcFor) -> list[dict]:
    """One stored turn (rag.schema.ChatTurn) as the chat's two messages, citations playable."""
    body = answer_markdown(turn.answer, turn.citations, src_for)
    if turn.stopped:
        body += "\n\n*Stopped.*"
    figs = figures(turn.model, turn.ttft, turn.tps)
    if figs:
        body += f'\n\n<small class="figs">{html.escape(figs)}</small>'
    return [{"role": "user", "content": html.escape(turn.question)}, {"role": "assistant", "content": body}]


def live_messages(question: str, confirmed: str, draft: str = "", state: str = "retrieving") -> list[dict]:
    """The answer being written: text already checked against the transcript, then the model's newest words
    (provisional, in a <span class="draft"> tag the page styles, until they are checked)."""
    body = html.escape(confirmed.strip()).replace("\n", "  \n")
    if draft.strip():
        body += (" " if body else "") + f'<span class="draft">{html.escape(draft.strip())}</span>'
    if not body:
        body = f'<span class="draft">{html.escape(STATE_LABELS.get(state, state))}</span>'
    return [{"role": "user", "content": html.escape(question)}, {"role": "assistant", "content": body}]


def queued_messages(questions: list[str]) -> list[dict]:
    return [{"role": "user", "content": f'{html.escape(q)}\n\n<small class="queued">queued, answered next</small>'}
            for q in questions]


def ask_status_html(state: str = "idle", figs: str = "", waiting: int = 0) -> str:
    """The line under the chat: what the answer is doing, its figures, and how many questions wait."""
    parts = [f"<b>{html.escape(STATE_LABELS.get(state, state))}</b>"]
    if figs:
        parts.append(html.escape(figs))
    if waiting:
        parts.append(f"{waiting} question{'s' if waiting > 1 else ''} queued")
    return f'<div class="ask-status" data-state="{html.escape(state)}">{" · ".join(parts)}</div>'


CHAT_COLUMNS = ["title", "updated", "questions", "id"]


def chat_rows(conversations) -> list[list]:
    return [[c.title, c.updated.strftime("%Y-%m-%d %H:%M"), len(c.turns), c.id] for c in conversations]
