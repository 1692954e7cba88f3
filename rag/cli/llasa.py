"""`llasa-cli`: the Llasa seed scripts' flags, on this project's code (the tasks are rag/llasa.py's)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = (
    "Text tasks with a local instruct LLM, using the flags of the Llasa seed scripts. Note: HKUST-Audio's Llasa-3B "
    "is a text-to-speech model (it turns text into speech tokens) and cannot do text work; the tasks below run on "
    "an mlx-lm instruct model (default: the smollm2-135m-instruct pack; --model picks another pack, a local MLX "
    "folder, or a hub id when AUDIORAG_ALLOW_DOWNLOADS=1)."
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llasa-cli", description=DESCRIPTION)
    task = p.add_mutually_exclusive_group()
    task.add_argument("--prompt", help="generate a reply to this prompt and print it (streamed)")
    task.add_argument("--chat", action="store_true", help="interactive chat with the LLM (/reset, /quit)")
    task.add_argument("--enhance-transcript", metavar="FILE",
                      help="clean punctuation, casing and fillers of a transcript (Whisper JSON, SRT, VTT, txt); "
                           "segment ids and times are kept")
    task.add_argument("--batch-enhance", nargs="+", metavar="GLOB", help="enhance every transcript matching the globs")
    task.add_argument("--task", choices=["describe-audio"],
                      help="describe-audio: title, description, summary, tags and chapters from --transcript")
    p.add_argument("--transcript", metavar="FILE", help="the transcript for --task describe-audio")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write the result here (format from the extension: .json, .srt, .vtt, .txt, .md)")
    p.add_argument("--output-dir", metavar="DIR", help="folder for --batch-enhance results")
    p.add_argument("--model", help="LLM: pack name, local MLX folder, or hub id (default: the configured LLM)")
    p.add_argument("--backend", choices=["auto", "mlx", "openai"], help="LLM backend (default: the configured one)")
    p.add_argument("--adapter", metavar="NAME",
                   help="a fine-tuned adapter (audiorag finetune) on its base model; runs on mlx-lm")
    p.add_argument("--max-tokens", type=int, default=256, help="most tokens to generate (--prompt/--chat)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy)")
    return p


def _llm(args):
    from rag.llasa import get_text_llm

    return get_text_llm(args.model, args.backend)


def _stream(llm, messages, args) -> str:
    from rag.llasa import reply_tokens

    out = []
    for tok in reply_tokens(llm, messages, args.max_tokens, args.temperature):
        sys.stdout.write(tok)
        sys.stdout.flush()
        out.append(tok)
    sys.stdout.write("\n")
    return "".join(out)


def run_prompt(args) -> int:
    from rag import prompts

    llm = _llm(args)
    _stream(llm, [{"role": "system", "content": prompts.CHAT_SYSTEM}, {"role": "user", "content": args.prompt}], args)
    return 0


def run_chat(args) -> int:
    from rag import prompts

    llm = _llm(args)
    try:
        import readline  # noqa: F401  (line editing for input())
    except ImportError:
        pass
    history = [{"role": "system", "content": prompts.CHAT_SYSTEM}]
    print("Chat with the LLM (no library). /reset clears, /quit or Ctrl-D leaves.", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        if not line:
            continue
        if line in ("/quit", "/exit", "/q"):
            return 0
        if line == "/reset":
            history = history[:1]
            continue
        history.append({"role": "user", "content": line})
        reply = _stream(llm, history, args)
        history.append({"role": "assistant", "content": reply.strip()})


def _write(transcript, output: Path | None) -> None:
    from rag.cli import emit
    from rag.llasa import transcript_text

    emit(transcript_text(transcript, output), str(output) if output is not None else None)


def _enhance(path: Path, llm, args):
    from rag.llasa import enhance_file

    res = enhance_file(path, llm, args.temperature)
    st = res.stats
    print(f"{path.name}: {st.segments} segments, {st.changed} cleaned, {st.accepted_batches}/{st.batches} batches "
          f"accepted" + (f", {st.kept_raw} lines kept raw" if st.kept_raw else ""), file=sys.stderr)
    for reason in st.reasons:
        print(f"  rejected {reason}", file=sys.stderr)
    return res.transcript


def run_enhance(args) -> int:
    path = Path(args.enhance_transcript)
    if not path.exists():
        print(f"error: {path}: file not found", file=sys.stderr)
        return 1
    transcript = _enhance(path, _llm(args), args)
    _write(transcript, Path(args.output) if args.output else None)
    return 0


def run_batch(args) -> int:
    from rag.llasa import match_files

    if not args.output_dir:
        print("error: --batch-enhance needs --output-dir DIR", file=sys.stderr)
        return 2
    files, unmatched = match_files(args.batch_enhance)
    for pattern in unmatched:
        print(f"warning: nothing matches {pattern}", file=sys.stderr)
    if not files:
        print("error: no transcript files matched", file=sys.stderr)
        return 1
    out_dir = Path(args.output_dir)
    llm = _llm(args)
    failed = 0
    for f in files:
        try:
            transcript = _enhance(f, llm, args)
            _write(transcript, out_dir / f"{f.stem}.json")
        except Exception as exc:  # noqa: BLE001 — one bad file never stops the batch
            failed += 1
            print(f"error: {f}: {exc}", file=sys.stderr)
    print(f"{len(files) - failed}/{len(files)} transcripts enhanced into {out_dir}", file=sys.stderr)
    return 1 if failed else 0


def run_describe(args) -> int:
    from rag.cli import emit
    from rag.llasa import describe_text, load_file
    from rag.summarize import SummarizeError, describe

    if not args.transcript:
        print("error: --task describe-audio needs --transcript FILE", file=sys.stderr)
        return 2
    path = Path(args.transcript)
    if not path.exists():
        print(f"error: {path}: file not found", file=sys.stderr)
        return 1
    transcript = load_file(path)
    try:
        meta = describe(transcript.segments, transcript.duration, llm=_llm(args),
                        progress=lambda m: print(m, file=sys.stderr))
    except SummarizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    emit(describe_text(meta, bool(args.output) and Path(args.output).suffix.lower() == ".md"), args.output)
    return 0


def main(argv: list[str] | None = None) -> int:
    from rag.cli import guarded

    parser = build_parser()
    args = parser.parse_args(argv)
    run = (run_prompt if args.prompt is not None else run_chat if args.chat else
           run_enhance if args.enhance_transcript else run_batch if args.batch_enhance else
           run_describe if args.task == "describe-audio" else None)
    if run is None:
        parser.print_help()
        return 0
    return guarded(lambda: run(_with_adapter(args)))


def _with_adapter(args):
    """--adapter NAME as llm.adapter for this run (rag.llm loads the adapter's base model with it)."""
    if getattr(args, "adapter", None):
        from rag.settings import get_settings, set_settings

        s = get_settings()
        set_settings(s.model_copy(update={"llm": s.llm.model_copy(update={"adapter": args.adapter})}))
    return args


if __name__ == "__main__":
    sys.exit(main())
