"""`audiorag`: one subcommand per verb. Heavy modules are imported inside the command, so `--help` is instant.

Command-line code lives in this package (a module per verb, as mlx-lm); the logic it calls lives elsewhere."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Callable

# name → (help, "module:function" that adds arguments, "module:function" that runs)
COMMANDS: dict[str, tuple[str, str, str]] = {}


def command(name: str, help: str, impl: str, add: str = "add_arguments", run: str = "run") -> None:
    """Register a subcommand: `impl` is a module with `add(parser)` and `run(args) -> int` (exit code)."""
    COMMANDS[name] = (help, f"{impl}:{add}", f"{impl}:{run}")


command("ingest", "transcribe and index recordings or transcripts (files or folders)", "rag.cli.ingest")
command("transcribe", "transcribe one file to json, srt, vtt or txt (no indexing)", "rag.cli.transcribe")
command("list", "list the episodes in the library", "rag.cli.list_episodes")
command("export", "export an episode's transcript as srt, vtt, json or md", "rag.cli.export")
command("delete", "delete episodes: rows, vectors, audio copy, exports and uploads together", "rag.cli.delete")
command("optimize", "compact the library, prune old versions, sweep orphans; say what was freed", "rag.cli.optimize")
command("reindex", "re-embed every episode with the configured embedding model", "rag.cli.reindex")
command("speakers", "list, rename and recognise an episode's speakers (--profiles: voices known across episodes)", "rag.cli.speakers")
command("search", "hybrid search: the best matching moments, with episode and time", "rag.cli.search")
command("ask", "answer a question from the library, citing [Episode @ mm:ss]", "rag.cli.ask")
command("chat", "multi-turn questions about the library (follow-ups understood)", "rag.cli.chat")
command("chats", "list, export (md, json), rename or delete the conversations kept in the library", "rag.cli.chats")
command("summarize", "write summary, title, description, tags and chapters for episodes", "rag.cli.summarize")
command("eval", "score spoken question answering against a manifest with gold time windows", "rag.cli.eval")
command("serve", "start the web app (Library, Episode, Ask, Search, Models, Benchmarks) on 127.0.0.1", "ui.serve")
command("bench", "measure ASR, embeddings, search, LLM and ingest on this machine; keep the history", "rag.cli.bench")
command("doctor", "check platform, MLX, BLAS speed, ffmpeg, models, data dir and servers; say what leaves this machine", "rag.cli.doctor")
command("models", "pull, list and verify model packs", "rag.cli.models")
command("gc", "apply the retention settings: delete audio copies older than N days, keep transcripts", "rag.cli.gc")
command("audit", "the audit log: every call to a server and every deletion (when, host, bytes; never content)", "rag.cli.audit")
command("vocab", "names and terms to spell as given: add, list, remove (library-wide or per episode)", "rag.cli.vocab")
command("finetune", "train a LoRA adapter for the text model on the library's transcripts (or your JSONL)", "rag.cli.finetune")
command("corrections", "export the transcript corrections as JSONL (heard, corrected, episode and time)", "rag.cli.corrections")
command("servers", "start, stop and check the OpenAI-compatible servers (mlx-lm, faster-whisper, vllm) on 127.0.0.1", "rag.cli.servers")
command("features", "what can be done with an episode (transcription, summary, question; from the transcript or "
        "its audio) and whether it can run here", "rag.cli.features")
command("run", "run one feature on an episode: audiorag run question EPISODE \"…\" [--via voxtral]", "rag.cli.features",
        add="add_run_arguments", run="run_feature")
command("plugins", "list the backends installed for each role (ours and other packages')", "rag.cli.plugins")


def _resolve(ref: str) -> Callable[..., Any]:
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


def add_global_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("settings (override audiorag.toml and AUDIORAG_* env)")
    g.add_argument("--data-dir", help="library location: a folder or an s3:// URI")
    g.add_argument("--models-dir", help="model pack cache")
    g.add_argument("--asr-model", help="ASR model: pack name, local folder or hub id")
    g.add_argument("--asr-backend", help="ASR backend: auto, mlx, ctranslate2, openai")
    g.add_argument("--llm-model", help="LLM: pack name, local folder or hub id")
    g.add_argument("--llm-backend", help="LLM backend: auto (llamacpp on Linux x86_64, else mlx), mlx, llamacpp, openai")
    g.add_argument("--embed-model", help="embedding model: pack name, local folder or hub id")


def settings_from_args(args: argparse.Namespace):
    from rag.settings import load_settings, set_settings

    role = lambda **kw: {k: v for k, v in kw.items() if v is not None} or None  # noqa: E731
    llm_model = getattr(args, "llm_model", None)  # a model named on the command line does every task
    s = load_settings(
        data_dir=getattr(args, "data_dir", None),
        models_dir=getattr(args, "models_dir", None),
        asr=role(model=getattr(args, "asr_model", None), backend=getattr(args, "asr_backend", None)),
        llm=role(model=llm_model, answer_model=llm_model, summary_model=llm_model,
                 backend=getattr(args, "llm_backend", None), adapter=getattr(args, "adapter", None)),
        embed=role(model=getattr(args, "embed_model", None)),
        diarize=role(mode=getattr(args, "diarize", None), speakers=getattr(args, "speakers", None)),
    )
    set_settings(s)
    return s


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiorag",
        description="Local-first audio library: transcribe recordings, ask questions, get answers that cite the moment.",
    )
    from rag import __version__

    parser.add_argument("--version", action="version", version=f"audiorag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_, add_ref, _run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        _resolve(add_ref)(p)
        add_global_options(p)
    return parser


def emit(text: str, output: str | None) -> None:
    """Write a command's result to `output` (saying so on stderr), or to stdout."""
    if output:
        from pathlib import Path

        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str, ensure_ascii=False))


def find_episode(store, ref: str):
    """The episode `ref` names (id, unique id prefix or title), or None after one `error:` line saying so."""
    from rag.store_search import no_episode

    ep = store.find_episode(ref)
    if ep is None:
        print(f"error: {no_episode(ref)}", file=sys.stderr)
    return ep


def dash_paths(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """A file whose name starts with '-' (`audiorag ingest -take1.wav`) given as `./-take1.wav`, so argparse does
    not read it as an option; only for names that exist and are not an option of the command. After `--`,
    everything is a path already."""
    import os

    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if not argv or sub is None or argv[0] not in sub.choices:
        return argv
    options = set(sub.choices[argv[0]]._option_string_actions)
    out = [argv[0]]
    for i, arg in enumerate(argv[1:], 1):
        if arg == "--":
            return out + argv[i:]
        known = arg in options or arg.split("=", 1)[0] in options
        out.append(f"./{arg}" if arg.startswith("-") and arg != "-" and not known and os.path.lexists(arg) else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(dash_paths(parser, list(sys.argv[1:] if argv is None else argv)))
    if not args.command:
        parser.print_help()
        return 0

    def run() -> int:
        settings_from_args(args)
        return int(_resolve(COMMANDS[args.command][2])(args) or 0)

    return guarded(run)


def guarded(run: Callable[[], int | None]) -> int:
    """Run a command: a user-facing error is one `error:` line and exit 2, Ctrl-C exit 130 (every front door)."""
    from rag.errors import AudioragError, display

    try:
        return int(run() or 0)
    except AudioragError as exc:
        print(f"error: {display(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
