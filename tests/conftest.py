"""Shared fixtures: settings from only what a test passes, and an app on the embedded store."""

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from backend.server import create_app
from backend.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's MONGO_URL, VERCEL or other settings."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(**values: object) -> Settings:
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """`make_client(**settings)`: a started TestClient on an app built with those settings."""
    clients: list[TestClient] = []

    def make(**values: object) -> TestClient:
        client = TestClient(create_app(make_settings(**values)))
        clients.append(client.__enter__())
        return client

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def app(make_settings: Callable[..., Settings]) -> FastAPI:
    """The app on a fresh embedded (mongomock-motor) database."""
    return create_app(make_settings())


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
