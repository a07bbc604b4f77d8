"""An audit leaf written with the json module is byte for byte the RFC 8785 form
that verification recomputes with rfc8785, on any text a field may hold."""

from __future__ import annotations

from datetime import UTC, datetime

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from clinic.audit.models import leaf_fields
from clinic.audit.services import canonical_leaf

# Any text but lone surrogates, which neither encoder writes (both refuse them).
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
OPTIONAL = st.none() | TEXT


@given(
    strings=st.lists(OPTIONAL, min_size=11, max_size=11),
    entities=st.lists(TEXT, max_size=4),
    reasons=st.lists(TEXT, max_size=4),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_the_written_leaf_is_the_rfc8785_form(
    strings: list[str | None], entities: list[str], reasons: list[str], moment: datetime
) -> None:
    fields = leaf_fields(
        recorded_at=moment,
        event_type=strings[0] or "rest",
        subtype=strings[1] or "read",
        action=strings[2] or "R",
        outcome=strings[3] or "0",
        outcome_desc=strings[4],
        channel=strings[5] or "fhir",
        user_id=strings[6],
        username=strings[7],
        role=strings[8],
        organization_id=strings[9],
        purpose=None,
        source_address=strings[10],
        entities=entities,
        query=strings[4],
        reasons=reasons,
    )
    assert canonical_leaf(fields) == rfc8785.dumps(fields)


def test_control_characters_quotes_and_non_ascii_text_are_written_alike() -> None:
    text = 'a\x00\x08\t\n\x0b\x0c\r\x1f"\\\x7f\u2028é𝄞'
    fields = {"query": text, "reasons": [text, ""], "address": None}
    assert canonical_leaf(fields) == rfc8785.dumps(fields)


def test_a_value_beyond_text_is_written_by_rfc8785_itself() -> None:
    """Numbers are where the json module and JCS part (-0.0, 1e21): a leaf holding
    one is written by rfc8785, so it is always what verification recomputes."""
    import rfc8785

    from clinic.audit.services import canonical_leaf

    for fields in ({"count": -0.0}, {"size": 2**53 - 1, "kind": "read"}, {"at": [1e21, "x"]}):
        assert canonical_leaf(fields) == rfc8785.dumps(fields), fields
