"""CORS_ORIGINS: `*` (the default) allows any origin without credentials; a list allows those.
Either way a browser may send the API key in `Authorization`."""

import pytest

PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type",
}


def test_default_allows_any_origin_without_credentials(make_client):
    response = make_client().get("/api/", headers={"origin": "https://anywhere.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_listed_origins_are_allowed_with_credentials(make_client):
    client = make_client(cors_origins="https://a.example, https://b.example")
    response = client.options("/api/status", headers={"origin": "https://b.example", **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://b.example"
    assert response.headers["access-control-allow-credentials"] == "true"


def test_unlisted_origin_is_not_allowed(make_client):
    client = make_client(cors_origins="https://a.example")
    response = client.get("/api/", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_link_and_request_id_headers_are_exposed_to_browsers(make_client):
    response = make_client().get("/api/", headers={"origin": "https://anywhere.example"})
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "link" in exposed
    assert "x-request-id" in exposed


def test_a_request_without_an_origin_gets_no_cors_headers(make_client):
    response = make_client().get("/api/")
    assert not [name for name in response.headers if name.startswith("access-control-")]
    # Not even `Vary: Origin`: no cache may keep any response of this API.
    assert "vary" not in response.headers
    assert response.headers["cache-control"] == "no-store"


KEY = "k" * 40
AUTHORIZED_PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


@pytest.mark.parametrize("origins", ["*", "https://a.example, https://page.example"])
def test_a_browser_may_send_the_api_key(make_client, origins):
    # Fetch: a wildcard Access-Control-Allow-Headers never covers Authorization; it must be named.
    client = make_client(cors_origins=origins, api_key=KEY)
    origin = {"origin": "https://page.example"}
    response = client.options("/api/status", headers={**origin, **AUTHORIZED_PREFLIGHT})
    assert response.status_code == 200
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert "authorization" in {h.lower() for h in allowed}
    assert "*" not in allowed


@pytest.mark.parametrize("origins", ["*", "https://page.example"])
def test_a_browser_can_read_a_refused_write_s_detail(make_client, origins):
    client = make_client(cors_origins=origins, api_key=KEY)
    response = client.post(
        "/api/status", json={"client_name": "x"}, headers={"origin": "https://page.example"}
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] in ("*", "https://page.example")
