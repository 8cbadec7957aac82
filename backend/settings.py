"""The one Settings class: environment variables (or a local `.env`), read once per process."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.exceptions import SettingsError

# What MongoDB accepts as a database name (and what fits in a URL path).
DB_NAME_PATTERN = r'^[^/\\. "$*<>:|?]{1,63}$'
DEFAULT_DB_NAME = "app"
API_KEY_MIN_LENGTH = 32
NEW_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
ISSUER_HELP = (
    "set it to your sign-in provider's issuer URL, exactly as its tokens' iss claim has it "
    "(e.g. https://your-app.clerk.accounts.dev, or https://your-tenant.us.auth0.com/)"
)

DatabaseMode = Literal["embedded", "unconfigured", "mongodb"]

# A request runs at most this many database operations one after another: index creation on a
# new client, then a keyed create's three (claim the key, insert, mark the key done).
SEQUENTIAL_DATABASE_OPERATIONS = 4
# So that many of them, each bounded by MONGO_TIMEOUT_MS, end within vercel.json's maxDuration
# (a test holds the product under it).
MONGO_TIMEOUT_MS_MAX = 7_000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    mongo_url: SecretStr | None = None
    # What Vercel's MongoDB Atlas integration (Marketplace) sets; MONGO_URL wins when both are.
    mongodb_uri: SecretStr | None = None
    db_name: str | None = Field(None, pattern=DB_NAME_PATTERN)
    mongo_driver: Literal["motor", "pymongo"] = "motor"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)
    mongo_timeout_ms: int = Field(5000, ge=100, le=MONGO_TIMEOUT_MS_MAX)
    mongo_max_pool_size: int = Field(10, ge=1, le=500)
    vercel: bool = False
    # Every write under /api/ must send it as `Authorization: Bearer`; backend/auth.py.
    api_key: SecretStr | None = None
    # Where the embedded database keeps its data (`make dev` sets it); unset, memory only.
    embedded_data_file: Path | None = None
    # The sign-in provider whose users' tokens the user routes take, and the `aud` those tokens
    # must name: backend/identity.py. Both or neither.
    auth_issuer: str | None = None
    auth_audience: str | None = None

    @property
    def mongo_url_variable(self) -> str | None:
        """The variable the connection string comes from: its name is safe to show."""
        if self.mongo_url is not None:
            return "MONGO_URL"
        return "MONGODB_URI" if self.mongodb_uri is not None else None

    @property
    def connection_string(self) -> str | None:
        """The connection string in use: for the driver and for masking, never for display."""
        chosen = self.mongo_url or self.mongodb_uri
        return chosen.get_secret_value() if chosen else None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every connection string set, in use or not, and the API key: what masking must hide."""
        chosen = (self.mongo_url, self.mongodb_uri, self.api_key)
        return tuple(s.get_secret_value() for s in chosen if s)

    @property
    def ignored_variable(self) -> str | None:
        """MONGODB_URI when MONGO_URL is set to something else and so wins over it."""
        if self.mongo_url and self.mongodb_uri and self.mongo_url != self.mongodb_uri:
            return "MONGODB_URI"
        return None

    @property
    def database_mode(self) -> DatabaseMode:
        """Decided here, once: the in-memory store only locally, never on Vercel."""
        if self.connection_string is not None:
            return "mongodb"
        return "unconfigured" if self.vercel else "embedded"

    @property
    def database_name(self) -> str:
        """DB_NAME; else the database named in the connection string's path; else `app`."""
        return self.db_name or _database_in_path(self.connection_string) or DEFAULT_DB_NAME

    @field_validator(
        "mongo_url",
        "mongodb_uri",
        "db_name",
        "api_key",
        "embedded_data_file",
        "auth_issuer",
        "auth_audience",
        mode="before",
    )
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("auth_issuer", "auth_audience")
    @classmethod
    def _trimmed(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @field_validator("auth_issuer")
    @classmethod
    def _an_issuer_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = urlsplit(value)
            usable = url.scheme in ("http", "https") and bool(url.hostname) and url.port != 0
        except ValueError:  # a port outside 1-65535, an unclosed [IPv6 address]
            raise ValueError(f"not an http(s) URL: {ISSUER_HELP}") from None
        if not usable:
            raise ValueError(f"not an http(s) URL: {ISSUER_HELP}")
        if url.query or url.fragment or url.username or url.password:
            raise ValueError(f"holds a query, a fragment or a user name: {ISSUER_HELP}")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError('list at least one origin, or "*" for any')
        return value

    @field_validator("api_key")
    @classmethod
    def _usable_as_a_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        # HTTP drops the whitespace around a header's value: a key cannot be sent with it.
        key = value.get_secret_value().strip()
        if len(key) < API_KEY_MIN_LENGTH:
            raise ValueError(
                f"shorter than {API_KEY_MIN_LENGTH} characters, too short to be a secret; make "
                f"one with {NEW_KEY_COMMAND}"
            )
        if not re.fullmatch(r"[\x21-\x7e]+", key):
            # fetch() refuses a header value outside Latin-1; RFC 6750's token holds no space.
            raise ValueError(
                "holds a space or a character outside printable ASCII, which a browser cannot "
                f"send in a header; make one with {NEW_KEY_COMMAND}"
            )
        return SecretStr(key)

    @model_validator(mode="after")
    def _database_in_path_is_valid(self) -> "Settings":
        name = None if self.db_name else _database_in_path(self.connection_string)
        if name is not None and not re.match(DB_NAME_PATTERN, name):
            raise ValueError(
                f"{self.mongo_url_variable}: the database named in its path is not a valid "
                "MongoDB database name; fix the path, or set DB_NAME"
            )
        return self

    @model_validator(mode="after")
    def _issuer_and_audience_together(self) -> "Settings":
        if (self.auth_issuer is None) != (self.auth_audience is None):
            raise ValueError(
                "AUTH_ISSUER and AUTH_AUDIENCE go together: set both (the provider's issuer URL "
                "and the audience its tokens name for this API), or neither"
            )
        if self.vercel and self.auth_issuer and urlsplit(self.auth_issuer).scheme != "https":
            raise ValueError(
                "AUTH_ISSUER: a deployment takes only an https:// issuer (its keys decide who "
                "every user is, so they must not travel in the clear): use the https:// URL "
                "your provider names as its issuer"
            )
        return self


def _database_in_path(url: str | None) -> str | None:
    """`shop` in `mongodb+srv://u:p@cluster.example.net/shop?retryWrites=true`, split the way
    PyMongo splits it (the path ends at `?`; a `.` would start a collection name)."""
    if url is None or "://" not in url:
        return None
    _, _, path = url.split("://", 1)[1].partition("?")[0].partition("/")
    return unquote(path.split(".", 1)[0]) or None


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation error into one message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # The values are left out on purpose: a misplaced connection string is a secret too.
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise SettingsError(f"Invalid configuration: {problems}.") from None


def _describe(error: ErrorDetails) -> str:
    variable = ".".join(map(str, error["loc"])).upper()
    # A check across variables has no location: its message names the variables itself.
    return f"{variable}: {error['msg']}" if variable else str(error["ctx"]["error"])


@lru_cache
def get_settings() -> Settings:
    # A deployment takes its configuration from the environment only: a `.env` that slipped
    # into the bundle must not quietly become production configuration.
    from_environment = load_settings(_env_file=None)
    return from_environment if from_environment.vercel else load_settings()
