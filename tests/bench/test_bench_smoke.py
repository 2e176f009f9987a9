"""`python -m bench --smoke`: every benchmark runs at a tiny size, so none can rot. The figures of a
smoke run say nothing about speed (timings are judged by `make bench` only, never here)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import whole_run

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = {"fanout", "broken", "durability", "inbox", "read", "memory"}


@pytest.mark.bench
def test_every_benchmark_runs_in_smoke_mode_and_reports_its_figures(tmp_path):
    output = tmp_path / "smoke.json"
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--output", str(output)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert output.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(output.read_text())
    assert report["skipped"] == {}, done.stdout[-3000:]  # make test installs wrk (scripts/system-deps.sh)
    ran = {figure["bench"] for figure in report["figures"]}
    assert BENCHMARKS <= ran
    for figure in report["figures"]:
        assert figure["value"] is not None and figure["target"], figure
        if figure["baseline"] is not None and figure["ratio"] is not None:
            assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"], rel=1e-6) or \
                figure["ratio"] == pytest.approx(figure["baseline"] / figure["value"], rel=1e-6)
    where = report["machine"]
    assert where["cpus"] >= 1 and re.fullmatch(r"family \d+ model \d+", where["cpu_family_model"]), where
    assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?", where["commit"]), where  # which code was measured
    assert done.stdout.startswith("machine: ") and f"commit {where['commit']}" in done.stdout
    for line in ("fanout: time to reach every inbox", "durability: deliveries lost",
                 "fanout: time to reach every inbox over HTTPS", "10 % silent"):
        assert line in done.stdout


def test_a_full_run_is_judged_against_the_issues_fifteen_minutes():
    assert whole_run(899.0).passed is True
    assert whole_run(901.0).passed is False
    assert "15 minutes" in whole_run(1.0).target


@pytest.mark.bench
def test_the_fan_out_and_the_inbox_run_on_sqlite(tmp_path):
    output = tmp_path / "sqlite.json"
    env = {**os.environ, "HUB_BENCH_DATABASE_URL": "sqlite"}
    done = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--only", "fanout", "inbox",
                           "--output", str(output)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert output.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    figures = {(f["bench"], f["name"]): f for f in json.loads(output.read_text())["figures"]}
    assert "db sqlite" in figures["fanout", "time to reach every inbox"]["note"]
    assert "db sqlite" in figures["inbox", "burst processed, from its first request"]["note"]
    errors = figures["inbox", "stored minus accepted, no errors"]
    assert errors["passed"], errors  # every accepted activity stored, no 5xx


def _soak(*args: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-m", "bench.soak", "--seconds", "4", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    load = re.search(r"load: (\d+) reads \((\d+) errors\), (\d+) posts", done.stdout)
    assert load and int(load.group(1)) > 0 and load.group(2) == "0" and int(load.group(3)) >= 1, done.stdout
    memory = re.search(r"memory \(PSS of the gunicorn processes\): ([\d.]+) MB at the start, ([\d.]+) MB at "
                       r"most, ([\d.]+) MB at the end; (\d+) processes seen", done.stdout)
    assert memory, done.stdout
    start, _, end, processes = (float(memory.group(n)) for n in range(1, 5))
    assert start > 20 and end > 20, done.stdout  # four hub processes take tens of MB: PSS was read
    assert processes >= 4, done.stdout  # master, two web workers and the delivery slot
    assert re.search(r"largest at the end: \w+ [\d.]+ MB", done.stdout), done.stdout
    return done.stdout


@pytest.mark.bench
def test_the_sqlite_soak_runs_and_measures_its_log_and_memory():
    output = _soak()
    largest = re.search(r"write-ahead log: largest ([\d.]+) MB", output)
    assert largest and float(largest.group(1)) > 0, output  # the hub's SQLite is in WAL mode
    assert "database (sqlite): " in output


@pytest.mark.bench
def test_the_postgresql_soak_measures_the_database_as_postgresql_counts_it():
    server = os.environ.get("HUB_TEST_DATABASE_URL", "")
    if not server.startswith("postgresql"):
        pytest.skip("HUB_TEST_DATABASE_URL does not name a PostgreSQL server")
    output = _soak("--postgresql", HUB_BENCH_DATABASE_URL=server)  # the server the suite was given
    size = re.search(r"database \(postgresql, autovacuum (?:on|off)\): ([\d.]+) MB at the end", output)
    assert size and float(size.group(1)) > 5, output  # an empty PostgreSQL database alone is about 7 MB
    assert "write-ahead log" not in output
    sizes = re.search(r"database size every 10 s, MB: ([\d. ]+)", output)
    assert sizes and float(sizes.group(1).split()[0]) > 5, output  # sampled from PostgreSQL, not a file
    for table in ("deliveries", "inbox_items"):  # sampled every second in a smoke run (every minute else)
        rows = re.search(rf"{table} every 1 s, MB \(live rows\): ((?:[\d.]+ \(\d+\) ?)+)$", output, re.M)
        assert rows and len(re.findall(r"\(\d+\)", rows.group(1))) >= 2, output
