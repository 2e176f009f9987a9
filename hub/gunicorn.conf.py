"""gunicorn settings shared by `make run`, `make bench` and `hub web` (the Docker image): gunicorn reads
./gunicorn.conf.py from its working directory (in the source tree, a file that runs this one), and
`hub web` names this file; flags on the command line override these. gunicorn loads it as a file:
it imports nothing of the hub (the bench's bare-Flask baseline uses it too) until the app is loaded.

WEB_CONCURRENCY (or HUB_WEB_WORKERS) processes, HUB_WEB_THREADS threads each, plus the delivery
worker's process when HUB_WORKER_IN_WEB=1. The app is loaded once in the master before forking
(preload), so the workers share its memory pages. With HUB_WEB_CPU_AFFINITY=1 (the default) each
web process is kept on one CPU, spread evenly over the CPUs the master may use; with
HUB_WEB_SHARE_CONNECTIONS=1 (the default) a web process leaves new connections to a sibling that
holds fewer (ConnectionShare, below).
"""

import gc
import mmap
import os
import signal
import struct
import sys
import threading
import time


# Not hub.config's parser: importing any hub module loads the whole app package into the master,
# and this file also configures the bench's bare-Flask baseline (bench/trivial.py).
def _count(*names: str, default: int) -> int:
    """The first of these variables that is set, as a positive whole number; exit with a message if not."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                sys.exit(f"gunicorn.conf.py: {name} must be a positive whole number, not {value!r}")
            return int(value)
    return default


def _flag(name: str, default: bool = False) -> bool:
    """A yes/no variable: 1 or 0 (unset is the default); exit with a message otherwise."""
    value = os.environ.get(name, "").strip()
    if value not in ("", "0", "1"):
        sys.exit(f"gunicorn.conf.py: {name} must be 1 or 0, not {value!r}")
    return default if value == "" else value == "1"


def least_used_cpu(taken: list) -> int | None:
    """The CPU (of those this process may use) with the fewest workers in `taken`, lowest first;
    None on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return min(cpus, key=lambda cpu: (taken.count(cpu), cpu))


# HUB_WORKER_IN_WEB=1 (make run): one more slot, which runs the delivery worker (hub/gunicorn_worker.py).
worker_in_web = _flag("HUB_WORKER_IN_WEB")
workers = _count("WEB_CONCURRENCY", "HUB_WEB_WORKERS", default=2) + worker_in_web
threads = _count("HUB_WEB_THREADS", default=4)
worker_class = "hub.gunicorn_worker.HubWorker" if worker_in_web else "gthread"
# A web process's threads take turns on its interpreter lock: on one CPU the turn passes without
# waking another CPU, which left a fifth of the CPU idle under inbox load (issue 4, bench/README.md).
cpu_affinity = _flag("HUB_WEB_CPU_AFFINITY", default=True)
preload_app = True
timeout = 60
# Web processes share out connections (below): on by default, HUB_WEB_SHARE_CONNECTIONS=0 turns it off.
share_connections = _flag("HUB_WEB_SHARE_CONNECTIONS", default=True)
# gunicorn's control socket (for `gunicornc`, which can stop, reload and resize the server): off unless
# HUB_WEB_CONTROL_SOCKET names its path. gunicorn's default path is one per user ($HOME/.gunicorn, in
# the Docker image the data volume), shared by every gunicorn that user runs, and the master runs its
# server in a thread that it stops and starts again around every fork.
_control_path = os.environ.get("HUB_WEB_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_path
if _control_path:
    control_socket = _control_path

# Connections per web process, in memory shared by the master and its workers: one entry per slot,
# (the time of the process's last loop as time.monotonic(), its open connections). A slot whose
# time is older than STALE_SECONDS (gunicorn's loop comes round at least every second) is not counted.
SHARE_SLOTS = workers + 8  # room for replacements forked while old processes wind down
STALE_SECONDS = 3.0
_ENTRY = struct.Struct("dq")
_board = mmap.mmap(-1, SHARE_SLOTS * _ENTRY.size)  # anonymous and shared: forked workers see one board


def when_ready(server):
    """Before forking, do once in the master what each worker would otherwise repeat on its first
    requests (SQLAlchemy mappers, the URL router, translations, compiled templates), so the result
    is shared with the workers rather than built in each (issue 4: about 10 MB less in all)."""
    app = getattr(server.app, "callable", None)
    if not hasattr(app, "url_map"):  # not a preloaded Flask app
        return
    app.url_map.update()
    for name in app.jinja_env.list_templates(extensions=("html", "xml", "txt")):
        app.jinja_env.get_template(name)
    if "sqlalchemy" in app.extensions:
        from sqlalchemy.orm import configure_mappers  # already imported by the app

        configure_mappers()
    if "babel" in app.extensions:
        import flask_babel  # already imported by the app

        with app.app_context():
            languages = {str(locale) for locale in app.extensions["babel"].instance.list_translations()}
        for language in languages:
            with app.test_request_context(headers={"Accept-Language": language}):
                flask_babel.get_translations()
    if app.import_name == "hub":
        from hub import warmup  # the app package is loaded already

        warmup.warm_up(app)  # typical requests: their caches and specialised code shared too (~12 MB)


def pre_fork(server, worker):
    """Freeze what the preloaded app allocated: the workers' garbage collector then leaves those
    objects alone, so it does not write to (and so copy) the pages they share with the master.
    Choose the new worker's CPU (the one fewest live workers were given) and its entry on the
    connection board (one no live worker holds)."""
    gc.collect()
    gc.freeze()
    live = server.WORKERS.values()
    if cpu_affinity:
        worker.hub_cpu = least_used_cpu([getattr(other, "hub_cpu", None) for other in live])
    taken = {getattr(other, "hub_slot", None) for other in live}
    worker.hub_slot = next((slot for slot in range(SHARE_SLOTS) if slot not in taken), None)


def post_fork(server, worker):
    """Hold stop signals until the worker's own handlers are in place; keep the worker on its CPU;
    database connections the master may have opened while loading are not shared with workers."""
    hold_stop_signals(worker)
    cpu = getattr(worker, "hub_cpu", None)
    if cpu is not None:
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:  # e.g. a container that forbids it: the worker runs unpinned
            server.log.warning("could not keep worker %s on CPU %s: %s", os.getpid(), cpu, exc)
    app = getattr(server.app, "callable", None)
    extensions = getattr(app, "extensions", {})
    if "sqlalchemy" in extensions:
        with app.app_context():
            for engine in extensions["sqlalchemy"].engines.values():
                engine.dispose(close=False)


def post_worker_init(worker):
    """The worker takes its stop signals once, and any that came while it booted; a threaded web
    worker leaves new connections to a sibling holding fewer (see ConnectionShare)."""
    take_stop_signals(worker)
    share_connections_of(worker)


def take_stop_signals(worker) -> None:
    """Quit once however many quit signals come (quit_once), then take the stop signal that came
    while the worker booted (hold_stop_signals), now that gunicorn's handlers are in place."""
    quit_once(worker)
    if worker.hub_stop_signal is not None:
        os.kill(os.getpid(), worker.hub_stop_signal)


def share_connections_of(worker) -> None:
    """Install ConnectionShare on a threaded web worker that has gthread's internals."""
    if share_connections and getattr(worker, "hub_slot", None) is not None \
            and all(hasattr(worker, name) for name in ("set_accept_enabled", "method_queue", "nr_conns")):
        ConnectionShare(worker).install()


def hold_stop_signals(worker) -> None:
    """Until the worker installs its own handlers, remember SIGTERM, SIGINT or SIGQUIT instead of
    losing it: the master's handlers, inherited through fork, took it, and a worker stopped while it
    booted served on until the master's SIGKILL, graceful_timeout (30 s) later."""
    worker.hub_stop_signal = None

    def remember(sig, frame):
        worker.hub_stop_signal = sig

    for stop_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(stop_signal, remember)


def quit_once(worker) -> None:
    """Run the worker's quit handler for the first SIGINT or SIGQUIT only. Ctrl-C reaches every process
    of the terminal's group, and the master then sends each worker SIGQUIT as well. When the second
    signal came while gthread's handler held its thread pool's shutdown lock, the handler ran again
    inside itself, waited for that lock forever, and the master killed the worker 30 s later (2 of 4
    Ctrl-Cs of `make run`, "Worker was sent SIGKILL! Perhaps out of memory?")."""
    handle, quitting = worker.handle_quit, False

    def handle_once(sig, frame):
        nonlocal quitting
        if not quitting:
            quitting = True
            handle(sig, frame)

    for quit_signal in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(quit_signal, handle_once)


class ConnectionShare:
    """Keeps a gthread worker from taking more than its share of connections.

    Every web process is offered every new connection, and the first to call accept() keeps it for
    as long as the client keeps it alive. Load generators and reverse proxies open their
    connections all at once and keep them: one process could hold 18 of 20 and saturate its CPU
    (each process is kept on one CPU) while the other idled (issue 4: inbox rate 0.34 instead of
    0.41). Here a process stops accepting while it holds more than SLACK connections beyond the
    least loaded live sibling, which then accepts them. A process that stopped looks again every
    RECHECK_SECONDS (gthread's loop would otherwise sleep until its next event, up to a second),
    so that whichever process is least loaded at the moment accepts.
    """

    SLACK = 1
    RECHECK_SECONDS = 0.005

    def __init__(self, worker):
        self.worker, self.slot, self.serving = worker, worker.hub_slot, False
        self.accept, self.enable, self.notify = worker.accept, worker.set_accept_enabled, worker.notify
        self.recheck, self.rechecker = threading.Event(), None

    def install(self) -> None:
        """Wrap the worker's accept, accept switch and heartbeat (gthread calls them each loop)."""
        self.worker.accept, self.worker.set_accept_enabled = self.fair_accept, self.fair_enable
        self.worker.notify = self.heartbeat

    def heartbeat(self) -> None:
        """gunicorn's heartbeat, and this process's connections on the board (cleared once it stops)."""
        self.notify()
        serving = self.serving and self.worker.alive
        _ENTRY.pack_into(_board, self.slot * _ENTRY.size, time.monotonic() if serving else 0.0,
                         self.worker.nr_conns if serving else 0)

    def fair_enable(self, enabled: bool) -> None:
        """Accept (when gthread would) only while this process holds no more than its share."""
        self.serving = True  # gthread's loop calls this first: the process serves HTTP
        wanted = enabled and self.worker.alive
        fair = not wanted or self.fair()
        self.enable(wanted and fair)
        if not fair:
            self.recheck_soon()

    def fair_accept(self, listener) -> None:
        """Accept one connection, or stop accepting until a sibling has caught up."""
        if self.fair():
            self.accept(listener)
        else:
            self.enable(False)
            self.recheck_soon()

    def recheck_soon(self) -> None:
        """Wake gthread's loop shortly: on waking it asks fair_enable again whether to accept."""
        if self.rechecker is None:  # one thread for the process's rechecks, started when first needed
            self.rechecker = threading.Thread(target=self.wake_when_asked, name="rechecks", daemon=True)
            self.rechecker.start()
        self.recheck.set()

    def wake_when_asked(self) -> None:
        """RECHECK_SECONDS after each request for a recheck, an empty call through gthread's queue,
        which wakes its loop (not once the process is stopping: gthread closes that queue's pipe on
        its way out)."""
        while self.recheck.wait():
            time.sleep(self.RECHECK_SECONDS)
            self.recheck.clear()  # asked again meanwhile: this wake answers that too
            if not self.worker.alive:
                return
            self.worker.method_queue.defer(lambda: None)

    def fair(self) -> bool:
        """False while a live sibling holds more than SLACK fewer connections than this process."""
        now, mine = time.monotonic(), self.worker.nr_conns
        for slot in range(SHARE_SLOTS):
            if slot != self.slot:
                seen, connections = _ENTRY.unpack_from(_board, slot * _ENTRY.size)
                if now - seen < STALE_SECONDS and connections + self.SLACK < mine:
                    return False
        return True
