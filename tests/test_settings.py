"""Settings come from the environment; a bad value is one message that names the variable."""

import subprocess
import sys

import pytest

from backend.exceptions import SettingsError
from backend.settings import load_settings
from harness import ROOT


def test_defaults(monkeypatch):
    settings = load_settings(_env_file=None)
    assert settings.mongo_url is None
    assert settings.db_name == "app"
    assert settings.cors_origins == ("*",)
    assert settings.mongo_timeout_ms == 5000
    assert settings.mongo_max_pool_size == 10
    assert settings.vercel is False


def test_values_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://db.example.com/")
    monkeypatch.setenv("DB_NAME", "prod")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example,")
    monkeypatch.setenv("MONGO_TIMEOUT_MS", "2500")
    monkeypatch.setenv("VERCEL", "1")
    settings = load_settings(_env_file=None)
    assert settings.mongo_url.get_secret_value() == "mongodb://db.example.com/"
    assert settings.db_name == "prod"
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.mongo_timeout_ms == 2500
    assert settings.vercel is True


def test_values_are_read_from_a_dotenv_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DB_NAME=from_file\nMONGO_URL=\n")
    settings = load_settings(_env_file=env_file)
    assert settings.db_name == "from_file"
    assert settings.mongo_url is None


def test_a_blank_mongo_url_means_unset(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "  ")
    assert load_settings(_env_file=None).mongo_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONGO_TIMEOUT_MS", "abc"),
        ("MONGO_TIMEOUT_MS", "0"),
        ("MONGO_TIMEOUT_MS", "8000"),
        ("MONGO_MAX_POOL_SIZE", "-1"),
        ("DB_NAME", "has/slash"),
        ("DB_NAME", "has.dot"),
        ("VERCEL", "maybe"),
        ("CORS_ORIGINS", " , "),
    ],
)
def test_an_invalid_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^Invalid configuration: {variable}: "):
        load_settings(_env_file=None)


def test_the_message_does_not_echo_the_rejected_value(monkeypatch):
    monkeypatch.setenv("MONGO_TIMEOUT_MS", "mongodb://admin:hunter22@db/")
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert "hunter22" not in str(error.value)
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


def test_the_mongo_url_never_shows_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://admin:hunter22@db.example.com/")
    settings = load_settings(_env_file=None)
    assert "hunter22" not in repr(settings)
    assert "hunter22" not in str(settings.model_dump())


def test_a_deployment_ignores_a_dotenv_file(monkeypatch, tmp_path):
    from backend.settings import get_settings

    (tmp_path / ".env").write_text("MONGO_URL=mongodb://leak:bundled@db/\n")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert get_settings().mongo_url is not None
    monkeypatch.setenv("VERCEL", "1")
    get_settings.cache_clear()
    assert get_settings().mongo_url is None
    get_settings.cache_clear()


def test_vercel_0_is_local_and_reads_the_dotenv_file(monkeypatch, tmp_path):
    from backend.settings import get_settings

    (tmp_path / ".env").write_text("DB_NAME=from_file\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERCEL", "0")
    get_settings.cache_clear()
    assert get_settings().db_name == "from_file"
    get_settings.cache_clear()


def test_settings_and_their_error_load_without_fastapi_or_the_logger():
    heavy = ("fastapi", "backend.log")
    code = f"import sys, backend.settings; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"
