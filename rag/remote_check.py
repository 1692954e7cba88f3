"""Is a configured server there (`audiorag doctor`)? `check()` asks its `/v1/models`: reachable, the model asked
for is served, and how long it took. The request goes through rag.audit like every other remote call."""

from __future__ import annotations

import time

TIMEOUT_S = 5.0


def check(remote, settings, timeout: float = TIMEOUT_S) -> tuple[dict, str | None, str | None]:
    """(report entry, problem line or None, warning line or None) for a rag.privacy.Remote."""
    import openai

    from rag.audit import host_of, openai_client
    from rag.privacy import without_credentials
    from rag.settings import api_root

    url = without_credentials(api_root(remote.base_url))
    entry: dict = {"purpose": remote.purpose, "url": url, "host": host_of(url), "model": remote.model}
    env = f"AUDIORAG_{remote.role.upper()}__BASE_URL"
    client = openai_client(settings, "doctor", api_root(remote.base_url), remote.api_key, timeout=timeout,
                           max_retries=0)
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
    except openai.APIStatusError as exc:  # it answers, but lists no models (not every server has /v1/models)
        entry.update(reachable=True, latency_ms=_ms(t0), error=f"HTTP {exc.status_code}")
        return entry, None, f"the {remote.purpose} server {url} answers but lists no models (HTTP {exc.status_code})"
    finally:
        client.close()
    entry.update(reachable=True, latency_ms=_ms(t0), models=models)
    if remote.model and models and remote.model not in models:
        entry["model_present"] = False
        return entry, (f"the {remote.purpose} server {url} does not serve '{remote.model}' (it has: "
                       f"{', '.join(models[:8])}): set {remote.role}.remote_model to one of them"), None
    entry["model_present"] = bool(remote.model) and remote.model in models if remote.model else None
    return entry, None, None


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
