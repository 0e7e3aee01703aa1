"""Builders for test inputs: valid identity numbers and report submissions."""

from typing import Any

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def resident_id(first17: str = "11010519491231002") -> str:
    """An 18-digit resident ID number with a correct GB 11643 check digit (made-up person)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return first17 + _ID_CHECK[total % 11]


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lender": "同程借钱",
        "product": "提钱游",
        "categories": ["refuses_negotiation", "opaque_fees"],
        "title": "逾期后拒绝协商分期",
        "narrative": (
            "我在提钱游借了一万元，逾期两个月后多次申请停息挂账，客服一直拒绝协商，"
            "还说会联系我的家人。会员费从放款里直接扣掉了。"
        ),
        "province": "广东",
        "first_incident_month": "2024-03",
        "loan": {
            "contract_principal": "100000",
            "net_received": "99000",
            "received_on": "2024-01-15",
            "schedule": {"installments": 12, "amount": "8833.30", "every": "month"},
        },
        "attempts": [{"channel": "lender", "attempted_on": "2024-04-02", "outcome": "拒绝"}],
    }
    body.update(overrides)
    return body
