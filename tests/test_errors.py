"""Every error is JSON with `detail`; an unexpected exception is a generic 500."""

import logging

import pytest
from fastapi.testclient import TestClient


def test_unknown_api_route_is_404_json(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_405_json(client):
    response = client.delete("/api/status")
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}


def test_validation_errors_do_not_echo_the_input(client):
    response = client.post("/api/status", json={"client_name": "x" * 101})
    assert response.status_code == 422
    assert "x" * 101 not in response.text
    assert set(response.json()["detail"][0]) == {"type", "loc", "msg"}


def test_an_unknown_fields_name_is_not_echoed_in_its_location(client):
    name = "<img src=x onerror=alert(1)>"
    response = client.post("/api/status", json={"client_name": "a", name: 1})
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "extra_forbidden",
            "loc": ["body", "(name withheld)"],
            "msg": "Extra inputs are not permitted",
        }
    ]
    assert "img" not in response.text


@pytest.mark.parametrize(
    "content",
    [
        b'{"client_name": "\xff"}',
        b"[" * 10_000 + b"]" * 10_000,
        b'{"client_name": ' + b"1" * 5000 + b"}",
    ],
    ids=["not-utf-8", "nested-too-deep", "5000-digit-integer"],
)
def test_a_body_the_json_parser_refuses_is_a_documented_400(client, content):
    headers = {"content-type": "application/json"}
    response = client.post("/api/status", content=content, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}
    documented = client.get("/api/openapi.json").json()["paths"]["/api/status"]["post"]
    assert documented["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorMessage"
    }


@pytest.fixture
def crashing_client(app):
    @app.get("/api/crash")
    async def crash() -> None:
        raise RuntimeError("internal detail mongodb://admin:hunter22@db.internal/")

    with TestClient(app) as client:
        yield client


def test_unexpected_exception_is_a_generic_500_without_traceback(crashing_client):
    response = crashing_client.get("/api/crash")
    assert response.status_code == 500
    detail = response.json()["detail"]
    assert detail.startswith("Internal Server Error")
    assert response.headers["x-request-id"] in detail
    for leak in ("Traceback", "RuntimeError", "internal detail", "hunter22"):
        assert leak not in response.text


def test_unexpected_exception_is_logged_with_its_traceback_and_request_id(crashing_client, caplog):
    with caplog.at_level(logging.ERROR, logger="backend"):
        response = crashing_client.get("/api/crash")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.request_id == response.headers["x-request-id"]
    assert "RuntimeError: internal detail" in record.exc_text
    assert "hunter22" not in record.exc_text
