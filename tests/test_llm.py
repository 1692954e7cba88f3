"""LLM backends: prompt/stop helpers on synthetic text; real generation with the converted packs through mlx-lm, a
real `mlx_lm server` through the OpenAI client, and the fallback when the server is down."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import json

import pytest

from rag.llm import LLM, PLAIN_STOP, StopFilter, clear_cache, filter_stops, get_llm, plain_prompt
from rag.models import ModelError
from tests.conftest import free_port, stop_process

CHAT = [{"role": "user", "content": "What is the capital of France?"}]


# -- pure helpers ------------------------------------------------------------------------------------------------
def test_plain_prompt_keeps_system_text_and_turns():
    p = plain_prompt([
        {"role": "system", "content": "Answer from the transcript."},
        {"role": "user", "content": "Who spoke?"},
        {"role": "assistant", "content": "Anna."},
        {"role": "user", "content": "When?"},
    ])
    assert p == "Answer from the transcript.\n\nUser: Who spoke?\nAssistant: Anna.\nUser: When?\nAssistant:"
    assert PLAIN_STOP in "\n" + p  # the stop string marks the start of the next user turn


def test_stop_filter_cuts_across_pieces():
    pieces = ["The answer", " is 4", "2.\nUs", "er: next question"]
    assert "".join(filter_stops(pieces, ["\nUser:"])) == "The answer is 42."
    # a partial match that turns out not to be the stop string is released unchanged
    assert "".join(filter_stops(["a\nU", "nder b"], ["\nUser:"])) == "a\nUnder b"
    # earliest of several stop strings wins, and nothing after it leaks out
    f = StopFilter(["END", "##"])
    out = f.feed("one ## two") + f.feed("END") + f.flush()
    assert out == "one " and f.stopped
    assert list(filter_stops(["x", "y"], None)) == ["x", "y"]


def test_unknown_backend_is_a_clear_error(settings):
    with pytest.raises(ModelError, match="unknown llm backend"):
        get_llm(settings, backend="llamafile")
    with pytest.raises(ModelError, match="base_url"):
        get_llm(settings, backend="openai")


# -- real models, in process -------------------------------------------------------------------------------------
def _stats(llm) -> str:
    s = getattr(llm, "last_stats", {})
    return (f"prompt {s.get('prompt_tokens')} tok at {s.get('prompt_tps', 0):.1f} tok/s, "
            f"generated {s.get('generation_tokens')} tok at {s.get('generation_tps', 0):.1f} tok/s")


LOCAL = ["mlx", "llamacpp"]  # the in-process backends: the same tests, the same packs (llamacpp on their GGUFs)
ASKED = [{"role": "system", "content": "Answer in one short sentence."}, *CHAT]


@pytest.mark.slow
@pytest.mark.parametrize("backend", LOCAL)
def test_local_backend_streams_a_chat_answer(settings, backend):
    llm = get_llm(settings, backend=backend)  # default llm.model: the smollm2-135m-instruct pack
    assert isinstance(llm, LLM) and llm.has_chat_template
    assert get_llm(settings, backend=backend) is llm  # cached per process
    # (without a system text the two differ: SmolLM2's first token is a near tie, "The" 0.15 vs "L" 0.14 in mlx-lm's
    # float32, the other way round on llama.cpp's Q4_1 dot products, which then writes French)
    pieces = list(llm.stream(ASKED, max_tokens=24))
    answer = "".join(pieces)
    print(f"\nsmollm2 ({backend}): {answer!r}; {_stats(llm)}")
    assert len(pieces) >= 3
    assert "Paris" in answer
    assert "<|im_end|>" not in answer and "<|im_start|>" not in answer
    assert llm.last_stats["prompt_tokens"] > 20 and llm.last_stats["generation_tps"] > 0
    # honours stop strings and the token budget
    assert "Paris" not in llm.generate(ASKED, max_tokens=24, stop=["Paris"])
    assert llm.last_stats["generation_tokens"] <= 24
    short = llm.generate([{"role": "user", "content": "Count from one to fifty."}], max_tokens=5)
    assert llm.last_stats["generation_tokens"] <= 5 and short


@pytest.mark.slow
@pytest.mark.parametrize("backend", LOCAL)
def test_local_base_model_without_chat_template_uses_plain_prompt(settings, backend):
    llm = get_llm(settings, model="gemma-3-270m", backend=backend)
    assert not llm.has_chat_template
    if backend == "mlx":
        ids, stops = llm.prompt_tokens(ASKED)
        assert stops == [PLAIN_STOP]
        assert llm.tokenizer.decode(ids).endswith("User: What is the capital of France?\nAssistant:")
        assert 106 in llm.tokenizer.eos_token_ids and 1 in llm.tokenizer.eos_token_ids  # <end_of_turn>, <eos>
    else:
        handler, body, stops = llm.request(ASKED, None)
        assert handler == "handle_completions" and stops == [PLAIN_STOP]
        assert body["prompt"] == plain_prompt(ASKED)
    answer = llm.generate(ASKED, max_tokens=32)
    print(f"\ngemma-3-270m ({backend}): {answer!r}; {_stats(llm)}")
    assert answer.strip() and "User:" not in answer and "Paris" in answer
    assert llm.last_stats["finish_reason"] == "stop"  # at the next "User:" turn or an end token, not the budget


# -- a real OpenAI-compatible server -----------------------------------------------------------------------------

def _completion(port: int, timeout: float) -> dict:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture
def mlx_server(pack, tmp_path):
    """`python -m mlx_lm server` on the smollm2 pack; ready once a 1-token completion answers (the model loads on
    the first request, /health answers earlier)."""
    folder = pack("smollm2-135m-instruct")
    port = free_port()
    hub = tmp_path / "hf-cache"
    hub.mkdir()
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlx_lm", "server", "--model", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        deadline = time.time() + 300
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlx_lm server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                _completion(port, timeout=120)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                if time.time() > deadline:
                    pytest.fail("mlx_lm server did not become ready in 300 s")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop_process(proc, timeout=30)
        log.close()


@pytest.mark.slow
def test_openai_backend_streams_from_mlx_lm_server(settings, mlx_server):
    clear_cache()
    settings.llm.backend = "openai"
    settings.llm.base_url = mlx_server
    llm = get_llm(settings)
    assert type(llm).__name__ == "OpenAILLM"
    t0 = time.perf_counter()
    pieces = list(llm.stream(CHAT, max_tokens=24))
    answer = "".join(pieces)
    print(f"\nsmollm2 via mlx_lm server: {answer!r} in {time.perf_counter() - t0:.1f} s, {len(pieces)} pieces")
    assert llm.fallback is None  # the server answered, not the local model
    assert len(pieces) >= 3 and "Paris" in answer
    # same greedy answer as the same weights in process
    local = get_llm(settings, backend="mlx").generate(CHAT, max_tokens=24)
    assert answer == local
    assert "Paris" not in llm.generate(CHAT, max_tokens=24, stop=["Paris"])


@pytest.mark.slow
def test_openai_backend_falls_back_to_local_when_server_is_down(settings, caplog, capfd):
    clear_cache()
    port = free_port()  # closed: nothing listens there
    settings.llm.backend = "openai"
    settings.llm.base_url = f"http://127.0.0.1:{port}/v1"
    llm = get_llm(settings)
    with caplog.at_level(logging.WARNING):
        answer = llm.generate(ASKED, max_tokens=24)
    assert "Paris" in answer
    assert llm.fallback is not None and "fallback" in llm.name
    # what the page and the stored turn say answered: the local engine, and that the server was not reached
    from rag.llm import label

    who = label(llm)
    assert who.startswith(f"{llm.fallback.name} on ") and f"unreachable server 127.0.0.1:{port}" in who, who
    assert any("unreachable" in r.getMessage() and str(port) in r.getMessage() for r in caplog.records)
    assert "unreachable" in capfd.readouterr().err
    # later calls go straight to the local model
    assert llm.generate(ASKED, max_tokens=24) == answer
