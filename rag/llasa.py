"""The text tasks behind `llasa-cli` (the Llasa seed scripts' flags; rag/cli/llasa.py parses them).

Read this first: HKUST-Audio's Llasa-3B is a *text-to-speech* model (Llama-3.2 fine-tuned to emit XCodec2 speech
tokens). It cannot answer, summarise or clean up text, so every text task here runs on a configurable mlx-lm
instruct model (the LLM setting: `smollm2-135m-instruct` by default, `--model` to choose another pack, a local
MLX folder, or a hub id with downloads allowed). The flags are kept so the old scripts' users find their way.
"""

from __future__ import annotations

import glob
import json
from pathlib import Path
from typing import Iterator

import rag  # noqa: F401  (BLAS preload before anything imports MLX)


def get_text_llm(model: str | None = None, backend: str | None = None):
    from rag.llm import get_llm

    return get_llm(model=model, backend=backend)


def reply_tokens(llm, messages: list[dict], max_tokens: int, temperature: float) -> Iterator[str]:
    yield from llm.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=None)


def load_file(path: Path):
    """A transcript file (Whisper JSON, SRT, VTT, txt) as a normalized Transcript."""
    from ingest.normalize import normalize_transcript
    from ingest.transcripts import load_transcript

    return normalize_transcript(load_transcript(path))


def transcript_text(transcript, output: Path | None, default_format: str = "json") -> str:
    """The transcript written in the format `output`'s extension names (else `default_format`), newline-ended."""
    from ingest.writers import get_writer

    fmt = (output.suffix.lstrip(".").lower() if output is not None and output.suffix else default_format)
    text = get_writer(fmt).write(transcript)
    return text if text.endswith("\n") else text + "\n"


def enhance_file(path: Path, llm, temperature: float = 0.0):
    """ingest.enhance's EnhanceResult for a transcript file (the cleaned transcript and its stats)."""
    from ingest.enhance import enhance_transcript

    return enhance_transcript(load_file(path), llm=llm, temperature=temperature)


def match_files(patterns: list[str]) -> tuple[list[Path], list[str]]:
    """The files the globs match, each once, in order; and the patterns that matched nothing."""
    files: list[Path] = []
    unmatched = []
    for pattern in patterns:
        matched = sorted(glob.glob(pattern, recursive=True)) or ([pattern] if Path(pattern).exists() else [])
        if not matched:
            unmatched.append(pattern)
        files += [Path(m) for m in matched if Path(m).is_file()]
    return list(dict.fromkeys(files)), unmatched


def describe_text(meta, markdown: bool) -> str:
    """EpisodeMeta as Markdown (title, description, summary, tags, chapters) or as JSON."""
    if markdown:
        from rag.schema import format_ts

        return (f"# {meta.title}\n\n{meta.description}\n\n## Summary\n\n{meta.summary}\n\n"
                f"Tags: {', '.join(meta.tags)}\n\n## Chapters\n\n"
                + "".join(f"- {format_ts(c.start)} {c.title}\n" for c in meta.chapters))
    return json.dumps(meta.model_dump(), indent=2, ensure_ascii=False) + "\n"
