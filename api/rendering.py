"""What every HTML page shares: language and translations, security headers, the language
switch's cookie, and small formatting helpers the templates use."""

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData, Headers

from api.i18n import parse_language, request_language, translate

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
# Receipt codes, identities and case material must never stay in a cache.
PRIVATE_PAGE_HEADERS = {**PAGE_HEADERS, "Cache-Control": "no-store"}
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def field_id(name: str) -> str:
    """The HTML id of the input for a field path such as `loan.payments.2.amount`."""
    return "f-" + name.replace(".", "-")


def format_moment(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def render_page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    private: bool = True,
) -> HTMLResponse:
    """Render `template` in the request's language; remember a language chosen by `?lang=`."""
    language = request_language(request)
    t: Callable[..., str] = partial(translate, language)
    response = request.app.state.templates.TemplateResponse(
        request,
        template,
        {
            "lang": language,
            "html_lang": "zh-CN" if language == "zh" else "en",
            "t": t,
            "field_id": field_id,
            "moment": format_moment,
            **context,
        },
        status_code=status_code,
        headers=dict(PRIVATE_PAGE_HEADERS if private else PAGE_HEADERS),
    )
    chosen = parse_language(request.query_params.get("lang"))
    if chosen:
        response.set_cookie(
            "lang", chosen, max_age=LANGUAGE_COOKIE_SECONDS, httponly=True, samesite="lax"
        )
    return response


async def _form_data(request: Request) -> AsyncIterator[FormData]:
    async with request.form() as form:
        yield form


# The request's form, closed (with its uploaded files) when the request ends.
FormDep = Annotated[FormData, Depends(_form_data)]


def form_text(form: FormData, name: str) -> str:
    """A form field's text, trimmed; empty when missing or when it is a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class FieldErrors:
    """What `_macros.html` asks of a form being shown again: the values as typed and the
    errors by field. Classes using it have `values` and `errors` attributes."""

    values: dict[str, str]
    errors: dict[str, list[str]]

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def invalid(self, name: str) -> bool:
        return name in self.errors

    def described_by(self, name: str, *hint_ids: str) -> str | None:
        ids = [*hint_ids, f"err-{field_id(name)}"] if self.invalid(name) else list(hint_ids)
        return " ".join(ids) or None


_FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_browser_form_post(headers: Headers) -> bool:
    """A page's form submitted by a browser, which should get a page back rather than the JSON
    error API clients get: a form body, and HTML among what the client accepts."""
    return headers.get("content-type", "").startswith(_FORM_CONTENT_TYPES) and (
        "text/html" in headers.get("accept", "")
    )


def error_page(request: Request, status_code: int, code: str) -> HTMLResponse:
    """The site's error page for an error raised before any page handler ran (e.g. `413`)."""
    language = request_language(request)
    return render_page(
        request,
        "error.html",
        {
            "heading": translate(language, f"page.error.heading_{status_code}"),
            "message": translate(language, f"error.{code}"),
            "offer_lookup": False,
        },
        status_code=status_code,
    )
