"""Is a configured server there (`audiorag doctor`)? `check()` asks its `/v1/models` (reachable, the model asked
for is listed, how long it took), then makes the smallest real request: one token of chat for an LLM, half a
second of silence for a transcription server (faster-whisper-server 0.0.3 has no `/v1/models`: this is how a
wrong model name shows there). The requests go through rag.audit like every other remote call."""

from __future__ import annotations

import time

TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 60.0  # the first request may load the model


def check(remote, settings, timeout: float = TIMEOUT_S) -> tuple[dict, str | None, str | None]:
    """(report entry, problem line or None, warning line or None) for a rag.privacy.Remote."""
    from rag.audit import host_of, openai_client
    from rag.privacy import without_credentials
    from rag.settings import api_root

    url = without_credentials(api_root(remote.base_url))
    entry: dict = {"purpose": remote.purpose, "url": url, "host": host_of(url), "model": remote.model}
    client = openai_client(settings, "doctor", api_root(remote.base_url), remote.api_key, timeout=timeout,
                           max_retries=0)
    try:
        return _check(remote, client, entry, url)
    finally:
        client.close()


def _check(remote, client, entry: dict, url: str) -> tuple[dict, str | None, str | None]:
    import openai

    env = f"AUDIORAG_{remote.role.upper()}__BASE_URL"
    t0 = time.perf_counter()
    try:
        models = [m.id for m in client.models.list()]
    except openai.APIConnectionError as exc:
        entry.update(reachable=False, error=type(exc.__cause__ or exc).__name__)
        return entry, (f"the {remote.purpose} server {url} is unreachable ({entry['error']}): start it, or fix "
                       f"{remote.role}.base_url ({env})"), None
    except openai.AuthenticationError:
        entry.update(reachable=True, latency_ms=_ms(t0), error="HTTP 401")
        return entry, (f"the {remote.purpose} server {url} refused the API key (HTTP 401): set "
                       f"{remote.role}.api_key (AUDIORAG_{remote.role.upper()}__API_KEY)"), None
    except (openai.APIStatusError, ValueError):  # it answers, but lists no models (not every server has
        models = None                             # /v1/models; mlx_lm.server may answer it with no JSON)
    entry.update(reachable=True, latency_ms=_ms(t0), models=models)
    if remote.model and models and remote.model not in models:
        entry["model_present"] = False
        return entry, (f"the {remote.purpose} server {url} does not serve '{remote.model}' (it has: "
                       f"{', '.join(models[:8])}): set {remote.role}.remote_model to one of them"), None
    entry["model_present"] = (remote.model in models) if remote.model and models else None
    return entry, _probe(remote, client, entry, url), None


def _probe(remote, client, entry: dict, url: str) -> str | None:
    """The smallest real request; its latency goes in `entry["request_ms"]`. Returns a problem line or None."""
    import numpy as np
    import openai

    from ingest.asr.openai import wav_bytes

    what = "half a second of audio" if remote.role == "asr" else "a 1-token request"
    t0 = time.perf_counter()
    try:
        if remote.role == "asr":
            model = remote.model or "whisper-1"
            client.with_options(timeout=PROBE_TIMEOUT_S).audio.transcriptions.create(
                file=("probe.wav", wav_bytes(np.zeros(8000, dtype=np.float32)), "audio/wav"), model=model,
                response_format="json", extra_body={"model_name": model})
        else:
            client.with_options(timeout=PROBE_TIMEOUT_S).chat.completions.create(
                model=remote.model or openai.omit, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
    except openai.APIConnectionError as exc:
        entry["request_error"] = type(exc.__cause__ or exc).__name__
        return f"the {remote.purpose} server {url} did not answer {what} ({entry['request_error']})"
    except openai.APIStatusError as exc:
        entry["request_error"] = f"HTTP {exc.status_code}"
        if remote.model:
            entry["model_present"] = False
        name = f"'{remote.model}'" if remote.model else "its default model"
        return (f"the {remote.purpose} server {url} refused {what} for {name} (HTTP {exc.status_code}): set "
                f"{remote.role}.remote_model to a model it serves")
    entry["request_ms"] = _ms(t0)
    return None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
