"""A live server (`activecommerce serve` on loopback) for the SDK tests, and a proxy
that loses one response, as a flaky network would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from servers import cli_account, running_server, server_env


@dataclass
class Live:
    base: str
    sandbox_key: str
    live_key: str


@contextmanager
def live_server(
    database_url: str, tmp: Path, plan: str = "enterprise", **overrides: str
) -> Iterator[Live]:
    env = server_env(database_url, tmp, ACTIVECOMMERCE_EMBEDDED_WORKER="true", **overrides)
    account = cli_account(env, plan, name="SDK")
    with running_server(env, tmp / "serve.log") as (base, _log):
        yield Live(base, account["sandboxApiKey"], account["liveApiKey"])


@dataclass
class LossyProxy:
    """Forwards requests to `target`; the first POST's response is lost (the connection
    closes before it is sent back), after the server has acted on it. Records each
    request's method, path and Idempotency-Key, and each answer's status and replay
    header."""

    target: str
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    answers: list[tuple[int, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        owner = self
        upstream = httpx.Client(base_url=self.target, timeout=30)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                key = self.headers.get("idempotency-key")
                owner.seen.append((self.command, self.path, key))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = upstream.request(self.command, self.path, content=body, headers=headers)
                owner.answers.append(
                    (answer.status_code, answer.headers.get("idempotent-replayed"))
                )
                if self.command == "POST" and sum(m == "POST" for m, _, _ in owner.seen) == 1:
                    self.close_connection = True  # the answer is lost on the way back
                    return
                self.send_response(answer.status_code)
                for name in ("content-type", "location", "idempotent-replayed"):
                    if name in answer.headers:
                        self.send_header(name, answer.headers[name])
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._upstream = upstream
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._upstream.close()
