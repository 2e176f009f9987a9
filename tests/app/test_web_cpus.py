"""gunicorn.conf.py keeps each web process on one CPU (HUB_WEB_CPU_AFFINITY, on unless 0): real
gunicorn with the bare app of the benchmarks, which reads the same configuration."""

import os
import signal
import subprocess
import sys

import pytest
from gunicorn_support import GUNICORN, ROOT
from polling import wait_for

from hub.gunicorn_worker import children

CPUS = os.sched_getaffinity(0)
several_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs or more")


def _gunicorn(workers: int, cpus: set[int] | None = None, **env):
    """gunicorn with `workers` web processes on a free port, its master limited to `cpus`."""
    return subprocess.Popen(
        [GUNICORN, "--workers", str(workers), "--bind", "127.0.0.1:0", "bench.trivial:app"], cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "HUB_WEB_CPU_AFFINITY"}, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)


@pytest.fixture
def start():
    """Start gunicorn (see _gunicorn); stopped at the end of the test."""
    started = []

    def run(workers: int, cpus: set[int] | None = None, **env):
        proc = _gunicorn(workers, cpus, **env)
        started.append(proc)
        wait_for(lambda: len(children(proc.pid)) == workers, f"{workers} gunicorn workers")
        return proc

    yield run
    for proc in started:
        proc.terminate()
        proc.wait(30)


def _cpus(pids) -> list[set[int]]:
    return [os.sched_getaffinity(pid) for pid in pids]


def _spread(pids) -> bool:
    """Each process on one CPU, no two on the same one."""
    cpus = _cpus(pids)
    return all(len(one) == 1 for one in cpus) and len(set().union(*cpus)) == len(cpus)


@several_cpus
def test_web_processes_are_spread_over_the_cpus_and_a_replacement_takes_the_free_one(start):
    proc = start(2)
    first = children(proc.pid)
    wait_for(lambda: _spread(first), "each worker on its own CPU")
    killed, kept = first
    freed = os.sched_getaffinity(killed)
    os.kill(killed, signal.SIGKILL)
    replacement = wait_for(lambda: [pid for pid in children(proc.pid) if pid not in first],
                           "gunicorn to fork a replacement")[0]
    assert wait_for(lambda: os.sched_getaffinity(replacement) == freed and replacement,
                    "the replacement on the CPU its predecessor had")
    assert _spread([kept, replacement])


@several_cpus
def test_more_web_processes_than_cpus_share_them_evenly(start):
    two = set(sorted(CPUS)[:2])  # the master limited to two CPUs, however many the machine has
    proc = start(4, cpus=two)
    pids = children(proc.pid)
    wait_for(lambda: all(len(one) == 1 for one in _cpus(pids)), "every worker on one CPU")
    assert sorted(min(one) for one in _cpus(pids)) == sorted([*two, *two])


def test_with_affinity_off_or_one_cpu_workers_use_what_the_master_has(start):
    proc = start(2, HUB_WEB_CPU_AFFINITY="0")
    assert _cpus(children(proc.pid)) == [CPUS, CPUS]
    one = {min(CPUS)}
    proc = start(2, cpus=one)
    assert _cpus(children(proc.pid)) == [one, one]


SLOT = """
import os, sys
from hub.gunicorn_worker import settle_web_slot_cpu
os.sched_setaffinity(0, {%d})
print("ready", flush=True)
sys.stdin.readline()
settle_web_slot_cpu(os.getppid(), delivering=None)
print(min(os.sched_getaffinity(0)), flush=True)
sys.stdin.readline()  # stays alive, a sibling of the next to settle, until closed
"""


def _slot(cpu: int) -> subprocess.Popen:
    """A stand-in web slot, a child of this process (its "master"), kept on `cpu` until told to settle."""
    proc = subprocess.Popen([sys.executable, "-c", SLOT % cpu], cwd=ROOT, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline() == "ready\n"
    return proc


def _settle(proc: subprocess.Popen) -> int:
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return int(proc.stdout.readline())


@several_cpus
def test_a_web_slot_sharing_a_cpu_with_an_older_one_moves_to_a_free_cpu():
    """As after a reload, when the master gave two web slots the CPU the delivery slot then left."""
    busy, free = sorted(CPUS)[:2]
    older = _slot(busy)
    younger = _slot(busy)
    try:
        assert _settle(older) == busy  # no older slot shares its CPU: it stays
        assert _settle(younger) == free
    finally:
        for proc in (older, younger):
            proc.kill()
            proc.wait()
