"""The nesting check that runs on every body before it is parsed: exact for any JSON in any
encoding the parser reads (UTF-8, UTF-16, UTF-32, with or without a BOM), brackets inside
strings (escaped quotes included) never counted, and quick on any input."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_server.request_body import json_deeper_than


def depth(value: Any) -> int:
    """Levels of arrays and objects, the outermost one being level 1."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


# Strings full of what a naive scan would miscount: brackets, quotes, escapes, and characters
# whose UTF-16 or UTF-32 bytes hold a quote or a bracket (U+2200 is 00 22 in UTF-16-LE).
tricky_text = st.text(alphabet='[]{}"\\/ab\n\u2200\u225b\u5b22\u7d00\U0002225b', max_size=12)
# Every encoding json.loads reads from bytes (RFC 8259/4627 detection, BOM or not).
ENCODINGS = (
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(value=json_values, limit=st.integers(min_value=1, max_value=8))
def test_the_check_is_exact_for_any_json(value, limit):
    for body in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        for encoding in ENCODINGS:
            encoded = body.encode(encoding, "surrogatepass")
            assert json.loads(encoded) == value  # what the parser reads
            assert json_deeper_than(encoded, limit) == (depth(value) > limit), (encoding, body)


def test_deep_nesting_is_found_wherever_it_is():
    for opening, closing in (("[", "]"), ('{"k":', "}")):
        deep = opening * 33 + "0" + closing * 33
        assert json_deeper_than(deep.encode(), 32)
        assert not json_deeper_than((opening * 32 + "0" + closing * 32).encode(), 32)
        assert json_deeper_than(f'{{"a": "]]]]", "b": {deep}}}'.encode(), 32)
    # Brackets in strings are text, whatever the escapes around them.
    assert not json_deeper_than(json.dumps(["[" * 100, '\\"[' * 50, "\\" * 7]).encode(), 2)


def test_no_character_hides_nesting_in_utf16_or_utf32():
    """Read byte by byte, U+2200 in UTF-16-LE is a quote: it would open a "string" that hides
    the brackets after it. The scan reads the text as the parser does."""
    deep = "[" * 33 + "]" * 33
    for text in ('["\u2200", %s, "x"]', '{"a": "\u2200\u2200\u2200", "b": %s}'):
        body = text % deep
        for encoding in ENCODINGS:
            encoded = body.encode(encoding)
            assert json_deeper_than(encoded, 32), encoding
            assert not json_deeper_than((text % "[]").encode(encoding), 32), encoding


def test_a_mib_of_anything_gets_the_right_answer():
    """Bodies of 1 MiB built to trouble a scanner (an unterminated string of escaped quotes
    makes a naive pattern quadratic): each is answered, and rightly."""
    mib = 1024 * 1024
    cases = [
        (b'"\\"' * (mib // 3), False),
        (b'"' + b"\\" * (mib - 1), False),
        (b"[" * mib, True),
        (b"]" * mib, False),
        (b"[]" * (mib // 2), False),
        ((b"[" * 32 + b"]" * 32) * (mib // 64), False),
        ((b"[" * 32 + b"]" * 32) * (mib // 64) + b"[" * 33, True),
    ]
    for body, deeper in cases:
        assert json_deeper_than(body, 32) is deeper, body[:40]
