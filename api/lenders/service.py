"""Lender look-up: every name a borrower might type resolves through `normalize_name`."""

import csv
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregation.text import normalize_name
from api.lenders.models import Lender, LenderAlias, LenderKind

_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")


def lender_key_for(name_en: str) -> str:
    return _NON_SLUG_RE.sub("-", name_en.lower()).strip("-")


@dataclass(frozen=True)
class LenderLoadCounts:
    lenders_added: int
    lenders_updated: int
    aliases_added: int


def load_lenders(session: Session, csv_path: Path) -> LenderLoadCounts:
    """Insert or update lenders and aliases from a seed CSV; running it twice changes nothing.

    Columns: name_zh, name_en, kind, aliases (separated by ";"), notes.
    """
    with csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    existing = {lender.key: lender for lender in session.scalars(select(Lender))}
    taken_alias_keys = set(session.scalars(select(LenderAlias.alias_key)))
    added = updated = aliases_added = 0
    for row in rows:
        key = lender_key_for(row["name_en"])
        lender = existing.get(key)
        if lender is None:
            lender = Lender(key=key)
            session.add(lender)
            existing[key] = lender
            added += 1
        elif (lender.name_zh, lender.name_en, lender.kind, lender.notes) != (
            row["name_zh"],
            row["name_en"],
            row["kind"],
            row.get("notes") or None,
        ):
            updated += 1
        lender.name_zh = row["name_zh"]
        lender.name_en = row["name_en"]
        lender.kind = LenderKind(row["kind"])
        lender.notes = row.get("notes") or None
        session.flush()
        names = [row["name_zh"], row["name_en"], *(row.get("aliases") or "").split(";")]
        for alias in (name.strip() for name in names):
            alias_key = normalize_name(alias)
            if not alias_key or alias_key in taken_alias_keys:
                continue
            session.add(LenderAlias(lender_id=lender.id, alias=alias, alias_key=alias_key))
            taken_alias_keys.add(alias_key)
            aliases_added += 1
    session.flush()
    return LenderLoadCounts(added, updated, aliases_added)


def resolve_lender(session: Session, typed_name: str) -> Lender | None:
    """The lender a typed name refers to, or None when nobody has mapped that name yet."""
    alias_key = normalize_name(typed_name)
    if not alias_key:
        return None
    return session.scalar(
        select(Lender).join(LenderAlias).where(LenderAlias.alias_key == alias_key)
    )


@dataclass(frozen=True)
class KnownLender:
    """What a report needs of its lender, held in memory between requests."""

    id: int
    key: str
    name_zh: str
    name_en: str


class LenderDirectory:
    """Typed names already mapped to a lender, remembered per process.

    Aliases are only ever added, never removed or moved to another lender, so a remembered
    mapping stays right; the whole table is re-read every `refresh_s` seconds only so that
    renamed lenders show their new names. A name not remembered is looked up in the database
    each time, so a name an admin has just mapped resolves at once in every process.
    """

    _MAPPED_NAMES = select(
        LenderAlias.alias_key, Lender.id, Lender.key, Lender.name_zh, Lender.name_en
    ).join(Lender)

    def __init__(self, refresh_s: float = 300.0) -> None:
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._by_alias_key: dict[str, KnownLender] = {}
        self._loaded_at = float("-inf")

    def _reload(self, session: Session) -> None:
        rows = session.execute(self._MAPPED_NAMES)
        by_alias_key = {alias_key: KnownLender(*lender) for alias_key, *lender in rows}
        with self._lock:
            self._by_alias_key = by_alias_key
            self._loaded_at = time.monotonic()

    def resolve(self, session: Session, typed_name: str) -> KnownLender | None:
        """The lender a typed name refers to, or None when nobody has mapped that name yet."""
        alias_key = normalize_name(typed_name)
        if not alias_key:
            return None
        if time.monotonic() - self._loaded_at >= self.refresh_s:
            self._reload(session)
        known = self._by_alias_key.get(alias_key)
        if known is not None:
            return known
        # Plain rows rather than a Lender object: a fraction of the ORM's cost per unknown name.
        row = session.execute(
            self._MAPPED_NAMES.where(LenderAlias.alias_key == alias_key)
        ).one_or_none()
        if row is None:
            return None
        known = KnownLender(*row[1:])
        with self._lock:
            self._by_alias_key[alias_key] = known
        return known


def get_lender_by_key(session: Session, key: str) -> Lender | None:
    return session.scalar(select(Lender).where(Lender.key == key))


def search_lenders(session: Session, query: str, limit: int = 10) -> list[tuple[Lender, str]]:
    """Lenders whose names or aliases contain the query, prefix matches first, one row each."""
    query_key = normalize_name(query)
    if not query_key:
        return []
    escaped = query_key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = session.execute(
        select(Lender, LenderAlias.alias, LenderAlias.alias_key)
        .join(LenderAlias)
        .where(LenderAlias.alias_key.like(f"%{escaped}%", escape="\\"))
        .order_by(LenderAlias.alias_key)
    ).all()
    best: dict[int, tuple[tuple[bool, int, str], Lender, str]] = {}
    for lender, alias, alias_key in rows:
        rank = (not alias_key.startswith(query_key), len(alias_key), alias_key)
        if lender.id not in best or rank < best[lender.id][0]:
            best[lender.id] = (rank, lender, alias)
    ordered = sorted(best.values(), key=lambda item: (item[0], item[1].key))
    return [(lender, alias) for _, lender, alias in ordered[:limit]]


def add_alias(session: Session, *, lender: Lender, alias: str) -> LenderAlias:
    """Map a further name to a lender (an admin resolving a name borrowers typed)."""
    entry = LenderAlias(lender_id=lender.id, alias=alias.strip(), alias_key=normalize_name(alias))
    session.add(entry)
    session.flush()
    return entry


def list_lenders(session: Session) -> list[Lender]:
    """Every known lender, for the report form's suggestion list."""
    return list(session.scalars(select(Lender).order_by(Lender.name_zh, Lender.key)))
