"""The identity store's cryptography: AES-256-GCM per field, and a keyed hash of ID numbers.

Pure functions over bytes and keys: no database, no settings. Each field value is sealed on its
own with a fresh random 96-bit nonce. The associated data names the signatory and the field, so
a ciphertext copied onto another row or another field fails authentication instead of quietly
decrypting as someone else's name. The key id travels with every ciphertext, so rows sealed
under an older key stay readable while new rows use the newest one.
"""

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32
# Versioned, so a later change of layout cannot be confused with this one.
_AAD_PREFIX = "gongsu-identity-v1"


class IdentityCryptoError(Exception):
    """A ciphertext that does not open: unknown key id, wrong key, or a row that was altered."""


@dataclass(frozen=True)
class SealedValue:
    key_id: str
    nonce: bytes
    ciphertext: bytes


def associated_data(signatory_id: int, field: str) -> bytes:
    return f"{_AAD_PREFIX}|{signatory_id}|{field}".encode()


class KeyRing:
    """The identity keys, newest first: the first seals, every one of them opens."""

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        for key_id, key in keys:
            if len(key) != KEY_BYTES:
                raise ValueError(f"identity key {key_id!r} is not {KEY_BYTES} bytes")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys}
        if len(self._ciphers) != len(keys):
            raise ValueError("a key id appears twice in the key ring")
        self.newest_key_id = keys[0][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._ciphers)

    def seal(self, plaintext: str, *, signatory_id: int, field: str) -> SealedValue:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.newest_key_id].encrypt(
            nonce, plaintext.encode("utf-8"), associated_data(signatory_id, field)
        )
        return SealedValue(self.newest_key_id, nonce, ciphertext)

    def open(self, sealed: SealedValue, *, signatory_id: int, field: str) -> str:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise IdentityCryptoError(f"no key with id {sealed.key_id!r} in the key ring")
        try:
            plaintext = cipher.decrypt(
                sealed.nonce, sealed.ciphertext, associated_data(signatory_id, field)
            )
        except InvalidTag as error:
            raise IdentityCryptoError(
                f"the {field} of signatory {signatory_id} does not authenticate"
            ) from error
        return plaintext.decode("utf-8")


def normalize_id_number(value: str) -> str:
    """What two spellings of one ID number have in common: no spaces or dashes, upper-case X."""
    return "".join(ch for ch in value if ch.isalnum()).upper()


def id_number_hash(hash_key: bytes, id_number: str) -> str:
    """HMAC-SHA256 of the normalized number: equal for one person, unguessable without the key
    (a plain hash of an 18-digit ID with a birth date inside is quickly brute-forced)."""
    return hmac.new(
        hash_key, normalize_id_number(id_number).encode("utf-8"), hashlib.sha256
    ).hexdigest()
