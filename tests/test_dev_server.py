"""The contract over real HTTP, against the server `make dev` runs (uvicorn, embedded database),
and how writes need API_KEY there and on a deployment without it."""

import asyncio
import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from backend.identity import REFETCH_AFTER_S
from harness.dev_server import dev_server, start, stop
from harness.issuer import Issuer, SigningKey
from harness.mongod import Mongod
from tests.conftest import TEST_API_KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with dev_server(tmp_path_factory.mktemp("dev") / "server.log") as url:
        yield url


def test_hello_world(server):
    assert httpx.get(f"{server}/api/").json() == {"message": "Hello World"}


def test_create_then_page_through_with_link_headers(server):
    created = [
        httpx.post(f"{server}/api/status", json={"client_name": f"c{i}"}).json() for i in range(5)
    ]
    newest_first = sorted(created, key=lambda item: (item["timestamp"], item["id"]), reverse=True)
    seen, url = [], f"{server}/api/status?limit=2"
    while url:
        response = httpx.get(url)
        assert response.status_code == 200
        seen += [item["id"] for item in response.json()]
        link = response.links.get("next")
        url = f"{server}{link['url']}" if link else None
    assert seen[:5] == [item["id"] for item in newest_first]


def test_health_reports_the_embedded_database(server):
    health = httpx.get(f"{server}/api/health").json()
    assert health == {"status": "ok", "database": "embedded", "driver": "mongomock"}


def test_oversized_body_is_413_json(server):
    response = httpx.post(
        f"{server}/api/status",
        content=b"x" * (64 * 1024 + 1),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "detail" in response.json()


def raw_post(server, framing, body, content_type="application/json"):
    """POST `body` to /api/status with these framing headers, as bytes on a socket (httpx never
    sends Transfer-Encoding and Content-Length together); the status and body of the answer."""
    host, port = server.removeprefix("http://").split(":")
    head = (
        f"POST /api/status HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
        f"Connection: close\r\n{framing}\r\n"
    )
    answer = b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass  # the server may close before reading the whole body, once it has answered
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def chunked(body, size=4096):
    parts = (body[i : i + size] for i in range(0, len(body), size))
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def big_body(name):
    return b'{"client_name": "' + name.encode() + b'"}' + b" " * (200 * 1024)


def stored_names(server):
    return {item["client_name"] for item in httpx.get(f"{server}/api/status?limit=1000").json()}


def test_a_chunked_body_declaring_a_small_content_length_is_refused(server):
    name = f"smuggled-{uuid.uuid4()}"
    framing = "Transfer-Encoding: chunked\r\nContent-Length: 10\r\n"
    status, body = raw_post(server, framing, chunked(big_body(name)))
    assert status == 400
    assert "Transfer-Encoding and Content-Length" in json.loads(body)["detail"]
    assert name not in stored_names(server)


def test_a_chunked_body_over_64_kib_is_413(server):
    name = f"chunked-{uuid.uuid4()}"
    status, body = raw_post(server, "Transfer-Encoding: chunked\r\n", chunked(big_body(name)))
    assert status == 413
    assert "65536" in json.loads(body)["detail"]
    assert name not in stored_names(server)


def test_a_small_chunked_body_is_served(server):
    body = b'{"client_name": "chunked"}'
    status, _ = raw_post(server, "Transfer-Encoding: chunked\r\n", chunked(body, size=7))
    assert status == 201


def test_a_body_in_a_type_its_route_does_not_take_is_415_and_changes_nothing(server):
    created = httpx.post(f"{server}/api/items", json={"title": "typed"})
    url = f"{server}{created.headers['location']}"
    json_patch = b'[{"op": "replace", "path": "/title", "value": "patched"}]'
    for content_type, body in [
        ("text/plain", b'{"title": "x"}'),
        ("application/json-patch+json", json_patch),
    ]:
        response = httpx.patch(url, content=body, headers={"content-type": content_type})
        assert response.status_code == 415
        assert response.headers["accept-patch"] == "application/merge-patch+json, application/json"
    assert httpx.get(url).json() == created.json()
    name = f"plain-{uuid.uuid4()}"
    body = json.dumps({"client_name": name}).encode()
    response = httpx.post(
        f"{server}/api/status", content=body, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.headers["accept"] == "application/json"
    status, _ = raw_post(server, "Transfer-Encoding: chunked\r\n", chunked(body), "text/plain")
    assert status == 415
    assert name not in stored_names(server)


def test_head_answers_like_get_without_a_body(server):
    for path in ("/api/", "/api/health", "/api/status"):
        get, head = httpx.get(f"{server}{path}"), httpx.head(f"{server}{path}")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["content-type"] == get.headers["content-type"]


def test_errors_and_headers(server):
    response = httpx.get(f"{server}/api/nope", headers={"origin": "https://a.example"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]


@pytest.fixture(scope="module", params=["embedded", "motor", "pymongo"])
def items_server(request, server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`make dev`'s server on each database back-end: the drivers against harness.mongod."""
    if request.param == "embedded":
        yield server
        return
    with Mongod() as mongod:
        env = {"MONGO_URL": mongod.url(f"dev_{request.param}"), "MONGO_DRIVER": request.param}
        log = tmp_path_factory.mktemp(f"dev-{request.param}") / "server.log"
        with dev_server(log, env=env) as url:
            yield url


def test_the_items_lifecycle_over_http(items_server):
    server = items_server
    created = httpx.post(f"{server}/api/items", json={"title": "over http"})
    assert created.status_code == 201
    url = f"{server}{created.headers['location']}"
    etag = created.headers["etag"]
    assert httpx.get(url, headers={"If-None-Match": etag}).status_code == 304
    patch = {"content-type": "application/merge-patch+json", "If-Match": etag}
    changed = httpx.patch(url, json={"description": "added"}, headers=patch)
    assert changed.status_code == 200
    assert changed.json()["version"] == 2
    assert httpx.patch(url, json={"title": "stale"}, headers=patch).status_code == 412
    assert httpx.delete(url, headers={"If-Match": etag}).status_code == 412
    assert httpx.delete(url, headers={"If-Match": changed.headers["etag"]}).status_code == 204
    assert httpx.get(url).status_code == 404


def test_a_retried_create_leaves_its_deleted_item_deleted_over_http(items_server):
    server = items_server
    key = {"Idempotency-Key": f"resur-{uuid.uuid4()}"}
    created = httpx.post(f"{server}/api/items", json={"title": "deleted for good"}, headers=key)
    url = f"{server}{created.headers['location']}"
    assert httpx.delete(url).status_code == 204
    retried = httpx.post(f"{server}/api/items", json={"title": "deleted for good"}, headers=key)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert httpx.get(url).status_code == 404
    listed = httpx.get(f"{server}/api/items?limit=1000").json()
    assert created.json()["id"] not in [item["id"] for item in listed]


def test_of_16_concurrent_conditional_patches_over_http_exactly_one_succeeds(items_server):
    server = items_server
    created = httpx.post(f"{server}/api/items", json={"title": "contended"})
    url = f"{server}{created.headers['location']}"
    headers = {"content-type": "application/merge-patch+json", "If-Match": created.headers["etag"]}

    async def burst():
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *(
                    http.patch(url, json={"title": f"writer {i}"}, headers=headers)
                    for i in range(16)
                )
            )

    responses = asyncio.run(burst())
    assert sorted(r.status_code for r in responses) == [200] + [412] * 15
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    assert httpx.get(url).json() == winner


# The development database: with EMBEDDED_DATA_FILE (each test its own), what the server
# answered survives the server being killed right after, and the next server serves it.


def test_writes_answered_survive_a_sigkill_right_after_and_the_next_server_serves_them(tmp_path):
    data_file = tmp_path / "embedded.json"
    log, env = tmp_path / "server.log", {"EMBEDDED_DATA_FILE": str(data_file)}
    process, url = start(log, env=env)
    try:
        item = httpx.post(f"{url}/api/items", json={"title": "kept"})
        changed = httpx.patch(f"{url}{item.headers['location']}", json={"title": "renamed"})
        check = httpx.post(f"{url}/api/status", json={"client_name": "kept"})
    finally:
        stop(process, signal.SIGKILL)  # right after the 201, as a crash would
    assert [item.status_code, changed.status_code, check.status_code] == [201, 200, 201]
    with dev_server(log, env=env) as url:
        assert httpx.get(f"{url}/api/items").json() == [changed.json()]
        assert httpx.get(f"{url}/api/status").json() == [check.json()]
    assert log.read_text().count(f"kept in {data_file}") == 2


def test_a_second_server_on_the_same_data_file_answers_503_naming_it(tmp_path):
    data_file = tmp_path / "embedded.json"
    env = {"EMBEDDED_DATA_FILE": str(data_file)}
    with (
        dev_server(tmp_path / "first.log", env=env) as first,
        dev_server(tmp_path / "second.log", env=env) as second,
    ):
        assert httpx.post(f"{first}/api/status", json={"client_name": "a"}).status_code == 201
        refused = httpx.post(f"{second}/api/status", json={"client_name": "b"})
    assert refused.status_code == 503
    assert refused.json()["detail"].startswith(f"The development database {data_file} is in use")


def test_the_servers_tests_start_keep_no_data_file_whatever_the_environment_says(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("EMBEDDED_DATA_FILE", str(tmp_path / "developer.json"))
    with dev_server(tmp_path / "server.log") as url:
        assert httpx.post(f"{url}/api/items", json={"title": "t"}).status_code == 201
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.log"]


# Writes need API_KEY: `make dev` with the key set, and as a deployment without one (VERCEL=1,
# a database from the session's wire server).

READS = ["/api/", "/api/health", "/api/status", "/api/docs", "/api/openapi.json", "/"]
REFUSED = {
    "no header": {},
    "a wrong key": {"Authorization": f"Bearer {'x' * len(TEST_API_KEY)}"},
    "Basic": {"Authorization": f"Basic {TEST_API_KEY}"},
    "the key plus a space and more": {"Authorization": f"Bearer {TEST_API_KEY} x"},
    "the key plus one character": {"Authorization": f"Bearer {TEST_API_KEY}x"},
}
KEYED = {"Authorization": f"Bearer {TEST_API_KEY}"}


@pytest.mark.parametrize("headers", REFUSED.values(), ids=REFUSED.keys())
def test_with_api_key_set_a_write_without_it_is_401_and_stores_nothing(deployment, headers):
    server, name = deployment("keyed"), f"refused-{uuid.uuid4()}"
    response = httpx.post(f"{server}/api/status", json={"client_name": name}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("Writes need the API key: send the header ")
    assert name not in stored_names(server)


def test_http_drops_a_trailing_space_so_the_app_gets_the_key_alone(deployment):
    # RFC 9110, 5.5: a field value has no trailing whitespace; uvicorn's parser removes it
    # before the app runs (httpx will not even send it). The app refuses it when it arrives.
    server, name = deployment("keyed"), f"trailing-{uuid.uuid4()}"
    body = json.dumps({"client_name": name}).encode()
    framing = f"Content-Length: {len(body)}\r\nAuthorization: Bearer {TEST_API_KEY} \r\n"
    status, _ = raw_post(server, framing, body)
    assert status == 201
    assert name in stored_names(server)


def test_with_api_key_set_a_write_with_it_is_accepted(deployment):
    server, name = deployment("keyed"), f"keyed-{uuid.uuid4()}"
    response = httpx.post(f"{server}/api/status", json={"client_name": name}, headers=KEYED)
    assert response.status_code == 201
    assert name in stored_names(server)


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("state", ["keyed", "writes_off"])
def test_every_read_works_without_the_key(deployment, state, path):
    assert httpx.get(f"{deployment(state)}{path}").status_code == 200


@pytest.mark.parametrize("headers", [{}, KEYED], ids=["no header", "a key"])
def test_a_deployment_without_api_key_refuses_writes_naming_it(deployment, headers):
    server, name = deployment("writes_off"), f"off-{uuid.uuid4()}"
    response = httpx.post(f"{server}/api/status", json={"client_name": name}, headers=headers)
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert detail.startswith("Writes are off: this deployment has no API_KEY.")
    assert "vercel env add API_KEY" in detail
    assert name not in stored_names(server)


def test_a_deployment_without_api_key_reads_from_its_database(deployment):
    health = httpx.get(f"{deployment('writes_off')}/api/health").json()
    assert health["database"] == "mongodb"


def log_lines(deployment, state):
    text = deployment.log(state).read_text()
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_the_startup_log_says_what_writes_need(deployment):
    for state in ("keyed", "writes_off"):
        deployment(state)
    keyed = [line["message"] for line in log_lines(deployment, "keyed")]
    off = [line for line in log_lines(deployment, "writes_off") if "API_KEY" in line["message"]]
    assert "Writes need API_KEY, sent as Authorization: Bearer." in keyed
    assert [line["level"] for line in off] == ["error"]
    assert "writes are off" in off[0]["message"]


def test_the_key_is_in_no_log_line_and_no_response(deployment):
    server = deployment("keyed")
    answers = [
        httpx.request(method, f"{server}{path}", json={"client_name": "k"}, headers=headers)
        for method, path in [("POST", "/api/status"), ("GET", "/api/openapi.json")]
        for headers in [{}, KEYED, REFUSED["the key plus one character"]]
    ]
    assert [answer.status_code for answer in answers] == [401, 201, 401, 200, 200, 200]
    for answer in answers:
        assert TEST_API_KEY not in answer.text
        assert TEST_API_KEY not in str(answer.headers)
    assert TEST_API_KEY not in deployment.log("keyed").read_text()


# Signed in: `make dev` with AUTH_ISSUER and AUTH_AUDIENCE pointing at a sign-in provider on this
# machine (harness.issuer, as `make issuer` serves it): issue #24's "done when", over real HTTP.


@pytest.fixture(scope="module")
def provider() -> Iterator[Issuer]:
    with Issuer() as issuer:
        yield issuer


@pytest.fixture(scope="module")
def signed_in(provider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The server's URL and its log."""
    log = tmp_path_factory.mktemp("signed-in") / "server.log"
    env = {"AUTH_ISSUER": provider.url, "AUTH_AUDIENCE": provider.audience}
    with dev_server(log, env=env) as url:
        yield url, log


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def test_signed_in_alice_s_item_is_hers_and_bob_finds_nothing(signed_in, provider):
    server, _ = signed_in
    alice, bob = provider.token("alice"), provider.token("bob")
    created = httpx.post(f"{server}/api/items", json={"title": "alice's"}, headers=bearer(alice))
    assert created.status_code == 201
    url = f"{server}{created.headers['location']}"
    missing = f"{server}/api/items/{uuid.uuid4()}"
    merge_patch = {"content-type": "application/merge-patch+json"}
    for method in ("GET", "HEAD", "PATCH", "DELETE"):
        body = {"json": {"title": "bob's now"}} if method == "PATCH" else {}
        answer = httpx.request(method, url, headers=bearer(bob, **merge_patch), **body)
        nothing = httpx.request(method, missing, headers=bearer(bob, **merge_patch), **body)
        assert (answer.status_code, answer.content) == (404, nothing.content), method
    assert httpx.get(f"{server}/api/items", headers=bearer(bob)).json() == []
    assert httpx.get(url, headers=bearer(alice)).json() == created.json()
    assert [i["id"] for i in httpx.get(f"{server}/api/items", headers=bearer(alice)).json()] == [
        created.json()["id"]
    ]
    changed = httpx.patch(url, json={"title": "renamed"}, headers=bearer(alice, **merge_patch))
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    assert httpx.delete(url, headers=bearer(alice)).status_code == 204
    assert httpx.get(url, headers=bearer(alice)).status_code == 404


def test_signed_in_without_a_good_token_an_item_request_is_401_and_stores_nothing(
    signed_in, provider
):
    server, _ = signed_in
    bad = {
        "none": None,
        "expired": provider.token("mallory", expires_in=-3600),
        "another audience": provider.token("mallory", audience="another-api"),
        "another issuer": provider.token("mallory", issuer="https://evil.example"),
        "garbage": "garbage",
    }
    for name, token in bad.items():
        headers = bearer(token) if token else {}
        answer = httpx.post(f"{server}/api/items", json={"title": "x"}, headers=headers)
        assert answer.status_code == 401, name
        assert answer.headers["www-authenticate"].startswith("Bearer"), name
    assert httpx.get(f"{server}/api/items", headers=bearer(provider.token("mallory"))).json() == []


def test_signed_in_a_rotated_key_is_accepted_and_an_unreachable_issuer_is_named(
    signed_in, provider
):
    server, _ = signed_in
    items = f"{server}/api/items"
    assert httpx.get(items, headers=bearer(provider.token("carol"))).status_code == 200
    time.sleep(REFETCH_AFTER_S)  # the keys were fetched at most this long ago: ask again
    provider.rotate("RS256", keep_old=False)
    assert httpx.get(items, headers=bearer(provider.token("carol"))).status_code == 200
    time.sleep(REFETCH_AFTER_S)
    provider.stop()
    try:
        started = time.monotonic()
        unknown = provider.token("carol", key=SigningKey.make())
        answer = httpx.get(items, headers=bearer(unknown), timeout=30)
        assert time.monotonic() - started < 15
        assert answer.status_code == 503
        assert provider.url in answer.json()["detail"]
    finally:
        provider.start()


def test_signed_in_no_token_appears_in_the_log(signed_in, provider):
    server, log = signed_in
    token = provider.token("dave-7c1e")
    httpx.post(f"{server}/api/items", json={"title": "x"}, headers=bearer(token))
    httpx.get(f"{server}/api/items", headers=bearer(token + "x"))
    text = log.read_text()
    assert '"status": 201' in text
    assert token not in text
    assert token.split(".")[1] not in text
    assert "dave-7c1e" not in text
