"""Measure the voice-match threshold (`diarize.match`, rag/voices.py) on the engine's own voices.

    .venv/bin/python scripts/measure_voice_match.py [--shared ../shared/audio]

Each recording is diarized by the configured engine exactly as ingest does; each voice it finds (the embedding
the library stores) is given the identity of the reference speaker it overlaps most (the RTTM references of the
diarization set; single-voice recordings of the ASR set are one known person each). To have the same person in
different recordings and channels, the long-form LJSpeech reading is cut in halves and the second half is also
copied through an 8 kHz telephone band (sox). Then every pair of voices from different recordings is scored by
cosine: same person vs different people, and how many of each pass each threshold (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import tempfile
from pathlib import Path

SINGLE = [("jfk", "wav16k/whisper_jfk.wav", "JFK"), ("libri1272", "wav16k/leopard_test_en.wav", "LibriSpeech 1272"),
          ("libri61", "wav16k/fasterwhisper_stereo_left.wav", "LibriSpeech 61"),
          ("libri260", "wav16k/fasterwhisper_stereo_right.wav", "LibriSpeech 260")]
PICOVOICE = ("falcon_test", "leopard_diarization_test")  # the same three people (and the same first 13.8 s)


def identity(turns, speaker: str, ref: list | None, who: str) -> tuple[str, float]:
    """(the reference speaker a voice overlaps most, the share of its speech that is that speaker's)."""
    if ref is None:
        return who, 1.0
    share: dict[str, float] = {}
    for t in turns:
        if t.speaker == speaker:
            for rs, re_, label in ref:
                ov = min(t.end, re_) - max(t.start, rs)
                if ov > 0:
                    share[label] = share.get(label, 0.0) + ov
    if not share:
        return "", 0.0
    best = max(share, key=share.get)
    return f"{who}:{best}", share[best] / sum(share.values())


def recordings(shared: Path, tmp: Path):
    """(name, audio, reference turns or None, who) for every recording measured."""
    from ingest.decode import decode
    from rag.bench.diarize import read_rttm

    diar, asr = shared / "diarization", shared / "asr"
    for f in json.loads((diar / "diarization_manifest.json").read_text())["files"]:
        ref = read_rttm(diar / f["rttm"], f["uri"])
        who = "ami" if f["uri"].startswith("ami") else "picovoice" if f["uri"] in PICOVOICE else f["uri"]
        yield f["uri"], decode(diar / f["wav"]), [(s.start, s.end, k) for s, _, k in ref.itertracks(yield_label=True)], who
    for name, wav, who in SINGLE:
        yield name, decode(asr / wav), None, who
    lj = decode(asr / "ljspeech_LJ001_0001-0032_concat.wav")
    half = len(lj) // 2
    import soundfile as sf

    sf.write(tmp / "b.wav", lj[half:], 16000)
    subprocess.run(["sox", str(tmp / "b.wav"), "-r", "8000", str(tmp / "b8k.wav"), "sinc", "300-3400"], check=True)
    subprocess.run(["sox", str(tmp / "b8k.wav"), "-r", "16000", str(tmp / "tel.wav")], check=True)
    yield "lj_first_half", lj[:half], None, "LJ"
    yield "lj_second_half", lj[half:], None, "LJ"
    yield "lj_second_half_telephone", decode(tmp / "tel.wav"), None, "LJ"


def main() -> None:
    import numpy as np

    from ingest.diarize import get_diarizer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "audio")
    args = ap.parse_args()
    engine = get_diarizer()
    voices = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, audio, ref, who in recordings(args.shared, Path(tmp)):
            result = engine.diarize(audio)
            for spk, vec in result.voices.items():
                ident, purity = identity(result.turns, spk, ref, who)
                if ident:
                    v = np.asarray(vec, dtype=np.float32)
                    voices.append((name, spk, ident, purity, v / np.linalg.norm(v)))
                    print(f"{name} {spk}: {ident} ({purity:.0%} of its speech)", flush=True)
    same, diff = [], []
    for a, b in itertools.combinations(voices, 2):
        if a[0] != b[0]:
            (same if a[2] == b[2] else diff).append((float(a[4] @ b[4]), f"{a[0]} {a[1]} / {b[0]} {b[1]} ({a[2]} / {b[2]})"))
    same.sort()
    diff.sort(reverse=True)
    print(f"same person, different recordings: {len(same)} pairs, lowest: " + "; ".join(f"{s:.3f} {n}" for s, n in same[:4]))
    print(f"different people: {len(diff)} pairs, highest: " + "; ".join(f"{s:.3f} {n}" for s, n in diff[:4]))
    for t in (0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        print(f"threshold {t}: same person proposed {sum(s >= t for s, _ in same)}/{len(same)}, "
              f"a wrong name proposed {sum(s >= t for s, _ in diff)}/{len(diff)}")


if __name__ == "__main__":
    main()
