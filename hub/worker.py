"""The background loop: claims due deliveries and inbox items, runs them, retries."""

import time

IDLE_SLEEP = 1.0


def run_once() -> dict:
    """Process everything due now; return counts of what was done."""
    return {"delivered": 0, "processed": 0}


def run_forever() -> None:
    """Loop over run_once, sleeping when idle."""
    while True:
        stats = run_once()
        if not any(stats.values()):
            time.sleep(IDLE_SLEEP)
