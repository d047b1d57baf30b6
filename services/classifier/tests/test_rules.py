from __future__ import annotations

import pytest

from docuvault.classifier.providers.rules import matches
from docuvault.contracts.events import MatchAlgorithm, TopicMatch

TEXT = "Invoice No. 1042 from ACME Corp.\nTotal due: 99.50 EUR, payable to C++ Ltd by 2024-05-01."


def rule(algorithm: MatchAlgorithm, pattern: str, case_sensitive: bool = False) -> TopicMatch:
    return TopicMatch(algorithm=algorithm, pattern=pattern, case_sensitive=case_sensitive)


@pytest.mark.parametrize(
    ("algorithm", "pattern", "expected"),
    [
        ("any", "receipt invoice", True),
        ("any", "receipt quote", False),
        ("any", "invo", False),  # whole words only
        ("any", '"total due" nothing', True),
        ("any", '"due total"', False),
        ("all", "invoice acme total", True),
        ("all", "invoice acme receipt", False),
        ("all", '"ACME Corp" "payable to"', True),
        ("exact", "from ACME Corp", True),
        ("exact", "ACME from", False),
        ("exact", "C++ Ltd", True),
        ("exact", "ACM", False),
        ("regex", r"Invoice No\. \d+", True),
        ("regex", r"\d{4}-\d{2}-\d{2}", True),
        ("regex", r"^Total", True),
        ("regex", r"receipt #\d+", False),
        ("fuzzy", "invoice number 1042 from acme corp", True),
        ("fuzzy", "invoyce no 1042", True),
        ("fuzzy", "quarterly tax statement", False),
    ],
)
def test_rule(algorithm: MatchAlgorithm, pattern: str, expected: bool) -> None:
    assert matches(rule(algorithm, pattern), TEXT) is expected


@pytest.mark.parametrize(
    ("algorithm", "pattern", "expected"),
    [
        ("any", "INVOICE", False),
        ("any", "Invoice", True),
        ("all", "Invoice acme", False),
        ("exact", "from acme corp", False),
        ("exact", "from ACME Corp", True),
        ("regex", "invoice", False),
        ("fuzzy", "INVOICE NO 1042 FROM ACME CORP", False),
        ("fuzzy", "Invoice No 1042 from ACME Corp", True),
    ],
)
def test_case_sensitive_rules(algorithm: MatchAlgorithm, pattern: str, expected: bool) -> None:
    assert matches(rule(algorithm, pattern, case_sensitive=True), TEXT) is expected


def test_no_rule() -> None:
    assert matches(rule("none", "invoice"), TEXT) is None
    assert matches(rule("any", "   "), TEXT) is None


def test_invalid_regex_never_matches() -> None:
    assert matches(rule("regex", "(unclosed"), TEXT) is False
