"""Every response carries a request id and safe headers; every request logs one JSON line."""

import json
from datetime import datetime, timedelta

import pytest

VERCEL_ID = "fra1::iad1::abcde-1764388800000-0123456789ab"


def log_lines(capfd):
    return [json.loads(line) for line in capfd.readouterr().err.splitlines()]


@pytest.mark.parametrize("path", ["/api/", "/api/nope", "/api/docs", "/api/status?limit=0"])
def test_every_response_has_a_request_id_and_safe_headers(client, path):
    response = client.get(path)
    assert len(response.headers["x-request-id"]) == 32
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_request_ids_are_unique(client):
    ids = {client.get("/api/").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_the_request_id_is_vercels_when_present(client):
    response = client.get("/api/", headers={"x-vercel-id": VERCEL_ID})
    assert response.headers["x-request-id"] == VERCEL_ID


def test_an_implausible_vercel_id_is_replaced(client):
    response = client.get("/api/", headers={"x-vercel-id": "bad\nid" + "x" * 200})
    assert len(response.headers["x-request-id"]) == 32


def test_each_request_logs_one_json_line(client, capfd):
    capfd.readouterr()
    response = client.post(
        "/api/status", json={"client_name": "x"}, headers={"x-vercel-id": VERCEL_ID}
    )
    [line] = log_lines(capfd)
    assert line["request_id"] == response.headers["x-request-id"] == VERCEL_ID
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/status", 201)
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "info"


def test_every_log_line_of_a_request_carries_its_id(make_client, capfd):
    client = make_client(vercel=True)
    capfd.readouterr()
    response = client.get("/api/health")
    lines = log_lines(capfd)
    assert [line["level"] for line in lines] == ["warning", "info"]
    assert {line["request_id"] for line in lines} == {response.headers["x-request-id"]}
    assert all(list(line)[:4] == ["time", "level", "message", "request_id"] for line in lines)
    assert all(datetime.fromisoformat(line["time"]).utcoffset() == timedelta(0) for line in lines)


def test_the_access_line_stays_json_whatever_the_path(client, capfd):
    capfd.readouterr()
    client.get("/api/a%22b%5Cc%C3%A9%01")
    [line] = log_lines(capfd)
    assert line["path"] == '/api/a"b\\cé\x01'
    assert line["status"] == 404
