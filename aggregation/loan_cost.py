"""Annualized cost of a loan from what the borrower actually received and actually paid.

The borrower's cash flows are +``net_received`` on ``received_on`` (the contract principal minus
anything deducted up front: service, "membership", insurance or guarantee fees) and −each payment
after it (principal, interest and every fee tied to the loan). Using the net amount rather than
the contract principal is deliberate: it is the base PBOC Announcement 〔2021〕 No. 3 prescribes
("the principal the borrower actually uses"), and the one that exposes head fees (砍头息), which
SPC private-lending rules Art. 26 and Civil Code Art. 670 also refuse to count as principal.

Methods (legal-research.md §3.5):

- ``"periodic"``: a regular schedule, or dated payments falling one calendar month apart from one
  month after ``received_on`` (±3 days, since lenders move due dates off weekends and month ends).
  Solve ``net = Σ p_k (1+r)^-k`` for the per-period IRR ``r``; nominal APR is ``r × periods per
  year`` (PBOC "simple" figure, Reg Z actuarial rate) and effective APR is ``(1+r)^periods − 1``
  (PBOC "IRR/compound" figure).
- ``"xirr"``: any other dated payments. Solve ``net = Σ p_i (1+X)^-(days_i/365)`` for the effective
  annual rate ``X`` (EU Directive 2008/48/EC Annex I, 365-day years even across leap years). The
  reported periodic rate is the equivalent monthly rate ``(1+X)^(1/12) − 1`` and nominal APR is
  12 times that, so both methods report the same kind of figures.

Flags compare the **nominal** APR against the caps: courts and regulators state caps as simple
annual rates, and a loan should never be flagged by compounding alone. Both APRs are reported. The
comparison is made on the rate rounded to 6 decimals, as reported, so a loan priced exactly at a
cap is not flagged because of floating-point noise.

- ``above_24`` / ``above_36``: thresholds in ``RATE_CAPS``.
- ``above_4lpr``: 4 × the one-year LPR in force on ``received_on``, taken as the contract date
  (SPC private-lending rules Art. 25). The key is absent, not False, when there is no date or the
  date precedes the LPR series (2019-08-20): the cap is then unknown, not respected. The flag is
  informational: the 4×LPR cap does not bind licensed financial institutions (Art. 1(2) and the SPC
  Reply of 2020-11-09), and for contracts formed before 2020-08-20 Art. 31 applies the old rules to
  interest up to 2020-08-19.

A loan repaid with exactly what was received is allowed and costs 0%; paying back less is
``never_repays``, because a negative "cost" would be a data-entry error, not a finding.

Money is Decimal throughout; floats are accepted and converted through ``str()`` so 8833.3 stays
8833.3. Rates are floats.

Errors are ``LoanCostError(field, code, params)``. ``field`` is a dotted path into the submission
(list indices are 0-based, in the order given); the API turns ``code`` into zh/en messages. Only
the first problem found is raised.

Code (field): meaning [params]

- ``not_finite`` (any money field): amount is NaN or infinite.
- ``not_positive`` (``loan.net_received``): amount received is zero or negative.
- ``exceeds_principal`` (``loan.net_received``): more received than the contract principal
  [``contract_principal``].
- ``payments_or_schedule`` (``loan.payments``): give dated payments or a schedule; both or neither
  were given (an empty payment list counts as not given).
- ``unknown_period`` (``loan.schedule.every``): period is not month, week or day [``allowed``].
- ``out_of_range`` (``loan.schedule.installments``): fewer than 1 or more than 600 installments
  [``min``, ``max``].
- ``negative_amount`` (``loan.schedule.amount`` or ``loan.payments.<i>.amount``): a payment amount
  is negative.
- ``received_on_required`` (``loan.received_on``): dated payments need the date the money was
  received.
- ``before_received`` (``loan.payments.<i>.due_on``): payment dated before the money was received
  [``received_on``].
- ``never_repays`` (``loan.payments`` or ``loan.schedule``): total paid is less than net received
  [``total_paid``, ``net_received``].
- ``no_solution`` (``loan.payments`` or ``loan.schedule``): no finite rate solves the flows
  [``reason``]: ``repaid_on_receipt`` (everything received was paid back on the day of receipt and
  more later), ``rate_overflow`` (effective APR beyond floating point, e.g. 100× repaid a day
  later) or ``not_converged``.
"""

import math
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from scipy.optimize import brentq

Money = Decimal | int | float
Period = Literal["month", "week", "day"]

PERIODS_PER_YEAR: Mapping[str, int] = MappingProxyType({"month": 12, "week": 52, "day": 365})

# Simple annual rates; a loan is flagged when its nominal APR is strictly above the cap.
RATE_CAPS: Mapping[str, float] = MappingProxyType(
    {
        # 24%: SPC 法发〔2017〕22号 Art. 2 (courts reduce the combined cost of financial loans above
        # 24% a year); also the enforceable limit of the 2015 private-lending rules and the
        # consumer-finance window guidance.
        "above_24": 0.24,
        # 36%: void-and-recoverable line of the 2015 private-lending rules; "actual annual rate"
        # threshold of the 2019 SPC/SPP/MPS/MOJ Opinions on illegal lending and the 2017
        # cash-loan rectification notice.
        "above_36": 0.36,
    }
)

# Times (periods or years after received_on), amounts, periods per year, method.
_Flows = tuple[list[float], list[Decimal], int, Literal["periodic", "xirr"]]

MAX_INSTALLMENTS = 600
# Tolerance for dated payments to count as the k-th monthly installment.
_MONTHLY_SLACK_DAYS = 3
_DAYS_PER_YEAR = 365
_REPORTED_DECIMALS = 6


class LoanCostError(ValueError):
    """Invalid or unsolvable loan facts; see the module docstring for every code."""

    def __init__(self, field: str, code: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code
        self.params = dict(params or {})


@dataclass(frozen=True)
class LoanPayment:
    due_on: date
    amount: Money


@dataclass(frozen=True)
class RegularSchedule:
    installments: int
    amount: Money
    every: Period = "month"


@dataclass(frozen=True)
class LoanFacts:
    net_received: Money
    received_on: date | None = None
    contract_principal: Money | None = None
    payments: tuple[LoanPayment, ...] | None = None
    schedule: RegularSchedule | None = None


@dataclass(frozen=True)
class LoanCost:
    apr_nominal: float
    apr_effective: float
    periodic_rate: float
    periods_per_year: int
    method: Literal["periodic", "xirr"]
    total_paid: Decimal
    total_cost: Decimal
    upfront_deduction: Decimal | None
    lpr_percent_at_contract: float | None
    cap_4lpr: float | None
    flags: dict[str, bool]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: floats rounded to 6 decimals, Decimals as strings, None kept."""
        return {
            "apr_nominal": _rounded(self.apr_nominal),
            "apr_effective": _rounded(self.apr_effective),
            "periodic_rate": _rounded(self.periodic_rate),
            "periods_per_year": self.periods_per_year,
            "method": self.method,
            "total_paid": str(self.total_paid),
            "total_cost": str(self.total_cost),
            "upfront_deduction": _str_or_none(self.upfront_deduction),
            "lpr_percent_at_contract": _rounded(self.lpr_percent_at_contract),
            "cap_4lpr": _rounded(self.cap_4lpr),
            "flags": dict(self.flags),
        }


@dataclass(frozen=True)
class LprHistory:
    """One-year LPR values (percent) by the day each took effect, ascending.

    Built once from the LPR table and searched by bisection: reading the DataFrame afresh for
    each loan cost more than solving the loan's rate.
    """

    effective_from: tuple[date, ...]
    percent: tuple[float, ...]

    @classmethod
    def from_frame(cls, lpr_table: pd.DataFrame) -> "LprHistory":
        """From columns ``effective_from`` (date or ``YYYY-MM-DD`` string) and
        ``one_year_lpr_percent``, in any row order; of two rows for one day the first counts."""
        column = lpr_table["effective_from"]
        if not pd.api.types.is_datetime64_any_dtype(column):
            column = pd.to_datetime(column, format="ISO8601")
        by_day: dict[date, float] = {}
        for day, percent in zip(
            column.dt.date, lpr_table["one_year_lpr_percent"].astype(float), strict=True
        ):
            by_day.setdefault(day, float(percent))
        days = sorted(by_day)
        return cls(tuple(days), tuple(by_day[day] for day in days))

    def on(self, day: date) -> float | None:
        """The rate in force on ``day``: the latest with effective_from ≤ day; None before
        the first."""
        position = bisect_right(self.effective_from, day)
        return self.percent[position - 1] if position else None


def lpr_on(lpr_table: pd.DataFrame, day: date) -> float | None:
    """One-year LPR (percent) in force on ``day``: the latest row with effective_from ≤ day.

    ``lpr_table`` as for `LprHistory.from_frame`. None before the first row.
    """
    return LprHistory.from_frame(lpr_table).on(day)


def compute_loan_cost(facts: LoanFacts, lpr_table: pd.DataFrame | LprHistory) -> LoanCost:
    """Annualized cost of ``facts``; raises LoanCostError for invalid or unsolvable facts.

    Callers costing many loans pass an `LprHistory` built once rather than the table."""
    net = _money(facts.net_received, "loan.net_received")
    if net <= 0:
        raise LoanCostError("loan.net_received", "not_positive")
    upfront_deduction = None
    if facts.contract_principal is not None:
        principal = _money(facts.contract_principal, "loan.contract_principal")
        if net > principal:
            raise LoanCostError(
                "loan.net_received", "exceeds_principal", {"contract_principal": str(principal)}
            )
        upfront_deduction = principal - net

    has_payments = bool(facts.payments)
    if has_payments == (facts.schedule is not None):
        raise LoanCostError("loan.payments", "payments_or_schedule")
    if facts.schedule is not None:
        flows_field = "loan.schedule"
        times, amounts, per_year, method = _schedule_flows(facts.schedule)
    else:
        flows_field = "loan.payments"
        times, amounts, per_year, method = _dated_flows(facts.payments or (), facts.received_on)

    total_paid = sum(amounts, Decimal(0))
    if total_paid < net:
        raise LoanCostError(
            flows_field, "never_repays", {"total_paid": str(total_paid), "net_received": str(net)}
        )
    log_rate = 0.0 if total_paid == net else _solve_log_rate(net, times, amounts, flows_field)
    # Periodic: log_rate is per period. XIRR: per year, restated below as a monthly rate.
    try:
        if method == "periodic":
            periodic_rate = math.expm1(log_rate)
            apr_effective = math.expm1(log_rate * per_year)
        else:
            periodic_rate = math.expm1(log_rate / per_year)
            apr_effective = math.expm1(log_rate)
    except OverflowError:
        raise LoanCostError(flows_field, "no_solution", {"reason": "rate_overflow"}) from None
    apr_nominal = periodic_rate * per_year

    lpr_percent = cap_4lpr = None
    if facts.received_on is not None:
        history = (
            lpr_table if isinstance(lpr_table, LprHistory) else LprHistory.from_frame(lpr_table)
        )
        lpr_percent = history.on(facts.received_on)
    if lpr_percent is not None:
        # Rounded so 4 × 3.70% is 0.148, not 0.14800000000000002, before comparing.
        cap_4lpr = round(4 * lpr_percent / 100, 10)
    caps = dict(RATE_CAPS)
    if cap_4lpr is not None:
        caps["above_4lpr"] = cap_4lpr
    reported_nominal = round(apr_nominal, _REPORTED_DECIMALS)
    flags = {name: reported_nominal > cap for name, cap in caps.items()}

    return LoanCost(
        apr_nominal=apr_nominal,
        apr_effective=apr_effective,
        periodic_rate=periodic_rate,
        periods_per_year=per_year,
        method=method,
        total_paid=total_paid,
        total_cost=total_paid - net,
        upfront_deduction=upfront_deduction,
        lpr_percent_at_contract=lpr_percent,
        cap_4lpr=cap_4lpr,
        flags=flags,
    )


def _schedule_flows(schedule: RegularSchedule) -> _Flows:
    if schedule.every not in PERIODS_PER_YEAR:
        raise LoanCostError(
            "loan.schedule.every", "unknown_period", {"allowed": list(PERIODS_PER_YEAR)}
        )
    if not 1 <= schedule.installments <= MAX_INSTALLMENTS:
        raise LoanCostError(
            "loan.schedule.installments", "out_of_range", {"min": 1, "max": MAX_INSTALLMENTS}
        )
    amount = _money(schedule.amount, "loan.schedule.amount")
    if amount < 0:
        raise LoanCostError("loan.schedule.amount", "negative_amount")
    # Installment k falls k periods after received_on, so the period index is the time.
    times = [float(k) for k in range(1, schedule.installments + 1)]
    return times, [amount] * schedule.installments, PERIODS_PER_YEAR[schedule.every], "periodic"


def _dated_flows(payments: tuple[LoanPayment, ...], received_on: date | None) -> _Flows:
    if received_on is None:
        raise LoanCostError("loan.received_on", "received_on_required")
    by_date: dict[date, Decimal] = {}
    for index, payment in enumerate(payments):
        amount = _money(payment.amount, f"loan.payments.{index}.amount")
        if amount < 0:
            raise LoanCostError(f"loan.payments.{index}.amount", "negative_amount")
        if payment.due_on < received_on:
            raise LoanCostError(
                f"loan.payments.{index}.due_on",
                "before_received",
                {"received_on": received_on.isoformat()},
            )
        by_date[payment.due_on] = by_date.get(payment.due_on, Decimal(0)) + amount
    days = sorted(by_date)
    amounts = [by_date[day] for day in days]
    # Offsets from received_on itself, not from the previous payment, so slack cannot accumulate
    # and month ends clamp correctly (Jan 31 → Feb 29 → Mar 31).
    monthly = all(
        abs((day - (received_on + relativedelta(months=k))).days) <= _MONTHLY_SLACK_DAYS
        for k, day in enumerate(days, start=1)
    )
    if monthly:
        return [float(k) for k in range(1, len(days) + 1)], amounts, 12, "periodic"
    times = [(day - received_on).days / _DAYS_PER_YEAR for day in days]
    return times, amounts, 12, "xirr"


def _solve_log_rate(
    net: Decimal, times: list[float], amounts: list[Decimal], flows_field: str
) -> float:
    """Continuously compounded rate δ per time unit with ``net = Σ amount·e^(−δ·t)``.

    Solving for δ = ln(1 + rate) rather than the rate keeps the function smooth for loans costing
    thousands of percent a year, where (1 + X)^t overflows.

    Bracket: with no negative amounts, the right-hand side strictly decreases in δ, so the root is
    unique. Payments at t = 0 do not discount; let A = net minus them and F = the later payments.
    The caller guarantees total paid > net, so F > A and f(0) = A − F < 0. With t_min the earliest
    later time, Σ amount·e^(−δt) ≤ F·e^(−δ·t_min); at δ = 2·ln(F/A)/t_min that is F·(A/F)² and
    f ≥ A·(F − A)/F > 0, a margin far above float rounding (at ln(F/A)/t_min alone f is exactly 0
    for single-payment loans, and rounding could flip its sign). So the root
    lies in [0, 2·ln(F/A)/t_min]: from 0% (more is paid than received) to whatever the flows imply,
    with no arbitrary ceiling. If A ≤ 0 the borrower repaid everything on the day of receipt and
    still paid more later: no finite rate exists.
    """
    flows = list(zip(times, amounts, strict=True))
    immediate_net = net - sum((a for t, a in flows if t == 0), Decimal(0))
    later = [(t, a) for t, a in flows if t > 0]
    if immediate_net <= 0:
        raise LoanCostError(flows_field, "no_solution", {"reason": "repaid_on_receipt"})
    later_total = sum((a for _, a in later), Decimal(0))
    t_later = np.asarray([t for t, _ in later])
    p_later = np.asarray([float(a) for _, a in later])
    a_float = float(immediate_net)

    def excess_received(log_rate: float) -> float:
        return a_float - float(np.dot(p_later, np.exp(-log_rate * t_later)))

    upper = 2 * math.log(later_total / immediate_net) / float(t_later.min())
    try:
        return float(brentq(excess_received, 0.0, upper))
    except RuntimeError:
        raise LoanCostError(flows_field, "no_solution", {"reason": "not_converged"}) from None


def _money(value: Money, path: str) -> Decimal:
    # str() first: Decimal(8833.3) would carry the binary float's 40-odd digits into sums.
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if not amount.is_finite():
        raise LoanCostError(path, "not_finite")
    return amount


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, _REPORTED_DECIMALS)


def _str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
