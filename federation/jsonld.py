"""Parsing untrusted JSON within limits: size, nesting depth, number length, object at the top."""

import json
import math

from federation.errors import MalformedDocument

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
MAX_NUMBER_CHARS = 100


def _deeper_than(document, limit: int) -> bool:
    """True when the parsed document nests containers deeper than limit (the top object is 1)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        for child in value.values() if isinstance(value, dict) else value:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


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
    try:  # json's C parser stops at the interpreter's recursion limit: deeper input is refused there
        document = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError as exc:
        raise MalformedDocument(f"document nested deeper than {max_depth}") from exc
    except ValueError as exc:
        if isinstance(exc, MalformedDocument):
            raise
        raise MalformedDocument(f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise MalformedDocument("document is not a JSON object")
    if _deeper_than(document, max_depth):
        raise MalformedDocument(f"document nested deeper than {max_depth}")
    return document
