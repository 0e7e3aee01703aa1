import copy
import json
import math
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta

from aggregation.loan_cost import (
    RATE_CAPS,
    LoanCost,
    LoanCostError,
    LoanFacts,
    LoanPayment,
    LprHistory,
    RegularSchedule,
    compute_loan_cost,
    lpr_on,
)

LPR_CSV = Path(__file__).resolve().parents[2] / "api" / "data" / "lpr_1y.csv"


@pytest.fixture(scope="module")
def lpr_table() -> pd.DataFrame:
    return pd.read_csv(LPR_CSV)


def monthly(installments: int, amount: str) -> RegularSchedule:
    return RegularSchedule(installments=installments, amount=Decimal(amount), every="month")


def monthly_payments(received_on: date, installments: int, amount: str) -> tuple[LoanPayment, ...]:
    return tuple(
        LoanPayment(due_on=received_on + relativedelta(months=k), amount=Decimal(amount))
        for k in range(1, installments + 1)
    )


PBOC = LoanFacts(
    net_received=Decimal("99000"),
    received_on=date(2024, 1, 15),
    contract_principal=Decimal("100000"),
    schedule=monthly(12, "8833.30"),
)


# --- Worked examples from legal-research.md §3.4–3.5 -------------------------------------------


def test_pboc_announcement_example(lpr_table):
    cost = compute_loan_cost(PBOC, lpr_table)

    assert cost.method == "periodic"
    assert cost.periods_per_year == 12
    assert cost.periodic_rate == pytest.approx(0.010670, abs=5e-7)
    assert cost.apr_nominal == pytest.approx(0.1280, abs=5e-5)
    assert cost.apr_effective == pytest.approx(0.1358, abs=5e-5)
    assert cost.apr_nominal == pytest.approx(12 * cost.periodic_rate)
    assert cost.apr_effective == pytest.approx((1 + cost.periodic_rate) ** 12 - 1)
    assert cost.total_paid == Decimal("105999.60")
    assert cost.total_cost == Decimal("6999.60")
    assert cost.upfront_deduction == Decimal("1000")
    assert cost.flags["above_24"] is False
    assert cost.flags["above_36"] is False


def test_head_fee_case_is_far_above_the_caps(lpr_table):
    head_fee = LoanFacts(
        net_received=Decimal("28000"),
        contract_principal=Decimal("40000"),
        schedule=monthly(12, "3782.38"),
    )
    cost = compute_loan_cost(head_fee, lpr_table)

    assert cost.periodic_rate == pytest.approx(0.08346, abs=5e-6)
    assert cost.apr_nominal == pytest.approx(1.002, abs=0.001)
    assert cost.apr_effective == pytest.approx(1.617, abs=0.001)
    assert cost.upfront_deduction == Decimal("12000")
    assert cost.flags == {"above_24": True, "above_36": True}


def test_head_fee_case_looks_like_24_percent_on_the_contract_principal(lpr_table):
    # The same payments measured against the 40,000 on the contract rather than the 28,000 the
    # borrower got: the 12,000 head fee disappears and the loan looks lawful.
    on_paper = LoanFacts(net_received=Decimal("40000"), schedule=monthly(12, "3782.38"))
    cost = compute_loan_cost(on_paper, lpr_table)

    assert cost.apr_nominal == pytest.approx(0.24, abs=0.0005)
    assert cost.apr_effective == pytest.approx(0.2682, abs=0.0005)
    assert cost.flags == {"above_24": False, "above_36": False}


def test_press_case(lpr_table):
    cost = compute_loan_cost(
        LoanFacts(net_received=1300, schedule=monthly(6, "238.5")),
        lpr_table,
    )

    assert cost.periodic_rate == pytest.approx(0.02814, abs=5e-6)
    assert cost.apr_nominal == pytest.approx(0.338, abs=0.0005)
    assert cost.apr_effective == pytest.approx(0.395, abs=0.0005)
    assert cost.total_paid == Decimal("1431.0")
    assert cost.flags == {"above_24": True, "above_36": False}


# --- Dated payments --------------------------------------------------------------------------


def test_monthly_dated_payments_match_the_schedule(lpr_table):
    dated = LoanFacts(
        net_received=PBOC.net_received,
        received_on=PBOC.received_on,
        contract_principal=PBOC.contract_principal,
        payments=monthly_payments(PBOC.received_on, 12, "8833.30"),
    )

    assert compute_loan_cost(dated, lpr_table) == compute_loan_cost(PBOC, lpr_table)


def test_month_ends_clamp_and_small_shifts_stay_monthly(lpr_table):
    received_on = date(2024, 1, 31)
    payments = list(monthly_payments(received_on, 12, "8833.30"))
    assert payments[0].due_on == date(2024, 2, 29)
    assert payments[1].due_on == date(2024, 3, 31)
    # Due dates moved off weekends: 3 days either way is still the same installment.
    payments[4] = LoanPayment(payments[4].due_on + relativedelta(days=3), payments[4].amount)
    payments[7] = LoanPayment(payments[7].due_on - relativedelta(days=3), payments[7].amount)
    facts = LoanFacts(
        net_received=Decimal("99000"), received_on=received_on, payments=tuple(payments)
    )

    cost = compute_loan_cost(facts, lpr_table)

    assert cost.method == "periodic"
    assert cost.apr_nominal == compute_loan_cost(PBOC, lpr_table).apr_nominal


def test_a_shift_beyond_three_days_uses_xirr_with_a_close_result(lpr_table):
    received_on = date(2024, 1, 15)
    payments = list(monthly_payments(received_on, 12, "8833.30"))
    payments[5] = LoanPayment(payments[5].due_on + relativedelta(days=4), payments[5].amount)
    facts = LoanFacts(
        net_received=Decimal("99000"), received_on=received_on, payments=tuple(payments)
    )

    cost = compute_loan_cost(facts, lpr_table)

    assert cost.method == "xirr"
    assert cost.periods_per_year == 12
    # Day counts instead of whole months move the figure only slightly.
    assert cost.apr_nominal == pytest.approx(0.1280, abs=0.002)
    assert cost.apr_effective == pytest.approx(0.1358, abs=0.002)


def test_xirr_two_payments_hand_computed(lpr_table):
    # 800 = 600/(1+X) + 900/(1+X)²  with whole 365-day years  ⇒  v = 1/(1+X) = 2/3, X = 50%.
    facts = LoanFacts(
        net_received=800,
        received_on=date(2021, 1, 1),
        payments=(
            LoanPayment(date(2022, 1, 1), 600),
            LoanPayment(date(2023, 1, 1), 900),
        ),
    )
    cost = compute_loan_cost(facts, lpr_table)

    assert cost.method == "xirr"
    assert cost.apr_effective == pytest.approx(0.5, abs=1e-9)
    assert cost.periodic_rate == pytest.approx(1.5 ** (1 / 12) - 1, abs=1e-9)
    assert cost.apr_nominal == pytest.approx(12 * (1.5 ** (1 / 12) - 1), abs=1e-9)
    assert cost.apr_nominal == pytest.approx(0.412393, abs=1e-6)


def test_xirr_single_payment_after_one_year(lpr_table):
    facts = LoanFacts(
        net_received=Decimal("1000"),
        received_on=date(2023, 3, 1),
        payments=(LoanPayment(date(2024, 2, 29), Decimal("1100")),),  # 365 days, leap year
    )
    cost = compute_loan_cost(facts, lpr_table)

    assert cost.method == "xirr"
    assert cost.apr_effective == pytest.approx(0.10, abs=1e-9)
    assert cost.apr_nominal == pytest.approx(0.095690, abs=1e-6)


def test_xirr_irregular_days_solve_the_annex_i_equation(lpr_table):
    received_on = date(2024, 3, 7)
    flows = [(date(2024, 3, 19), "350"), (date(2024, 5, 2), "420.50"), (date(2024, 8, 30), "390")]
    facts = LoanFacts(
        net_received=Decimal("1000"),
        received_on=received_on,
        payments=tuple(LoanPayment(day, Decimal(amount)) for day, amount in flows),
    )
    cost = compute_loan_cost(facts, lpr_table)

    x = cost.apr_effective
    present_value = sum(
        float(amount) / (1 + x) ** ((day - received_on).days / 365) for day, amount in flows
    )
    assert cost.method == "xirr"
    assert present_value == pytest.approx(1000, abs=1e-6)
    # Rough bound: if every payment went to principal first, the balance would be 1000 for 12 days,
    # 650 for 44 and 229.50 for 120, i.e. 186.7 yuan-years, and 160.50 of cost over that is 86%.
    # Interest is paid first in reality, so balances stay higher and the rate is lower.
    balance_years = (1000 * 12 + 650 * 44 + 229.5 * 120) / 365
    assert 0.24 < cost.apr_nominal < 160.5 / balance_years
    assert cost.apr_nominal == pytest.approx(0.710381, abs=1e-6)
    assert cost.apr_effective == pytest.approx(0.994012, abs=1e-6)
    assert cost.flags == {"above_24": True, "above_36": True, "above_4lpr": True}


def test_payments_on_the_same_date_are_summed_in_any_order(lpr_table):
    whole = LoanFacts(
        net_received=800,
        received_on=date(2021, 1, 1),
        payments=(LoanPayment(date(2022, 1, 1), 600), LoanPayment(date(2023, 1, 1), 900)),
    )
    split = LoanFacts(
        net_received=800,
        received_on=date(2021, 1, 1),
        payments=(
            LoanPayment(date(2023, 1, 1), 400),
            LoanPayment(date(2022, 1, 1), 600),
            LoanPayment(date(2023, 1, 1), 500),
        ),
    )

    assert compute_loan_cost(split, lpr_table) == compute_loan_cost(whole, lpr_table)


def test_a_fee_paid_on_the_day_of_receipt_counts(lpr_table):
    # Paying 1,000 back on the spot is the same as receiving 1,000 less.
    with_fee = LoanFacts(
        net_received=Decimal("100000"),
        received_on=date(2024, 1, 15),
        payments=(LoanPayment(date(2024, 1, 15), Decimal("1000")),)
        + monthly_payments(date(2024, 1, 15), 12, "8833.30"),
    )
    cost = compute_loan_cost(with_fee, lpr_table)

    assert cost.method == "xirr"
    assert cost.total_cost == Decimal("6999.60")
    assert cost.apr_effective == pytest.approx(0.1358, abs=0.002)


# --- Other periods, zero cost, rounding at the cap -------------------------------------------


@pytest.mark.parametrize(("every", "per_year"), [("week", 52), ("day", 365)])
def test_weekly_and_daily_schedules(lpr_table, every, per_year):
    schedule = RegularSchedule(installments=10, amount=Decimal("110"), every=every)
    cost = compute_loan_cost(LoanFacts(net_received=1000, schedule=schedule), lpr_table)

    r = cost.periodic_rate
    assert sum(110 / (1 + r) ** k for k in range(1, 11)) == pytest.approx(1000, abs=1e-8)
    assert r == pytest.approx(0.017715, abs=1e-6)
    assert cost.periods_per_year == per_year
    assert cost.apr_nominal == pytest.approx(r * per_year)
    assert cost.apr_effective == pytest.approx((1 + r) ** per_year - 1)


def test_repaying_exactly_what_was_received_costs_nothing(lpr_table):
    cost = compute_loan_cost(
        LoanFacts(net_received=1200, received_on=date(2024, 1, 15), schedule=monthly(12, "100")),
        lpr_table,
    )

    assert (cost.apr_nominal, cost.apr_effective, cost.periodic_rate) == (0.0, 0.0, 0.0)
    assert cost.total_cost == Decimal("0")
    assert cost.flags == {"above_24": False, "above_36": False, "above_4lpr": False}


def test_a_loan_priced_exactly_at_24_percent_is_not_above_it(lpr_table):
    # One month at exactly 2%: 12 × 2% = 24%, whatever the last bits of the float say.
    cost = compute_loan_cost(
        LoanFacts(net_received=100, schedule=monthly(1, "102")),
        lpr_table,
    )

    assert cost.apr_nominal == pytest.approx(0.24, abs=1e-12)
    assert cost.flags["above_24"] is False


def test_very_high_cost_short_loans_are_solved(lpr_table):
    # A 7-day loan with a 30% fee: roughly 1,500% nominal, millions of percent compounded.
    facts = LoanFacts(
        net_received=1000,
        received_on=date(2024, 1, 1),
        payments=(LoanPayment(date(2024, 1, 8), 1300),),
    )
    cost = compute_loan_cost(facts, lpr_table)

    assert cost.apr_effective == pytest.approx(1.3 ** (365 / 7) - 1, rel=1e-9)
    assert cost.apr_nominal == pytest.approx(12 * (1.3 ** (365 / 7 / 12) - 1), rel=1e-9)
    assert cost.apr_nominal > 10


def test_floats_are_accepted_and_summed_as_decimals(lpr_table):
    as_floats = LoanFacts(
        net_received=99000.0,
        received_on=date(2024, 1, 15),
        contract_principal=100000.0,
        schedule=RegularSchedule(installments=12, amount=8833.3),
    )
    cost = compute_loan_cost(as_floats, lpr_table)

    assert cost.total_paid == Decimal("105999.6")
    assert cost.upfront_deduction == Decimal("1000.0")
    assert cost.apr_nominal == compute_loan_cost(PBOC, lpr_table).apr_nominal


# --- LPR --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2019, 8, 19), None),
        (date(2019, 8, 20), 4.25),
        (date(2020, 8, 20), 3.85),
        (date(2024, 10, 20), 3.35),
        (date(2024, 10, 21), 3.10),
        (date(2030, 1, 1), 3.00),
    ],
)
def test_lpr_on_the_shipped_table(lpr_table, day, expected):
    assert lpr_on(lpr_table, day) == expected


def test_lpr_on_accepts_date_objects_in_any_row_order(lpr_table):
    shuffled = lpr_table.iloc[::-1].reset_index(drop=True)
    shuffled["effective_from"] = [date.fromisoformat(d) for d in shuffled["effective_from"]]

    assert lpr_on(shuffled, date(2020, 8, 20)) == 3.85
    assert lpr_on(shuffled, date(2019, 8, 1)) is None


def test_contract_dated_2020_08_20_uses_3_85_percent(lpr_table):
    facts = LoanFacts(
        net_received=1300, received_on=date(2020, 8, 20), schedule=monthly(6, "238.5")
    )
    cost = compute_loan_cost(facts, lpr_table)

    assert cost.lpr_percent_at_contract == 3.85
    assert cost.cap_4lpr == pytest.approx(0.154)
    assert cost.flags["above_4lpr"] is True


@pytest.mark.parametrize(
    ("received_on", "cap", "above"),
    [
        (date(2024, 1, 15), 0.138, False),  # LPR 3.45% since 2023-08-21: 12.80% is below 13.8%
        (date(2025, 6, 1), 0.12, True),  # LPR 3.00% since 2025-05-20: 12.80% is above 12%
    ],
)
def test_above_4lpr_depends_on_the_contract_date(lpr_table, received_on, cap, above):
    facts = LoanFacts(
        net_received=Decimal("99000"), received_on=received_on, schedule=PBOC.schedule
    )
    cost = compute_loan_cost(facts, lpr_table)

    assert cost.cap_4lpr == pytest.approx(cap)
    assert cost.flags["above_4lpr"] is above


def test_4lpr_flag_is_absent_without_a_known_cap(lpr_table):
    undated = LoanFacts(net_received=Decimal("99000"), schedule=PBOC.schedule)
    too_early = LoanFacts(
        net_received=Decimal("99000"), received_on=date(2019, 1, 1), schedule=PBOC.schedule
    )

    for facts in (undated, too_early):
        cost = compute_loan_cost(facts, lpr_table)
        assert cost.lpr_percent_at_contract is None
        assert cost.cap_4lpr is None
        assert set(cost.flags) == set(RATE_CAPS) == {"above_24", "above_36"}


# --- Errors -----------------------------------------------------------------------------------

DAY = date(2024, 1, 15)
ONE_PAYMENT = (LoanPayment(date(2024, 2, 15), 110),)


@pytest.mark.parametrize(
    ("facts", "field", "code"),
    [
        (LoanFacts(net_received=0, schedule=monthly(1, "1")), "loan.net_received", "not_positive"),
        (LoanFacts(net_received=-5, schedule=monthly(1, "1")), "loan.net_received", "not_positive"),
        (
            LoanFacts(net_received=float("nan"), schedule=monthly(1, "1")),
            "loan.net_received",
            "not_finite",
        ),
        (
            LoanFacts(net_received=100, contract_principal=math.inf, schedule=monthly(1, "1")),
            "loan.contract_principal",
            "not_finite",
        ),
        (
            LoanFacts(net_received=101, contract_principal=100, schedule=monthly(1, "200")),
            "loan.net_received",
            "exceeds_principal",
        ),
        (LoanFacts(net_received=100), "loan.payments", "payments_or_schedule"),
        (LoanFacts(net_received=100, payments=()), "loan.payments", "payments_or_schedule"),
        (
            LoanFacts(
                net_received=100, received_on=DAY, payments=ONE_PAYMENT, schedule=monthly(1, "1")
            ),
            "loan.payments",
            "payments_or_schedule",
        ),
        (
            LoanFacts(
                net_received=100,
                schedule=RegularSchedule(installments=3, amount=40, every="year"),
            ),
            "loan.schedule.every",
            "unknown_period",
        ),
        (
            LoanFacts(net_received=100, schedule=monthly(0, "10")),
            "loan.schedule.installments",
            "out_of_range",
        ),
        (
            LoanFacts(net_received=100, schedule=monthly(601, "10")),
            "loan.schedule.installments",
            "out_of_range",
        ),
        (
            LoanFacts(net_received=100, schedule=monthly(3, "-40")),
            "loan.schedule.amount",
            "negative_amount",
        ),
        (
            LoanFacts(
                net_received=100,
                received_on=DAY,
                payments=(
                    LoanPayment(date(2024, 2, 15), 60),
                    LoanPayment(date(2024, 3, 15), 60),
                    LoanPayment(date(2024, 4, 15), -1),
                ),
            ),
            "loan.payments.2.amount",
            "negative_amount",
        ),
        (
            LoanFacts(
                net_received=100,
                received_on=DAY,
                payments=(LoanPayment(DAY, 50), LoanPayment(DAY, math.inf)),
            ),
            "loan.payments.1.amount",
            "not_finite",
        ),
        (
            LoanFacts(net_received=100, payments=ONE_PAYMENT),
            "loan.received_on",
            "received_on_required",
        ),
        (
            LoanFacts(
                net_received=100,
                received_on=DAY,
                payments=ONE_PAYMENT * 3 + (LoanPayment(date(2024, 1, 14), 10),),
            ),
            "loan.payments.3.due_on",
            "before_received",
        ),
        (
            LoanFacts(net_received=100, schedule=monthly(3, "33.33")),
            "loan.schedule",
            "never_repays",
        ),
        (
            LoanFacts(net_received=200, received_on=DAY, payments=ONE_PAYMENT),
            "loan.payments",
            "never_repays",
        ),
        (
            # Everything paid back on the day of receipt, and more a month later.
            LoanFacts(
                net_received=100,
                received_on=DAY,
                payments=(LoanPayment(DAY, 100), LoanPayment(date(2024, 2, 15), 10)),
            ),
            "loan.payments",
            "no_solution",
        ),
        (
            # 100 times the money back a day later: e^(365·ln 100) overflows a float.
            LoanFacts(
                net_received=100,
                received_on=DAY,
                payments=(LoanPayment(date(2024, 1, 16), 10000),),
            ),
            "loan.payments",
            "no_solution",
        ),
    ],
)
def test_errors_carry_field_and_code(lpr_table, facts, field, code):
    with pytest.raises(LoanCostError) as raised:
        compute_loan_cost(facts, lpr_table)

    assert (raised.value.field, raised.value.code) == (field, code)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value.params, dict)


def test_error_params_explain_the_problem(lpr_table):
    with pytest.raises(LoanCostError) as never:
        compute_loan_cost(LoanFacts(net_received=100, schedule=monthly(3, "33.33")), lpr_table)
    with pytest.raises(LoanCostError) as too_many:
        compute_loan_cost(LoanFacts(net_received=100, schedule=monthly(601, "1")), lpr_table)
    with pytest.raises(LoanCostError) as early:
        compute_loan_cost(
            LoanFacts(
                net_received=100, received_on=DAY, payments=(LoanPayment(date(2024, 1, 1), 200),)
            ),
            lpr_table,
        )

    assert never.value.params == {"total_paid": "99.99", "net_received": "100"}
    assert too_many.value.params == {"min": 1, "max": 600}
    assert early.value.params == {"received_on": "2024-01-15"}


def test_600_installments_are_allowed(lpr_table):
    cost = compute_loan_cost(LoanFacts(net_received=100, schedule=monthly(600, "1")), lpr_table)

    assert cost.total_paid == Decimal("600")
    assert cost.periodic_rate > 0


# --- Purity -----------------------------------------------------------------------------------


def test_deterministic_and_inputs_untouched(lpr_table):
    facts = LoanFacts(
        net_received=Decimal("99000"),
        received_on=date(2024, 3, 7),
        contract_principal=Decimal("100000"),
        payments=(LoanPayment(date(2024, 8, 30), 50000), LoanPayment(date(2024, 5, 2), 55000.5)),
    )
    facts_before = copy.deepcopy(facts)
    table_before = lpr_table.copy(deep=True)

    first = compute_loan_cost(facts, lpr_table)
    second = compute_loan_cost(facts, lpr_table)

    assert first == second
    assert first.as_dict() == second.as_dict()
    assert facts == facts_before
    pd.testing.assert_frame_equal(lpr_table, table_before)


def test_as_dict_is_json_ready(lpr_table):
    cost = compute_loan_cost(PBOC, lpr_table)
    data = cost.as_dict()

    assert json.loads(json.dumps(data)) == data
    assert data == {
        "apr_nominal": round(cost.apr_nominal, 6),
        "apr_effective": round(cost.apr_effective, 6),
        "periodic_rate": round(cost.periodic_rate, 6),
        "periods_per_year": 12,
        "method": "periodic",
        "total_paid": "105999.60",
        "total_cost": "6999.60",
        "upfront_deduction": "1000",
        "lpr_percent_at_contract": 3.45,
        "cap_4lpr": 0.138,
        "flags": {"above_24": False, "above_36": False, "above_4lpr": False},
    }
    assert data["apr_nominal"] == 0.128038
    assert data["apr_effective"] == 0.135826
    assert isinstance(cost, LoanCost)


def test_lpr_history_answers_like_the_table(lpr_table):
    history = LprHistory.from_frame(lpr_table)
    shuffled = lpr_table.sample(frac=1, random_state=3)
    for day in (date(2019, 8, 19), date(2019, 8, 20), date(2022, 1, 20), date(2026, 1, 1)):
        assert history.on(day) == lpr_on(shuffled, day)
    assert history.on(date(2019, 8, 19)) is None
    late = LoanFacts(
        net_received=Decimal("1000"), received_on=date(2025, 6, 1), schedule=monthly(3, "400")
    )
    assert compute_loan_cost(late, history) == compute_loan_cost(late, lpr_table)
