"""The real drivers, Motor and PyMongo, over real sockets (mockupdb, not mongomock): what a slow,
absent, cut off, failed-over or refusing database, a new event loop and a password in MONGO_URL
do to the API.

mockupdb cannot do SCRAM, so every URL asks for PLAIN, which it can answer: the password still
travels in MONGO_URL and the driver still sends it, so a leak would still show.
"""

import functools
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from mockupdb import OpMsg

from backend.server import create_app
from backend.status_store import STATUS_CHECKS
from harness import ROOT
from harness.mongod import Mongod
from harness.net import free_port

SECRET = "S3cr3t-Passw0rd"

pytestmark = pytest.mark.slow

TIMEOUT_MS = 1000
# For requests expected to succeed after a retry: the driver re-checks a server it lost at
# most every 500 ms, and a success does not wait for the timeout, so room costs nothing.
ROOMY_TIMEOUT_MS = 5000
# Wall-clock allowance on top of MONGO_TIMEOUT_MS (the machine is noisy). Without the timeouts
# the driver would wait 30 s, or forever for a command never answered.
SLACK_S = 3.0
DID_NOT_ANSWER = f"The database did not answer within MONGO_TIMEOUT_MS={TIMEOUT_MS}"
CONNECTION_FAILED = "The connection to the database failed"


def mongo_url(port: int, **options: str) -> str:
    query = urlencode({"authMechanism": "PLAIN", **options})
    return f"mongodb://admin:{SECRET}@127.0.0.1:{port}/?{query}"


def post(client: TestClient, name: str = "probe") -> Any:
    return client.post("/api/status", json={"client_name": name})


def timed(request: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    response = request()
    return response, time.monotonic() - started


@pytest.fixture
def start_mongod(start_mongod: Callable[..., Mongod]) -> Callable[..., Mongod]:
    """conftest's, with this module's password: the one `mongo_url` sends."""
    return functools.partial(start_mongod, password=SECRET)


@pytest.fixture(params=["motor", "pymongo"])
def driver(request: pytest.FixtureRequest) -> str:
    """Every test here runs with both drivers MONGO_DRIVER offers."""
    return request.param


@pytest.fixture
def make_client(
    start_mongod: Callable[..., Mongod], make_client: Callable[..., TestClient], driver: str
) -> Callable[..., TestClient]:
    """conftest's `make_client` on `driver`, set up after `start_mongod` so its apps shut down
    (and close their clients) while the servers still answer."""
    return functools.partial(make_client, mongo_driver=driver)


def test_a_command_never_answered_is_a_503_naming_the_timeout_then_recovers(
    start_mongod, make_client, never_answer
):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    silence = server.server.autoresponds(OpMsg("find", STATUS_CHECKS), never_answer)

    response, elapsed = timed(lambda: client.get("/api/status"))
    assert response.status_code == 503
    assert response.json()["detail"].startswith(DID_NOT_ANSWER)
    assert response.headers["retry-after"] == "5"
    assert elapsed < TIMEOUT_MS / 1000 + SLACK_S

    silence.cancel()
    assert client.get("/api/status").status_code == 200


def test_a_refused_connection_is_a_503_within_the_timeout_then_recovers_on_the_same_app(
    start_mongod, make_client
):
    port = free_port()
    client = make_client(mongo_url=mongo_url(port), mongo_timeout_ms=TIMEOUT_MS)

    response, elapsed = timed(lambda: client.get("/api/status"))
    assert response.status_code == 503
    assert response.json()["detail"].startswith(DID_NOT_ANSWER)
    assert elapsed < TIMEOUT_MS / 1000 + SLACK_S

    start_mongod(port=port)
    assert client.get("/api/status").status_code == 200


def test_a_connection_closed_during_a_write_is_a_503_naming_the_connection_then_recovers(
    start_mongod, make_client
):
    # A standalone server has no sessions, so the driver cannot retry the write: the failure
    # reaches the API as it happened.
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    cut = server.server.autoresponds(
        OpMsg("insert", STATUS_CHECKS), lambda request: request.hangup()
    )

    response = post(client)
    assert response.status_code == 503
    assert response.json()["detail"].startswith(f"{CONNECTION_FAILED} (AutoReconnect)")

    cut.cancel()
    assert post(client).status_code == 201


def test_a_read_whose_connection_is_closed_once_is_retried_and_succeeds(start_mongod, make_client):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=ROOMY_TIMEOUT_MS)
    finds: list[dict[str, Any]] = []

    def hang_up_the_first(request: Any) -> bool:
        finds.append(request.doc)
        return len(finds) == 1 and request.hangup()  # then False: the default answers

    server.server.autoresponds(OpMsg("find", STATUS_CHECKS), hang_up_the_first)

    assert client.get("/api/status").status_code == 200
    assert len(finds) == 2


def test_a_read_whose_connection_is_closed_on_every_attempt_is_a_503_then_recovers(
    start_mongod, make_client
):
    # Under 500 ms the driver cannot re-check the server and retry before the deadline, so the
    # outcome does not race the clock. With a longer budget the retries can end in
    # ExecutionTimeout: see the next test.
    timeout_ms = 400
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=timeout_ms)
    cut = server.server.autoresponds(OpMsg("find", STATUS_CHECKS), lambda request: request.hangup())

    response, elapsed = timed(lambda: client.get("/api/status"))
    assert response.status_code == 503
    assert response.json()["detail"].startswith(
        (f"The database did not answer within MONGO_TIMEOUT_MS={timeout_ms}", CONNECTION_FAILED)
    )
    assert elapsed < timeout_ms / 1000 + SLACK_S

    cut.cancel()
    assert client.get("/api/status").status_code == 200


def test_a_query_the_server_stops_at_the_time_limit_is_a_503_naming_the_timeout(
    start_mongod, make_client
):
    # The driver sends the remaining MONGO_TIMEOUT_MS as maxTimeMS; a slow query on a real
    # server ends with this reply. The driver raises the same error itself when too little of
    # the budget is left to send a retry.
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    server.server.autoresponds(
        OpMsg("find", STATUS_CHECKS),
        lambda request: request.command_err(
            50, "operation exceeded time limit", codeName="MaxTimeMSExpired"
        ),
    )

    response = client.get("/api/status")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("The database did not finish within")
    assert f"MONGO_TIMEOUT_MS={TIMEOUT_MS}" in detail


def test_a_write_refused_by_a_stepped_down_primary_is_retried_once_and_stored_once(
    start_mongod, make_client
):
    server = start_mongod(replica_set="rs0")
    client = make_client(
        mongo_url=mongo_url(server.port, replicaSet="rs0"), mongo_timeout_ms=ROOMY_TIMEOUT_MS
    )
    inserts: list[dict[str, Any]] = []
    acknowledged: list[dict[str, Any]] = []

    def not_primary_then_ok(request: Any) -> bool:
        inserts.append(request.doc)
        if len(inserts) == 1:
            return request.command_err(10107, "not primary", errorLabels=["RetryableWriteError"])
        acknowledged.append(request.doc)
        return request.ok(n=1)

    server.server.autoresponds(OpMsg("insert", STATUS_CHECKS), not_primary_then_ok)

    response = post(client, "failover")
    assert response.status_code == 201
    assert len(inserts) == 2
    assert len(acknowledged) == 1
    first, retry = inserts
    assert "txnNumber" in first
    assert (retry["lsid"], retry["txnNumber"]) == (first["lsid"], first["txnNumber"])
    assert retry["documents"] == first["documents"]
    assert first["documents"][0]["_id"] == response.json()["id"]


def test_the_client_serves_a_second_test_client_after_the_first_closed_its_loop(
    start_mongod, make_settings, driver
):
    server = start_mongod()
    app = create_app(
        make_settings(
            mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS, mongo_driver=driver
        )
    )
    for _ in range(2):
        with TestClient(app) as client:
            assert client.get("/api/status").status_code == 200


LOOP_PER_REQUEST = """
import gc, sys, warnings
from fastapi.testclient import TestClient
from backend.server import create_app
from backend.settings import Settings

warnings.simplefilter("always", ResourceWarning)
url, driver = sys.argv[1:]
app = create_app(Settings(_env_file=None, mongo_url=url, mongo_driver=driver))
client = TestClient(app)  # outside `with`: no lifespan, and a new event loop per request
statuses = [client.get("/api/status").status_code for _ in range(2)]
with TestClient(app):
    pass  # the lifespan's shutdown closes the client the requests left open
del client, app
gc.collect()
print(statuses)
"""


def test_the_client_serves_requests_that_each_run_on_a_new_event_loop(start_mongod, driver):
    # In a process of its own: a socket left to the garbage collector would warn in whichever
    # later test the collector happens to run.
    server = start_mongod()
    result = subprocess.run(
        [sys.executable, "-c", LOOP_PER_REQUEST, mongo_url(server.port), driver],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[200, 200]"
    # Where the drivers differ: Motor closes a client whose event loop has gone; PyMongo's
    # AsyncMongoClient cannot (its close() must run on that loop), so its sockets are left to
    # the garbage collector. Only a loop per request shows it: uvicorn, Vercel's runtime and
    # Mangum keep one loop.
    assert ("ResourceWarning: unclosed" in result.stderr) == (driver == "pymongo")


def clients_created(capfd: pytest.CaptureFixture[str]) -> int:
    return capfd.readouterr().err.count('"message": "database client created')


def test_no_client_and_no_connection_exist_until_a_request_needs_the_database(
    start_mongod, make_client, capfd
):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    assert client.get("/api/").status_code == 200
    assert clients_created(capfd) == 0
    assert server.server.requests_count == 0  # a driver connection opens with a handshake request

    assert client.get("/api/status").status_code == 200
    assert clients_created(capfd) == 1
    assert server.server.requests_count > 0


def test_one_client_serves_every_request_on_one_event_loop(start_mongod, make_client, capfd):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    for _ in range(3):
        assert client.get("/api/status").status_code == 200
        assert post(client).status_code == 201
    assert clients_created(capfd) == 1


FAULTS = ["refused", "silent", "cut_off"]


@pytest.fixture
def faulty_port(request, start_mongod, never_answer) -> int:
    """A port where the database refuses the connection, never answers, or hangs up."""
    if request.param == "refused":
        return free_port()
    server = start_mongod()
    fault = never_answer if request.param == "silent" else lambda insert: insert.hangup()
    server.server.autoresponds(OpMsg("insert", STATUS_CHECKS), fault)
    return server.port


@pytest.mark.parametrize("faulty_port", FAULTS, indirect=True)
def test_the_password_in_mongo_url_is_in_no_response_and_no_log_line(
    faulty_port, make_client, capfd, caplog
):
    client = make_client(mongo_url=mongo_url(faulty_port), mongo_timeout_ms=TIMEOUT_MS)

    response = post(client)
    assert response.status_code == 503
    assert SECRET not in response.text
    assert SECRET not in str(response.headers.raw)
    out, err = capfd.readouterr()
    assert "database unavailable" in err  # what the backend logger wrote to stderr
    assert SECRET not in out + err
    assert "database unavailable" in caplog.text  # every logger's records, before formatting
    assert SECRET not in caplog.text


def test_a_wrong_password_is_a_503_saying_the_credentials_were_rejected(start_mongod, make_client):
    server = start_mongod()
    client = make_client(mongo_url=server.url(password="wrong"), mongo_timeout_ms=TIMEOUT_MS)
    response = client.get("/api/status")
    assert response.status_code == 503
    assert response.json()["detail"].startswith(
        "The database rejected the credentials in MONGO_URL (OperationFailure, code 18)"
    )
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(
    ("command", "code", "name"),
    [("saslStart", 8000, "AtlasError"), ("find", 13, "Unauthorized")],
)
def test_atlas_bad_auth_and_a_user_without_the_role_are_503s_about_the_credentials(
    start_mongod, make_client, command, code, name
):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    server.server.autoresponds(
        lambda request: (
            request.command_name == command
            and request.command_err(code, "bad auth : authentication failed", codeName=name)
        )
    )
    response = client.get("/api/status")
    assert response.status_code == 503
    assert response.json()["detail"].startswith(
        "The database rejected the credentials in MONGO_URL"
    )


def test_any_other_database_error_stays_a_500_with_the_request_id(start_mongod, make_client):
    server = start_mongod()
    client = make_client(mongo_url=mongo_url(server.port), mongo_timeout_ms=TIMEOUT_MS)
    server.server.autoresponds(
        OpMsg("find", STATUS_CHECKS), lambda request: request.command_err(2, "BadValue")
    )
    response = client.get("/api/status")
    assert response.status_code == 500
    assert response.headers["x-request-id"] in response.json()["detail"]
