"""Parsing untrusted JSON within limits: size, nesting depth, number length, object at the top."""

import json
import math
import re

from federation.errors import MalformedDocument

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")


def _depth(text: str, limit: int) -> int:
    """The deepest bracket nesting of a JSON text (strings ignored), stopping beyond limit."""
    depth = deepest = 0
    for char in _NOT_BRACKETS.sub("", _STRINGS.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_CHARS:
        raise MalformedDocument("integer too long")
    return int(text)


def _float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise MalformedDocument("number too long")
    value = float(text)
    if not math.isfinite(value):
        raise MalformedDocument("number out of range")
    return value


def _constant(name: str):
    raise MalformedDocument(f"{name} is not JSON")


def parse_json_limited(raw: bytes | str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> dict:
    """Parse a JSON object within the limits, else raise MalformedDocument."""
    if isinstance(raw, bytes | bytearray | memoryview):
        if len(raw) > max_bytes:
            raise MalformedDocument(f"document larger than {max_bytes} bytes")
        try:
            text = bytes(raw).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MalformedDocument("document is not UTF-8") from exc
    elif isinstance(raw, str):
        if len(raw) > max_bytes:
            raise MalformedDocument(f"document larger than {max_bytes} characters")
        text = raw
    else:
        raise MalformedDocument("document must be bytes or str")
    if _depth(text, max_depth) > max_depth:
        raise MalformedDocument(f"document nested deeper than {max_depth}")
    try:
        document = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, MalformedDocument):
            raise
        raise MalformedDocument(f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedDocument("document is not a JSON object")
    return document
