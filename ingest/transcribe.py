"""One recording → one clean Transcript, nothing stored (`audiorag transcribe`): ASR with word times, re-cut at
sentence ends and pauses, checked, speakers labelled, normalized, and LLM-cleaned on request."""

from __future__ import annotations

from ingest.decode import SAMPLE_RATE
from rag.schema import InvalidTranscript, Transcript


def transcribe_audio(audio, *, language: str | None = None, enhance: bool = False) -> Transcript:
    """`audio`: 16 kHz mono float32. An impossible ASR result raises InvalidTranscript ("no speech found" when
    the recording gave no text at all)."""
    from ingest.asr import get_asr
    from ingest.normalize import normalize_transcript
    from ingest.segment import resegment
    from ingest.speakers import diarize_transcript
    from rag.schema import validate_transcript

    transcript = get_asr().transcribe(audio, language=language, word_timestamps=True)
    try:
        transcript = validate_transcript(resegment(transcript, audio), len(audio) / SAMPLE_RATE)
    except InvalidTranscript as exc:
        if not transcript.text:
            raise InvalidTranscript("no speech found") from exc
        raise
    transcript, _ = diarize_transcript(transcript, audio)
    transcript = normalize_transcript(transcript)
    if enhance:
        from ingest.enhance import enhance_transcript

        transcript = enhance_transcript(transcript).transcript
    return transcript
