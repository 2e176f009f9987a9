"""Stop signals stop the web processes at once.

Ctrl-C reaches every process of the terminal's group, and gunicorn's master then sends each worker
SIGQUIT too. A second quit signal that arrived while gthread's quit handler held its thread pool's
shutdown lock ran the handler again inside itself, which waited for that lock forever: the master
killed the worker 30 s later (2 of 4 Ctrl-Cs of `make run`). Here the second signal is made to
arrive exactly there, in gthread's real handler.

A stop signal that came after a worker was forked but before gunicorn had installed its handlers
was taken by the master's handlers, inherited through fork: the worker served on until the master's
SIGKILL, 30 s later (a test of `hub web` that stopped it as soon as its second process existed
failed so, about one run in twenty on a loaded machine).

Each case runs in a process of its own: a real gthread worker, gunicorn's own handlers, and, with
"hub", the hub's two hooks where gunicorn calls them (post_fork, then post_worker_init)."""

import subprocess
import sys
import textwrap

from hub.console import GUNICORN_SETTINGS

FORKED = textwrap.dedent(f"""
    import importlib.util, os, queue, signal, sys, time
    from concurrent.futures import ThreadPoolExecutor
    from gunicorn.config import Config
    from gunicorn.glogging import Logger
    from gunicorn.workers.gthread import ThreadWorker

    spec = importlib.util.spec_from_file_location("settings", {str(GUNICORN_SETTINGS)!r})
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    hub = sys.argv[1] == "hub"
    config = Config()
    worker = ThreadWorker(1, os.getppid(), [], None, 30, config, Logger(config))
    signal.signal(signal.SIGTERM, lambda sig, frame: None)  # the master's handler, inherited through fork
    if hub:
        settings.hold_stop_signals(worker)  # what the hub's post_fork does first


    def boot():
        worker.PIPE = os.pipe()  # what gunicorn's init_process does, as far as the signals need it
        for end in worker.PIPE:
            os.set_blocking(end, False)
        worker.method_queue.init()
        worker.init_signals()
        if hub:
            settings.post_worker_init(worker)
""")

# Ctrl-C: the terminal's SIGINT, then the master's SIGQUIT inside the thread pool's shutdown lock.
CTRL_C = FORKED + textwrap.dedent("""
    class SignalsOnPut(queue.SimpleQueue):
        def put(self, item, block=True, timeout=None):
            os.kill(os.getpid(), signal.SIGQUIT)
            super().put(item)

    boot()
    worker.tpool = ThreadPoolExecutor(1)
    worker.tpool._work_queue = SignalsOnPut()
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
    sys.exit(3)  # the quit handler never ended the process
""")

# Stopped while it boots, e.g. `docker compose stop` just after the start.
STOPPED_BOOTING = FORKED + textwrap.dedent("""
    os.kill(os.getpid(), signal.SIGTERM)
    boot()
    print("stops" if not worker.alive else "serves on")
""")


def _run(script: str, handlers: str, seconds: float) -> subprocess.CompletedProcess | None:
    """The worker process's outcome, or None when it still runs after `seconds`."""
    try:
        return subprocess.run([sys.executable, "-c", script, handlers], capture_output=True, text=True,
                              timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


def _booting(handlers: str) -> str:
    """What became of a worker stopped while it booted, with these handlers."""
    done = _run(STOPPED_BOOTING, handlers, seconds=60)
    assert done is not None and done.returncode == 0, done and done.stderr
    return done.stdout.strip()


def test_a_second_quit_signal_inside_the_first_does_not_hang_the_worker():
    done = _run(CTRL_C, "hub", seconds=30)  # it ends within a second; the rest is slack
    assert done is not None and done.returncode == 0, done and done.stderr


def test_without_the_hubs_handler_the_same_signals_hang_gthread():
    assert _run(CTRL_C, "gunicorn", seconds=5) is None  # so the test above reproduces the hang it guards


def test_a_stop_signal_that_comes_while_the_worker_boots_stops_it():
    assert _booting("hub") == "stops"


def test_without_the_hubs_settings_that_signal_is_lost():
    assert _booting("gunicorn") == "serves on"
