"""harness/local_vercel.py, `make dev`'s stand-in for Vercel's routing: files from public/,
vercel.json's rewrites to the function, vercel.json's headers on the paths they name."""

import json

import pytest
from fastapi.testclient import TestClient

from harness import ROOT
from harness.local_vercel import LocalVercel, source_pattern

CONFIG = json.loads((ROOT / "vercel.json").read_text())


@pytest.fixture
def local(app) -> TestClient:
    with TestClient(LocalVercel(CONFIG, app, ROOT / "public")) as client:
        yield client


def test_the_root_is_public_index_html_with_vercel_json_s_headers(local):
    response = local.get("/")
    assert response.status_code == 200
    assert response.text == (ROOT / "public" / "index.html").read_text()
    assert "script-src 'sha256-" in response.headers["content-security-policy"]


def test_api_paths_reach_the_function_without_the_page_s_headers(local):
    response = local.get("/api/")
    assert response.json() == {"message": "Hello World"}
    assert "content-security-policy" not in response.headers


def test_other_paths_are_not_found_and_never_reach_the_function(local):
    response = local.get("/backend/server.py")
    assert response.status_code == 404
    assert "x-request-id" not in response.headers


@pytest.mark.parametrize(
    ("source", "path", "matches"),
    [
        ("/api/(.*)", "/api/status", True),
        ("/api/(.*)", "/api", False),
        ("/((?!api/).*)", "/", True),
        ("/((?!api/).*)", "/api/docs", False),
        ("/index.html", "/indexshtml", False),  # outside a group, a dot is a dot
    ],
)
def test_a_source_is_read_as_path_to_regexp(source, path, matches):
    assert bool(source_pattern(source).fullmatch(path)) is matches


def test_a_named_parameter_is_refused_rather_than_misread():
    with pytest.raises(ValueError, match="named parameters"):
        source_pattern("/blog/:slug")
