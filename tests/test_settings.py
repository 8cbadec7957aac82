"""Settings come from the environment; a bad value is one message that names the variable."""

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from backend.exceptions import SettingsError
from backend.settings import (
    MONGO_TIMEOUT_MS_MAX,
    SEQUENTIAL_DATABASE_OPERATIONS,
    Settings,
    load_settings,
)
from harness import ROOT
from harness.rehearsal import max_duration


def test_defaults(monkeypatch):
    settings = load_settings(_env_file=None)
    assert settings.mongo_url is None
    assert settings.database_name == "app"
    assert settings.mongo_driver == "motor"
    assert settings.cors_origins == ("*",)
    assert settings.mongo_timeout_ms == 5000
    assert settings.mongo_max_pool_size == 10
    assert settings.vercel is False
    assert settings.api_key is None
    assert settings.embedded_data_file is None  # the embedded database in memory only


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


def test_a_blank_embedded_data_file_means_memory_only(monkeypatch):
    monkeypatch.setenv("EMBEDDED_DATA_FILE", "")
    assert load_settings(_env_file=None).embedded_data_file is None
    monkeypatch.setenv("EMBEDDED_DATA_FILE", ".data/embedded.json")
    assert str(load_settings(_env_file=None).embedded_data_file) == ".data/embedded.json"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONGO_TIMEOUT_MS", "abc"),
        ("MONGO_TIMEOUT_MS", "0"),
        ("MONGO_TIMEOUT_MS", "8000"),
        ("MONGO_MAX_POOL_SIZE", "-1"),
        ("DB_NAME", "has/slash"),
        ("DB_NAME", "has.dot"),
        ("MONGO_DRIVER", "mongo"),
        ("VERCEL", "maybe"),
        ("CORS_ORIGINS", " , "),
    ],
)
def test_an_invalid_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^Invalid configuration: {variable}: "):
        load_settings(_env_file=None)


def test_mongo_timeout_ms_is_capped(monkeypatch):
    monkeypatch.setenv("MONGO_TIMEOUT_MS", str(MONGO_TIMEOUT_MS_MAX))
    assert load_settings(_env_file=None).mongo_timeout_ms == MONGO_TIMEOUT_MS_MAX
    monkeypatch.setenv("MONGO_TIMEOUT_MS", str(MONGO_TIMEOUT_MS_MAX + 1))
    with pytest.raises(SettingsError, match=r"^Invalid configuration: MONGO_TIMEOUT_MS: "):
        load_settings(_env_file=None)


def test_a_request_s_sequential_database_operations_end_within_vercel_json_s_max_duration():
    # Each may wait out the whole timeout: together they must end before Vercel ends the request.
    worst_case_ms = MONGO_TIMEOUT_MS_MAX * SEQUENTIAL_DATABASE_OPERATIONS
    assert worst_case_ms < max_duration(ROOT) * 1000


def test_readme_states_the_timeout_cap_and_vercel_json_s_max_duration():
    (row,) = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("| `MONGO_TIMEOUT_MS` |")
    ]
    assert f"at most {MONGO_TIMEOUT_MS_MAX}." in row
    assert f"the function's {max_duration(ROOT):g} s `maxDuration`" in row


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


@pytest.fixture
def settings_at_start(monkeypatch, tmp_path) -> Iterator[Callable[[], Settings]]:
    """What `get_settings()` reads in a process started in `tmp_path` (which may hold a `.env`);
    its per-process cache is left empty again afterwards."""
    from backend.settings import get_settings

    monkeypatch.chdir(tmp_path)

    def start() -> Settings:
        get_settings.cache_clear()
        return get_settings()

    yield start
    get_settings.cache_clear()


def test_a_deployment_ignores_a_dotenv_file(settings_at_start, monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("MONGO_URL=mongodb://leak:bundled@db/\n")
    assert settings_at_start().mongo_url is not None
    monkeypatch.setenv("VERCEL", "1")
    assert settings_at_start().mongo_url is None


def test_vercel_0_is_local_and_reads_the_dotenv_file(settings_at_start, monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("DB_NAME=from_file\n")
    monkeypatch.setenv("VERCEL", "0")
    assert settings_at_start().db_name == "from_file"


ATLAS_URI = "mongodb+srv://atlas:AtlasPw123@cluster0.example.mongodb.net/shop?retryWrites=true"


def test_mongodb_uri_is_read_when_mongo_url_is_unset(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", ATLAS_URI)
    settings = load_settings(_env_file=None)
    assert settings.connection_string == ATLAS_URI
    assert settings.mongo_url_variable == "MONGODB_URI"
    assert settings.database_mode == "mongodb"


def test_mongo_url_wins_over_a_different_mongodb_uri(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://db.example.com/")
    monkeypatch.setenv("MONGODB_URI", ATLAS_URI)
    settings = load_settings(_env_file=None)
    assert settings.connection_string == "mongodb://db.example.com/"
    assert settings.mongo_url_variable == "MONGO_URL"
    assert settings.ignored_variable == "MONGODB_URI"


def test_the_same_url_in_both_variables_ignores_neither(monkeypatch):
    monkeypatch.setenv("MONGO_URL", ATLAS_URI)
    monkeypatch.setenv("MONGODB_URI", ATLAS_URI)
    assert load_settings(_env_file=None).ignored_variable is None


def test_both_connection_strings_are_masked_even_the_ignored_one(monkeypatch):
    monkeypatch.setenv("MONGO_URL", "mongodb://u:MongoUrlPw1@db.example.com/")
    monkeypatch.setenv("MONGODB_URI", ATLAS_URI)
    settings = load_settings(_env_file=None)
    assert set(settings.secrets) == {"mongodb://u:MongoUrlPw1@db.example.com/", ATLAS_URI}
    assert "AtlasPw123" not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "database"),
    [
        ({"MONGODB_URI": ATLAS_URI}, "shop"),
        ({"MONGODB_URI": ATLAS_URI, "DB_NAME": "prod"}, "prod"),
        ({"MONGO_URL": "mongodb://h:27017/inventory"}, "inventory"),
        ({"MONGO_URL": "mongodb://h/sales.orders?tls=true"}, "sales"),
        ({"MONGO_URL": "mongodb://u:p%2Fq@h/my%2Ddb"}, "my-db"),
        ({"MONGO_URL": "mongodb+srv://cluster0.example.net/?retryWrites=true"}, "app"),
        ({"MONGO_URL": "mongodb://h"}, "app"),
        ({}, "app"),
    ],
)
def test_the_database_is_db_name_else_the_url_path_else_app(monkeypatch, environment, database):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None).database_name == database


def test_an_invalid_database_in_the_url_path_names_the_variable_not_the_value(monkeypatch):
    monkeypatch.setenv("MONGODB_URI", "mongodb://u:SecretPw9@h/bad$name")
    with pytest.raises(SettingsError, match=r"^Invalid configuration: MONGODB_URI: the data") as e:
        load_settings(_env_file=None)
    assert "SecretPw9" not in str(e.value)
    assert "bad$name" not in str(e.value)


@pytest.mark.parametrize("driver", ["motor", "pymongo"])
def test_mongo_driver_chooses_the_driver(monkeypatch, driver):
    monkeypatch.setenv("MONGO_DRIVER", driver)
    assert load_settings(_env_file=None).mongo_driver == driver


def test_an_unknown_mongo_driver_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("MONGO_DRIVER", "mongoengine")
    with pytest.raises(SettingsError, match=r"^Invalid configuration: MONGO_DRIVER: .*'motor'"):
        load_settings(_env_file=None)


def test_a_blank_db_name_means_unset(monkeypatch):
    monkeypatch.setenv("DB_NAME", "")
    monkeypatch.setenv("MONGODB_URI", ATLAS_URI)
    assert load_settings(_env_file=None).database_name == "shop"


API_KEY = "Ab3-" + "k" * 40


def test_api_key_is_read_from_the_environment_and_never_shown(monkeypatch):
    monkeypatch.setenv("API_KEY", API_KEY)
    settings = load_settings(_env_file=None)
    assert settings.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)
    assert API_KEY not in str(settings.model_dump())


def test_the_api_key_is_masked_like_the_connection_strings(monkeypatch):
    monkeypatch.setenv("API_KEY", API_KEY)
    assert API_KEY in load_settings(_env_file=None).secrets


@pytest.mark.parametrize("value", ["", "   "])
def test_a_blank_api_key_means_unset(monkeypatch, value):
    monkeypatch.setenv("API_KEY", value)
    assert load_settings(_env_file=None).api_key is None


def test_whitespace_around_the_api_key_is_dropped_as_http_drops_it(monkeypatch):
    monkeypatch.setenv("API_KEY", f" {API_KEY}\n")
    assert load_settings(_env_file=None).api_key.get_secret_value() == API_KEY


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("Short-Secret-7", "shorter than 32 characters"),
        ("k" * 31, "shorter than 32 characters"),
        ("Inner Space " + "k" * 32, "holds a space or a character outside printable ASCII"),
        ("Accented-é" + "k" * 32, "holds a space or a character outside printable ASCII"),
    ],
)
def test_an_unusable_api_key_names_the_variable_and_never_echoes_it(monkeypatch, value, problem):
    monkeypatch.setenv("API_KEY", value)
    with pytest.raises(SettingsError, match=rf"^Invalid configuration: API_KEY: .*{problem}") as e:
        load_settings(_env_file=None)
    assert value not in str(e.value)
    assert value[:8] not in str(e.value)
    assert "secrets.token_urlsafe(32)" in str(e.value)


def test_32_characters_are_enough(monkeypatch):
    monkeypatch.setenv("API_KEY", "k" * 32)
    assert load_settings(_env_file=None).api_key is not None


def test_the_example_env_file_is_valid():
    assert load_settings(_env_file=".env.example").database_mode == "embedded"


def test_settings_and_their_error_load_without_fastapi_or_the_logger():
    heavy = ("fastapi", "backend.log")
    code = f"import sys, backend.settings; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


ISSUER = "https://example.clerk.accounts.dev"


def test_auth_issuer_and_audience_are_read_from_the_environment_trimmed(monkeypatch):
    monkeypatch.setenv("AUTH_ISSUER", f" {ISSUER}\n")
    monkeypatch.setenv("AUTH_AUDIENCE", " https://api.example.com ")
    settings = load_settings(_env_file=None)
    assert settings.auth_issuer == ISSUER
    assert settings.auth_audience == "https://api.example.com"


def test_without_auth_issuer_nobody_signs_in(monkeypatch):
    monkeypatch.setenv("AUTH_ISSUER", " ")
    monkeypatch.setenv("AUTH_AUDIENCE", "")
    settings = load_settings(_env_file=None)
    assert (settings.auth_issuer, settings.auth_audience) == (None, None)


@pytest.mark.parametrize("variable", ["AUTH_ISSUER", "AUTH_AUDIENCE"])
def test_auth_issuer_and_audience_go_together(monkeypatch, variable):
    monkeypatch.setenv(variable, ISSUER)
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None)
    assert str(error.value) == (
        "Invalid configuration: AUTH_ISSUER and AUTH_AUDIENCE go together: set both (the "
        "provider's issuer URL and the audience its tokens name for this API), or neither."
    )


@pytest.mark.parametrize(
    "value",
    [
        "example.clerk.accounts.dev",
        "ftp://issuer.example",
        "https://",
        "https://issuer.example:0",
        "https://issuer.example:99999",
        "http://[::1",
        "https://issuer.example/?tenant=secret-tenant",
        "https://issuer.example/#secret-fragment",
        "https://user:secret-password@issuer.example",
    ],
)
def test_an_unusable_auth_issuer_names_the_variable_and_never_echoes_it(monkeypatch, value):
    monkeypatch.setenv("AUTH_ISSUER", value)
    monkeypatch.setenv("AUTH_AUDIENCE", "api")
    with pytest.raises(
        SettingsError, match=r"^Invalid configuration: AUTH_ISSUER: .*issuer URL"
    ) as error:
        load_settings(_env_file=None)
    assert "secret" not in str(error.value)
    assert "issuer.example" not in str(error.value)


def test_a_deployment_takes_only_an_https_issuer(monkeypatch):
    monkeypatch.setenv("AUTH_ISSUER", "http://issuer.example")
    monkeypatch.setenv("AUTH_AUDIENCE", "api")
    assert load_settings(_env_file=None).auth_issuer == "http://issuer.example"  # locally
    monkeypatch.setenv("VERCEL", "1")
    with pytest.raises(SettingsError, match=r"^Invalid configuration: AUTH_ISSUER: a deployment"):
        load_settings(_env_file=None)
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    assert load_settings(_env_file=None).auth_issuer == ISSUER
