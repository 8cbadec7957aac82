"""Request and response bodies."""

from typing import Any, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from backend.text import Text


class Input(BaseModel):
    """A request body: exactly the fields declared, each of exactly its type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Stored(BaseModel):
    """A response body made from a stored document, whose `_id` is its `id`."""

    id: str

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Self:
        return cls.model_validate({**document, "id": document["_id"]})


class StatusCheckCreate(Input):
    client_name: Text(100)


class StatusCheckPublic(Stored):
    client_name: str
    timestamp: AwareDatetime


class ItemCreate(Input):
    title: Text(200)
    description: Text(2000) | None = None


class ItemUpdate(Input):
    """A JSON Merge Patch (RFC 7396): a field left out stays as it is; `description: null`
    removes the description. A title cannot be removed: `title: null` is refused."""

    title: Text(200) = Field(None, json_schema_extra=lambda schema: schema.pop("default"))
    description: Text(2000) | None = None


class ItemPublic(Stored):
    title: str
    description: str | None = None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    version: int = Field(description="1 when created, one more with every change: the ETag")


class Message(BaseModel):
    message: str


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["mongodb", "embedded"]
    driver: Literal["motor", "pymongo", "mongomock"]
