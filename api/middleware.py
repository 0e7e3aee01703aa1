"""ASGI middleware: request body limits and an access log that cannot leak receipt codes."""

import logging
import time
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import json_error_bytes
from api.i18n import parse_language
from api.rendering import error_page, is_browser_form_post

access_logger = logging.getLogger("gongsu.access")


class BodySizeLimit:
    """413 for bodies over the limit, whether declared by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, *, json_max_bytes: int, multipart_max_bytes: int) -> None:
        self.app = app
        self.json_max_bytes = json_max_bytes
        self.multipart_max_bytes = multipart_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        is_multipart = headers.get("content-type", "").startswith("multipart/form-data")
        limit = self.multipart_max_bytes if is_multipart else self.json_max_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit and is_browser_form_post(headers):
            response = error_page(Request(scope), 413, "payload_too_large")
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        if declared.isdigit() and int(declared) > limit:
            language = parse_language(headers.get("accept-language")) or "zh"
            body = json_error_bytes(language, "payload_too_large")
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException, because FastAPI turns any other error raised while
                    # reading the body into a 400.
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, limited_receive, send)


class AccessLog:
    """One line per request with the route's template (`/r/{code}`), never the filled-in path,
    the query string, the client address or any header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            access_logger.info(
                "%s %s %s %.1fms",
                scope["method"],
                template,
                status_holder["status"],
                (time.perf_counter() - started) * 1000,
            )
