"""Receipt codes and per-client rate limits."""

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

# 20 random bytes = 160 bits, above the 128 bits a guessable-code attack would have to beat.
RECEIPT_CODE_BYTES = 20
_RECEIPT_GROUP = 4


def new_receipt_code() -> str:
    """A code such as `GS-ABCD-EFGH-…`: base32 (no 0/1/8/9 look-alikes), grouped to copy by hand."""
    raw = base64.b32encode(secrets.token_bytes(RECEIPT_CODE_BYTES)).decode("ascii").rstrip("=")
    groups = [raw[i : i + _RECEIPT_GROUP] for i in range(0, len(raw), _RECEIPT_GROUP)]
    return "GS-" + "-".join(groups)


# Base32 has no 0, 1 or 8, so a code copied by hand with those meant O, I and B.
_HANDWRITING_FIXES = str.maketrans({"0": "O", "1": "I", "8": "B"})
_RECEIPT_BODY_LENGTH = 32


def normalize_receipt_code(code: str) -> str:
    compact = "".join(ch for ch in code.upper() if ch.isalnum()).translate(_HANDWRITING_FIXES)
    if len(compact) == _RECEIPT_BODY_LENGTH + 2 and compact.startswith("GS"):
        return compact[2:]
    return compact


def receipt_hash(code: str) -> str:
    """What the database keeps instead of the code.

    A plain SHA-256 is enough here: the code carries 160 random bits, so the hash cannot be
    reversed by guessing, and no server secret is needed that could be lost or rotated away.
    """
    return hashlib.sha256(normalize_receipt_code(code).encode("ascii")).hexdigest()


class SlidingWindowLimiter:
    """At most `limit` hits per client in any `window_seconds`, counted in this process.

    Clients are kept only as keyed hashes with a key that lives in memory, so even this
    short-lived table holds no address. With several worker processes each keeps its own
    table; the effective limit is then at most workers × limit, which still stops guessing.
    """

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._key = secrets.token_bytes(16)
        self._hits: dict[bytes, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        digest = hmac.new(self._key, client.encode("utf-8"), hashlib.sha256).digest()
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(digest, deque())
            while hits and now - hits[0] > self.window_seconds:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 100_000:
                self._forget_idle(now)
            return True

    def _forget_idle(self, now: float) -> None:
        idle = [
            key
            for key, hits in self._hits.items()
            if not hits or now - hits[-1] > self.window_seconds
        ]
        for key in idle:
            del self._hits[key]
