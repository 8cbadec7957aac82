"""POST and GET /api/status: the stored object, input rules and keyset pagination."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from backend.clock import get_clock
from tests.conftest import ON_EVERY_DATABASE

pytestmark = ON_EVERY_DATABASE

LINK_NEXT = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


@pytest.fixture
def ticking_clock(app):
    """Each status check a millisecond after the last: creation order is then timestamp order
    (two created within one real millisecond are ordered by their random ids)."""
    ticks = iter(range(1_000_000))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    app.dependency_overrides[get_clock] = lambda: (
        lambda: start + timedelta(milliseconds=next(ticks))
    )


def create(client, name="probe", **kwargs):
    return client.post("/api/status", json={"client_name": name}, **kwargs)


def next_url(response):
    link = response.headers.get("link")
    return LINK_NEXT.match(link)["url"] if link else None


def test_post_status_returns_201_with_the_stored_object(client):
    response = create(client, "probe")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "client_name", "timestamp"}
    assert body["client_name"] == "probe"
    assert client.get("/api/status").json() == [body]


def test_post_status_id_is_a_server_made_uuid(client):
    ids = {create(client).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert all(str(uuid.UUID(i)) == i for i in ids)


def test_post_status_timestamp_is_utc_iso8601_with_an_offset(client):
    before = datetime.now(UTC) - timedelta(seconds=1)
    stamp = datetime.fromisoformat(create(client).json()["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= datetime.now(UTC)


def test_post_status_trims_client_name(client):
    assert create(client, "  padded\t").json()["client_name"] == "padded"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_post_status_rejects_names_outside_1_to_100_characters(client, name):
    response = create(client, name)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "client_name"]


def test_post_status_accepts_100_characters(client):
    assert create(client, "é" * 100).status_code == 201


@pytest.mark.parametrize("field", ["id", "timestamp", "extra"])
def test_post_status_rejects_unknown_fields(client, field):
    body = {"client_name": "probe", field: "2020-01-01T00:00:00Z"}
    response = client.post("/api/status", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert client.get("/api/status").json() == []


@pytest.mark.parametrize("name", [123, None, ["a"], {"a": 1}, True])
def test_post_status_rejects_wrong_types(client, name):
    response = client.post("/api/status", json={"client_name": name})
    assert response.status_code == 422


@pytest.mark.parametrize("content", [b"", b"not json", b"[]", b'"probe"'])
def test_post_status_rejects_bodies_that_are_not_an_object(client, content):
    headers = {"content-type": "application/json"}
    assert client.post("/api/status", content=content, headers=headers).status_code == 422


def test_post_status_refuses_bodies_over_64_kib(client):
    body = b'{"client_name": "' + b" " * (64 * 1024) + b'x"}'
    response = client.post(
        "/api/status", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]


def test_post_status_refuses_chunked_bodies_over_64_kib(client):
    def chunks():
        yield b'{"client_name": "'
        for _ in range(20):
            yield b" " * 4096
        yield b'x"}'

    response = client.post(
        "/api/status", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert client.get("/api/status").json() == []


def test_post_status_accepts_a_body_just_under_64_kib(client):
    body = b'{"client_name": "x"' + b" " * (64 * 1024 - 21) + b"}"  # 65,535 bytes
    response = client.post(
        "/api/status", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201


def test_get_status_lists_newest_first(client, ticking_clock):
    names = [create(client, f"n{i}").json()["client_name"] for i in range(5)]
    listed = client.get("/api/status").json()
    assert [item["client_name"] for item in listed] == names[::-1]


def test_get_status_default_limit_is_100(client):
    for i in range(101):
        create(client, f"n{i}")
    response = client.get("/api/status")
    assert len(response.json()) == 100
    assert next_url(response) is not None


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", "1.5"])
def test_get_status_rejects_limits_outside_1_to_1000(client, limit):
    response = client.get("/api/status", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_get_status_has_no_link_when_everything_fits(client):
    for i in range(3):
        create(client, f"n{i}")
    response = client.get("/api/status", params={"limit": 3})
    assert len(response.json()) == 3
    assert "link" not in response.headers


def test_get_status_link_next_leads_to_the_next_page(client, ticking_clock):
    ids = [create(client, f"n{i}").json()["id"] for i in range(5)]
    first = client.get("/api/status", params={"limit": 2})
    second = client.get(next_url(first))
    assert [i["id"] for i in first.json()] == [ids[4], ids[3]]
    assert [i["id"] for i in second.json()] == [ids[2], ids[1]]
    assert "limit=2" in next_url(first)


def test_following_links_visits_every_item_once_while_items_arrive(client, ticking_clock):
    created = [create(client, f"old{i}").json()["id"] for i in range(23)]
    seen, url = [], "/api/status?limit=4"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += [item["id"] for item in response.json()]
        create(client, "new")  # newer than every cursor: never part of this walk
        url = next_url(response)
    assert seen == created[::-1]


def test_items_with_the_same_timestamp_are_paged_by_id(app, client):
    frozen = datetime(2026, 1, 1, tzinfo=UTC)
    app.dependency_overrides[get_clock] = lambda: lambda: frozen
    ids = sorted((create(client, f"n{i}").json()["id"] for i in range(7)), reverse=True)
    seen, url = [], "/api/status?limit=3"
    while url:
        response = client.get(url)
        seen += [item["id"] for item in response.json()]
        url = next_url(response)
    assert seen == ids


@pytest.mark.parametrize("cursor", ["!!!", "bm90LWEtY3Vyc29y", "x" * 201])
def test_get_status_rejects_a_cursor_it_did_not_make(client, cursor):
    response = client.get("/api/status", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_status_listing_is_backed_by_an_index(client, app):
    client.get("/api/status")

    async def index_keys():
        db = await app.state.mongo.database()
        info = await db["status_checks"].index_information()
        return [index["key"] for index in info.values()]

    assert [("timestamp", -1), ("_id", -1)] in client.portal.call(index_keys)
