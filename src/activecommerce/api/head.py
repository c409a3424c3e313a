"""HEAD wherever GET answers (RFC 9110 §9.3.2): FastAPI's routes answer only the methods
they name, so a HEAD on a page, a probe or a `/v3` GET was a 405.

A HEAD is handed to the app as the GET it stands for, once (one handler run, its side
effects once, its rate-limit count once), and only the answer's status and headers go
back: its Content-Length stays the GET's, its body is dropped. The server (uvicorn) drops
a HEAD's body too; doing it here keeps every server and test client honest."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Set in the GET's scope when it stands for a HEAD: a handler that records something on
# a GET (a tracking link's open or click) reads it, since a HEAD asks for headers only
# (link checkers and mail scanners send them) and must not count.
HEAD = "activecommerce.head"


def is_head(request: Request) -> bool:
    return bool(request.scope.get(HEAD))


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        ended = False

        async def headers_only(message: Message) -> None:
            nonlocal ended
            if message["type"] != "http.response.body":
                await send(message)
            elif not ended and not message.get("more_body", False):
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        # A copy: the server keeps its own scope, and with it the HEAD it answers.
        await self.app({**scope, "method": "GET", HEAD: True}, receive, headers_only)
