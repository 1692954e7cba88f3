"""`audiorag search | ask | chat | summarize | eval`: the read side on the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from rag.schema import format_ts, unshown


def _date(value: str) -> datetime:
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


def _fail(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


# -- search ------------------------------------------------------------------------------------------------------
def add_speaker_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--speaker", help="only what this speaker says (a name given with `audiorag speakers`, or S1…)")


def add_search(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="what to look for (words or a question)")
    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--tag", action="append", dest="tags", help="only episodes with this tag (repeatable)")
    p.add_argument("--since", type=_date, help="only episodes added on or after this date (YYYY-MM-DD)")
    p.add_argument("--until", type=_date, help="only episodes added before this date (YYYY-MM-DD)")
    p.add_argument("-k", type=int, default=5, help="how many results (default 5)")
    add_speaker_option(p)
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def run_search(args: argparse.Namespace) -> int:
    from rag.answerable import search_floor
    from rag.schema import citation_label
    from rag.search import SearchError, search

    try:
        res = search(args.query, k=args.k, episode=args.episode, tags=args.tags, since=args.since, until=args.until,
                     speaker=args.speaker)
    except SearchError as exc:
        return _fail(exc)
    strong, hits = search_floor(res)
    if args.json:
        from rag.cli import print_json

        print_json({"query": res.query, "strong": strong, "results": hits})
        return 0
    if not hits:
        print("no results", file=sys.stderr)
        return 0
    if not strong:
        print(f"No strong match for {res.query!r} in your library. The nearest passages, weak:")
    for i, p in enumerate(hits, 1):
        weak = "  (weak)" if p.get("weak") else ""
        label = citation_label(p["title"], p["start"], p.get("speaker"))
        print(f"{i}. {label}  {format_ts(p['start'])}–{format_ts(p['end'])}  "
              f"score {p['score']:.2f}{weak}  ({p['episode_id'][:12]})")
        print(f"   {p['text']}")
    return 0


# -- ask ---------------------------------------------------------------------------------------------------------
def add_ask(p: argparse.ArgumentParser) -> None:
    p.add_argument("question")
    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--mode", choices=["hybrid", "extractive", "generative"],
                   help="extractive: transcript quotes, no LLM (the default when the answering model is "
                        "smollm2-135m-instruct: measured too weak, see docs/answers.md); hybrid: a short model answer checked against the transcript, "
                        "then the quotes (the default for other models); generative: the checked model answer only")
    p.add_argument("-k", type=int, default=5, help="passages to retrieve (default 5)")
    add_speaker_option(p)
    p.add_argument("--json", action="store_true",
                   help="print {answer, abstained, citations: [{episode_id, title, start, end, text}]}")
    p.add_argument("--audio", metavar="EPISODE",
                   help="ask this episode's audio itself through a Voxtral server at llm.base_url "
                        "(see docs/scaling.md)")
    from rag.chat_commands import add_answer_options

    add_answer_options(p)


def answer_json(answer, query: str | None = None) -> dict:
    """{answer, abstained, lead, lead_by_model, span, query, scope, reason, citations}: the parts an app lays out."""
    return answer.to_dict(query)


def print_sources(answer, out=None) -> None:
    """The cited moments the answer text does not show already (each moment's link appears once)."""
    out = out or sys.stdout  # looked up now: sys.stdout may have been replaced since import
    rest = unshown(answer.answer, answer.citations)
    if not rest or answer.abstained:
        return
    print("\nSources:", file=out)
    for i, c in enumerate(rest, 1):
        print(f"  {i}. {c.label}  {c.episode_id[:12]} {format_ts(c.start)}–{format_ts(c.end)}", file=out)


def stream_events(events, out=None):
    """Print answer tokens as they arrive; return (final Answer, standalone query)."""
    out = out or sys.stdout
    final, query = None, None
    for ev in events:
        if ev["type"] == "token":
            out.write(ev["text"])
            out.flush()
        elif ev["type"] == "query":
            query = ev["text"]
        elif ev["type"] == "warning":
            print(f"warning: {ev['text']}", file=sys.stderr)
        elif ev["type"] == "final":
            final = ev["answer"]
    out.write("\n")
    return final, query


def run_ask(args: argparse.Namespace) -> int:
    if getattr(args, "audio", None):
        from rag.voxtral import run_audio_ask

        return run_audio_ask(args)
    from rag.chat_commands import answer_settings
    from rag.search import SearchError
    from rag.stream import live_answer

    opts = answer_settings(args)
    try:
        events = live_answer(args.question, episode=args.episode, opts=opts, speaker=args.speaker)
        if args.json:
            from rag.cli import print_json

            final = next(ev["answer"] for ev in events if ev["type"] == "final")
            print_json(answer_json(final))
            return 0
        final, _ = stream_events(events)
    except SearchError as exc:
        return _fail(exc)
    if final is not None:
        print_sources(final)
    return 0


# -- chat --------------------------------------------------------------------------------------------------------
def add_chat(p: argparse.ArgumentParser) -> None:
    from rag.chat_commands import add_answer_options

    p.add_argument("--episode", "-e", help="only this episode (id, unique id prefix, or title)")
    p.add_argument("--mode", choices=["hybrid", "extractive", "generative"], help="see `audiorag ask --help`")
    p.add_argument("-k", type=int, help="passages to retrieve (default 5)")
    p.add_argument("--resume", metavar="ID", help="continue a stored conversation (audiorag chats list)")
    add_answer_options(p)


def _history_file():
    """Readline history beside the library (a local user state dir when the library is remote)."""
    from pathlib import Path

    from rag.settings import get_settings

    settings = get_settings()
    if settings.is_remote_store:
        from platformdirs import user_state_dir

        d = Path(user_state_dir("audiorag"))
    else:
        d = Path(settings.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d / "chat_history"


def run_chat(args: argparse.Namespace) -> int:
    from rag.search import SearchError

    try:
        import readline
    except ImportError:  # Windows
        readline = None
    hist = _history_file()
    if readline is not None:
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
        readline.set_history_length(1000)
    from rag.chat_commands import answer_settings
    from rag.chats import Chats, answer_turn
    from rag.store import Store

    chats = Chats(Store())
    conv = chats.get(args.resume) if args.resume else None
    if conv is not None:
        conv = chats.save(conv.model_copy(update={"settings": answer_settings(args, conv.settings)}))
        print(f"Resuming “{conv.title}” ({len(conv.turns)} question(s) so far).", file=sys.stderr)
    opts = conv.settings if conv is not None else answer_settings(args)
    scope = chats.store.find_episode(args.episode) if args.episode else None
    if args.episode and scope is None:
        return _fail(f"no episode matches '{args.episode}' (see: audiorag list)")
    print("Ask about your library. /reset starts a new conversation, /quit (or Ctrl-D) leaves.", file=sys.stderr)
    try:
        while True:
            try:
                line = input("you> ").strip()
            except EOFError:
                print(file=sys.stderr)
                break
            if not line:
                continue
            if readline is not None and not sys.stdin.isatty():
                readline.add_history(line)  # a terminal's input() records it already
            if line in ("/quit", "/exit", "/q"):
                break
            if line == "/reset":
                conv = None
                print("(conversation cleared)", file=sys.stderr)
                continue
            if conv is None:
                conv = chats.new(line, scope.id if scope else None, opts)
            try:
                final, query = stream_events(answer_turn(chats, conv.id, line))
            except SearchError as exc:
                _fail(exc)
                continue
            if query and query != line:
                print(f"(searched for: {query})", file=sys.stderr)
            if final is not None:
                print_sources(final)
            print()
        if conv is not None:
            print(f"(kept as conversation {conv.id}: audiorag chat --resume {conv.id})", file=sys.stderr)
    finally:
        if readline is not None:
            try:
                readline.write_history_file(hist)
            except OSError:
                pass
    return 0


# -- summarize ---------------------------------------------------------------------------------------------------
def add_summarize(p: argparse.ArgumentParser) -> None:
    p.add_argument("episode", nargs="?", help="episode id (or unique prefix) or title")
    p.add_argument("--all", action="store_true", help="every episode in the library")
    p.add_argument("--keep-title", action="store_true", help="never replace the episode's title")
    p.add_argument("--style", choices=["extractive", "abstractive"],
                   help="summary: extractive (default; central transcript sentences, map-reduce) or abstractive "
                        "(the LLM summarizes each part and combines them; checked, with extraction as fallback)")
    p.add_argument("--json", action="store_true", help="print the metadata as JSON")


def run_summarize(args: argparse.Namespace) -> int:
    from rag.store import Store
    from rag.summarize import DEFAULT_STYLE, SummarizeError, summarize_episode

    if bool(args.episode) == bool(args.all):
        print("error: give one EPISODE or --all", file=sys.stderr)
        return 2
    store = Store()
    refs = [e.id for e in store.list_episodes()] if args.all else [args.episode]
    results, failed = [], 0
    llm = None
    for ref in refs:
        try:
            if llm is None:
                from rag.llm import get_task_llm

                llm = get_task_llm(task="summary")
            meta, report = summarize_episode(ref, store=store, llm=llm, keep_title=args.keep_title,
                                             style=args.style or DEFAULT_STYLE,
                                             progress=lambda m, r=ref: print(f"{r[:12]}: {m}", file=sys.stderr))
        except SummarizeError as exc:
            failed += 1
            print(f"error: {ref[:12]}: {exc}", file=sys.stderr)
            continue
        results.append({"episode_id": store.find_episode(ref).id, **meta.model_dump(),
                        "from_model": report.model_fields, "fallback": report.fallback_fields})
        if not args.json:
            print(f"\n# {meta.title}\n{meta.description}\n\n{meta.summary}\n\ntags: {', '.join(meta.tags)}")
            for c in meta.chapters:
                print(f"  {format_ts(c.start)}  {c.title}")
            if report.fallback_fields:
                print(f"(extracted from the transcript, the model's answer did not validate: "
                      f"{', '.join(report.fallback_fields)})", file=sys.stderr)
    if args.json:
        from rag.cli import print_json

        print_json(results)
    return 1 if failed else 0


# -- eval --------------------------------------------------------------------------------------------------------
def add_eval(p: argparse.ArgumentParser) -> None:
    from rag.eval import add_arguments

    add_arguments(p)


def run_eval(args: argparse.Namespace) -> int:
    from rag.eval import run

    return run(args)
