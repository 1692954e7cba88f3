"""Stand-ins for servers that cannot run on this machine (a real faster-whisper-server's failures on demand, vLLM
serving Voxtral). Each test module says which real server its fake stands for and how to run that one.

`JsonServer(script)`: an HTTP server on 127.0.0.1 (a free port) whose every POST is answered by
`script(body: bytes) -> (status, payload)` as JSON, recording `(path, body)` in `.requests`. Use it as a context
manager, or through the `fake_server` fixture factory of the test module.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Script = Callable[[bytes], tuple[int, object]]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, body))
        status, payload = self.server.script(body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class JsonServer:
    def __init__(self, script: Script) -> None:
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.srv.script, self.srv.requests = script, []
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, bytes]]:
        return self.srv.requests

    def close(self) -> None:
        self.srv.shutdown()
        self.srv.server_close()

    def __enter__(self) -> "JsonServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chat_reply(content: str, model: str = "stand-in") -> dict:
    """An OpenAI chat-completions response holding one assistant message."""
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}
