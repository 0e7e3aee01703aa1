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
    assert by_key["decision_extended_max"].due_on == date(2026, 5, 1)
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

    assert [d.due_on for d in deadlines] == [date(2026, 3, 11), date(2026, 5, 13)]


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
    assert add_days(date(2026, 3, 6), 1, "working_days") == date(2026, 3, 9)
    assert add_days(date(2026, 3, 7), 5, "working_days") == date(2026, 3, 13)
    assert add_days(date(2026, 3, 6), 3, "calendar_days") == date(2026, 3, 9)


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
