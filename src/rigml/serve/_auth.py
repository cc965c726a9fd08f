"""Bearer tokens: with a token file, every path but ``/healthz`` needs one (401 without).

A plain ASGI middleware, cheaper than Starlette's ``BaseHTTPMiddleware``; each token is
compared with :func:`hmac.compare_digest`, all of them every time, so the time taken says
nothing about which (or whether any) matched.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
OPEN_PATHS = frozenset({"/healthz"})


def token_ok(header: bytes | None, tokens: list[bytes]) -> bool:
    if header is None or header[:7].lower() != b"bearer ":
        return False
    given = header[7:].strip()
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(given, token)
    return ok


class TokenAuth:
    def __init__(self, app: ASGIApp, tokens: list[bytes]) -> None:
        self.app, self.tokens = app, tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope["headers"] if k == b"authorization"), None)
        if token_ok(header, self.tokens):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "a bearer token is needed: Authorization: Bearer TOKEN"})
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
