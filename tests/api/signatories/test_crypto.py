"""The identity store's encryption and keyed hash, and the key settings."""

import base64
import json

import pytest
from pydantic import ValidationError

from api.config import DEV_IDENTITY_KEY, Settings
from api.signatories.crypto import (
    NONCE_BYTES,
    IdentityCryptoError,
    KeyRing,
    SealedValue,
    id_number_hash,
)
from tests.api.signatories.conftest import key_spec, ring
from tests.factories import resident_id

PRODUCTION = {"env": "production", "secret_key": "s" * 40, "identity_hash_key": "h" * 40}


def test_a_sealed_field_opens_only_as_the_same_field_of_the_same_signatory() -> None:
    keys = ring("k1")
    sealed = keys.seal("张晓梅", signatory_id=7, field="full_name")

    assert sealed.key_id == "k1"
    assert len(sealed.nonce) == NONCE_BYTES
    assert "张晓梅".encode() not in sealed.ciphertext
    assert keys.open(sealed, signatory_id=7, field="full_name") == "张晓梅"
    for signatory_id, field in ((8, "full_name"), (7, "address")):
        with pytest.raises(IdentityCryptoError):
            keys.open(sealed, signatory_id=signatory_id, field=field)
    tampered = SealedValue(
        "k1", sealed.nonce, bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]
    )
    with pytest.raises(IdentityCryptoError):
        keys.open(tampered, signatory_id=7, field="full_name")


def test_every_seal_uses_a_fresh_nonce() -> None:
    keys = ring("k1")
    first = keys.seal("13912345678", signatory_id=1, field="phone")
    second = keys.seal("13912345678", signatory_id=1, field="phone")
    assert first.nonce != second.nonce and first.ciphertext != second.ciphertext


def test_the_newest_key_seals_and_every_listed_key_opens() -> None:
    old = ring("k1").seal("x", signatory_id=1, field="phone")
    both = ring("k2", "k1")
    assert both.seal("x", signatory_id=1, field="phone").key_id == "k2"
    assert both.open(old, signatory_id=1, field="phone") == "x"
    with pytest.raises(IdentityCryptoError, match="no key with id 'k1'"):
        ring("k2").open(old, signatory_id=1, field="phone")
    with pytest.raises(ValueError):
        KeyRing([("short", b"too short")])


def test_the_id_number_hash_is_keyed_and_ignores_spelling() -> None:
    number = resident_id("11010519491231002")
    spelled = f"{number[:6]} {number[6:14]}-{number[14:].lower()}"
    assert id_number_hash(b"key one", number) == id_number_hash(b"key one", spelled)
    assert id_number_hash(b"key one", number) != id_number_hash(b"key two", number)


def test_identity_keys_come_from_the_environment_newest_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GONGSU_IDENTITY_KEYS", json.dumps([key_spec("k2"), key_spec("k1")]))
    assert [key_id for key_id, _key in Settings().identity_key_ring] == ["k2", "k1"]


@pytest.mark.parametrize(
    "specs",
    [
        ["no-colon"],
        ["k1:not base64!"],
        ["k1:" + base64.b64encode(b"sixteen bytes!!!").decode()],
        [key_spec("k1"), key_spec("k1")],
    ],
)
def test_malformed_identity_keys_are_refused_without_showing_them(specs: list[str]) -> None:
    with pytest.raises(ValidationError, match="GONGSU_IDENTITY_KEYS") as caught:
        Settings(identity_keys=specs)
    assert "base64!" not in str(caught.value) and "sixteen" not in str(caught.value)


def test_production_refuses_the_development_identity_keys() -> None:
    with pytest.raises(ValidationError, match="development key"):
        Settings(**PRODUCTION)
    with pytest.raises(ValidationError, match="development key"):
        Settings(**PRODUCTION, identity_keys=[key_spec("k2"), DEV_IDENTITY_KEY])
    with pytest.raises(ValidationError, match="GONGSU_IDENTITY_HASH_KEY"):
        Settings(**{**PRODUCTION, "identity_hash_key": "short"}, identity_keys=[key_spec("k2")])
    assert Settings(**PRODUCTION, identity_keys=[key_spec("k2")]).env == "production"
