"""Stop signals stop the web processes at once.

Ctrl-C reaches every process of the terminal's group, and gunicorn's master then sends each worker
SIGQUIT too. A second quit signal that arrived while
gthread's quit handler held its thread pool's shutdown lock ran the handler again inside itself,
which waited for that lock forever: the master killed the worker 30 s later (2 of 4 Ctrl-Cs of
`make run`). Here the second signal is made to arrive exactly there, in gthread's real handler.

A stop signal that came after a worker was forked but before gunicorn had installed its handlers
was taken by the master's handlers, inherited through fork: the worker served on until the master's
SIGKILL, 30 s later (a test of `hub web` that stopped it as soon as its second process existed
failed so, about one run in twenty on a loaded machine)."""

import subprocess
import sys
import textwrap

from hub.console import GUNICORN_SETTINGS

# A gthread worker as gunicorn builds it, as far as its quit handler goes, with the hub's
# post_worker_init; its thread pool's queue raises the second signal inside the shutdown lock.
WORKER = textwrap.dedent(f"""
    import importlib.util, os, queue, signal, sys, time
    from concurrent.futures import ThreadPoolExecutor
    from gunicorn.config import Config
    from gunicorn.workers.gthread import ThreadWorker

    class SignalsOnPut(queue.SimpleQueue):
        def put(self, item, block=True, timeout=None):
            os.kill(os.getpid(), signal.SIGQUIT)  # the master's SIGQUIT, just after the terminal's SIGINT
            super().put(item)

    spec = importlib.util.spec_from_file_location("settings", {str(GUNICORN_SETTINGS)!r})
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    worker = ThreadWorker.__new__(ThreadWorker)
    worker.cfg, worker.alive, worker.tpool = Config(), True, ThreadPoolExecutor(1)
    worker.tpool._work_queue = SignalsOnPut()
    if sys.argv[1] == "hub":
        settings.post_worker_init(worker)
    else:  # gunicorn's own handlers, as its init_signals installs them
        signal.signal(signal.SIGINT, worker.handle_quit)
        signal.signal(signal.SIGQUIT, worker.handle_quit)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)
    sys.exit(3)  # the quit handler never ended the process
""")


def _quit(handlers: str, seconds: float) -> int | None:
    """The exit status of the worker after Ctrl-C, or None when it still runs after `seconds`."""
    try:
        return subprocess.run([sys.executable, "-c", WORKER, handlers], capture_output=True,
                              timeout=seconds).returncode
    except subprocess.TimeoutExpired:
        return None


def test_a_second_quit_signal_inside_the_first_does_not_hang_the_worker():
    assert _quit("hub", seconds=30) == 0  # it ends within a second; the rest is slack


def test_without_the_hubs_handler_the_same_signals_hang_gthread():
    assert _quit("gunicorn", seconds=5) is None  # so the test above reproduces the hang it guards against


# A worker stopped while it boots: the signal comes after fork, before gunicorn's own handlers.
BOOTING = textwrap.dedent(f"""
    import importlib.util, os, signal, sys
    from gunicorn.config import Config
    from gunicorn.glogging import Logger
    from gunicorn.workers.gthread import ThreadWorker

    spec = importlib.util.spec_from_file_location("settings", {str(GUNICORN_SETTINGS)!r})
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    config = Config()
    worker = ThreadWorker(1, os.getppid(), [], None, 30, config, Logger(config))
    signal.signal(signal.SIGTERM, lambda sig, frame: None)  # the master's handler, inherited through fork
    if sys.argv[1] == "hub":
        settings.hold_stop_signals(worker)  # what the hub's post_fork does
    os.kill(os.getpid(), signal.SIGTERM)  # e.g. `docker compose stop` just after the start
    worker.PIPE = os.pipe()  # what gunicorn's init_process does next, as far as the signals need it
    for end in worker.PIPE:
        os.set_blocking(end, False)
    worker.method_queue.init()
    worker.init_signals()
    if sys.argv[1] == "hub":
        settings.post_worker_init(worker)
    print("stops" if not worker.alive else "serves on")
""")


def _booting(handlers: str) -> str:
    """What became of a worker stopped while it booted, with these handlers."""
    done = subprocess.run([sys.executable, "-c", BOOTING, handlers], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_stop_signal_that_comes_while_the_worker_boots_stops_it():
    assert _booting("hub") == "stops"


def test_without_the_hubs_settings_that_signal_is_lost():
    assert _booting("gunicorn") == "serves on"
