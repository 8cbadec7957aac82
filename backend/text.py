"""The text rule for names and titles people type: `Text(100)` is a string of 1 to 100
characters once trimmed, with no control or format characters (Unicode Cc and Cf: NUL, line
breaks, bidi overrides, zero-width characters), which hide or reorder text in logs and on
screens. Its OpenAPI schema is the pattern the server checks.

`Text(30, trim=False)` refuses white space around the text instead of trimming it: for values
compared as sent, such as the members of a list whose schema says `uniqueItems`."""

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

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
_REFUSED = (
    "control and format characters are not accepted (Unicode Cc and Cf: NUL, tabs and line "
    "breaks inside the text, bidi overrides, zero-width characters)"
)


def text_pattern(max_length: int, *, trim: bool = True) -> str:
    """1 to `max_length` characters once trimmed, none Cc or Cf. Written so that it also holds
    for the untrimmed text, the one the OpenAPI document describes; without `trim`, no white
    space may surround it."""
    inner = f"(?:[^{CONTROL_OR_FORMAT}]{{0,{max_length - 2}}}{_VISIBLE})?" if max_length > 1 else ""
    space = f"[{WHITE_SPACE}]*" if trim else ""
    return f"^{space}{_VISIBLE}{inner}{space}$"


# Once trimmed (strip_whitespace removes all of WHITE_SPACE) and of the right length, the text
# matches its pattern exactly when it holds none of these: one regex for every length.
_CONTROL_OR_FORMAT_CHARACTER = re.compile(f"[{CONTROL_OR_FORMAT}]")


def _without_control_or_format(text: str) -> str:
    if _CONTROL_OR_FORMAT_CHARACTER.search(text):
        raise ValueError(_REFUSED)
    return text


_SURROUNDED = re.compile(f"^[{WHITE_SPACE}]|[{WHITE_SPACE}]$")


def _without_surrounding_space(text: str) -> str:
    if _SURROUNDED.search(text):
        raise ValueError("white space before or after the text is not accepted")
    return text


def Text(max_length: int, *, trim: bool = True) -> Any:  # used as a type, like pydantic's constr
    """The type of a field that holds text people type: `title: Text(200)`."""
    length = "once trimmed" if trim else "with no white space around them"
    return Annotated[
        str,
        StringConstraints(strip_whitespace=trim, min_length=1, max_length=max_length),
        AfterValidator(_without_control_or_format),
        *(() if trim else (AfterValidator(_without_surrounding_space),)),
        # minLength and maxLength would apply to the untrimmed text: the pattern says it all.
        WithJsonSchema(
            {
                "type": "string",
                "pattern": text_pattern(max_length, trim=trim),
                "description": f"1 to {max_length} characters {length}, without control or "
                "format characters (Unicode Cc, Cf)",
            }
        ),
    ]
