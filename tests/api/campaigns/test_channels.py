"""Channel rules come from api/data/channels.json, and deadlines are dated from them."""

import json
from datetime import date
from typing import Any

import pytest

from api.campaigns.channels import (
    CHANNELS_PATH,
    ChannelDataError,
    add_days,
    compute_deadlines,
    get_channel,
    load_channels,
    next_deadline,
    parse_channels,
)
from api.campaigns.models import CampaignStatus

FILED = date(2026, 3, 2)  # a Monday


def _document() -> dict[str, Any]:
    return json.loads(CHANNELS_PATH.read_text(encoding="utf-8"))


def test_every_channel_the_research_names_is_in_the_data_file() -> None:
    channels = load_channels()

    assert set(channels) == {
        "lender_complaint",
        "regulator_complaint",
        "consumer_mediation",
        "representative_litigation",
        "cfpb_complaint",
        "us_class_action",
    }
    litigation = channels["representative_litigation"]
    assert litigation.min_group_size.value == 10
    assert (litigation.representatives.min, litigation.representatives.max) == (2, 5)
    assert channels["consumer_mediation"].representatives.max == 2
    class_action = channels["us_class_action"]
    assert class_action.min_group_size.value == 40
    assert class_action.min_group_size.verify is True
    assert all(channel.identity_fields for channel in channels.values())
    assert all(channel.grounds and channel.demands for channel in channels.values())


def test_lender_complaint_deadlines_are_counted_from_filing() -> None:
    deadlines = compute_deadlines(
        get_channel("lender_complaint"),
        status=CampaignStatus.awaiting_response,
        anchors={"filed": FILED, "opened": date(2026, 2, 1), "responded": None},
        today=date(2026, 3, 10),
    )
    by_key = {deadline.rule.key: deadline for deadline in deadlines}

    assert by_key["decision"].due_on == date(2026, 3, 17)
    assert by_key["decision"].days_left == 7
    assert by_key["decision_extended"].due_on == date(2026, 4, 1)
    # Day 60 is 1 May, inside the Labour Day holiday (1–5 May 2026): Civil Code Art. 203.
    assert by_key["decision_extended_max"].due_on == date(2026, 5, 6)
    assert by_key["decision_extended"].rule.kind == "extension"
    # The review window starts only once the lender has answered.
    assert by_key["review_request"].due_on is None
    assert not any(deadline.is_overdue for deadline in deadlines)
    assert next_deadline(deadlines) == by_key["decision"]


def test_a_deadline_is_overdue_only_while_it_runs() -> None:
    rules = get_channel("lender_complaint")
    anchors = {"filed": FILED, "opened": None, "responded": None}
    waiting = compute_deadlines(
        rules, status=CampaignStatus.awaiting_response, anchors=anchors, today=date(2026, 3, 20)
    )
    closed = compute_deadlines(
        rules, status=CampaignStatus.closed, anchors=anchors, today=date(2026, 3, 20)
    )

    assert waiting[0].days_left == -3 and waiting[0].is_overdue
    assert closed[0].days_left == -3 and not closed[0].is_overdue


def test_regulator_forwarding_counts_working_days_then_the_lenders_days() -> None:
    deadlines = compute_deadlines(
        get_channel("regulator_complaint"),
        status=CampaignStatus.filed,
        anchors={"filed": date(2026, 3, 6), "opened": None, "responded": None},  # a Friday
        today=date(2026, 3, 6),
    )
    by_key = {deadline.rule.key: deadline for deadline in deadlines}

    assert by_key["forwarded"].due_on == date(2026, 3, 17)
    assert by_key["decision"].due_on == date(2026, 4, 1)


def test_mediation_acceptance_and_mediation_period_in_working_days() -> None:
    deadlines = compute_deadlines(
        get_channel("consumer_mediation"),
        status=CampaignStatus.filed,
        anchors={"filed": FILED, "opened": None, "responded": None},
        today=FILED,
    )

    # Qingming (6 April) and Labour Day (1, 4, 5 May) are skipped and Saturday 9 May is a
    # make-up working day: 45 working days after 11 March end on 18 May, not 13 May.
    assert [d.due_on for d in deadlines] == [date(2026, 3, 11), date(2026, 5, 18)]


def test_representative_litigation_registration_runs_thirty_days_from_opening() -> None:
    deadlines = compute_deadlines(
        get_channel("representative_litigation"),
        status=CampaignStatus.open_for_signatures,
        anchors={"opened": date(2026, 1, 15), "filed": None, "responded": None},
        today=date(2026, 2, 20),
    )
    registration = deadlines[0]

    assert registration.rule.key == "registration_period"
    assert registration.due_on == date(2026, 2, 14)
    assert registration.days_left == -6
    assert registration.is_overdue


def test_working_days_skip_weekends() -> None:
    assert add_days(date(2026, 3, 6), 1, "working_days", "CN") == date(2026, 3, 9)
    assert add_days(date(2026, 3, 7), 5, "working_days", "CN") == date(2026, 3, 13)
    assert add_days(date(2026, 3, 6), 3, "calendar_days", "CN") == date(2026, 3, 9)


def test_chinese_working_days_skip_holidays_and_count_make_up_days() -> None:
    # National Day 2026: 1–7 October off; Sunday 20 September and Saturday 10 October are
    # make-up working days (State Council notice on the 2026 holidays).
    assert add_days(date(2026, 9, 30), 1, "working_days", "CN") == date(2026, 10, 8)
    assert add_days(date(2026, 9, 30), 3, "working_days", "CN") == date(2026, 10, 10)
    assert add_days(date(2026, 9, 18), 1, "working_days", "CN") == date(2026, 9, 20)


def test_a_calendar_period_ending_on_a_rest_day_moves_to_the_next_working_day() -> None:
    # PRC Civil Code Art. 203: the last day falls in the National Day holiday.
    assert add_days(date(2026, 9, 20), 12, "calendar_days", "CN") == date(2026, 10, 8)
    # A Sunday moves to Monday; a day that is already a working day stays.
    assert add_days(date(2026, 11, 28), 15, "calendar_days", "CN") == date(2026, 12, 14)
    assert add_days(date(2026, 11, 28), 16, "calendar_days", "CN") == date(2026, 12, 14)
    # US federal holiday: Independence Day 2026 is observed on Friday 3 July.
    assert add_days(date(2026, 6, 18), 15, "calendar_days", "US") == date(2026, 7, 6)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda doc: doc["channels"][0]["grounds"].append("no_such_ground"), "unknown ground"),
        (lambda doc: doc["channels"][0]["deadlines"][0].update(anchor="signed"), "anchor"),
        (
            lambda doc: doc["channels"][1]["deadlines"][1].update(anchor="deadline:later"),
            "earlier deadline",
        ),
        (lambda doc: doc["channels"].append(doc["channels"][0]), "twice"),
    ],
)
def test_a_broken_data_file_is_refused_when_loaded(edit: Any, message: str) -> None:
    document = _document()
    edit(document)

    with pytest.raises(ChannelDataError, match=message):
        parse_channels(document)
