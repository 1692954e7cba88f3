"""`llasa-cli`: the seed's flags on the project's code, with the real local LLM."""

from __future__ import annotations

import json

import pytest

from rag.cli.llasa import build_parser, main
from rag.schema import EpisodeMeta

WHISPER_JSON = {  # openai-whisper's output shape
    "text": " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
    "language": "en",
    "segments": [
        {"id": 0, "start": 0.0, "end": 4.4, "text": " um and so my fellow americans ask not"},
        {"id": 1, "start": 4.4, "end": 7.8, "text": " what your country can do for you"},
        {"id": 2, "start": 7.8, "end": 10.6, "text": " ask what you can do for your country"},
    ],
}


def test_help_says_llasa_is_text_to_speech(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Llasa-3B is a text-to-speech model" in out and "instruct model" in out
    flags = {a for action in build_parser()._actions for a in action.option_strings}
    assert {"--prompt", "--chat", "--enhance-transcript", "--output", "--task", "--transcript", "--batch-enhance",
            "--output-dir", "--model", "--max-tokens", "--temperature"} <= flags


def test_missing_arguments_are_clear(tmp_path, capsys):
    assert main(["--task", "describe-audio"]) == 2
    assert main(["--batch-enhance", str(tmp_path / "*.json")]) == 2
    assert main(["--enhance-transcript", str(tmp_path / "missing.json")]) == 1
    err = capsys.readouterr().err
    assert "--transcript FILE" in err and "--output-dir" in err and "file not found" in err


@pytest.fixture
def whisper_files(tmp_path):
    paths = []
    for name in ("jfk_a", "jfk_b"):
        p = tmp_path / "in" / f"{name}.json"
        p.parent.mkdir(exist_ok=True)
        p.write_text(json.dumps(WHISPER_JSON))
        paths.append(p)
    return paths


@pytest.mark.slow
def test_prompt_streams_a_reply(settings, capsys):
    assert main(["--prompt", "Say hello.", "--max-tokens", "8", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.slow
def test_enhance_transcript_keeps_segments(settings, whisper_files, tmp_path):
    out = tmp_path / "clean.json"
    assert main(["--enhance-transcript", str(whisper_files[0]), "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    segs = data["segments"]
    assert [(s["start"], s["end"]) for s in segs] == [(0.0, 4.4), (4.4, 7.8), (7.8, 10.6)]
    assert "country" in " ".join(s["text"] for s in segs).lower()


@pytest.mark.slow
def test_describe_audio(settings, whisper_files, tmp_path):
    out = tmp_path / "meta.json"
    assert main(["--task", "describe-audio", "--transcript", str(whisper_files[0]), "--output", str(out)]) == 0
    meta = EpisodeMeta.model_validate_json(out.read_text())
    assert meta.summary and meta.title and meta.chapters[0].start == 0.0


@pytest.mark.slow
def test_batch_enhance(settings, whisper_files, tmp_path):
    out_dir = tmp_path / "out"
    assert main(["--batch-enhance", str(tmp_path / "in" / "*.json"), "--output-dir", str(out_dir)]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["jfk_a.json", "jfk_b.json"]
    for p in out_dir.iterdir():
        assert len(json.loads(p.read_text())["segments"]) == 3
