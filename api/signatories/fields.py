"""The identity fields a channel can ask for (keys as in api/data/channels.json): what kind of
input each is, and how a typed value is checked and normalized. Pure: no database.

Documents that must be signed by hand (the signature, a power of attorney, a CFPB written
permission) are never collected by the form: the platform keeps no scans of signatures or IDs
(legal-research.md §5.4.7); the form says they will be signed on paper with the lawyer.
"""

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from aggregation.redaction import is_valid_resident_id
from api.signatories.crypto import normalize_id_number


class FieldKind(StrEnum):
    text = "text"
    resident_id = "resident_id"
    phone = "phone"
    email = "email"
    date = "date"
    choice = "choice"
    amount = "amount"
    # References to the report's own evidence files, chosen from a list.
    evidence = "evidence"
    # Signed on paper later; nothing is typed in.
    paper = "paper"


@dataclass(frozen=True)
class FieldSpec:
    key: str
    kind: FieldKind
    max_length: int = 200
    choices: tuple[str, ...] = ()

    @property
    def is_collected(self) -> bool:
        return self.kind != FieldKind.paper


FIELDS: dict[str, FieldSpec] = {
    spec.key: spec
    for spec in (
        FieldSpec("full_name", FieldKind.text, max_length=100),
        FieldSpec("id_number", FieldKind.resident_id),
        FieldSpec("phone", FieldKind.phone),
        FieldSpec("email", FieldKind.email, max_length=254),
        FieldSpec("address", FieldKind.text, max_length=300),
        FieldSpec("domicile", FieldKind.text, max_length=300),
        FieldSpec("service_address", FieldKind.text, max_length=300),
        FieldSpec("state_of_residence", FieldKind.text, max_length=60),
        FieldSpec("loan_account_ref", FieldKind.text, max_length=100),
        FieldSpec("account_ref", FieldKind.text, max_length=100),
        FieldSpec("sex", FieldKind.choice, choices=("female", "male")),
        FieldSpec("date_of_birth", FieldKind.date),
        FieldSpec("ethnicity", FieldKind.text, max_length=40),
        FieldSpec("occupation", FieldKind.text, max_length=100),
        FieldSpec("employer", FieldKind.text, max_length=200),
        FieldSpec("claim_amount", FieldKind.amount),
        FieldSpec("payment_method", FieldKind.text, max_length=200),
        FieldSpec("proof_of_relationship", FieldKind.evidence),
        FieldSpec("proof_of_loss", FieldKind.evidence),
        FieldSpec("signature", FieldKind.paper),
        FieldSpec("power_of_attorney", FieldKind.paper),
        FieldSpec("written_permission", FieldKind.paper),
    )
}

_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()-]{5,22}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AMOUNT_NOISE_RE = re.compile(r"[\s,，_¥￥元$]")
_MAX_AMOUNT = Decimal("1000000000")


class FieldProblem(ValueError):
    """A typed value that is wrong; `reason` is a key under `signatory.reason.*`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def spec_for(key: str) -> FieldSpec:
    """The spec of a channel's field; an unknown key is a data error caught by the tests."""
    return FIELDS[key]


def clean_value(spec: FieldSpec, raw: str) -> str:
    """The value to store, normalized; FieldProblem if it is missing or wrong."""
    value = " ".join(raw.split())
    if not value:
        raise FieldProblem("missing")
    if len(value) > spec.max_length:
        raise FieldProblem("too_long")
    if spec.kind == FieldKind.resident_id:
        number = normalize_id_number(value)
        if not is_valid_resident_id(number):
            raise FieldProblem("invalid_id_number")
        return number
    if spec.kind == FieldKind.phone:
        digits = sum(ch.isdigit() for ch in value)
        if not _PHONE_RE.match(value) or not 7 <= digits <= 15:
            raise FieldProblem("invalid_phone")
        return value
    if spec.kind == FieldKind.email:
        if not _EMAIL_RE.match(value):
            raise FieldProblem("invalid_email")
        return value
    if spec.kind == FieldKind.date:
        try:
            born = date.fromisoformat(value)
        except ValueError as error:
            raise FieldProblem("invalid_date") from error
        if not date(1900, 1, 1) <= born <= date.today():
            raise FieldProblem("invalid_date")
        return born.isoformat()
    if spec.kind == FieldKind.choice:
        if value not in spec.choices:
            raise FieldProblem("invalid_choice")
        return value
    if spec.kind == FieldKind.amount:
        try:
            amount = Decimal(_AMOUNT_NOISE_RE.sub("", value))
        except InvalidOperation as error:
            raise FieldProblem("invalid_amount") from error
        if not amount.is_finite() or amount <= 0 or amount >= _MAX_AMOUNT:
            raise FieldProblem("invalid_amount")
        return str(amount.quantize(Decimal("0.01")))
    return value


def birth_date_of(id_number: str) -> str:
    """The birth date an 18-digit resident ID carries, as YYYY-MM-DD."""
    return f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
