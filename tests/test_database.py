"""Which database the app uses, and what it says when it has none or cannot reach it."""

import json
import sys
import time

import pytest

from harness.net import free_port

SECRET = "S3cr3t-Passw0rd"
API_KEY = "k" * 40


def database_lines(err):
    """The log lines of `err` but those about writes (tests/test_auth.py's)."""
    lines = [json.loads(line) for line in err.splitlines()]
    return [line for line in lines if not line["message"].startswith(("API_KEY", "Writes"))]


def test_unset_mongo_url_uses_the_embedded_database(client):
    assert client.get("/api/health").json() == {
        "status": "ok",
        "database": "embedded",
        "driver": "mongomock",
    }


def test_the_embedded_database_warns_at_startup_that_data_is_lost(make_client, capfd):
    make_client()
    [line] = database_lines(capfd.readouterr().err)
    assert line["level"] == "warning"
    assert "MONGO_URL is not set" in line["message"]
    assert "lost" in line["message"]


def test_the_embedded_database_keeps_its_data_across_event_loops(app):
    from fastapi.testclient import TestClient

    client = TestClient(app)  # outside `with`, each request runs on a new event loop
    created = client.post("/api/status", json={"client_name": "kept"}).json()
    assert client.get("/api/status").json() == [created]


def test_a_missing_embedded_driver_is_a_503_saying_what_to_install(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "mongomock_motor", None)
    response = client.get("/api/health")
    assert response.status_code == 503
    assert "mongomock-motor" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/health", "/api/status"])
def test_vercel_without_mongo_url_answers_503_naming_the_variable(make_client, path):
    response = make_client(vercel=True).get(path)
    assert response.status_code == 503
    assert "MONGO_URL is not set" in response.json()["detail"]


def test_vercel_without_a_connection_string_says_both_ways_to_fix_it(make_client):
    detail = make_client(vercel=True).get("/api/health").json()["detail"]
    assert "add MONGO_URL" in detail
    assert "connect the MongoDB Atlas integration" in detail
    assert "MONGODB_URI" in detail


def test_a_malformed_mongodb_uri_is_reported_as_mongodb_uri(make_client):
    client = make_client(mongodb_uri=f"mongodb://admin:{SECRET}@db.example.com:notaport/")
    detail = client.get("/api/health").json()["detail"]
    assert detail.startswith("MONGODB_URI is not a valid MongoDB connection string")
    assert SECRET not in detail


def test_both_variables_set_to_different_urls_logs_which_wins_by_name_only(make_client, capfd):
    make_client(
        mongo_url=f"mongodb://admin:{SECRET}@db.example.com/",
        mongodb_uri="mongodb+srv://atlas:AtlasOnlyPw@cluster0.example.net/",
    )
    err = capfd.readouterr().err
    [line] = database_lines(err)
    assert line["level"] == "warning"
    assert "using MONGO_URL, ignoring MONGODB_URI" in line["message"]
    assert SECRET not in err
    assert "AtlasOnlyPw" not in err
    assert "db.example.com" not in err


def test_the_startup_log_names_the_variable_in_use(make_client, capfd):
    make_client(mongodb_uri=f"mongodb://admin:{SECRET}@db.example.com/")
    [line] = database_lines(capfd.readouterr().err)
    assert line["message"] == "Using the connection string in MONGODB_URI."


def test_a_configuration_503_has_no_retry_after(make_client):
    response = make_client(vercel=True).get("/api/health")
    assert response.status_code == 503
    assert "retry-after" not in response.headers


def test_vercel_without_mongo_url_never_uses_the_embedded_database(make_client):
    client = make_client(vercel=True, api_key=API_KEY)
    keyed = {"Authorization": f"Bearer {API_KEY}"}
    assert client.post("/api/status", json={"client_name": "x"}, headers=keyed).status_code == 503
    assert client.get("/api/health").json()["detail"].startswith("MONGO_URL is not set")


def test_vercel_without_mongo_url_logs_an_error_at_startup(make_client, capfd):
    make_client(vercel=True)
    [line] = database_lines(capfd.readouterr().err)
    assert line["level"] == "error"
    assert "MONGO_URL is not set" in line["message"]


@pytest.mark.parametrize(
    "url",
    [
        f"mongodb://admin:{SECRET}@db.example.com:notaport/",
        f"mongodb://admin:{SECRET}@db.example.com:99999/",
        f"mongodb://admin:p@{SECRET}@db.example.com/",
        f"http://admin:{SECRET}@db.example.com/",
        f"mongodb://admin:{SECRET}@db.example.com/?tls=true&tlsCertificateKeyFile=/no/such.pem",
    ],
)
def test_a_malformed_mongo_url_is_a_503_naming_the_cause_not_the_secret(make_client, capfd, url):
    client = make_client(mongo_url=url)
    response = client.get("/api/status")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("MONGO_URL is not a valid MongoDB connection")
    assert SECRET not in response.text
    assert SECRET not in "".join(capfd.readouterr())


@pytest.mark.slow
def test_an_unreachable_database_is_a_503_within_the_timeout(make_client, capfd):
    client = make_client(
        mongo_url=f"mongodb://admin:{SECRET}@127.0.0.1:{free_port()}/", mongo_timeout_ms=300
    )
    started = time.monotonic()
    response = client.get("/api/health")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert "did not answer within MONGO_TIMEOUT_MS=300" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"
    assert SECRET not in response.text
    assert SECRET not in "".join(capfd.readouterr())


@pytest.mark.slow
def test_a_database_failure_leaves_the_routes_that_do_not_need_it_working(make_client):
    client = make_client(mongo_url=f"mongodb://127.0.0.1:{free_port()}/", mongo_timeout_ms=200)
    assert client.get("/api/health").status_code == 503
    assert client.get("/api/").status_code == 200
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
