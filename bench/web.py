"""Benchmarks 2 (inbox), 3 (read path) and 4 (memory): the hub under gunicorn, loaded by wrk,
each against a bare Flask app on the same gunicorn configuration measured in the same run."""

import json
import subprocess
import sys
import time

from sqlalchemy import delete, func, insert, select, text, update

from bench.common import DOMAIN, Figure, HubEnv, SinkProcess, median, median_item
from bench.fanout import PeakPss, fan_out_once, free_port, start_workers
from bench.httpload import (
    WEB_WORKERS,
    Gunicorn,
    Unavailable,
    burst,
    cpu_seconds,
    pss_breakdown,
    pss_kb,
    replay,
    wrk,
)
from bench.network import build
from bench.sinks import Behaviour
from federation.signatures import Signer, generate_key_pair
from hub import gunicorn_worker
from hub.extensions import db
from hub.models import Actor, InboxItem
from hub.models.base import utcnow
from hub.services import orgs, posts

__all__ = ["Unavailable", "inbox", "memory", "read_path"]
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
P99_TARGET = 0.025


def _remote_actors(count: int) -> list[tuple[str, Signer]]:
    """Remote actors whose keys the hub has cached: (actor id, Signer with their loaded key)."""
    actors, rows = [], []
    for n in range(count):
        private_pem, public_pem = generate_key_pair()
        uri = f"https://peer{n}.example/users/a{n}"
        actors.append((uri, Signer(f"{uri}#main-key", private_pem)))
        rows.append({"type": "Person", "handle": f"a{n}", "domain": f"peer{n}.example", "uri": uri,
                     "inbox": f"{uri}/inbox", "shared_inbox": f"https://peer{n}.example/inbox",
                     "key_id": f"{uri}#main-key", "public_key_pem": public_pem, "fetched_at": utcnow(),
                     "name": "", "bio_lo": "", "bio_en": "", "summary_html": "", "gone": False,
                     "manually_approves_followers": False, "discoverable": False, "show_follows": False,
                     "requires_review": False, "default_language": "lo", "suspended": False})
    db.session.execute(insert(Actor), rows)
    db.session.commit()
    return actors


def _signed_requests(path, actors, count: int, start: int, url: str) -> None:
    """Write `count` distinct pre-signed Create{Note} POSTs (date, digest, signature, body per line)."""
    with open(path, "w") as out:
        for n in range(start, start + count):
            uri, signer = actors[n % len(actors)]
            host = uri.split("/")[2]
            note = {"id": f"https://{host}/notes/{n}", "type": "Note", "attributedTo": uri, "to": [PUBLIC],
                    "content": f"<p>ຂ່າວ {n}: ນ້ຳຖ້ວມ news from a peer</p>", "published": "2026-01-01T00:00:00Z"}
            activity = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"https://{host}/create/{n}",
                        "type": "Create", "actor": uri, "to": [PUBLIC], "object": note}
            body = json.dumps(activity, separators=(",", ":")).encode()
            headers = signer.sign("POST", url, body=body,
                                  headers={"Content-Type": "application/activity+json"})
            out.write(f"{headers['Date']}\t{headers['Digest']}\t{headers['Signature']}\t{body.decode()}\n")


def _stored() -> int:
    count = db.session.scalar(select(func.count()).select_from(InboxItem))
    db.session.rollback()
    return count or 0


def _mark_all_done() -> None:
    """The steady phase's items are set aside (done) so that the burst is timed on its own."""
    db.session.execute(update(InboxItem).where(InboxItem.state == "queued").values(state="done"))
    db.session.commit()


def inbox(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 2: signed, distinct Creates replayed at the shared inbox, alternating with the
    trivial endpoint, `runs` times (the table emptied before each); then a burst sent in full while
    the usual workers (one per core) process the queue."""
    seconds, burst_size = (2, 300) if smoke else (5, 10_000)
    env = HubEnv()
    web = trivial = None
    workers = []
    try:
        signers = _remote_actors(5 if smoke else 50)
        url = f"http://{DOMAIN}/inbox"
        steady = env.workdir / "steady.tsv"
        _signed_requests(steady, signers, 10_000 if smoke else 30_000, 0, url)  # more than a hub run takes
        burst_file = env.workdir / "burst.tsv"
        _signed_requests(burst_file, signers, burst_size, 1_000_000, url)
        trivial = Gunicorn("bench.trivial:app", env.env)
        web = Gunicorn("hub.wsgi:app", env.env)
        steady_runs = [_steady_run(trivial, web, steady, seconds) for _ in range(runs)]
        trivial.stop()
        trivial = None
        _mark_all_done()
        stored = _stored()
        workers = start_workers(env)
        started = time.monotonic()
        sent = burst(web.url, "/inbox", burst_file, DOMAIN, env.workdir)
        while _queued_items() and time.monotonic() - started < 60:
            time.sleep(0.05)
        processed_in = time.monotonic() - started
        burst_stored = _stored() - stored
        burst_ok = (sent["finished"] and sent["answered"] == burst_size and not sent["server_errors"]
                    and not sent["socket_errors"])
        return [*_steady_figures(steady_runs),
                Figure("inbox", f"burst of {burst_size} (100 connections): 5xx answers",
                       sent["server_errors"], "answers", f"none, and all {burst_size} answered", burst_ok,
                       note=f"{sent['answered']} answered, the last after {sent['seconds']:.2f} s "
                            f"({sent['answered'] / max(sent['seconds'], 1e-9):.0f}/s); "
                            f"{sent['accepted']} accepted, "
                            f"{burst_stored} stored, {sent['socket_errors']} socket errors"),
                Figure("inbox", "burst processed, from its first request", processed_in, "s", "≤ 10 s",
                       processed_in <= 10 and burst_stored == sent["accepted"],
                       note=f"{burst_stored} items; {len(workers)} `hub worker` processes (one per core, db "
                            f"{env.database.kind}) running during the burst; the items of the steady "
                            "phase were set done beforehand")]
    finally:
        for proc in workers:
            proc.terminate()
        for server in (web, trivial):
            if server:
                server.stop()
        env.close()


def _steady_run(trivial: Gunicorn, web: Gunicorn, requests_file, seconds: int) -> dict:
    """One replay at the trivial endpoint, then one at the hub's shared inbox (emptied first)."""
    base, _ = replay(trivial.url, "/inbox", requests_file, DOMAIN, connections=20, seconds=seconds)
    _empty_inbox()
    result, counters = replay(web.url, "/inbox", requests_file, DOMAIN, connections=20, seconds=seconds)
    time.sleep(1)  # requests wrk cut off at its end are still answered (and stored) meanwhile
    rate = counters["accepted"] / max(result.requests, 1) * result.rate
    return {"base": base, "result": result, "counters": counters, "rate": rate, "ratio": rate / base.rate,
            "stored": _stored()}


def _empty_inbox() -> None:
    """Empty the inbox table before a replay of the same activities. On PostgreSQL with TRUNCATE:
    after a DELETE, the unique index still holds the removed rows' entries until vacuum, and every
    replayed id would be checked against them, which no live inbox sees."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE inbox_items"))
    else:
        db.session.execute(delete(InboxItem))
    db.session.commit()


def _steady_figures(runs: list[dict]) -> list[Figure]:
    """The steady phase's figures: the run of median ratio, the median p99s, and every run's check
    of stored = accepted."""
    middle = median_item(runs, key=lambda r: r["ratio"])
    ratio, rate, base_rate = middle["ratio"], middle["rate"], middle["base"].rate
    p99, base_p99 = median(r["result"].p99 for r in runs), median(r["base"].p99 for r in runs)
    extra = [r["stored"] - r["counters"]["accepted"] for r in runs]
    errors = sum(r["counters"]["server_errors"] + r["result"].errors for r in runs)
    wrapped = any(r["counters"]["wrapped"] for r in runs)
    return [
        Figure("inbox", "accepted, verified, stored per second (20 connections)", rate, "req/s",
               "≥ 0.45× the trivial endpoint", ratio >= 0.45, base_rate,
               "trivial POST endpoint, same gunicorn", ratio, runs=[r["ratio"] for r in runs],
               note=f"the run of median ratio of {len(runs)} alternating runs (ratios listed); accepted "
                    f"{[r['counters']['accepted'] for r in runs]}, stored {[r['stored'] for r in runs]}, "
                    f"{errors} 5xx or socket errors, replayed set wrapped: {wrapped}"),
        Figure("inbox", "stored minus accepted, no errors", max(extra), "items",
               "0 to 20 in every run (requests wrk cut off at its end), no 5xx or socket errors",
               all(0 <= n <= 20 for n in extra) and not errors and not wrapped, note=f"per run {extra}"),
        Figure("inbox", "p99 latency at 20 connections", p99 * 1000, "ms", "≤ 25 ms", p99 <= P99_TARGET,
               base_p99 * 1000, "trivial endpoint p99", p99 / base_p99,
               runs=[r["result"].p99 * 1000 for r in runs]),
    ]


def _queued_items() -> int:
    count = db.session.scalar(select(func.count()).select_from(InboxItem).where(InboxItem.state == "queued"))
    db.session.rollback()
    return count or 0


def _posts(handle: str, count: int):
    org = orgs.create_org(handle, "ອົງການ Bench")
    for n in range(count):
        posts.publish_as_operator(org, f"ຂ່າວສານ {n}: #ນ້ຳຖ້ວມ ກະລຸນາຍ້າຍໄປບ່ອນສູງ. Update {n} https://example.org/{n}",
                                  language="lo")
    return org


def _bare_python_kb() -> int:
    """PSS of an idle process that imported Flask: the bare counterpart of the delivery worker."""
    proc = subprocess.Popen([sys.executable, "-c", "import flask, time; time.sleep(30)"])
    time.sleep(1.5)
    kb = pss_kb(proc.pid)
    proc.kill()
    proc.wait()
    return kb


READ_TARGETS = [("actor JSON", "/actors/{handle}", "application/activity+json", 0.8),
                ("outbox page 1", "/actors/{handle}/outbox?page=1", "application/activity+json", 0.4),
                ("profile page", "/@{handle}", "text/html", 0.4)]
READ_SECONDS = 10  # per run: the default 3 runs give each target the 30 s under load


def _read_round(web: Gunicorn, handle: str, seconds: int, base) -> dict:
    """Each read target for `seconds` at 64 connections: {"base": the trivial endpoint's result it is
    compared with, target name: (its result, CPU seconds per web worker)}."""
    found = {"base": base}
    for name, path, accept, _ in READ_TARGETS:
        before = {pid: cpu_seconds(pid) for pid in web.workers()}
        result = wrk(web.url + path.format(handle=handle), connections=64, seconds=seconds,
                     headers={"Host": DOMAIN, "Accept": accept})
        found[name] = result, [round(cpu_seconds(pid) - used, 1) for pid, used in before.items()]
    return found


def _read_figures(rounds: list[dict], cached: bool) -> list[Figure]:
    """Each read target: the run of median ratio to its round's trivial endpoint, the median p99,
    errors of every run; judged when the public cache is on, reported when off."""
    figures = []
    for name, _, _, share in READ_TARGETS:
        runs = [{"result": found[name][0], "cpu": found[name][1], "base": found["base"],
                 "ratio": found[name][0].rate / found["base"].rate} for found in rounds]
        middle = median_item(runs, key=lambda run: run["ratio"])
        p99, base_p99 = median(r["result"].p99 for r in runs), median(r["base"].p99 for r in runs)
        non_2xx, errors = sum(r["result"].non_2xx for r in runs), sum(r["result"].errors for r in runs)
        ok = middle["ratio"] >= share and p99 <= P99_TARGET and not non_2xx and not errors
        label = f"{name} (64 connections)" if cached else f"{name}, public cache off (64 connections)"
        p99s = [round(r["result"].p99 * 1000, 1) for r in runs]
        which = f"the run of median ratio of {len(runs)} (ratios listed)" if len(runs) > 1 else "one run"
        note = (f"{which}; median p99 {p99 * 1000:.1f} ms "
                f"(runs {p99s}; trivial {base_p99 * 1000:.1f} ms); non-2xx {non_2xx}; "
                f"socket errors {errors}; CPU s per web worker {[r['cpu'] for r in runs]}")
        figures.append(Figure("read", label, middle["result"].rate, "req/s",
                              f"≥ {share}× trivial, p99 ≤ 25 ms, no errors" if cached
                              else "none (how the app itself does, for comparison)",
                              ok if cached else None, middle["base"].rate, "trivial endpoint, same gunicorn",
                              middle["ratio"], runs=[r["ratio"] for r in runs], note=note))
    return figures


def read_path(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 3: actor JSON, outbox page 1 and the profile page under 64 connections, `runs`
    rounds each beginning with the trivial endpoint, with the public cache as configured by
    default; then one round without the cache (reported, not judged)."""
    seconds = 1 if smoke else READ_SECONDS
    env = HubEnv()
    servers = []
    try:
        handle = _posts("reader", 50 if smoke else 1000).handle
        trivial = Gunicorn("bench.trivial:app", env.env)
        servers.append(trivial)
        web = Gunicorn("hub.wsgi:app", env.env)
        servers.append(web)
        rounds = [_read_round(web, handle, seconds, wrk(trivial.url + "/", connections=64, seconds=seconds))
                  for _ in range(runs)]
        web.stop()
        trivial.stop()
        uncached = Gunicorn("hub.wsgi:app", {**env.env, "HUB_PUBLIC_CACHE_SECONDS": "0"})
        servers.append(uncached)
        base = median_item([found["base"] for found in rounds], key=lambda result: result.rate)
        return (_read_figures(rounds, cached=True)
                + _read_figures([_read_round(uncached, handle, seconds, base)], cached=False))
    finally:
        for server in servers:
            server.stop()
        env.close()


def memory(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 4: PSS at rest of the web tier (gunicorn master and workers) plus one delivery
    worker, as `make run` runs it (a gunicorn slot forked from the loaded app, HUB_WORKER_IN_WEB=1),
    against bare Flask on the same gunicorn plus an idle Python+Flask process; the same with a
    separate `hub worker` process (docker-compose's layout) for comparison; then the peak of the
    `make run` processes while one post fans out to 100,000 followers."""
    orgs_count, followers = (2, 1_000) if smoke else (10, 10_000)
    large, servers = (2_000, 100) if smoke else (100_000, 5_000)
    env = HubEnv()
    web = sink = None
    workers = []
    try:
        for n in range(orgs_count):
            build(f"m{n}", followers, 100, 9, first_octet=20 + n)
        bare = median_item([_bare_tier(env) for _ in range(runs)], key=_total_kb)
        web = Gunicorn("hub.wsgi:app", env.env)
        wrk(web.url + "/actors/m0", connections=4, seconds=1, headers={"Host": DOMAIN})
        workers = start_workers(env, count=1)
        time.sleep(2)
        separate = pss_breakdown({**_web_tier(web), "delivery worker": workers[0].pid})
        for proc in workers:
            proc.terminate()
            proc.wait(30)
        embedded = []
        for _ in range(runs):  # the last server stays up for the fan-out below
            web.stop()
            web = Gunicorn("hub.wsgi:app", {**env.env, "HUB_WORKER_IN_WEB": "1"}, workers=WEB_WORKERS + 1)
            wrk(web.url + "/actors/m0", connections=4, seconds=1, headers={"Host": DOMAIN})
            time.sleep(2)
            embedded.append(_embedded_tier(web, env))
        hub = median_item(embedded, key=_total_kb)
        hub_mb, bare_mb, separate_mb = (sum(kb.values()) / 1024 for kb in (hub, bare, separate))
        network = build("big", large, servers, free_port(), first_octet=4)
        sink = SinkProcess({a: Behaviour() for a in network.addresses})
        with PeakPss(web.pids()) as peak:
            fanned = fan_out_once(network, sink, 0, 300)
        at_rest = f"PSS at rest: gunicorn master + {WEB_WORKERS} web workers + 1 delivery worker (make run)"
        note = f"{orgs_count} organisations, {orgs_count * followers} follower rows"
        return [Figure("memory", at_rest, hub_mb, "MB", "≤ 150 MB and ≤ 1.6× bare Flask",
                       hub_mb <= 150 and hub_mb / bare_mb <= 1.6,
                       bare_mb, "bare Flask, same gunicorn, plus an idle Python+Flask process",
                       hub_mb / bare_mb, runs=[sum(kb.values()) / 1024 for kb in embedded],
                       note=f"{note}; the start of median PSS of {runs} each (hub's listed); "
                            f"hub MB {_mb(hub)}; bare MB {_mb(bare)}"),
                Figure("memory", "the same with a separate `hub worker` process (docker-compose)",
                       separate_mb, "MB", "none (the layout of larger installs, for comparison)", None,
                       bare_mb, "bare Flask, as above", separate_mb / bare_mb,
                       note=f"{note}; MB {_mb(separate)}"),
                Figure("memory", f"peak PSS of the make run processes, one post to {large:,} followers on "
                                 f"{servers:,} servers", peak.mb, "MB", "≤ 300 MB", peak.mb <= 300,
                       note=f"the delivery slot, sampled every 50 ms; every inbox reached after "
                            f"{fanned['seconds']:.2f} s")]
    finally:
        if sink:
            sink.close()
        for proc in workers:
            if proc.poll() is None:
                proc.terminate()
        if web:
            web.stop()
        env.close()


def _bare_tier(env: HubEnv) -> dict[str, int]:
    """PSS per process of bare Flask on the same gunicorn after a second of requests, and of an idle
    Python process with Flask imported (the delivery worker's counterpart)."""
    trivial = Gunicorn("bench.trivial:app", env.env)
    try:
        wrk(trivial.url + "/", connections=4, seconds=1)
        found = pss_breakdown(_web_tier(trivial))
    finally:
        trivial.stop()
    found["idle Python+Flask"] = _bare_python_kb()
    return found


def _total_kb(tier: dict[str, int]) -> int:
    """The PSS of a measured set of processes, in kB."""
    return sum(tier.values())


def _embedded_tier(server: Gunicorn, env: HubEnv) -> dict[str, int]:
    """PSS per process of gunicorn with the delivery slot, the slot named by its lock file."""
    deadline = time.monotonic() + 30
    while (delivering := gunicorn_worker.delivering_pid(env.workdir / "instance")) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("no gunicorn slot took the delivery lock within 30 s")
        time.sleep(0.1)
    web = [pid for pid in server.workers() if pid != delivering]
    return pss_breakdown({"master": server.proc.pid, **{f"web{n}": pid for n, pid in enumerate(web, 1)},
                          "delivery worker": delivering})


def _web_tier(server: Gunicorn) -> dict[str, int]:
    return {"master": server.proc.pid, **{f"web{n}": pid for n, pid in enumerate(server.workers(), 1)}}


def _mb(kb: dict[str, int]) -> str:
    return ", ".join(f"{name} {value / 1024:.1f}" for name, value in kb.items())
