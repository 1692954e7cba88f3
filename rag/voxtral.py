"""Ask one episode's *audio* a question (`audiorag ask --audio EPISODE "question"`): the recording itself goes to
a Voxtral server through the OpenAI-compatible `/v1/chat/completions`, as a base64 `input_audio` part beside
the question. Useful for what a transcript loses (tone, who sounds unsure, music, noises).

Needs a server with an audio-understanding model at `llm.base_url`, e.g. on a GPU box:

    vllm serve mistralai/Voxtral-Mini-3B-2507 --tokenizer_mode mistral --config_format mistral --load_format mistral

and then `AUDIORAG_LLM__BASE_URL=http://gpu-box:8000/v1 AUDIORAG_LLM__REMOTE_MODEL=mistralai/Voxtral-Mini-3B-2507`.
There is no local fallback: a text-only model cannot hear, and `audiorag ask` without `--audio` answers from
the transcript. Voxtral Mini takes about 30–40 minutes of audio in its 32k context; a longer episode is cut to
the `MAX_AUDIO_S` around the moment the transcript search finds best for the question, and the answer cites
that window.
"""

from __future__ import annotations

import base64

from rag.models import ModelError
from rag.schema import Answer, Citation

MAX_AUDIO_S = 1800.0
PROMPT = ("{question}\n\nAnswer from this recording only, briefly. If the recording does not say, answer that "
          "it does not.")


class AudioAskError(ModelError):
    """Audio Q&A cannot run (no server configured, no audio, server refused); one line."""


def audio_window(duration: float, center: float, max_s: float = MAX_AUDIO_S) -> tuple[float, float]:
    """The part of a recording to send: all of it when it fits, else `max_s` seconds around `center`."""
    if duration <= max_s:
        return 0.0, duration
    start = min(max(0.0, center - max_s / 2), duration - max_s)
    return start, start + max_s


def build_request(question: str, wav: bytes, model: str | None, max_tokens: int = 512) -> dict:
    """The chat-completions body: one user turn holding the audio (base64 WAV) and the question. Temperature
    0.2 / top_p 0.95 are what Mistral recommends for Voxtral chat."""
    body = {
        "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode("ascii"), "format": "wav"}},
            {"type": "text", "text": PROMPT.format(question=question.strip())},
        ]}],
        "temperature": 0.2,
        "top_p": 0.95,
        "max_tokens": max_tokens,
    }
    if model:
        body["model"] = model
    return body


def ask_audio(episode: str, question: str, *, settings=None, store=None, max_s: float = MAX_AUDIO_S,
              max_tokens: int = 512) -> Answer:
    """Voxtral's answer about `episode`'s audio, citing the stretch of audio it heard."""
    import openai

    from ingest.asr.openai import wav_bytes
    from ingest.decode import SAMPLE_RATE, decode
    from rag.audit import openai_client
    from rag.settings import api_root, get_settings
    from rag.storage import local_copy

    settings = settings or get_settings()
    if not settings.llm.base_url:
        raise AudioAskError("--audio needs a Voxtral server: set llm.base_url (AUDIORAG_LLM__BASE_URL), see "
                            "docs/scaling.md")
    if not question.strip():
        raise AudioAskError("ask a question")
    if store is None:
        from rag.store import Store

        store = Store(settings)
    ep = store.require_episode(episode, AudioAskError)
    if not ep.audio_path:
        raise AudioAskError(f"episode '{ep.title}' has no audio copy in the library (a transcript imported "
                            "without its recording)")
    audio = decode(local_copy(ep.audio_path, settings), max_seconds=None)
    duration = len(audio) / SAMPLE_RATE
    center = 0.0
    if duration > max_s:
        from rag.search import search

        hits = search(question, k=1, episode=ep.id, settings=settings, store=store).passages
        center = hits[0].start if hits else 0.0
    start, end = audio_window(duration, center, max_s)
    wav = wav_bytes(audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)])
    base_url = api_root(settings.llm.base_url)
    client = openai_client(settings, "audio questions", base_url, settings.llm.api_key, timeout=600.0,
                           max_retries=2)
    try:
        resp = client.chat.completions.create(**build_request(question, wav, settings.llm.remote_model, max_tokens))
    except openai.APIConnectionError as exc:
        raise AudioAskError(f"the Voxtral server {base_url} is unreachable ({type(exc).__name__})") from exc
    except openai.APIStatusError as exc:
        raise AudioAskError(f"the server {base_url} refused the audio (HTTP {exc.status_code}); is it serving "
                            f"a Voxtral model? {' '.join(str(exc).split())[:160]}") from exc
    text = (resp.choices[0].message.content or "").strip() if resp.choices else ""
    heard = " ".join(s.text.strip() for s in store.segments(ep.id) if s.end > start and s.start < end)
    citation = Citation(episode_id=ep.id, title=ep.title, start=start, end=end,
                        text=heard[:300] + ("…" if len(heard) > 300 else ""))
    return Answer(answer=text, abstained=not text, citations=[citation])
