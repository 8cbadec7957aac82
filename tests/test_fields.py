"""The rule for each JSON type (backend/fields.py): what a strict `Input` takes, what is stored,
what reads back, and that the OpenAPI document states each rule."""

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from backend.fields import Date, Integer, UniqueList
from backend.models import Input, Stored
from backend.server import app
from backend.text import Text


class Sent(Input):
    due: Date | None = None
    count: Integer(0, 9) = 0
    done: bool = False
    labels: UniqueList(Text(5, trim=False), 3) = ()


class Read(Stored):
    due: Date | None = None


@pytest.mark.parametrize(
    "fields",
    [
        {"due": 0},
        {"due": "0"},
        {"due": "2026-13-01"},
        {"due": "2026-02-30"},
        {"due": "26-01-01"},
        {"due": "2026-01-01T00:00:00"},
        {"due": "\uff12\uff10\uff12\uff16-01-01"},  # fullwidth digits: not ASCII
        {"count": "1"},
        {"count": True},
        {"count": 1.5},
        {"count": 10},
        {"done": 1},
        {"done": "true"},
        {"labels": "a"},
        {"labels": ["a", "a"]},
        {"labels": ["a", "b", "c", "d"]},
        {"labels": [1]},
    ],
    ids=repr,
)
def test_input_refuses_what_is_not_exactly_its_json_type(fields):
    with pytest.raises(ValidationError):
        Sent.model_validate(fields)


def test_a_date_is_stored_as_midnight_utc_and_written_back_as_sent():
    sent = Sent.model_validate({"due": "2028-02-29"})
    assert sent.model_dump()["due"] == datetime(2028, 2, 29, tzinfo=UTC)
    assert sent.model_dump_json() == ('{"due":"2028-02-29","count":0,"done":false,"labels":[]}')
    stored = Read.from_document({"_id": "a", "due": sent.model_dump()["due"]})
    assert stored.due == date(2028, 2, 29)
    assert stored.model_dump_json() == '{"id":"a","due":"2028-02-29"}'


def test_the_document_states_each_rule_of_the_item_fields():
    schemas = app.openapi()["components"]["schemas"]
    for model in ("ItemCreate", "ItemUpdate"):
        fields = schemas[model]["properties"]
        due = next(s for s in fields["due"]["anyOf"] if s.get("type") == "string")
        assert due["format"] == "date"
        assert (fields["priority"]["minimum"], fields["priority"]["maximum"]) == (0, 5)
        assert fields["tags"]["maxItems"] == 10
        assert fields["tags"]["uniqueItems"] is True
        assert fields["tags"]["items"]["pattern"].startswith("^[^")  # no leading white space
    assert schemas["ItemCreate"]["properties"]["priority"]["default"] == 2
    assert "default" not in schemas["ItemUpdate"]["properties"]["priority"]
