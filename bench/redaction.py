"""Redaction speed on real complaint narratives, next to a minimal two-pattern baseline.

    .venv/bin/python bench/redaction.py

Reads the CFPB narratives and the 黑猫投诉 sample from ../shared/datasets when present (says
so and exits when not). Prints per-narrative p50/p99 time and characters per second for
`redact_text` and for a baseline that only substitutes 18-digit numbers and mobile numbers
with two regular expressions, measured in the same run, and the redaction counts per kind.
Quality (precision/recall per kind) is measured by tests/aggregation/test_redaction.py.
"""

import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from aggregation.redaction import redact_text

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
CFPB_FILES = [
    DATASETS / "cfpb-payday-personal-loans" / "cfpb_payday_title_personal_loan_2023.csv",
    DATASETS / "cfpb-payday-personal-loans" / "cfpb_payday_advance_loan_2025.csv",
]
HEIMAO_FILE = DATASETS / "zh-heimao-tousu-sample" / "heimao_tousu_clean.csv"
_BASELINE_RE = re.compile(r"\d{17}[\dXx]|1[3-9]\d{9}")


def _baseline(text: str) -> str:
    return _BASELINE_RE.sub("[X]", text)


def _time_each(function: Callable[[str], object], texts: list[str]) -> list[float]:
    seconds = []
    for text in texts:
        started = time.perf_counter()
        function(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def _report(name: str, texts: list[str]) -> None:
    characters = sum(len(text) for text in texts)
    print(f"\n{name}: {len(texts)} narratives, {characters / len(texts):.0f} characters on average")
    print(f"{'method':24} {'p50 ms':>8} {'p99 ms':>8} {'chars/s':>12}")
    for method, function in (("redact_text", redact_text), ("two-regex baseline", _baseline)):
        seconds = sorted(_time_each(function, texts))
        p50 = seconds[len(seconds) // 2] * 1000
        p99 = seconds[int(len(seconds) * 0.99)] * 1000
        print(f"{method:24} {p50:8.3f} {p99:8.3f} {characters / sum(seconds):12,.0f}")
    kinds = Counter(str(r.kind) for text in texts for r in redact_text(text).redactions)
    print("redactions found: " + (", ".join(f"{k} {n}" for k, n in kinds.most_common()) or "none"))


def main() -> int:
    if not DATASETS.exists():
        print(f"datasets not found at {DATASETS}; nothing to measure")
        return 0
    cfpb = pd.concat([pd.read_csv(path, dtype=str) for path in CFPB_FILES if path.exists()])
    _report("CFPB narratives (en)", cfpb["Consumer complaint narrative"].dropna().tolist())
    heimao = pd.read_csv(HEIMAO_FILE, dtype=str)
    texts = (heimao["投诉标题"].fillna("") + "。" + heimao["投诉详情"].fillna("")).tolist()
    _report("黑猫投诉 complaints (zh)", texts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
