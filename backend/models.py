"""Request and response bodies."""

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, StringConstraints


class StatusCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]


class StatusCheckPublic(BaseModel):
    id: str
    client_name: str
    timestamp: AwareDatetime


class Message(BaseModel):
    message: str


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["mongodb", "embedded"]
    driver: Literal["motor", "pymongo", "mongomock"]
