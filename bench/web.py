"""Benchmarks 2 (inbox), 3 (read path) and 4 (memory): the hub under gunicorn, loaded by wrk,
each against a bare Flask app on the same gunicorn configuration measured in the same run."""

import json
import subprocess
import sys
import time

from sqlalchemy import func, insert, select

from bench.common import DOMAIN, Figure, HubEnv
from bench.fanout import start_workers
from bench.httpload import WEB_WORKERS, Gunicorn, Unavailable, cpu_seconds, pss_kb, replay, wrk
from bench.network import build
from federation.signatures import Signer, generate_key_pair
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


def inbox(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 2: signed, distinct Creates replayed at the shared inbox."""
    seconds, burst = (2, 300) if smoke else (10, 10_000)
    env = HubEnv()
    web = trivial = None
    try:
        signers = _remote_actors(5 if smoke else 50)
        url = f"http://{DOMAIN}/inbox"
        steady = env.workdir / "steady.tsv"
        _signed_requests(steady, signers, 2_000 if smoke else 40_000, 0, url)
        trivial = Gunicorn("bench.trivial:app", env.env)
        base, _ = replay(trivial.url, "/inbox", steady, DOMAIN, connections=20, seconds=seconds)
        trivial.stop()
        trivial = None
        web = Gunicorn("hub.wsgi:app", env.env)
        result, counters = replay(web.url, "/inbox", steady, DOMAIN, connections=20, seconds=seconds)
        stored = _stored()
        burst_file = env.workdir / "burst.tsv"
        _signed_requests(burst_file, signers, burst, 1_000_000, url)
        burst_result, burst_counters = replay(web.url, "/inbox", burst_file, DOMAIN, connections=100,
                                              seconds=2)
        burst_stored = _stored() - stored
        workers = start_workers(env, count=1)
        started = time.monotonic()
        while _queued_items() and time.monotonic() - started < 60:
            time.sleep(0.1)
        processed_in = time.monotonic() - started
        for proc in workers:
            proc.terminate()
        ok_rate = counters["accepted"] / max(result.requests, 1) * result.rate
        return [
            Figure("inbox", "accepted, verified, stored per second (20 connections)", ok_rate, "req/s",
                   "≥ 0.45× the trivial endpoint", ok_rate / base.rate >= 0.45, base.rate,
                   "trivial POST endpoint, same gunicorn", ok_rate / base.rate,
                   note=f"{counters['accepted']} accepted, {stored} stored, {counters['server_errors']} 5xx, "
                        f"{result.errors} socket errors, replayed set wrapped: {bool(counters['wrapped'])}"),
            Figure("inbox", "stored minus accepted, no errors", stored - counters["accepted"], "items",
                   "0 to 20 (requests wrk cut off at its end), no 5xx or socket errors",
                   0 <= stored - counters["accepted"] <= 20 and not counters["server_errors"]
                   and not result.errors and not counters["wrapped"]),
            Figure("inbox", "p99 latency at 20 connections", result.p99 * 1000, "ms", "≤ 25 ms",
                   result.p99 <= P99_TARGET, base.p99 * 1000, "trivial endpoint p99", result.p99 / base.p99),
            Figure("inbox", f"burst of {burst} in 2 s: 5xx answers", burst_counters["server_errors"],
                   "answers",
                   f"none, and all {burst} answered within the 2 s",
                   burst_counters["server_errors"] == 0 and not burst_result.errors
                   and burst_counters["answered"] >= burst,
                   note=f"{burst_result.requests} sent in 2 s, {burst_counters['accepted']} accepted, "
                        f"{burst_stored} stored"),
            Figure("inbox", "burst processed by one worker", processed_in, "s", "≤ 10 s", processed_in <= 10,
                   note=f"{burst_stored + stored} items"),
        ]
    finally:
        for server in (web, trivial):
            if server:
                server.stop()
        env.close()


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


def _read_figures(web: Gunicorn, handle: str, base, seconds: int, cached: bool) -> list[Figure]:
    """Each read target under 64 connections; judged when the public cache is on, reported when off."""
    figures = []
    for name, path, accept, share in READ_TARGETS:
        before = {pid: cpu_seconds(pid) for pid in web.workers()}
        result = wrk(web.url + path.format(handle=handle), connections=64, seconds=seconds,
                     headers={"Host": DOMAIN, "Accept": accept})
        cpu = [round(cpu_seconds(pid) - used, 1) for pid, used in before.items()]
        ratio = result.rate / base.rate
        ok = ratio >= share and result.p99 <= P99_TARGET and not result.non_2xx and not result.errors
        label = f"{name} (64 connections)" if cached else f"{name}, public cache off (64 connections)"
        figures.append(Figure("read", label, result.rate, "req/s",
                              f"≥ {share}× trivial, p99 ≤ 25 ms, no errors" if cached
                              else "none (how the app itself does, for comparison)",
                              ok if cached else None, base.rate, "trivial endpoint, same gunicorn", ratio,
                              note=f"p99 {result.p99 * 1000:.1f} ms (trivial {base.p99 * 1000:.1f} ms); "
                                   f"non-2xx {result.non_2xx}; socket errors {result.errors}; "
                                   f"CPU s per web worker {cpu}"))
    return figures


def read_path(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 3: actor JSON, outbox page 1 and the profile page under 64 connections, with the
    public cache as configured by default, then without it (reported, not judged)."""
    seconds = 1 if smoke else 20
    env = HubEnv()
    web = trivial = None
    try:
        org = _posts("reader", 50 if smoke else 1000)
        trivial = Gunicorn("bench.trivial:app", env.env)
        base = wrk(trivial.url + "/", connections=64, seconds=seconds)
        trivial.stop()
        trivial = None
        web = Gunicorn("hub.wsgi:app", env.env)
        figures = _read_figures(web, org.handle, base, seconds, cached=True)
        web.stop()
        web = Gunicorn("hub.wsgi:app", {**env.env, "HUB_PUBLIC_CACHE_SECONDS": "0"})
        figures += _read_figures(web, org.handle, base, max(1, seconds // 2), cached=False)
        return figures
    finally:
        for server in (web, trivial):
            if server:
                server.stop()
        env.close()


def memory(smoke: bool, runs: int) -> list[Figure]:
    """Benchmark 4: PSS of the web workers plus the delivery worker at rest, against bare Flask."""
    orgs_count, followers = (2, 1_000) if smoke else (10, 10_000)
    env = HubEnv()
    web = trivial = None
    workers = []
    try:
        for n in range(orgs_count):
            build(f"m{n}", followers, 100, 9, first_octet=20 + n)
        web = Gunicorn("hub.wsgi:app", env.env)
        wrk(web.url + "/actors/m0", connections=4, seconds=1, headers={"Host": DOMAIN})
        workers = start_workers(env, count=1)
        time.sleep(2)
        hub_kb = sum(pss_kb(pid) for pid in web.pids() + [w.pid for w in workers])
        trivial = Gunicorn("bench.trivial:app", env.env)
        wrk(trivial.url + "/", connections=4, seconds=1)
        bare_kb = sum(pss_kb(pid) for pid in trivial.pids()) + _bare_python_kb()
        hub_mb, bare_mb = hub_kb / 1024, bare_kb / 1024
        return [Figure("memory", f"PSS at rest: {WEB_WORKERS} web workers + master + 1 delivery worker",
                       hub_mb,
                       "MB", "≤ 150 MB and ≤ 1.6× bare Flask", hub_mb <= 150 and hub_mb / bare_mb <= 1.6,
                       bare_mb, "bare Flask, same gunicorn, plus an idle Python+Flask process",
                       hub_mb / bare_mb,
                       note=f"{orgs_count} organisations, {orgs_count * followers} follower rows")]
    finally:
        for proc in workers:
            proc.terminate()
        for server in (web, trivial):
            if server:
                server.stop()
        env.close()
