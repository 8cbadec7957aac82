"""Request and response bodies."""

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from backend.clock import Timestamp
from backend.fields import Date, Integer, UniqueList
from backend.text import Text


class Input(BaseModel):
    """A request body: exactly the fields declared, each of exactly its JSON type (the rule for
    each type: backend/fields.py)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Output(BaseModel):
    """A response body. Its validator is built the first time one is sent, not at start-up:
    a cold start pays only for what its first request needs (docs/performance.md). `Input` is
    built at start-up: FastAPI silences a warning of pydantic's while it builds a request
    body's validator, and a build deferred to the first request would let it through."""

    model_config = ConfigDict(defer_build=True)


class Stored(Output):
    """A response body made from a stored document, whose `_id` is its `id`. Fields the model
    does not declare (`schema_version`, fields of other releases) are not shown."""

    id: str

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Self:
        return cls.model_validate({**document, "id": document["_id"]})


def _no_defaults(schema: dict[str, Any]) -> None:
    # A field left out of a merge patch stays as it is: no field has a default to document.
    for field in schema["properties"].values():
        field.pop("default", None)


class StatusCheckCreate(Input):
    client_name: Text(100)


class StatusCheckPublic(Stored):
    client_name: str
    timestamp: Timestamp


PRIORITY_MIN, PRIORITY_MAX, PRIORITY_DEFAULT = 0, 5, 2
MAX_TAGS = 10
Title, Description = Text(200), Text(2000)
Priority = Integer(PRIORITY_MIN, PRIORITY_MAX)
# A tag is compared as sent (the schema says uniqueItems), so it is taken as sent: untrimmed.
Tags = UniqueList(Text(30, trim=False), MAX_TAGS)
_PRIORITY = f"{PRIORITY_MIN} (lowest) to {PRIORITY_MAX}"
_TAGS = f"At most {MAX_TAGS} tags, each of 1 to 30 characters, none twice"


class ItemCreate(Input):
    title: Title
    description: Description | None = None
    due: Date | None = None
    priority: Priority = Field(PRIORITY_DEFAULT, description=_PRIORITY)
    tags: Tags = Field([], description=_TAGS)


class ItemUpdate(Input):
    """A JSON Merge Patch (RFC 7396): a field left out stays as it is; `null` removes
    `description` or `due`. `title`, `priority` and `tags` cannot be removed: `null` is refused."""

    model_config = ConfigDict(json_schema_extra=_no_defaults)

    title: Title = None
    description: Description | None = None
    due: Date | None = None
    priority: Priority = Field(None, description=_PRIORITY)
    tags: Tags = Field(None, description=_TAGS)


class ItemPublic(Stored):
    title: str
    description: str | None = None
    due: Date | None = None
    priority: int
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp
    version: int = Field(description="1 when created, one more with every change: the ETag")


class Message(Output):
    message: str


class Health(Output):
    status: Literal["ok"]
    database: Literal["mongodb", "embedded"]
    driver: Literal["motor", "pymongo", "mongomock"]
