"""faster-whisper (CTranslate2) backend: int8 on CPU, the fastest local path on x86 (RTF ~0.07 for tiny.en).

It reads a pack's `ct2/` folder exactly as shipped. VAD is off: our own segmenter decides where segments break,
and faster-whisper's Silero VAD would shift timestamps around removed silence.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ingest.asr.base import SAMPLE_RATE, check_audio, resolve_folder, vocabulary, vocabulary_prompt, words_in_order
from rag.schema import Segment, Transcript, Word


class CTranslate2Whisper:
    name = "ctranslate2"

    def __init__(
        self,
        folder: Path | str,
        model_name: str,
        *,
        compute_type: str = "int8",
        beam_size: int = 5,
        local_files_only: bool = True,
    ):
        from faster_whisper import WhisperModel

        self.folder = folder
        self.model_name = model_name
        self.beam_size = beam_size
        self.model = WhisperModel(
            str(folder),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=os.cpu_count() or 0,
            local_files_only=local_files_only,
        )

    def transcribe(
        self, audio: np.ndarray, *, language: str | None = None, word_timestamps: bool = True
    ) -> Transcript:
        audio = check_audio(audio)
        from rag.runtime import blas_threads

        with blas_threads(1):  # CTranslate2's OpenMP threads do the work; see rag.runtime.blas_threads
            return self._transcribe(audio, language, word_timestamps)

    def _transcribe(self, audio: np.ndarray, language: str | None, word_timestamps: bool) -> Transcript:
        # The vocabulary both as hotwords (in every window's prompt) and as the initial prompt: together they
        # spelled all the test names right, either alone missed some (docs/vocabulary.md).
        words = vocabulary()
        segments_iter, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            word_timestamps=word_timestamps,
            vad_filter=False,
            hotwords=" ".join(words) or None,
            initial_prompt=vocabulary_prompt(),
        )
        from ingest.asr.base import heard
        from ingest.budget import check

        segments: list[Segment] = []
        for seg in segments_iter:  # a generator: decoding happens here
            check()  # the caller's time budget (ingest.transcribe_timeout_s), if any
            heard(seg.end)  # progress for the caller (the app's per-file bar)
            text = seg.text.strip()
            if not text:
                continue
            start, end = float(seg.start), float(seg.end)
            end = max(end, start)
            words = [
                Word(start=float(w.start), end=float(w.end), word=w.word.strip(), probability=float(w.probability))
                for w in (seg.words or [])
                if w.word.strip()
            ]
            segments.append(
                Segment(id=len(segments), start=start, end=end, text=text, words=words_in_order(words, start, end))
            )
        return Transcript(
            segments=segments,
            language=info.language,
            model=self.model_name,
            duration=len(audio) / SAMPLE_RATE,
            has_word_times=word_timestamps,
        )


def load(spec: str, settings) -> "CTranslate2Whisper":
    """The `ctranslate2` ASR backend's factory (rag.plugins)."""
    folder, name = resolve_folder(spec, settings, "ctranslate2")
    return CTranslate2Whisper(folder, name, local_files_only=not isinstance(folder, str))
