"""gunicorn settings shared by `make run`, the Docker image and `make bench`: gunicorn reads
./gunicorn.conf.py from its working directory; flags on the command line override these.

WEB_CONCURRENCY (or HUB_WEB_WORKERS) processes, HUB_WEB_THREADS threads each, plus the delivery
worker's process when HUB_WORKER_IN_WEB=1. The app is loaded once in the master before forking
(preload), so the workers share its memory pages. With HUB_WEB_CPU_AFFINITY=1 (the default) each
web process is kept on one CPU, spread evenly over the CPUs the master may use.
"""

import gc
import os
import sys


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
    Choose the new worker's CPU: the one fewest live workers were given."""
    gc.collect()
    gc.freeze()
    if cpu_affinity:
        worker.hub_cpu = least_used_cpu([getattr(live, "hub_cpu", None) for live in server.WORKERS.values()])


def post_fork(server, worker):
    """Keep the worker on its CPU; database connections the master may have opened while loading
    are not shared with workers."""
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
