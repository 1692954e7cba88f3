"""Spoken-QA manifests for `audiorag eval`: episodes (spoken by espeak-ng or real recordings) and gold questions.

A manifest (JSON) lists episodes and questions:

    {"name": "spoken-qa-v2",
     "episodes": [
        {"id": "bees", "split": "dev", "voice": "en-gb", "sentences": ["…", "…"]},   # spoken, times known exactly
        {"id": "jfk", "split": "test", "file": "$AUDIORAG_SHARED/audio/asr/wav16k/whisper_jfk.wav",
         "segments": [{"start": 0.0, "end": 11.0}]}                                # a real recording
     ],
     "questions": [
        {"question": "…", "episode": "bees", "sentence": 2, "answer": ["varroa mite"]},
        {"question": "…", "episode": "jfk", "start": 0.0, "end": 11.0, "answer": "…"},
        {"question": "…", "episode": "bees", "answerable": false},     # on topic, but the episode does not say
        {"question": "…", "answerable": false},                        # nothing in the library is about it
        {"question": "And when?", "history": ["Who built it?"], "episode": "harbor", "sentence": 1, "answer": "1874"}
     ]}

`sentence` indexes an episode's spoken sentences or its `segments`. A question's split is its episode's (or its own
`split`); `history` holds the earlier questions of a chat, asked first. Paths are relative to the manifest; `$VARS`
expand, `$AUDIORAG_SHARED` defaulting to the `shared/` folder beside the checkout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path


from rag.errors import AudioragError


class EvalError(AudioragError, RuntimeError):
    """A manifest that cannot be evaluated; one line."""


@dataclass
class GoldQuestion:
    question: str
    episode: str | None  # manifest episode id; None for unanswerable
    start: float = 0.0
    end: float = 0.0
    answers: list[str] = field(default_factory=list)
    topic: str | None = None  # the episode an unanswerable question is about (on-topic, SQuAD 2.0 style)
    history: list[str] = field(default_factory=list)  # earlier questions of the chat (a follow-up)
    split: str | None = None

    @property
    def answerable(self) -> bool:
        return self.episode is not None

    @property
    def kind(self) -> str:
        if self.history:
            return "follow_up"
        if self.answerable:
            return "answerable"
        return "on_topic" if self.topic else "off_topic"


@dataclass
class EpisodeSpec:
    id: str
    path: Path
    sentence_times: list[tuple[float, float]] = field(default_factory=list)
    split: str | None = None

def _expand(raw: str, base: Path) -> Path:
    env = dict(os.environ)
    if "AUDIORAG_SHARED" not in env:
        from rag.runtime import checkout_root

        root = checkout_root()
        env["AUDIORAG_SHARED"] = str((root.parent if root else Path.cwd()) / "shared")
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), raw)
    p = Path(text).expanduser()
    return p if p.is_absolute() else (base / p)


def synthesize(sentences: list[str], out: Path, voice: str = "en-us", speed: int = 160,
               gap: float = 0.4) -> list[tuple[float, float]]:
    """Speak `sentences` with espeak-ng into one WAV, `gap` seconds apart; returns each sentence's (start, end)."""
    if shutil.which("espeak-ng") is None:
        raise EvalError("espeak-ng is needed to speak the manifest's sentences (apt-get install espeak-ng)")
    frames: list[bytes] = []
    times: list[tuple[float, float]] = []
    rate, pos = None, 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, s in enumerate(sentences):
            f = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(f), s], check=True,
                           capture_output=True)
            with wave.open(str(f)) as w:
                rate = rate or w.getframerate()
                data = w.readframes(w.getnframes())
            n = len(data) // 2
            times.append((pos / rate, (pos + n) / rate))
            silence = b"\x00\x00" * int(gap * rate)
            frames += [data, silence]
            pos += n + len(silence) // 2
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".partial.wav")
    with wave.open(str(tmp_out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate or 22050)
        w.writeframes(b"".join(frames))
    tmp_out.replace(out)
    out.with_suffix(".times.json").write_text(json.dumps(times))
    return times


def audio_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("AUDIORAG_EVAL_AUDIO", user_cache_dir("audiorag"))) / "eval-audio"


def load_manifest(path: str | Path, audio_dir: Path | None = None) -> tuple[str, list[EpisodeSpec], list[GoldQuestion]]:
    """Parse a manifest, speaking any text episodes (cached by content); gold windows resolved to seconds."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvalError(f"cannot read manifest {path}: {exc}") from None
    base = path.parent
    audio_dir = audio_dir or audio_cache_dir()
    episodes: dict[str, EpisodeSpec] = {}
    for e in data.get("episodes", []):
        eid = str(e["id"])
        if "sentences" in e:
            key = hashlib.sha256(json.dumps([e["sentences"], e.get("voice", "en-us"), e.get("speed", 160)]).encode()).hexdigest()[:16]
            wav = audio_dir / key / f"{eid}.wav"  # the file name becomes the episode's title
            times_file = wav.with_suffix(".times.json")
            if wav.exists() and times_file.exists():
                times = [tuple(t) for t in json.loads(times_file.read_text())]
            else:
                times = synthesize(e["sentences"], wav, e.get("voice", "en-us"), e.get("speed", 160))
            episodes[eid] = EpisodeSpec(eid, wav, times, e.get("split"))
        elif "file" in e:
            p = _expand(e["file"], base)
            if not p.exists():
                raise EvalError(f"episode '{eid}': file not found: {p}")
            times = [(float(s["start_s"] if "start_s" in s else s["start"]), float(s["end_s"] if "end_s" in s else s["end"]))
                     for s in e.get("segments", [])]
            episodes[eid] = EpisodeSpec(eid, p, times, e.get("split"))
        else:
            raise EvalError(f"episode '{eid}' needs 'file' or 'sentences'")
    questions: list[GoldQuestion] = []
    for q in data.get("questions", []):
        text = q.get("question") or q.get("q")
        if not text:
            raise EvalError("a question without 'question' text")
        answers = q.get("answer", q.get("answers", []))
        answers = [answers] if isinstance(answers, str) else list(answers)
        ep = episodes.get(str(q["episode"])) if q.get("episode") else None
        if q.get("episode") and ep is None:
            raise EvalError(f"question {text!r}: unknown episode '{q['episode']}'")
        split = q.get("split") or (ep.split if ep else None)
        if q.get("answerable", True) is False or ep is None:
            questions.append(GoldQuestion(text, None, topic=ep.id if ep else None, split=split))
            continue
        if "sentence" in q:
            idx = q["sentence"]
            idxs = idx if isinstance(idx, list) else [idx]
            try:
                start, end = ep.sentence_times[min(idxs)][0], ep.sentence_times[max(idxs)][1]
            except IndexError:
                raise EvalError(f"question {text!r}: episode '{ep.id}' has no sentence {idx}") from None
        else:
            start, end = float(q["start"]), float(q["end"])
        history = [str(h) for h in q.get("history", [])]
        questions.append(GoldQuestion(text, ep.id, start, end, answers, history=history, split=split))
    name = data.get("name") or path.stem
    return name, list(episodes.values()), questions


