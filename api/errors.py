"""Domain errors carry their HTTP status; one set of handlers turns every error into JSON.

Error bodies are `{"error": code, "detail": message, "errors": [{"field", "code", "message"}]}`
with messages in the request's language. They never echo submitted values, so no personal
data reaches a response, a log or a browser history through an error.
"""

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.i18n import Language, request_language, translate
from api.rendering import error_page, is_browser_form_post

logger = logging.getLogger("gongsu.errors")


class DomainError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, detail_key: str | None = None, **params: object) -> None:
        super().__init__(detail_key or self.code)
        self.detail_key = detail_key or f"error.{self.code}"
        self.params = params

    def body(self, language: Language) -> dict[str, Any]:
        return {"error": self.code, "detail": translate(language, self.detail_key, **self.params)}


class Unauthorized(DomainError):
    """No valid staff session: log in first."""

    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """Logged in, but this role may not do this (or the CSRF token was missing or wrong)."""

    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class TooManyRequests(DomainError):
    status_code = 429
    code = "too_many_requests"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class FieldError(DomainError):
    """Input that is well-formed but wrong, for one named field: a 422 that says why."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, field: str, reason: str, **params: object) -> None:
        super().__init__("error.validation_failed")
        self.field = field
        self.reason = reason
        self.reason_params = params

    def body(self, language: Language) -> dict[str, Any]:
        return validation_body(language, [(self.field, self.reason, self.reason_params)])


def validation_body(
    language: Language, problems: list[tuple[str, str, dict[str, object]]]
) -> dict[str, Any]:
    errors = [
        {
            "field": field,
            "code": reason,
            "message": translate(language, f"reason.{reason}", field=field, **params),
        }
        for field, reason, params in problems
    ]
    summary = "; ".join(f"{error['field']}: {error['message']}" for error in errors)
    return {
        "error": "validation_failed",
        "detail": translate(language, "error.validation_failed", summary=summary),
        "errors": errors,
    }


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "form")]
    return ".".join(parts) or "body"


# Context keys pydantic puts in its error `ctx` that our messages use; anything else is
# dropped so no submitted value is ever echoed back.
_SAFE_CONTEXT_KEYS = {"min_length", "max_length", "ge", "gt", "le", "lt", "pattern", "expected"}


def pydantic_problems(errors: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, object]]]:
    problems = []
    for error in errors:
        context = error.get("ctx") or {}
        params = {key: str(value) for key, value in context.items() if key in _SAFE_CONTEXT_KEYS}
        reason = str(context.get("reason") or error["type"])
        problems.append((_field_path(tuple(error["loc"])), reason, params))
    return problems


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def handle_domain_error(request: Request, error: DomainError) -> JSONResponse:
        return JSONResponse(error.body(request_language(request)), status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def handle_validation_error(
        request: Request, error: RequestValidationError
    ) -> JSONResponse:
        language = request_language(request)
        errors = list(error.errors())
        if any(item["type"] == "json_invalid" for item in errors):
            body = {
                "error": "malformed_json",
                "detail": translate(language, "error.malformed_json"),
            }
            return JSONResponse(body, status_code=400)
        return JSONResponse(validation_body(language, pydantic_problems(errors)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def handle_http_error(request: Request, error: StarletteHTTPException) -> Response:
        language = request_language(request)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            error.status_code, "http_error"
        )
        if error.status_code == 413 and is_browser_form_post(request.headers):
            return error_page(request, 413, code)
        body = {"error": code, "detail": translate(language, f"error.{code}")}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def json_error_bytes(language: Language, code: str) -> bytes:
    """An error body for middleware that answers before routing (e.g. an oversized body)."""
    body = {"error": code, "detail": translate(language, f"error.{code}")}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
