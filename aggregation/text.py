"""Text normalization shared by lender lookup, redaction and clustering."""

import re
import unicodedata
from functools import lru_cache

import opencc

_WHITESPACE_RE = re.compile(r"\s+")


@lru_cache(maxsize=1)
def _traditional_to_simplified() -> opencc.OpenCC:
    # Built once: loading the conversion dictionaries costs milliseconds per instance.
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified ones; other text passes through."""
    return _traditional_to_simplified().convert(text)


def normalize_text(text: str) -> str:
    """NFKC (full-width → half-width), traditional → simplified, case-folded, single spaces."""
    folded = unicodedata.normalize("NFKC", text)
    folded = to_simplified(folded).casefold()
    return _WHITESPACE_RE.sub(" ", folded).strip()


def normalize_name(name: str) -> str:
    """Key for matching names typed in many ways: `normalize_text` with all spacing removed.

    Chinese brand names are typed with and without spaces ("同程 借钱"), and English ones with
    arbitrary spacing and case ("Home  credit"), so spacing carries no meaning here.
    """
    return _WHITESPACE_RE.sub("", normalize_text(name))
