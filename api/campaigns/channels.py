"""Channel rules (api/data/channels.json) and the deadlines they give a campaign.

The rules are data so that a lawyer can correct a number or a source without touching code;
this module only reads them, checks that they hang together, and does date arithmetic.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import holidays

from api.campaigns.models import CampaignStatus
from api.config import PACKAGE_DATA_DIR
from api.i18n import Language

CHANNELS_PATH = PACKAGE_DATA_DIR / "channels.json"
Anchor = Literal["opened", "filed", "responded"]
_ANCHORS: tuple[Anchor, ...] = ("opened", "filed", "responded")
_UNITS = ("calendar_days", "working_days")
_DEADLINE_KINDS = ("due", "extension")
_CALENDAR_YEARS = range(2000, 2051)
# Dates are counted in the recipient's calendar. A fixed offset is enough: China has no daylight
# saving time, and in the US it moves a date only for an event in the hour around midnight.
_UTC_OFFSET_HOURS = {"CN": 8, "US": -5}


@dataclass(frozen=True)
class LegalText:
    key: str
    zh: str
    en: str
    source: str
    verify: bool

    def text(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class Note:
    zh: str
    en: str
    verify: bool

    def text(self, language: Language) -> str:
        return self.zh if language == "zh" else self.en


@dataclass(frozen=True)
class GroupSize:
    value: int
    verify: bool
    source: str


@dataclass(frozen=True)
class Representatives:
    min: int
    max: int | None
    verify: bool
    source: str


@dataclass(frozen=True)
class DeadlineRule:
    key: str
    # "opened", "filed", "responded", or "deadline:<key>" for another deadline's due date.
    anchor: str
    days: int
    unit: str
    kind: str
    active_in: frozenset[CampaignStatus]
    label_zh: str
    label_en: str
    source: str
    verify: bool

    def label(self, language: Language) -> str:
        return self.label_zh if language == "zh" else self.label_en


@dataclass(frozen=True)
class ChannelRules:
    code: str
    country: str
    name_zh: str
    name_en: str
    recipient_zh: str
    recipient_en: str
    min_group_size: GroupSize
    representatives: Representatives
    identity_fields: tuple[str, ...]
    grounds: tuple[LegalText, ...]
    demands: tuple[LegalText, ...]
    deadlines: tuple[DeadlineRule, ...]
    sources: tuple[str, ...]
    notes: tuple[Note, ...]

    def name(self, language: Language) -> str:
        return self.name_zh if language == "zh" else self.name_en

    def recipient(self, language: Language) -> str:
        return self.recipient_zh if language == "zh" else self.recipient_en

    @property
    def utc_offset(self) -> timezone:
        return timezone(timedelta(hours=_UTC_OFFSET_HOURS[self.country]))

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.utc_offset).date()


class ChannelDataError(ValueError):
    """channels.json contradicts itself; raised when it is loaded, so a bad edit fails at once."""


def _legal_texts(
    table: dict[str, Any], keys: list[str], kind: str, code: str
) -> tuple[LegalText, ...]:
    missing = [key for key in keys if key not in table]
    if missing:
        raise ChannelDataError(f"{code}: unknown {kind} {missing}")
    return tuple(
        LegalText(
            key=key,
            zh=table[key]["zh"],
            en=table[key]["en"],
            source=table[key].get("source", ""),
            verify=bool(table[key].get("verify", False)),
        )
        for key in keys
    )


def _deadline(raw: dict[str, Any], earlier: set[str], code: str) -> DeadlineRule:
    anchor = raw["anchor"]
    if anchor.startswith("deadline:"):
        if anchor.removeprefix("deadline:") not in earlier:
            raise ChannelDataError(f"{code}.{raw['key']}: {anchor} must name an earlier deadline")
    elif anchor not in _ANCHORS:
        raise ChannelDataError(f"{code}.{raw['key']}: unknown anchor {anchor!r}")
    if raw["unit"] not in _UNITS or raw["kind"] not in _DEADLINE_KINDS:
        raise ChannelDataError(f"{code}.{raw['key']}: unknown unit or kind")
    if int(raw["days"]) <= 0:
        raise ChannelDataError(f"{code}.{raw['key']}: days must be positive")
    return DeadlineRule(
        key=raw["key"],
        anchor=anchor,
        days=int(raw["days"]),
        unit=raw["unit"],
        kind=raw["kind"],
        active_in=frozenset(CampaignStatus(status) for status in raw["active_in"]),
        label_zh=raw["label_zh"],
        label_en=raw["label_en"],
        source=raw["source"],
        verify=bool(raw["verify"]),
    )


def _channel(raw: dict[str, Any], grounds: dict[str, Any], demands: dict[str, Any]) -> ChannelRules:
    code = raw["code"]
    if raw["country"] not in _UTC_OFFSET_HOURS:
        raise ChannelDataError(f"{code}: no calendar for country {raw['country']!r}")
    deadlines: list[DeadlineRule] = []
    for item in raw["deadlines"]:
        deadlines.append(_deadline(item, {rule.key for rule in deadlines}, code))
    size = raw["min_group_size"]
    representatives = raw["representatives"]
    return ChannelRules(
        code=code,
        country=raw["country"],
        name_zh=raw["name_zh"],
        name_en=raw["name_en"],
        recipient_zh=raw["recipient_zh"],
        recipient_en=raw["recipient_en"],
        min_group_size=GroupSize(int(size["value"]), bool(size["verify"]), size["source"]),
        representatives=Representatives(
            min=int(representatives["min"]),
            max=None if representatives["max"] is None else int(representatives["max"]),
            verify=bool(representatives["verify"]),
            source=representatives["source"],
        ),
        identity_fields=tuple(raw["identity_fields"]),
        grounds=_legal_texts(grounds, raw["grounds"], "ground", code),
        demands=_legal_texts(demands, raw["demands"], "demand", code),
        deadlines=tuple(deadlines),
        sources=tuple(raw["sources"]),
        notes=tuple(Note(n["zh"], n["en"], bool(n["verify"])) for n in raw["notes"]),
    )


def parse_channels(document: dict[str, Any]) -> dict[str, ChannelRules]:
    channels = [
        _channel(raw, document["grounds"], document["demands"]) for raw in document["channels"]
    ]
    by_code = {channel.code: channel for channel in channels}
    if len(by_code) != len(channels):
        raise ChannelDataError("a channel code appears twice")
    return by_code


@lru_cache(maxsize=4)
def load_channels(path: Path = CHANNELS_PATH) -> dict[str, ChannelRules]:
    with path.open(encoding="utf-8") as handle:
        return parse_channels(json.load(handle))


def channel_codes() -> tuple[str, ...]:
    return tuple(load_channels())


def get_channel(code: str) -> ChannelRules:
    return load_channels()[code]


# Deadlines


@lru_cache(maxsize=4)
def public_calendar(country: str) -> holidays.HolidayBase:
    """The country's statutory holidays and, for China, its make-up working days (调休).

    Years the State Council has not yet announced are the library's projection of the usual
    rules; the campaign page tells staff to check dates against the official notice. The years
    are filled in up front because the calendar is shared by request threads and expanding it
    on a lookup would mutate it concurrently.
    """
    return holidays.country_holidays(country, years=_CALENDAR_YEARS)


def add_days(start: date, days: int, unit: str, country: str) -> date:
    """The last day of a period of `days` after `start` in `country`'s calendar.

    Working days are the country's official working days: weekends and statutory holidays are
    skipped and China's make-up working Saturdays and Sundays count. A period of calendar days
    whose last day is not a working day ends on the next working day (PRC Civil Code Art. 203;
    FRCP 6(a)(1)(C) for US court periods).
    """
    calendar = public_calendar(country)
    if unit == "calendar_days":
        current = start + timedelta(days=days)
    else:
        current, remaining = start, days
        while remaining:
            current += timedelta(days=1)
            if calendar.is_working_day(current):
                remaining -= 1
    while not calendar.is_working_day(current):
        current += timedelta(days=1)
    return current


@dataclass(frozen=True)
class Deadline:
    rule: DeadlineRule
    # None until the step it is counted from has happened.
    due_on: date | None
    days_left: int | None
    # The campaign is in a status where this deadline matters (e.g. awaiting the lender).
    is_active: bool
    is_overdue: bool


def compute_deadlines(
    rules: ChannelRules,
    *,
    status: CampaignStatus,
    anchors: dict[str, date | None],
    today: date,
) -> list[Deadline]:
    """Every deadline of the channel, dated from `anchors` ("opened", "filed", "responded")."""
    due: dict[str, date | None] = {}
    deadlines = []
    for rule in rules.deadlines:
        if rule.anchor.startswith("deadline:"):
            start = due[rule.anchor.removeprefix("deadline:")]
        else:
            start = anchors.get(rule.anchor)
        due_on = add_days(start, rule.days, rule.unit, rules.country) if start else None
        due[rule.key] = due_on
        days_left = (due_on - today).days if due_on else None
        is_active = status in rule.active_in
        deadlines.append(
            Deadline(
                rule=rule,
                due_on=due_on,
                days_left=days_left,
                is_active=is_active,
                is_overdue=is_active and days_left is not None and days_left < 0,
            )
        )
    return deadlines


def next_deadline(deadlines: list[Deadline]) -> Deadline | None:
    """The active, dated `due` deadline that comes first: what the campaign list shows."""
    candidates = [
        deadline
        for deadline in deadlines
        if deadline.is_active and deadline.due_on and deadline.rule.kind == "due"
    ]
    return min(candidates, key=lambda deadline: deadline.due_on or date.max, default=None)
