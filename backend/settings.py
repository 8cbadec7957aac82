"""The one Settings class: environment variables (or a local `.env`), read once per process."""

from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.exceptions import SettingsError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    mongo_url: SecretStr | None = None
    db_name: str = Field("app", min_length=1, max_length=63, pattern=r'^[^/\\. "$*<>:|?]+$')
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)
    # At most four operations run one after another in a request (index creation on a new
    # client, then a keyed create's three): 4 x 7 s stays under vercel.json's maxDuration 30 s.
    mongo_timeout_ms: int = Field(5000, ge=100, le=7_000)
    mongo_max_pool_size: int = Field(10, ge=1, le=500)
    vercel: bool = False

    @property
    def mongo_url_value(self) -> str | None:
        """The connection string itself: for the driver and for masking, never for display."""
        return self.mongo_url.get_secret_value() if self.mongo_url else None

    @field_validator("mongo_url", mode="before")
    @classmethod
    def _blank_means_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

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


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation error into one message that names each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        # The values are left out on purpose: a misplaced connection string is a secret too.
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"Invalid configuration: {problems}.") from None


@lru_cache
def get_settings() -> Settings:
    # A deployment takes its configuration from the environment only: a `.env` that slipped
    # into the bundle must not quietly become production configuration.
    from_environment = load_settings(_env_file=None)
    return from_environment if from_environment.vercel else load_settings()
