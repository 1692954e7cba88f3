"""ASR backends on real converted weights and real speech (reference transcripts in the shared ASR manifest)."""

from __future__ import annotations

import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from ingest.asr import AsrBackend, choose_backend, get_asr, words_in_order
from rag.models import ModelError
from rag.schema import Transcript, Word
from rag.settings import Settings
from tests.conftest import ASR_DIR, normalize_text, wer

JFK = ASR_DIR / "wav16k" / "whisper_jfk.wav"
BACKENDS = ("mlx", "ctranslate2")


def load_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def asr_settings(models_dir, tmp_path_factory, pack):
    pack("whisper-tiny.en")
    return Settings(
        models_dir=str(models_dir),
        data_dir=str(tmp_path_factory.mktemp("asr-data")),
        asr={"model": "whisper-tiny.en", "backend": "auto"},
    )


_RUNS: dict[tuple[str, str, str], tuple[Transcript, float]] = {}


def run(settings: Settings, backend: str, path: Path, model: str = "whisper-tiny.en") -> tuple[Transcript, float]:
    """(transcript, real-time factor), computed once per (backend, model, file) in this test session."""
    key = (backend, model, str(path))
    if key not in _RUNS:
        asr = get_asr(settings.model_copy(update={"asr": settings.asr.model_copy(update={"model": model})}), backend)
        audio = load_wav(path)
        t0 = time.perf_counter()
        transcript = asr.transcribe(audio)
        _RUNS[key] = (transcript, (time.perf_counter() - t0) / (len(audio) / 16000))
    return _RUNS[key]


def jfk_text(asr_manifest) -> str:
    return next(u["text"] for u in asr_manifest["utterances"] if u["id"] == "whisper_jfk")


# -- choosing and loading --------------------------------------------------------------------------------------
def test_backend_choice():
    from rag.runtime import is_apple_silicon

    assert choose_backend("auto") == ("mlx" if is_apple_silicon() else "ctranslate2")
    assert choose_backend(None) == choose_backend("auto")
    assert choose_backend("MLX") == "mlx" and choose_backend("ctranslate2") == "ctranslate2"
    assert choose_backend("OpenAI") == "openai"  # a transcription server (tests/test_remote_asr.py)
    with pytest.raises(ModelError, match="unknown asr backend 'whisperx'"):
        choose_backend("whisperx")


def test_models_load_once_per_backend_and_folder(asr_settings):
    a = get_asr(asr_settings, "mlx")
    assert isinstance(a, AsrBackend) and a.name == "mlx" and a.model_name == "whisper-tiny.en"
    assert get_asr(asr_settings, "mlx") is a
    b = get_asr(asr_settings, "ctranslate2")
    assert b is not a and b.name == "ctranslate2" and Path(b.folder).name == "ct2"
    assert Path(a.folder).name == "mlx"


def test_a_plain_folder_is_used_as_is(asr_settings, pack, tmp_path):
    import shutil

    ct2 = shutil.copytree(pack("whisper-tiny.en") / "ct2", tmp_path / "my-whisper")
    plain = asr_settings.model_copy(update={"asr": asr_settings.asr.model_copy(update={"model": str(ct2)})})
    asr = get_asr(plain, "ctranslate2")
    assert Path(asr.folder) == ct2 and asr.model_name == "my-whisper"
    assert normalize_text(asr.transcribe(load_wav(JFK)).text).startswith("and so my fellow americans")
    with pytest.raises(ModelError, match="not an mlx-whisper model folder"):
        get_asr(plain, "mlx")
    (tmp_path / "empty").mkdir()
    empty = asr_settings.model_copy(update={"asr": asr_settings.asr.model_copy(update={"model": str(tmp_path / "empty")})})
    with pytest.raises(ModelError, match="not a CTranslate2 Whisper folder"):
        get_asr(empty, "ctranslate2")


def test_audio_must_be_mono_float(asr_settings):
    asr = get_asr(asr_settings, "ctranslate2")
    with pytest.raises(ValueError, match="1-D"):
        asr.transcribe(np.zeros((2, 16000), dtype=np.float32))
    with pytest.raises(ValueError, match="float"):
        asr.transcribe(np.zeros(16000, dtype=np.int16))


def test_words_are_put_in_order_inside_their_segment():
    words = [Word(start=0.9, end=1.4, word="a"), Word(start=1.2, end=1.1, word="b"), Word(start=2.0, end=3.5, word="c")]
    fixed = words_in_order(words, 1.0, 3.0)
    assert [(w.start, w.end) for w in fixed] == [(1.0, 1.4), (1.2, 1.2), (2.0, 3.0)]
    assert [w.word for w in fixed] == ["a", "b", "c"]


# -- real speech -----------------------------------------------------------------------------------------------
def test_mlx_tiny_en_transcribes_jfk_exactly(asr_settings, asr_manifest):
    transcript, _ = run(asr_settings, "mlx", JFK)
    assert wer(jfk_text(asr_manifest), transcript.text) == 0, transcript.text


@pytest.mark.parametrize("backend", BACKENDS)
def test_word_times(asr_settings, backend):
    transcript, _ = run(asr_settings, backend, JFK)
    assert transcript.has_word_times and transcript.language == "en" and transcript.model == "whisper-tiny.en"
    assert transcript.duration == pytest.approx(11.0, abs=0.01)
    assert [s.id for s in transcript.segments] == list(range(len(transcript.segments)))
    previous_end = 0.0
    for seg in transcript.segments:
        assert previous_end - 0.01 <= seg.start <= seg.end <= 11.0
        previous_end = seg.end
        assert seg.words and normalize_text(" ".join(w.word for w in seg.words)) == normalize_text(seg.text)
        starts = [w.start for w in seg.words]
        assert starts == sorted(starts)
        for w in seg.words:
            assert seg.start <= w.start <= w.end <= seg.end
    americans = [w for s in transcript.segments for w in s.words if normalize_text(w.word) == "americans"]
    assert len(americans) == 1 and abs(americans[0].start - 1.8) <= 0.5, americans


def test_both_backends_give_the_same_schema_and_words(asr_settings):
    mlx, _ = run(asr_settings, "mlx", JFK)
    ct2, _ = run(asr_settings, "ctranslate2", JFK)
    assert type(mlx) is type(ct2) is Transcript
    assert mlx.model_dump().keys() == ct2.model_dump().keys()
    assert mlx.segments[0].model_dump().keys() == ct2.segments[0].model_dump().keys()
    words = [normalize_text(" ".join(w.word for s in t.segments for w in s.words)) for t in (mlx, ct2)]
    assert words[0] == words[1] and len(words[0].split()) == 22


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_long_form_ljspeech(asr_settings, asr_manifest, backend, artifacts):
    item = asr_manifest["long_form"][0]
    transcript, rtf = run(asr_settings, backend, ASR_DIR / item["file"])
    error = wer(item["text"], transcript.text)
    (artifacts / f"asr_long_form_{backend}.json").write_text(
        json.dumps({"backend": backend, "model": "whisper-tiny.en", "wer": error, "rtf": rtf,
                    "audio_s": item["duration_s"], "segments": len(transcript.segments)}, indent=2)
    )
    print(f"\n{backend} tiny.en long form: WER {error:.3f}, real-time factor {rtf:.3f}")
    assert error <= 0.10, transcript.text
    assert transcript.segments[-1].end == pytest.approx(item["duration_s"], abs=3.0)
    ends = [s.end for s in transcript.segments]
    assert ends == sorted(ends)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_whisper_base_transcribes_jfk(asr_settings, asr_manifest, pack, backend):
    folder = pack("whisper-base")
    assert json.loads((folder / "mlx" / "config.json").read_text())["n_vocab"] == 51865  # multilingual
    transcript, _ = run(asr_settings, backend, JFK, model="whisper-base")
    assert transcript.model == "whisper-base" and transcript.language == "en"
    assert wer(jfk_text(asr_manifest), transcript.text) <= 0.05, transcript.text
