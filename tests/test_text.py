"""The text rule: what `Text(n)` accepts is exactly what its OpenAPI pattern describes."""

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from backend.text import Text, text_pattern

SAMPLES = [
    "a",
    " padded\t",
    "é" * 5,
    "😀",
    "a\u2028b",  # a line separator inside: Zl, not Cc or Cf
    "\u3000a\u3000",
    "",
    "   ",
    "\x00",
    "a\nb",
    "a\u202eb",  # a bidi override
    "a\u200db",  # the zero-width joiner inside emoji sequences
    "\u200b",
    "a\x7fb",
    "\U000e0041",  # a tag character
]


@pytest.mark.parametrize("trim", [True, False], ids=["trimmed", "untrimmed"])
@pytest.mark.parametrize("max_length", [1, 2, 5])
@pytest.mark.parametrize("text", [*SAMPLES, "x" * 5, "x" * 6, " " + "x" * 5 + " ", "a "])
def test_text_accepts_exactly_what_its_pattern_describes(max_length, text, trim):
    try:
        TypeAdapter(Text(max_length, trim=trim)).validate_python(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == bool(re.fullmatch(text_pattern(max_length, trim=trim), text))


def test_text_is_trimmed():
    assert TypeAdapter(Text(10)).validate_python("  a b \u3000") == "a b"


def test_untrimmed_text_refuses_surrounding_space_instead():
    with pytest.raises(ValidationError, match="white space before or after"):
        TypeAdapter(Text(10, trim=False)).validate_python("a\u3000")
    assert TypeAdapter(Text(10, trim=False)).validate_python("a b") == "a b"


def test_a_refused_character_is_named_in_the_message():
    with pytest.raises(ValidationError, match="control and format characters"):
        TypeAdapter(Text(10)).validate_python("a\u202eb")
