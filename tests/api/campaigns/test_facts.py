"""Fact pattern statistics on a hand-made frame, the public suppression, and the drafted text."""

import dataclasses
from typing import Any

import pandas as pd
import pytest

from api.campaigns import facts
from api.campaigns.channels import get_channel
from api.i18n import Language, translate

CONTACTS, REFUSAL, FEES = "third_party_contact", "refuses_negotiation", "opaque_fees"
# Rows deliberately out of report-id order: member ids must follow the ids, not the rows.
# report_id, categories, month, APR, >24%, >36%, >4×LPR, principal, evidence files
ROWS: list[tuple[Any, ...]] = [
    ("r05", [CONTACTS, CONTACTS], "2024-03", None, None, None, None, None, 0),
    ("r01", [REFUSAL, CONTACTS], "2024-01", 0.10, False, False, True, 10_000, 2),
    ("r02", [CONTACTS], "2024-01", 0.20, False, False, True, 999.99, 0),
    ("r03", [CONTACTS, FEES], "2024-03", 0.30, True, False, True, 100_000, 1),
    ("r04", [REFUSAL], None, 0.40, True, True, True, 5_000, 0),
    ("r06", [], "2024-03", 0.50, True, True, True, None, 0),
    ("r07", [FEES], "2024-04", None, None, None, None, 50_000, 0),
    ("r08", [CONTACTS], None, None, None, None, None, None, 3),
]


def frame() -> pd.DataFrame:
    records = [
        {
            "report_id": report_id,
            "categories": categories,
            "first_incident_month": month,
            "region_code": "CN-GD",
            "contract_principal": principal,
            "net_received": principal,
            "apr_effective": apr,
            "is_above_24": above_24,
            "is_above_36": above_36,
            "is_above_4lpr": above_4lpr,
            "evidence_files": files,
        }
        for (
            report_id,
            categories,
            month,
            apr,
            above_24,
            above_36,
            above_4lpr,
            principal,
            files,
        ) in ROWS
    ]
    return pd.DataFrame.from_records(records, columns=list(facts.REPORT_COLUMNS))


def test_counts_and_shares_per_category() -> None:
    stats = facts.fact_statistics(frame())

    assert stats.report_count == 8
    assert [(c.code, c.count, c.share) for c in stats.categories] == [
        ("third_party_contact", 5, 0.625),
        ("opaque_fees", 2, 0.25),
        ("refuses_negotiation", 2, 0.25),
    ]


def test_apr_quartiles_and_cap_shares_use_the_stored_flags() -> None:
    apr = facts.fact_statistics(frame()).apr

    assert apr.known == 5
    assert (apr.q1, apr.median, apr.q3) == pytest.approx((0.20, 0.30, 0.40))
    assert [(cap.cap, cap.count, cap.known, cap.share) for cap in apr.caps] == [
        ("24", 3, 5, 0.6),
        ("36", 2, 5, 0.4),
        ("4lpr", 5, 5, 1.0),
    ]


def test_month_timeline_fills_gaps_and_counts_unknown_months() -> None:
    stats = facts.fact_statistics(frame())

    assert [(m.month, m.count) for m in stats.months] == [
        ("2024-01", 2),
        ("2024-02", 0),
        ("2024-03", 3),
        ("2024-04", 1),
    ]
    assert stats.months_unknown == 2


def test_members_get_pseudonyms_in_report_id_order_and_amount_bands() -> None:
    members = facts.fact_statistics(frame()).members

    assert [m.member_id for m in members] == [f"M00{n}" for n in range(1, 9)]
    first, second, third = members[:3]
    assert (first.amount_band, first.caps_exceeded, first.evidence_files) == (
        "10,000–49,999",
        ("4lpr",),
        2,
    )
    assert first.categories == ("refuses_negotiation", "third_party_contact")
    assert second.amount_band == "0–999"
    assert third.amount_band == "≥100,000"
    assert third.caps_exceeded == ("24", "4lpr")
    assert members[4].categories == ("third_party_contact",)  # r05 listed it twice
    assert members[4].first_incident_month == "2024-03"
    assert members[4].apr_effective is None and members[4].amount_band is None


def test_member_ids_widen_past_999_members() -> None:
    ids = facts.member_ids([f"{n:05d}" for n in range(1200)])

    assert ids["00000"] == "M0001" and ids["01199"] == "M1200"


def test_public_figures_below_five_are_suppressed() -> None:
    public = facts.public_aggregates(facts.fact_statistics(frame()))

    assert public.report_count == facts.PublicCell(8, 1.0)
    assert dict(public.categories) == {
        "third_party_contact": facts.PublicCell(5, 0.625),
        "opaque_fees": facts.PublicCell(None, None),
        "refuses_negotiation": facts.PublicCell(None, None),
    }
    assert all(cell.is_suppressed for _, cell in public.months)
    assert [month for month, _ in public.months] == ["2024-01", "2024-03", "2024-04"]
    assert public.apr_known == facts.PublicCell(5, 1.0)
    assert public.apr_quartiles == pytest.approx((0.2, 0.3, 0.4))
    assert dict(public.caps) == {
        "24": facts.PublicCell(None, None),
        "36": facts.PublicCell(None, None),
        "4lpr": facts.PublicCell(5, 1.0),
    }


def test_a_group_below_five_shows_no_figure_at_all() -> None:
    public = facts.public_aggregates(facts.fact_statistics(frame().head(4)))

    assert public.report_count.is_suppressed
    assert all(cell.is_suppressed for _, cell in public.categories)
    assert public.apr_quartiles is None


def draft_input(language: Language, **overrides: Any) -> facts.FactPatternInput:
    rules = get_channel("lender_complaint")
    stats = facts.fact_statistics(frame())
    data = facts.FactPatternInput(
        language=language,
        title="提钱游拒绝协商",
        group_ref="GS-000042",
        drafted_on="2026-11-28",
        channel_name=rules.name(language),
        recipient=rules.recipient(language),
        jurisdiction="CN-GD",
        respondents=(
            {"role": "lender_of_record", "name": "某某银行", "unified_social_credit_code": None},
            {"role": "platform", "name": "A|B 平台", "unified_social_credit_code": None},
        ),
        lawyers=("王律师",),
        representatives_min=rules.representatives.min,
        representatives_max=rules.representatives.max,
        min_group_size=rules.min_group_size.value,
        statistics=stats,
        grounds=tuple((g.text(language), g.verify) for g in rules.grounds),
        demands=tuple(d.text(language) for d in rules.demands),
        deadlines=tuple((r.label(language), r.days, r.unit, r.verify) for r in rules.deadlines),
        category_labels={
            code: translate(language, f"category.{code}")
            for code in ("third_party_contact", "opaque_fees", "refuses_negotiation")
        },
        respondent_role_labels={
            "lender_of_record": translate(language, "campaign.role.lender_of_record"),
            "platform": translate(language, "campaign.role.platform"),
        },
    )
    return dataclasses.replace(data, **overrides)


def test_chinese_draft_states_the_computed_facts() -> None:
    text = facts.render_fact_pattern(draft_input("zh"))

    assert text.startswith("# 提钱游拒绝协商\n")
    assert "- 共 8 名借款人，名单及身份信息见保密附件。" in text
    assert "8 名报告人中有 5 人（62.5%）反映：骚扰亲友、联系人、单位。" in text
    assert "下四分位数 20.0%，中位数 30.0%，上四分位数 40.0%" in text
    assert "可以比较的 5 份报告中，有 3 份（60.0%）超过年化 24%" in text
    assert "| 2024-02 | 0 |" in text
    assert "| M001 | 2024-01 | CN-GD | 10,000–49,999 |" in text
    assert "| 平台运营方 | A/B 平台 | — |" in text
    assert "【待核实】" in text
    assert "- 机构作出处理决定：15 日" in text
    assert not any(f"r0{n}" in text for n in range(1, 9))


def test_english_draft_states_the_computed_facts() -> None:
    text = facts.render_fact_pattern(draft_input("en"))

    assert "5 of 8 reporters (62.5%) report:" in text
    assert "2 more reports give no month of first incident." in text
    assert "[VERIFY]" in text
    assert "- Lender's decision: 15 days" in text


def test_the_draft_is_the_same_for_the_same_inputs() -> None:
    assert facts.render_fact_pattern(draft_input("zh")) == facts.render_fact_pattern(
        draft_input("zh")
    )


def test_unified_diff_marks_changed_lines() -> None:
    lines = facts.unified_diff("a\nb\nc\n", "a\nB\nc\n", "v1", "v2")

    assert lines[:2] == ["--- v1", "+++ v2"]
    assert "-b" in lines and "+B" in lines
