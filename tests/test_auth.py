"""Writes need the API key: `Authorization: Bearer <API_KEY>` on every write under /api/, on
every route however it was added; reads stay public; a deployment without a key refuses writes."""

import base64
import hmac
import json
import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from backend.auth import (
    NO_HEADER,
    NOT_BEARER,
    WRITES_OFF,
    WRONG_KEY,
    document_security,
)
from backend.db import MongoDep, get_db
from backend.server import create_app
from backend.settings import NEW_KEY_COMMAND
from harness.troubleshooting import entries, fix_for_detail
from tests.conftest import TEST_API_KEY as KEY

KEYED = {"Authorization": f"Bearer {KEY}"}
BODY = {"client_name": "written"}


@pytest.fixture
def keyed(make_client):
    return make_client(api_key=KEY)


@pytest.fixture
def writes_off(make_client):
    """A deployment without API_KEY (and without a database: no route may need it)."""
    return make_client(vercel=True)


def stored(client):
    return [item["client_name"] for item in client.get("/api/status").json()]


def test_a_write_without_the_header_is_401_saying_what_to_send(keyed):
    response = keyed.post("/api/status", json=BODY)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert "send the header Authorization: Bearer <API_KEY>" in detail
    assert "no Authorization header" in detail
    assert stored(keyed) == []


REFUSED = {
    "a wrong key": f"Bearer {'x' * len(KEY)}",
    "the key plus a trailing space": f"Bearer {KEY} ",
    "the key plus one character": f"Bearer {KEY}x",
    "the key but its last character": f"Bearer {KEY[:-1]}",
    "two spaces before the key": f"Bearer  {KEY}",
    "Basic with the key as the password": "Basic "
    + base64.b64encode(f"user:{KEY}".encode()).decode(),
    "Basic with the key": f"Basic {KEY}",
    "the key without a scheme": KEY,
    "Bearer and nothing": "Bearer",
    "an empty header": "",
}


@pytest.mark.parametrize("authorization", REFUSED.values(), ids=REFUSED.keys())
def test_a_write_with_anything_but_the_key_is_401_and_stores_nothing(keyed, authorization):
    response = keyed.post("/api/status", json=BODY, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("Writes need the API key: send the header ")
    assert stored(keyed) == []


def test_a_wrong_key_and_another_scheme_are_told_apart(keyed):
    wrong = keyed.post("/api/status", json=BODY, headers={"Authorization": "Bearer nope"})
    basic = keyed.post("/api/status", json=BODY, headers={"Authorization": "Basic nope"})
    assert wrong.json()["detail"].endswith("The key this request sent is not that value.")
    assert basic.json()["detail"].endswith("This request's Authorization header is not Bearer.")


def test_a_write_with_the_key_is_accepted(keyed):
    response = keyed.post("/api/status", json=BODY, headers=KEYED)
    assert response.status_code == 201
    assert stored(keyed) == ["written"]


def test_the_scheme_is_case_insensitive(keyed):
    # RFC 9110, 11.1: the authentication scheme is a case-insensitive token.
    response = keyed.post("/api/status", json=BODY, headers={"Authorization": f"bEARER {KEY}"})
    assert response.status_code == 201


def test_the_key_is_compared_in_constant_time_as_bytes(keyed, monkeypatch):
    compared, constant_time = [], hmac.compare_digest

    def compare_digest(a, b):
        compared.append((type(a), type(b)))
        return constant_time(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    assert keyed.post("/api/status", json=BODY, headers=KEYED).status_code == 201
    assert compared == [(bytes, bytes)]


def test_a_write_is_refused_before_its_body_is_read(keyed):
    headers = {"content-type": "application/json"}
    response = keyed.post("/api/status", content=b'{"client_name": "\xff"', headers=headers)
    assert response.status_code == 401  # not the 400 of a body the JSON parser refuses


@pytest.mark.parametrize(
    "path", ["/api/", "/api/health", "/api/status", "/api/docs", "/api/openapi.json"]
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_reads_need_no_key(keyed, method, path):
    assert keyed.request(method, path).status_code == 200


def test_routing_answers_404_and_405_before_asking_for_the_key(keyed):
    assert keyed.post("/api/nope", json=BODY).status_code == 404
    not_allowed = keyed.delete("/api/status")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, HEAD, POST"


def count_database_requests(app):
    requests = []

    async def counted(mongo: MongoDep):
        requests.append(1)
        yield await mongo.database()

    app.dependency_overrides[get_db] = counted
    return requests


def test_a_refused_write_costs_no_database_request(make_settings):
    app = create_app(make_settings(api_key=KEY))
    requests = count_database_requests(app)
    with TestClient(app) as client:
        assert client.post("/api/status", json=BODY).status_code == 401
        assert requests == []
        assert client.post("/api/status", json=BODY, headers=KEYED).status_code == 201
        assert requests == [1]


def test_an_idempotent_replay_needs_the_key_too(keyed):
    first = keyed.post("/api/status", json=BODY, headers={**KEYED, "Idempotency-Key": "k1"})
    replay = keyed.post("/api/status", json=BODY, headers={"Idempotency-Key": "k1"})
    assert replay.status_code == 401
    assert "idempotent-replayed" not in replay.headers
    assert first.json()["id"] not in replay.text
    keyed_replay = keyed.post("/api/status", json=BODY, headers={**KEYED, "Idempotency-Key": "k1"})
    assert keyed_replay.headers["idempotent-replayed"] == "true"
    assert keyed_replay.json()["id"] == first.json()["id"]


def add_routes_the_plain_way(app):
    """What a user of this template writes after `create_app()`: a router and a decorator."""
    router = APIRouter(prefix="/api/things", tags=["things"])

    @router.post("")
    async def create_thing() -> dict[str, str]:
        return {"created": "yes"}

    @router.delete("/{name}")
    async def delete_thing(name: str) -> dict[str, str]:
        return {"deleted": name}

    @router.get("")
    async def list_things() -> list[str]:
        return []

    app.include_router(router)

    @app.put("/api/settings")
    async def replace_settings() -> dict[str, str]:
        return {"replaced": "yes"}


WRITES_ADDED_LATER = [
    ("POST", "/api/things"),
    ("DELETE", "/api/things/a"),
    ("PUT", "/api/settings"),
]


@pytest.fixture
def app_with_user_routes(make_settings):
    def make(**settings):
        app = create_app(make_settings(**settings))
        add_routes_the_plain_way(app)
        return app

    return make


@pytest.mark.parametrize(("method", "path"), WRITES_ADDED_LATER)
def test_routes_added_after_create_app_need_the_key(app_with_user_routes, method, path):
    with TestClient(app_with_user_routes(api_key=KEY)) as client:
        refused = client.request(method, path)
        accepted = client.request(method, path, headers=KEYED)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert accepted.status_code == 200


@pytest.mark.parametrize(("method", "path"), WRITES_ADDED_LATER)
def test_routes_added_after_create_app_are_off_on_a_deployment_without_a_key(
    app_with_user_routes, method, path
):
    with TestClient(app_with_user_routes(vercel=True)) as client:
        assert client.request(method, path, headers=KEYED).status_code == 403


def test_a_read_added_after_create_app_needs_no_key(app_with_user_routes):
    with TestClient(app_with_user_routes(api_key=KEY)) as client:
        assert client.get("/api/things").status_code == 200


def test_without_a_key_writes_are_open_locally(make_client):
    assert make_client().post("/api/status", json=BODY).status_code == 201


def startup_lines(capfd):
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    return [line for line in lines if "API_KEY" in line["message"]]


def test_without_a_key_the_local_startup_log_says_writes_are_open_once(make_client, capfd):
    client = make_client()
    client.post("/api/status", json=BODY)
    [line] = startup_lines(capfd)
    assert line["level"] == "warning"
    assert line["message"].startswith("API_KEY is not set: writes are open to anyone")


@pytest.mark.parametrize("authorization", [None, f"Bearer {KEY}"])
def test_a_deployment_without_a_key_refuses_writes_saying_how_to_set_it(writes_off, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = writes_off.post("/api/status", json=BODY, headers=headers)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith("Writes are off: this deployment has no API_KEY.")
    assert "vercel env add API_KEY" in detail
    assert NEW_KEY_COMMAND in detail
    assert "redeploy" in detail


def test_a_deployment_without_a_key_serves_reads(writes_off):
    assert writes_off.get("/api/").status_code == 200
    # Not refused: the read reaches the database dependency, which says there is none.
    health = writes_off.get("/api/status")
    assert health.status_code == 503
    assert health.json()["detail"].startswith("MONGO_URL is not set")


def test_a_deployment_without_a_key_logs_that_writes_are_off(make_client, capfd):
    make_client(vercel=True)
    [line] = startup_lines(capfd)
    assert line["level"] == "error"
    assert "writes are off" in line["message"]
    assert "vercel env add API_KEY" in line["message"]


def test_with_a_key_the_startup_log_says_writes_need_it(make_client, capfd):
    make_client(api_key=KEY)
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert "Writes need API_KEY, sent as Authorization: Bearer." in [
        line["message"] for line in lines
    ]


def test_the_key_is_in_no_response_and_no_log_line(keyed, capfd):
    answers = [
        keyed.post("/api/status", json=BODY),
        keyed.post("/api/status", json=BODY, headers={"Authorization": f"Bearer {KEY} "}),
        keyed.post("/api/status", json=BODY, headers=KEYED),
        keyed.get("/api/openapi.json"),
        keyed.get("/api/docs"),
    ]
    logging.getLogger("backend").warning("a message that holds %s", KEY)
    for answer in answers:
        assert KEY not in answer.text
        assert KEY not in str(answer.headers)
    err = capfd.readouterr().err
    assert "a message that holds ***" in err
    assert KEY not in err


@pytest.mark.parametrize("detail", [NO_HEADER, NOT_BEARER, WRONG_KEY, WRITES_OFF])
def test_each_refusal_has_its_row_in_readme_s_troubleshooting(detail):
    assert fix_for_detail(detail, entries()) is not None


# The OpenAPI document: the bearer scheme on the write operations, and their 401 and 403.


def test_the_document_declares_the_bearer_scheme(client):
    schemes = client.get("/api/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKey"]["type"] == "http"
    assert schemes["APIKey"]["scheme"] == "bearer"


REQUIRED, OPTIONAL = [{"APIKey": []}], [{}, {"APIKey": []}]
MODES = {
    "keyed": ({"api_key": KEY}, REQUIRED),
    "deployment-without-a-key": ({"vercel": True}, REQUIRED),
    "deployment-with-a-key": ({"vercel": True, "api_key": KEY}, REQUIRED),
    "open": ({}, OPTIONAL),
}


@pytest.mark.parametrize(("settings", "security"), MODES.values(), ids=MODES.keys())
def test_the_document_says_whether_writes_need_the_scheme_as_the_server_does(
    make_client, settings, security
):
    client = make_client(**settings)
    operations = [
        operation
        for item in client.get("/api/openapi.json").json()["paths"].values()
        for method, operation in item.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert operations
    assert all(operation["security"] == security for operation in operations)


def test_a_write_operation_declares_401_and_403(client):
    operation = client.get("/api/openapi.json").json()["paths"]["/api/status"]["post"]
    for status in ("401", "403"):
        content = operation["responses"][status]["content"]
        assert content["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorMessage"
        }
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]


def test_read_operations_need_no_scheme(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    reads = [paths["/api/"]["get"], paths["/api/health"]["get"], paths["/api/status"]["get"]]
    for operation in reads:
        assert "security" not in operation
        assert "401" not in operation["responses"]


def test_routes_added_after_create_app_are_documented_too(app_with_user_routes):
    with TestClient(app_with_user_routes()) as client:
        paths = client.get("/api/openapi.json").json()["paths"]
    for method, path in [("post", "/api/things"), ("delete", "/api/things/{name}")]:
        assert paths[path][method]["security"] == OPTIONAL
        assert {"401", "403"} <= set(paths[path][method]["responses"])
    assert "security" not in paths["/api/things"]["get"]


def test_document_security_reads_the_writes_from_the_document_itself(make_settings):
    document = {
        "paths": {
            "/api/a": {"patch": {}, "options": {}, "parameters": [{"name": "x"}]},
            "/elsewhere": {"post": {"responses": {}}},
        }
    }
    document_security(document, make_settings(api_key=KEY))
    assert document["paths"]["/api/a"]["patch"]["security"] == REQUIRED
    assert document["paths"]["/api/a"]["options"] == {}
    assert document["paths"]["/api/a"]["parameters"] == [{"name": "x"}]
    assert document["paths"]["/elsewhere"]["post"] == {"responses": {}}
    assert document["components"]["schemas"]["ErrorMessage"]["required"] == ["detail"]
