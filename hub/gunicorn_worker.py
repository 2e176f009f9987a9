"""One machine, one process tree: a gunicorn worker class whose one extra slot runs the delivery
worker instead of serving HTTP (`HUB_WORKER_IN_WEB=1`, what `make run` uses).

Forked from the preloaded master like the web workers, the delivery loop shares the app's memory
pages with them instead of loading its own interpreter, SQLAlchemy and app (issue 4: about 50 MB
less). gunicorn's arbiter supervises it as any worker: one that dies is forked again. Which slot
delivers is decided by a lock file: the first worker to hold it delivers; the lock is released when
that process ends, so its replacement takes it; a web slot that finds the lock free (after a
reload, the old delivery slot ended after the new slots had started) ends itself so that its
replacement delivers. Larger installs keep separate `hub worker` processes (docker-compose), as
the embedded slot is one process on one machine.

gunicorn.conf.py keeps each slot on one CPU (HUB_WEB_CPU_AFFINITY) without knowing which slot will
deliver: the delivery slot may use every CPU again, and a web slot that finds an older web slot on
its CPU moves to a CPU no web slot uses, if there is one.
"""

import fcntl
import os
import signal
import threading
import time
from pathlib import Path

from gunicorn.workers.gthread import ThreadWorker

from hub import worker  # in the master, before forking: the delivery slot shares its pages too

HEARTBEAT_SECONDS = 5.0
LOCK_NAME = "delivery-worker.lock"


class HubWorker(ThreadWorker):
    """gthread for the web slots; the slot holding the lock runs hub.worker.run_forever()."""

    def run(self):
        """Serve HTTP, or deliver when this process takes the delivery lock (not when stopped already)."""
        if not self.alive:  # a stop signal came while it booted (gunicorn.conf.py's hold_stop_signals)
            return
        app = self.wsgi
        path = os.path.join(app.instance_path, LOCK_NAME)
        lock = _take_lock(path)
        if lock is None:
            settle_web_slot_cpu(self.ppid, delivering_pid(app.instance_path))
            threading.Thread(target=self._watch_lock, args=(path,), daemon=True).start()
            return super().run()
        try:
            _set_cpus(os.getpid(), os.sched_getaffinity(self.ppid))  # delivery: every CPU the master has
            self._deliver(app)
        finally:
            os.close(lock)

    def _watch_lock(self, path: str) -> None:
        """Nobody delivers (its process ended while this tree's slots started, e.g. after a reload):
        hold the lock and end this web process gracefully; its replacement takes the lock."""
        while self.alive:
            time.sleep(HEARTBEAT_SECONDS)
            settle_web_slot_cpu(self.ppid, delivering_pid(os.path.dirname(path)))  # slots forked since
            lock = _take_lock(path)
            if lock is not None:
                self.log.info("no process delivers: this web process stops so that its replacement does")
                self.alive = False  # the lock stays held until this process ends
                return

    def _deliver(self, app) -> None:
        for listener in self.sockets:  # this slot never accepts; the web slots take every connection
            listener.close()
        beating = threading.Event()
        heartbeat = threading.Thread(target=self._beat, args=(beating,), daemon=True)
        heartbeat.start()
        try:
            with app.app_context():
                worker.run_forever()  # SIGTERM (gunicorn's graceful stop) finishes the batch in flight
        finally:
            beating.set()

    def _beat(self, stop: threading.Event) -> None:
        """Tell the arbiter this slot is alive (it kills a worker silent for `timeout` seconds);
        stop as gunicorn's own workers do when the arbiter is gone (killed, not stopped)."""
        while not stop.wait(HEARTBEAT_SECONDS):
            if os.getppid() != self.ppid:
                self.log.info("the gunicorn master is gone: stopping delivery")
                os.kill(os.getpid(), signal.SIGTERM)  # run_forever finishes the batch in flight, then returns
                return
            self.notify()


def settle_web_slot_cpu(master: int, delivering: int | None) -> None:
    """Move this web slot off its CPU when an older web slot shares it and a CPU has no web slot."""
    mine = os.sched_getaffinity(0)
    if len(mine) != 1:
        return  # not kept on one CPU (HUB_WEB_CPU_AFFINITY=0, or a single CPU)
    me = os.getpid()
    web = {pid: cpus for pid in children(master) if pid not in (me, delivering)
           if len(cpus := _cpus_of(pid)) == 1}
    my_age = _age(me)
    if not any(cpus == mine and _age(pid) < my_age for pid, cpus in web.items()):
        return
    free = sorted(os.sched_getaffinity(master) - set().union(*web.values()))
    if free:
        _set_cpus(me, {free[0]})


def children(pid: int) -> list[int]:
    """Direct children of a process (none where /proc does not list them)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _age(pid: int) -> tuple[int, int]:
    """When the process started (clock ticks since boot), then its pid: older sorts first."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]), pid
    except (OSError, IndexError, ValueError):  # ended meanwhile
        return 0, pid


def _cpus_of(pid: int) -> set[int]:
    try:
        return os.sched_getaffinity(pid)
    except OSError:  # ended meanwhile
        return set()


def _set_cpus(pid: int, cpus: set[int]) -> None:
    """Every thread of the process (Linux sets the CPUs of one thread at a time)."""
    try:
        for thread in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(thread), cpus)
    except OSError:  # not allowed here (some containers), or the thread ended: left where it is
        pass


def _take_lock(path: str) -> int | None:
    """An open descriptor holding an exclusive lock on path, or None when another process holds it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, str(os.getpid()).encode())  # who delivers, for operators and the benchmark
    return descriptor


def delivering_pid(instance_dir) -> int | None:
    """The pid the delivery slot wrote into the lock file (that process may have ended since), or None."""
    try:
        text = Path(instance_dir, LOCK_NAME).read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None
