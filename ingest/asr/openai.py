"""A transcription server as the ASR backend (`asr.backend = "openai"`): anything that speaks the OpenAI
`/v1/audio/transcriptions` API — vLLM serving Whisper or Voxtral, faster-whisper-server, whisperlivekit, OpenAI.

What we send: 16 kHz mono 16-bit WAV pieces (encoded here from the decoded array, so every server gets the same
bytes whatever the source format), `response_format=verbose_json` with `timestamp_granularities[]=segment` and
`word`, and the model both as `model` (OpenAI, vLLM) and `model_name` (faster-whisper-server 0.0.3 reads only
that). A server that rejects those extras (400/422) is asked once more with the plain OpenAI form.

Long recordings are cut in quiet places into pieces under `asr.max_upload_mb` / `asr.max_piece_s`, and each
piece's times are shifted by where it starts, so the stitched transcript is timed like a local one.

Times are never invented: segments without words keep their segment times (`has_word_times=False`, with a
warning); a response with text but no times at all makes the file fail with a one-line error.

Transient failures (connection errors, timeouts, 429, 5xx) are retried with exponential backoff by the `openai`
client. If the server still cannot be reached, that file is transcribed by the local backend (mlx on Apple
silicon, ctranslate2 elsewhere) with a warning on stderr and in the log, and the batch goes on. For a minute
after that, files go straight to the local backend instead of waiting for the dead server again.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
import wave

import numpy as np

from ingest.asr.base import SAMPLE_RATE, check_audio, note, vocabulary_prompt, words_in_order
from rag.models import ModelError
from rag.schema import Segment, Transcript, Word
from rag.settings import api_root

log = logging.getLogger(__name__)

DOWN_RECHECK_S = 60.0  # after the server failed, how long files skip it before it is tried again
CUT_SEARCH_S = 30.0  # a piece ends at a pause within its last this many seconds


class AsrServerError(ModelError):
    """The transcription server answered, but not with something we can index; one line."""


class TextOnly(AsrServerError):
    """The server answered text without any times (vLLM serving Voxtral): aligned locally, or refused."""

    def __init__(self, message: str, text: str):
        super().__init__(message)
        self.text = text


class ServerDown(Exception):
    """The server could not be reached (or kept failing) after the retries."""


# -- pure helpers ----------------------------------------------------------------------------------------------


def wav_bytes(audio: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    """Mono float audio in [-1, 1] as a 16-bit PCM WAV file (what every transcription server accepts)."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def max_piece_samples(max_upload_mb: float, max_piece_s: float, sr: int = SAMPLE_RATE) -> int:
    """The longest piece (in samples) whose WAV stays under the upload limit (16-bit: 2 bytes a sample) and
    under `max_piece_s`. 64 KiB are kept for the WAV header and the multipart envelope."""
    by_size = int((max_upload_mb * 1_000_000 - 65_536) // 2)
    by_time = int(max_piece_s * sr)
    limit = min(by_size, by_time)
    if limit < sr:
        raise ModelError(f"asr.max_upload_mb={max_upload_mb} / asr.max_piece_s={max_piece_s} leave less than "
                         "one second per upload")
    return limit


def _quietest(window: np.ndarray, sr: int) -> int:
    """Offset of the middle of the quietest 30 ms frame (when a window holds no pause at all)."""
    hop, win = sr // 100, int(0.03 * sr)
    if len(window) <= win:
        return len(window) // 2
    n = 1 + (len(window) - win) // hop
    energy = np.array([float(np.mean(window[i * hop:i * hop + win] ** 2)) for i in range(n)])
    return int(np.argmin(energy)) * hop + win // 2


def plan_pieces(audio: np.ndarray, max_samples: int, sr: int = SAMPLE_RATE,
                search_s: float = CUT_SEARCH_S) -> list[tuple[int, int]]:
    """(start, end) sample ranges covering `audio`, none longer than `max_samples`, cut in the middle of the
    longest pause near each piece's end (or its quietest frame when there is none), so no word is split.
    Silences are looked for only in that window, which keeps memory flat for hours of audio."""
    from ingest.segment import find_silences

    n = len(audio)
    pieces: list[tuple[int, int]] = []
    start = 0
    while n - start > max_samples:
        hard = start + max_samples
        lo = max(start + max_samples // 2, hard - int(search_s * sr))
        window = audio[lo:hard]
        silences = find_silences(window, sr)
        if silences:
            s, e = max(silences, key=lambda x: x[1] - x[0])
            cut = lo + int((s + e) / 2 * sr)
        else:
            cut = lo + _quietest(window, sr)
        cut = min(max(cut, start + 1), hard)
        pieces.append((start, cut))
        start = cut
    if start < n or not pieces:
        pieces.append((start, n))
    return pieces


def _clip(t, offset: float, limit: float | None) -> float:
    t = max(float(t), 0.0) + offset
    return min(t, limit) if limit is not None else t


def _words(items, offset: float, limit: float | None) -> list[Word]:
    out = []
    for w in items or []:
        text = str(w.get("word", w.get("text", ""))).strip()
        if not text or w.get("start") is None or w.get("end") is None:
            continue
        prob = w.get("probability")
        out.append(Word(start=_clip(w["start"], offset, limit), end=_clip(w["end"], offset, limit), word=text,
                        probability=float(prob) if prob is not None else None))
    return out


def parse_response(data: dict, offset: float = 0.0,
                   limit: float | None = None) -> tuple[list[Segment], bool, str | None]:
    """Segments (times shifted by `offset` seconds and kept at or below `limit`, the piece's end: Whisper's
    last segment often claims to end after the audio does), whether every segment has word times, and the
    language, from a `verbose_json` answer. Words may come inside segments (Whisper style) or as a top-level
    list (OpenAI, whisperlivekit); top-level words are given to the segment their middle falls in.
    Raises AsrServerError when there is text but no times."""
    if not isinstance(data, dict):
        raise AsrServerError(f"the transcription server answered {type(data).__name__}, not a JSON object")
    text = str(data.get("text") or "").strip()
    language = data.get("language") or None
    raw_segments = [s for s in (data.get("segments") or []) if str(s.get("text", "")).strip()]
    top_words = _words(data.get("words"), offset, limit)
    if any(s.get("start") is None or s.get("end") is None for s in raw_segments):
        raw_segments = []
    if not raw_segments and not top_words:
        if text:
            raise TextOnly(
                "the transcription server returned text without timestamps; refusing to index it with invented "
                "times (turn asr.align on to time it with the local Whisper, or use a server with verbose_json "
                "segment times, e.g. vLLM or faster-whisper-server serving a Whisper model)", text)
        return [], True, language  # a silent piece
    segments: list[Segment] = []
    if not raw_segments:  # words only: one segment; resegment() cuts it at sentences and pauses
        words = sorted(top_words, key=lambda w: w.start)
        start, end = words[0].start, max(words[-1].end, words[0].start)
        seg_text = text or " ".join(w.word for w in words)
        segments.append(Segment(id=0, start=start, end=end, text=seg_text, words=words_in_order(words, start, end)))
        return segments, True, language
    bounds = [(_clip(s["start"], offset, limit), _clip(s["end"], offset, limit)) for s in raw_segments]
    assigned: list[list[Word]] = [[] for _ in raw_segments]
    for w in top_words:
        mid = (w.start + w.end) / 2
        i = min(range(len(bounds)), key=lambda j: 0.0 if bounds[j][0] <= mid <= bounds[j][1]
                else min(abs(mid - bounds[j][0]), abs(mid - bounds[j][1])))
        assigned[i].append(w)
    for raw, (start, end), extra in zip(raw_segments, bounds, assigned):
        end = max(end, start)
        words = sorted(_words(raw.get("words"), offset, limit) + extra, key=lambda w: w.start)
        segments.append(Segment(id=len(segments), start=start, end=end, text=str(raw["text"]).strip(),
                                words=words_in_order(words, start, end)))
    return segments, all(s.words for s in segments), language


# -- the backend -----------------------------------------------------------------------------------------------


class OpenAIWhisper:
    name = "openai"

    def __init__(self, settings):
        import httpx

        from rag.audit import openai_client

        asr = settings.asr
        if not asr.base_url:
            raise ModelError("asr backend 'openai' needs a server: set asr.base_url (AUDIORAG_ASR__BASE_URL), "
                             "e.g. http://127.0.0.1:8000/v1")
        self.settings = settings
        self.base_url = api_root(asr.base_url)
        self.remote_model = asr.remote_model or "whisper-1"
        self.model_name = f"openai:{self.remote_model}"
        self.max_samples = max_piece_samples(asr.max_upload_mb, asr.max_piece_s)
        self.fallback_enabled = asr.fallback
        self.client = openai_client(
            settings, "transcription", self.base_url, asr.api_key,
            timeout=httpx.Timeout(asr.timeout, connect=min(10.0, asr.timeout)),
            max_retries=max(0, asr.retries),
        )
        self._plain_form = False  # the server refused our extra form fields once: send the OpenAI ones only
        self._warned_no_words = False
        self._down_until = 0.0
        self._local = None
        self._lock = threading.Lock()

    # one request
    def _form(self, word_timestamps: bool) -> dict:
        if self._plain_form:
            return {"timestamp_granularities": ["segment"]}
        return {"timestamp_granularities": ["segment", "word"] if word_timestamps else ["segment"],
                "extra_body": {"model_name": self.remote_model}}

    def _post(self, piece: np.ndarray, language: str | None, word_timestamps: bool) -> dict:
        import openai

        first_refusal = None
        while True:
            try:
                raw = self.client.audio.transcriptions.with_raw_response.create(
                    file=("audio.wav", wav_bytes(piece), "audio/wav"),
                    model=self.remote_model,
                    response_format="verbose_json",
                    language=language or openai.omit,
                    prompt=vocabulary_prompt() or openai.omit,  # the vocabulary, as OpenAI's API takes it
                    **self._form(word_timestamps),
                )
            except openai.APIConnectionError as exc:  # refused, reset, DNS, timeout — after the retries
                raise ServerDown(f"{type(exc).__name__}: {exc}") from exc
            except (openai.RateLimitError, openai.InternalServerError) as exc:
                raise ServerDown(f"HTTP {exc.status_code} after {self.client.max_retries} retries") from exc
            except openai.APIStatusError as exc:
                if exc.status_code in (400, 422) and not self._plain_form:
                    log.info("transcription server refused the extra form fields (%s); retrying plainly", exc)
                    self._plain_form, first_refusal = True, exc
                    continue
                if first_refusal is not None:  # the plain form did not help: the first answer says why
                    self._plain_form, exc = False, first_refusal
                raise AsrServerError(f"transcription server {self.base_url} refused the request "
                                     f"(HTTP {exc.status_code}): {_short(exc)}") from exc
            try:
                return json.loads(raw.http_response.text)
            except ValueError as exc:
                raise AsrServerError(f"transcription server {self.base_url} did not answer JSON "
                                     f"({raw.http_response.text[:80]!r})") from exc

    def _remote(self, audio: np.ndarray, language: str | None, word_timestamps: bool) -> Transcript:
        segments: list[Segment] = []
        all_words, lang = True, None
        from ingest.budget import check

        for start, end in plan_pieces(audio, self.max_samples):
            check()  # the caller's time budget (ingest.transcribe_timeout_s), if any
            data = self._post(audio[start:end], language, word_timestamps)
            try:
                piece_segments, has_words, piece_lang = parse_response(data, offset=start / SAMPLE_RATE,
                                                                       limit=end / SAMPLE_RATE)
            except TextOnly as exc:
                if not self.settings.asr.align:
                    raise
                piece_segments, has_words, piece_lang = self._aligned(exc, audio[start:end], start / SAMPLE_RATE,
                                                                      language)
            all_words &= has_words
            lang = lang or piece_lang
            for seg in piece_segments:
                segments.append(seg.model_copy(update={"id": len(segments)}))
        if word_timestamps and segments and not all_words and not self._warned_no_words:
            self._warned_no_words = True
            _warn(f"transcription server {self.base_url} returns segments without word times: keeping its "
                  "segment times (citations land on segment starts, not on words)")
        return Transcript(segments=segments, language=language or lang, model=self.model_name,
                          duration=len(audio) / SAMPLE_RATE, has_word_times=bool(segments) and all_words
                          and word_timestamps)

    # text without times, timed by the local Whisper's words (ingest/align.py)
    def _aligned(self, exc: TextOnly, piece: np.ndarray, offset: float,
                 language: str | None) -> tuple[list[Segment], bool, str | None]:
        from ingest.align import align_text

        local = self._local_asr(f"aligning the server's text: {exc}")
        heard = local.transcribe(piece, language=language, word_timestamps=True)
        words = [w.model_copy(update={"start": w.start + offset, "end": w.end + offset})
                 for seg in heard.segments for w in seg.words]
        found = align_text(exc.text, words)
        if found.total and found.matched < 0.5 * found.total:
            raise AsrServerError(f"the transcription server's text matches what the local Whisper heard for only "
                                 f"{found.matched} of {found.total} words: not indexed (is it the same recording?)")
        if found.unaligned:
            note(f"{found.unaligned} of {found.total} words of the server's text matched no word heard locally: "
                 "they are cited at the moment of the word before them")
        note(f"times from the local Whisper ('{self.settings.asr.model}'): the server's text came without them")
        if not found.words:
            return [], True, heard.language
        start, end = found.words[0].start, found.words[-1].end
        segment = Segment(id=0, start=start, end=max(end, start), text=" ".join(w.word for w in found.words),
                          words=words_in_order(found.words, start, max(end, start)))
        return [segment], True, heard.language

    def _local_asr(self, why: str):
        """The local Whisper (auto backend, asr.model), loaded once: for alignment and as the fallback."""
        from ingest.asr import choose_backend, get_asr

        with self._lock:
            if self._local is None:
                try:
                    self._local = get_asr(self.settings, backend=choose_backend("auto"))
                except ModelError as exc:
                    raise AsrServerError(f"{why}; and the local Whisper cannot load: {exc}") from exc
        return self._local

    # the local backend, when the server is gone
    def _fall_back(self, audio: np.ndarray, language: str | None, word_timestamps: bool, why: str) -> Transcript:
        from ingest.asr import choose_backend

        if not self.fallback_enabled:
            raise AsrServerError(f"transcription server {self.base_url} is unreachable ({why}) and "
                                 "asr.fallback is off")
        local = choose_backend("auto")
        _warn(f"transcription server {self.base_url} is unreachable ({why}); transcribing this file locally "
              f"with {local} '{self.settings.asr.model}'")
        note(f"transcribed on this machine ({local} '{self.settings.asr.model}'): the transcription server "
             f"{self.base_url} was unreachable")
        local_asr = self._local_asr(f"transcription server {self.base_url} is unreachable ({why})")
        return local_asr.transcribe(audio, language=language, word_timestamps=word_timestamps)

    def transcribe(self, audio: np.ndarray, *, language: str | None = None,
                   word_timestamps: bool = True) -> Transcript:
        audio = check_audio(audio)
        now = time.monotonic()
        if now < self._down_until:
            return self._fall_back(audio, language, word_timestamps,
                                   f"it failed {DOWN_RECHECK_S - (self._down_until - now):.0f} s ago")
        try:
            return self._remote(audio, language, word_timestamps)
        except ServerDown as exc:
            self._down_until = time.monotonic() + DOWN_RECHECK_S
            return self._fall_back(audio, language, word_timestamps, str(exc))


def _short(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body))
        if isinstance(err, dict):
            err = err.get("message", err.get("error", err))
        return " ".join(str(err).split())[:200]
    return " ".join(str(exc).split())[:200]


def _warn(msg: str) -> None:
    log.warning(msg)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def load(spec: str, settings) -> "OpenAIWhisper":
    """The `openai` ASR backend's factory (rag.plugins): nothing loads here; its local fallback loads on first use."""
    return OpenAIWhisper(settings)
