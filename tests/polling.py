"""Waiting in tests: poll a probe until it gives something truthy, with a deadline and a failure
that says what was awaited (and the tails of the logs that explain it)."""

import time
from pathlib import Path

import pytest


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for failure messages."""
    if not path.exists():
        return f"({path} does not exist)"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path} (last {len(text)} lines)\n" + "\n".join(text)


def wait_for(probe, what: str = "the condition", *, timeout: float = 60.0, interval: float = 0.1, logs=()):
    """Poll probe() until it returns something truthy and return that; on timeout fail the test with
    `what`, the last value seen and the logs' tails."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            details = "\n".join(tail(Path(p)) for p in logs)
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}; last seen: {value!r}\n{details}",
                        pytrace=False)
        time.sleep(interval)
