import uuid
from datetime import UTC, datetime

import pytest

from docuvault.catalog.bootstrap import MIGRATIONS as ALL_MIGRATIONS
from docuvault.catalog.listing import (
    FAILED_SQL,
    BadQuery,
    ListQuery,
    build_list_sql,
    decode_cursor,
    encode_cursor,
    like_pattern,
)

MIGRATIONS = ALL_MIGRATIONS["catalog"]


def test_cursor_round_trips_each_key_type() -> None:
    doc = uuid.uuid4()
    for key in (datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC), "invoice.pdf", 1234, -1):
        assert decode_cursor(encode_cursor("-size_bytes", key, doc), "-size_bytes") == (key, doc)


def test_cursor_of_another_sort_is_refused() -> None:
    cursor = encode_cursor("filename", "a", uuid.uuid4())
    with pytest.raises(BadQuery, match="another sort order"):
        decode_cursor(cursor, "-uploaded_at")


@pytest.mark.parametrize("cursor", ["garbage", "e30", ""])
def test_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(BadQuery, match="cursor"):
        build_list_sql("SELECT * FROM documents", uuid.uuid4(), ListQuery(cursor=cursor or "x"))


def test_unknown_sort_key_names_the_choices() -> None:
    with pytest.raises(BadQuery, match="uploaded_at, filename"):
        build_list_sql("SELECT * FROM documents", uuid.uuid4(), ListQuery(sort="-colour"))


def test_filters_become_parameters_never_text() -> None:
    sql, params = build_list_sql(
        "SELECT * FROM documents",
        uuid.uuid4(),
        ListQuery(content_type="text/plain'; DROP TABLE documents; --", statuses=["received"]),
    )
    assert "DROP TABLE" not in sql
    assert "text/plain'; DROP TABLE documents; --" in params


def test_a_filename_is_a_literal_substring() -> None:
    assert like_pattern("50%_off") == "%50\\%\\_off%"
    assert like_pattern("a\\b") == "%a\\\\b%"
    sql, params = build_list_sql(
        "SELECT * FROM documents", uuid.uuid4(), ListQuery(filename="50%_off'--")
    )
    assert "lower(filename) ILIKE $2" in sql
    assert params[1] == "%50\\%\\_off'--%"


def test_failures_are_the_partial_index_predicate() -> None:
    """The planner uses migration 0007's partial index only if the filter implies its
    predicate: both say it the same way."""
    migration = next(MIGRATIONS.glob("0007_*.sql")).read_text()
    assert f"WHERE deleted_at IS NULL AND {FAILED_SQL};" in migration
    failed, _ = build_list_sql("SELECT * FROM documents", uuid.uuid4(), ListQuery(has_failure=True))
    others, _ = build_list_sql(
        "SELECT * FROM documents", uuid.uuid4(), ListQuery(has_failure=False)
    )
    assert f" AND {FAILED_SQL}" in failed
    assert f" AND NOT ({FAILED_SQL})" in others
