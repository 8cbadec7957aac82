"""The API keeps its OpenAPI document under Schemathesis: every operation, every check.

`python -m pytest tests/test_fuzz.py` runs it alone. The run is deterministic (a fixed seed and
derandomized generation), so a failure reproduces on every machine.
"""

import itertools
import re

import pytest
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")
CONFIG = {
    "seed": 10,
    "continue-on-failure": True,
    "generation": {"mode": "all", "max-examples": 200, "deterministic": True},
    "checks": {"enabled": True, "positive_data_acceptance": {"enabled": True}},
    "operations": [
        {
            "include-operation-id": "list_status_checks_api_status_get",
            # An opaque cursor is a valid-looking string the server must refuse unless it made it.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    ],
}


@pytest.fixture(autouse=True)
def _hypothesis_files_outside_the_project(tmp_path_factory):
    """Hypothesis caches to `./.hypothesis`, which a Vercel build would bundle."""
    set_hypothesis_home_dir(tmp_path_factory.getbasetemp() / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


def unique_idempotency_keys(app):
    """Give each request its own valid Idempotency-Key: the same key with another body is a 422
    by design (tests/test_idempotency.py), which positive_data_acceptance would take for a bug."""
    keys = itertools.count()

    async def wrapped(scope, receive, send):
        if scope["type"] == "http":
            headers = [
                (name, b"fuzz-%d" % next(keys))
                if name == b"idempotency-key" and VALID_KEY.fullmatch(value)
                else (name, value)
                for name, value in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return wrapped


def test_the_api_keeps_its_openapi_document(app):
    config = SchemathesisConfig.from_dict(CONFIG)
    schema = schemathesis.openapi.from_asgi(
        "/api/openapi.json", unique_idempotency_keys(app), config=config
    )
    failures, finished = [], None
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            for case_id, checks in event.recorder.checks.items():
                case = event.recorder.cases[case_id].value
                failures += [
                    f"{event.recorder.label} {check.name}: {check.failure_info.failure.title}; "
                    f"query={case.query} headers={case.headers} body={case.body!r}"
                    for check in checks
                    if check.failure_info is not None
                ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            pytest.fail(f"Schemathesis could not run: {event}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    assert failures == []
