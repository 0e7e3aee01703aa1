"""Languages and message catalogues (frontend/locales/*.json), for pages and error messages."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from starlette.requests import HTTPConnection

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")
DEFAULT_LANGUAGE: Language = "zh"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "frontend" / "locales"


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: Language) -> dict[str, str]:
    with (LOCALES_DIR / f"{language}.json").open(encoding="utf-8") as handle:
        return json.load(handle)


def translate(language: Language, key: str, **params: object) -> str:
    """The message for `key` in `language`, falling back to English, then to the key itself."""
    template = catalogue(language).get(key) or catalogue("en").get(key) or key
    return template.format(**params) if params else template


def parse_language(value: str | None) -> Language | None:
    if not value:
        return None
    prefix = value.strip().lower()[:2]
    return prefix if prefix in LANGUAGES else None  # type: ignore[return-value]


def request_language(connection: HTTPConnection) -> Language:
    """`?lang=` first, then the `lang` cookie the language switch sets; then, for the JSON API
    only, Accept-Language.

    Pages are Chinese first whatever the browser says, because the people they are for are
    Chinese borrowers whose phones and borrowed computers often send English preferences; the
    switch on every page changes it and is remembered. API clients choose by Accept-Language.
    """
    chosen = parse_language(connection.query_params.get("lang")) or parse_language(
        connection.cookies.get("lang")
    )
    if chosen:
        return chosen
    if not connection.url.path.startswith("/api/"):
        return DEFAULT_LANGUAGE
    header = connection.headers.get("accept-language", "")
    ranked: list[tuple[float, int, Language]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, weight = part.strip().partition(";q=")
        language = parse_language(tag)
        if language is None:
            continue
        try:
            quality = float(weight) if weight else 1.0
        except ValueError:
            quality = 0.0
        ranked.append((-quality, position, language))
    return min(ranked)[2] if ranked else DEFAULT_LANGUAGE
