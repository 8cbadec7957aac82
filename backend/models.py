"""Request and response bodies."""

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
)

# Unicode's Cc (NUL, C0 and C1 controls, DEL) and Cf (bidi overrides, zero-width characters, soft
# hyphen...), spelled out because the OpenAPI document's regex dialect has no \p{Cc}.
CONTROL_OR_FORMAT = (
    "\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd"
    "\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f"
)
# What strip_whitespace removes (Unicode White_Space), spelled out: `\s` differs between engines.
WHITE_SPACE = "\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_VISIBLE = f"[^{WHITE_SPACE}{CONTROL_OR_FORMAT}]"
# 1 to 100 characters once trimmed, none Cc or Cf. Checked after trimming; written so that it also
# holds for the untrimmed name, the one the OpenAPI document describes.
CLIENT_NAME_PATTERN = (
    f"^[{WHITE_SPACE}]*{_VISIBLE}(?:[^{CONTROL_OR_FORMAT}]{{0,98}}{_VISIBLE})?[{WHITE_SPACE}]*$"
)
_CLIENT_NAME = re.compile(CLIENT_NAME_PATTERN)


def _without_control_or_format(name: str) -> str:
    if not _CLIENT_NAME.fullmatch(name):
        raise ValueError(
            "control and format characters are not accepted (Unicode Cc and Cf: NUL, tabs and "
            "line breaks inside the name, bidi overrides, zero-width characters)"
        )
    return name


class StatusCheckCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        AfterValidator(_without_control_or_format),
        # minLength and maxLength would apply to the untrimmed name: the pattern says it all.
        WithJsonSchema(
            {
                "title": "Client Name",
                "type": "string",
                "pattern": CLIENT_NAME_PATTERN,
                "description": "1 to 100 characters once trimmed, without control or format "
                "characters (Unicode Cc, Cf)",
            }
        ),
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
