"""The API keeps its OpenAPI document under Schemathesis: every operation, every check, with
API_KEY set, with writes open and with users signed in (the document says which), and a check of
our own: a body in a media type an operation does not declare is a 415 naming those it does.

`python -m pytest tests/test_fuzz.py` runs it alone. The run is deterministic (a fixed seed and
derandomized generation), so a failure reproduces on every machine.

What valid data may get besides a 2xx depends on what the request carries, never on which
operation it is: `answer_fits_the_request` reads the operation's parameters from the document.
A second test adds routes nobody has written yet (a paged list with its own cursor, a body that
can exceed the limit, conditional requests on an id) and fuzzes them: no false failures.
"""

import importlib
import itertools
import json
import re
from contextlib import ExitStack
from typing import Annotated, NamedTuple

import pytest
import schemathesis
from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Response
from hypothesis.configuration import set_hypothesis_home_dir
from pydantic import AfterValidator, BaseModel, Field
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

import backend.server
import backend.settings
from backend.auth import SECURITY_SCHEME
from backend.errors import ErrorMessage, error_responses
from backend.identity import SCHEME as USER_SCHEME
from backend.middleware import MAX_BODY_BYTES
from backend.settings import Settings
from harness.issuer import Issuer
from tests.conftest import TEST_API_KEY

VALID_KEY = re.compile(rb"[\x21-\x7e]{1,255}")
# Per operation: the whole file runs in about 15 s with the items resource in the document.
EXAMPLES = 100
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
CONFIG = {
    "seed": 10,
    # A cache would replay earlier runs' failures first and write .schemathesis/ into the project.
    "cache": {"enabled": False},
    "continue-on-failure": True,
    "generation": {"mode": "all", "deterministic": True},
    "checks": {
        "enabled": True,
        # Schemathesis's defaults without 3xx and 404 (the API never redirects: no 3xx but a
        # 304; a 404 only for an id): `answer_fits_the_request` admits 304, 404, 412, 413 and a
        # made-up cursor's 422 where the request calls for them.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "409", "429", "5xx"]
        },
    },
}
# The checks that judge a response by its status alone.
STATUS_CHECKS = {"positive_data_acceptance", "negative_data_rejection"}


# The document says what the server enforces in each: with API_KEY set (as a deployment has it)
# writes need the bearer scheme, sent here, and `ignored_auth` checks each write is refused
# without it; where writes are open (`make dev` without API_KEY) the scheme is optional, and
# Schemathesis runs as a newcomer would, with no credentials; with AUTH_ISSUER set too, the
# users' routes take a signed-in user's token instead (sent here, from a test issuer), and
# `ignored_auth` checks each is refused without it.
MODES = ("keyed", "open", "signed-in")


class Served(NamedTuple):
    app: FastAPI
    user_token: str | None  # a signed-in user's, in the mode that has users


@pytest.fixture(params=MODES)
def served(request, monkeypatch):
    """The app as served: backend/server.py run again, so a router a user appends to its `app`
    is fuzzed too; on a fresh embedded database, in each mode of MODES."""
    with ExitStack() as stack:
        values: dict[str, object] = {"api_key": None if request.param == "open" else TEST_API_KEY}
        user_token = None
        if request.param == "signed-in":
            issuer = stack.enter_context(Issuer())
            values |= {"auth_issuer": issuer.url, "auth_audience": issuer.audience}
            user_token = issuer.token("fuzz-user")
        settings = Settings(_env_file=None, **values)
        monkeypatch.setattr(backend.settings, "get_settings", lambda: settings)
        yield Served(importlib.reload(backend.server).app, user_token)
        monkeypatch.undo()
        importlib.reload(backend.server)  # the module as it was, for the tests that follow


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


def declared(case) -> set[tuple[str, str]]:
    """The operation's parameters as (location, lower-case name), as its document declares them."""
    parameters = case.operation.definition.raw.get("parameters", [])
    return {(parameter["in"], parameter["name"].lower()) for parameter in parameters}


def sent(case, header: str) -> bool:
    return any(name.lower() == header for name in case.headers or {})


def refuses_only_the_cursor(case, response) -> bool:
    """A 422 for a cursor the request made up: opaque, valid-looking, refused unless the server
    made it. When the body lists the locations at fault, the cursor must be the only one."""
    if "cursor" not in (case.query or {}):
        return False
    try:
        detail = json.loads(response.content)["detail"]
    except (ValueError, TypeError, KeyError):
        return False  # not the API's JSON error
    return not isinstance(detail, list) or all(
        error.get("loc") == ["query", "cursor"] for error in detail
    )


def answer_fits_the_request(case, response) -> bool:
    """Whether an answer outside the checks' expected statuses is what this request may get."""
    parameters = declared(case)
    match response.status_code:
        case 304:
            return ("header", "if-none-match") in parameters and sent(case, "if-none-match")
        case 412:
            return any(
                ("header", header) in parameters and sent(case, header)
                for header in ("if-match", "if-none-match")
            )
        case 404:
            return any(location == "path" for location, _ in parameters)
        case 413:
            body = response.request.body or b""
            return len(body.encode() if isinstance(body, str) else body) > MAX_BODY_BYTES
        case 422:
            return ("query", "cursor") in parameters and refuses_only_the_cursor(case, response)
    return False


@schemathesis.check
def refuses_media_types_it_does_not_take(ctx, response, case) -> bool | None:
    """A body in a media type the operation does not declare (Schemathesis sends text/plain and
    a malformed multipart to each) is a 415 whose Accept, or Accept-Patch on a PATCH, lists the
    declared ones. A refused key comes first, whatever the body."""
    takes = list(case.operation.definition.raw.get("requestBody", {}).get("content", {}))
    sent = response.request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if (
        not takes
        or not response.request.body
        or sent in takes
        or response.status_code in (401, 403)
    ):
        return None
    header = "Accept-Patch" if case.method.upper() == "PATCH" else "Accept"
    listed = response.headers.get(header.lower())  # lower-case names, each a list of values
    if response.status_code != 415 or listed != [", ".join(takes)]:
        raise AssertionError(
            f"A body sent as {sent or 'nothing'} got {response.status_code} with "
            f"{header}: {listed}, not 415 listing {takes}"
        )
    return None


def credentials(served: Served) -> dict[str, str]:
    """What Schemathesis sends for each security scheme the document declares, in this mode."""
    key = served.app.state.mongo.settings.api_key
    schemes = {
        SECURITY_SCHEME: key and key.get_secret_value(),
        USER_SCHEME: served.user_token,
    }
    return {name: value for name, value in schemes.items() if value}


def fuzz(
    served: Served, *, tag: str | None = None, examples: int = EXAMPLES
) -> tuple[list[str], dict[str, set[int]], set[int]]:
    """Run every check on every operation (those tagged `tag`, when given): the failures, the
    statuses each operation answered, and those `answer_fits_the_request` admitted."""
    app = served.app
    generation = {**CONFIG["generation"], "max-examples": examples}
    sent = {name: {"bearer": value} for name, value in credentials(served).items()}
    auth = {"openapi": sent} if sent else {}
    config = SchemathesisConfig.from_dict({**CONFIG, "generation": generation, "auth": auth})
    schema = schemathesis.openapi.from_asgi(
        "/api/openapi.json", unique_idempotency_keys(app), config=config
    )
    if tag is not None:
        schema = schema.include(tag=tag)

    admitted: set[int] = set()

    @schema.hook
    def filter_failure(context, failure, case, response) -> bool:
        if STATUS_CHECKS & set(failure.checks) and answer_fits_the_request(case, response):
            admitted.add(response.status_code)
            return False
        return True

    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    finished = None
    for event in from_schema(schema).execute():
        if isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                if interaction.response is not None:
                    statuses.setdefault(recorder.label, set()).add(interaction.response.status_code)
            for case_id, checks in recorder.checks.items():
                case = recorder.cases[case_id].value
                failures += [
                    f"{recorder.label} {check.name}: {check.failure_info.failure.title}; "
                    f"query={case.query} headers={case.headers} body={case.body!r:.200}"
                    for check in checks
                    if check.failure_info is not None
                ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            pytest.fail(f"Schemathesis could not run: {event}")
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    failures += [f"{failure.operation}: {failure.title}" for failure in finished.failures]
    return failures, statuses, admitted


def operations(
    app, *, tag: str | None = None, with_body: bool = False, scheme: str | None = None
) -> set[str]:
    """Every operation in the app's OpenAPI document (those tagged `tag`; those that take a
    body; those whose security names `scheme`), as Schemathesis labels them."""
    return {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and (tag is None or tag in operation.get("tags", []))
        and (not with_body or "requestBody" in operation)
        and (scheme is None or any(scheme in choice for choice in operation.get("security", [])))
    }


def test_the_api_keeps_its_openapi_document(served):
    app = served.app
    failures, statuses, _ = fuzz(served)
    assert failures == []
    assert operations(app) - set(statuses) == set()  # each was sent requests and answered
    # Each credential sent was taken, not refused everywhere (the checks admit a 401): some
    # operation that requires it answered a 2xx.
    for scheme in credentials(served):
        answered = {status for op in operations(app, scheme=scheme) for status in statuses[op]}
        assert not answered or any(200 <= status < 300 for status in answered), scheme
    taking_a_body = operations(app, with_body=True)
    assert taking_a_body  # and each that takes a body refused one it does not take
    assert {operation for operation in taking_a_body if 415 not in statuses[operation]} == set()


# Routes nobody has written yet, registered the plain FastAPI way.

THROWAWAY = "throwaway"
NoteId = Annotated[str, Field(pattern=r"^n[0-9]$")]
# Free-form, as ETags are. A note's tag is "0" and matches leniently (unquoted, or empty), so that
# generated values often match.
Tag = Annotated[str, Header()]


def matches(tag: str | None) -> bool:
    return tag is not None and tag.strip('"') in ("", "0")


def _no_next_page(cursor: str | None) -> str | None:
    if cursor is not None:  # the list has one page: every cursor is made up
        raise ValueError("Not a cursor from this API: follow the Link header.")
    return cursor


class NoteCreate(BaseModel):
    # Over the limit once at its maximum: valid data the server must refuse with a 413.
    text: str = Field(max_length=MAX_BODY_BYTES + 1024)


def throwaway_router() -> APIRouter:
    """Notes n0 to n9, each with the ETag "0" while it exists; n1 to n9 exist from the start."""
    notes = {f"n{i}" for i in range(1, 10)}
    router = APIRouter(prefix="/api/throwaway-notes", tags=[THROWAWAY])
    missing = {"model": ErrorMessage, "description": "No such note"}
    stale = {"model": ErrorMessage, "description": "If-Match names another version"}
    full = {"model": ErrorMessage, "description": "Ten notes exist already"}

    @router.get("", responses=error_responses(422))
    async def list_throwaway_notes(
        cursor: Annotated[str | None, Query(), AfterValidator(_no_next_page)] = None,
        size: Annotated[int, Query(ge=1, le=10)] = 10,
    ) -> list[str]:
        """A paged list with its own opaque cursor."""
        return sorted(notes)[:size]

    @router.post("", status_code=201, responses=error_responses(422) | {409: full})
    async def create_throwaway_note(body: NoteCreate, response: Response) -> str:
        """A body at its maximum is over the limit."""
        free = [f"n{i}" for i in range(10) if f"n{i}" not in notes]
        if not free:
            raise HTTPException(409, "Ten notes exist already: delete one.")
        notes.add(free[0])
        response.headers["Location"] = f"{router.prefix}/{free[0]}"
        return free[0]

    @router.get("/{note_id}", responses={304: {"description": "Unchanged"}, 404: missing})
    async def read_throwaway_note(
        note_id: NoteId, response: Response, if_none_match: Tag = None
    ) -> str:
        """One note, with its ETag; If-None-Match naming it is a 304."""
        if note_id not in notes:
            raise HTTPException(404, "No such note.")
        if matches(if_none_match):
            return Response(status_code=304)  # type: ignore[return-value]
        response.headers["ETag"] = '"0"'
        return note_id

    @router.delete("/{note_id}", status_code=204, responses={404: missing, 412: stale})
    async def delete_throwaway_note(note_id: NoteId, if_match: Tag = None) -> None:
        """If-Match naming another version is a 412."""
        if note_id not in notes:
            raise HTTPException(404, "No such note.")
        if if_match is not None and not matches(if_match):
            raise HTTPException(412, "The note changed: read it again.")
        notes.remove(note_id)

    return router


@pytest.mark.parametrize("served", ["keyed"], indirect=True)
def test_routes_a_user_adds_are_fuzzed_with_every_check_and_no_false_failure(served):
    app = served.app
    app.include_router(throwaway_router())
    failures, statuses, admitted = fuzz(served, tag=THROWAWAY, examples=50)
    assert failures == []
    assert operations(app, tag=THROWAWAY) - set(statuses) == set()
    assert admitted == {304, 404, 412, 413, 422}  # each exemption was needed, and held
