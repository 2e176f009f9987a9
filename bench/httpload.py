"""Load-generation plumbing: gunicorn serving an app on the bench database, wrk (from Debian) with
its latency percentiles and Lua scripts, and per-process CPU and memory (PSS) from /proc."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hub.gunicorn_worker import children

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
WEB_WORKERS = 2  # as `make run` starts it (HUB_WEB_WORKERS)
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


class Unavailable(Exception):
    """A benchmark cannot run here (a tool is missing); reported, not failed."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """`gunicorn --workers N app` on a free port with the given environment."""

    def __init__(self, app: str, env: dict, workers: int = WEB_WORKERS):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [GUNICORN, "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}",  # no access log at all
             "--error-logfile", "-", "--log-level", "warning", app],
            env=env, cwd=str(Path(__file__).resolve().parent.parent),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(self.workers()) < workers or not self._listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {app} died: {self.proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start")
            time.sleep(0.1)

    def _listening(self) -> bool:
        """True once every worker answers HTTP (any status): the app is loaded, not only the socket."""
        for _ in range(len(self.workers()) * 2):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                    sock.sendall(b"GET /robots.txt HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    if not sock.recv(16).startswith(b"HTTP/"):
                        return False
            except OSError:
                return False
        return True

    def workers(self) -> list[int]:
        """Pids of the worker processes."""
        return children(self.proc.pid)

    def pids(self) -> list[int]:
        """The master and its workers."""
        return [self.proc.pid, *self.workers()]

    def stop(self) -> None:
        """Stop gracefully, then firmly."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def pss_kb(pid: int) -> int:
    """Proportional set size of a process, in kB (shared pages split between their users)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_breakdown(pids: dict[str, int]) -> dict[str, int]:
    """PSS in kB of each named process, all read at the same moment."""
    return {name: pss_kb(pid) for name, pid in pids.items()}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class WrkResult:
    """What wrk reports."""

    rate: float
    p50: float
    p99: float
    requests: int
    errors: int
    non_2xx: int
    output: str


def _seconds(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()
    return float(number) * UNITS[unit]


def _wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise Unavailable("wrk is not installed (apt-get install -y wrk)")
    return binary


def _socket_errors(output: str) -> int:
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return sum(int(n) for n in found.groups()) if found else 0


def _report(output: str) -> WrkResult:
    """wrk's --latency report: rate, p50, p99, requests, socket errors, non-2xx answers."""
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
                     _seconds(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
                     _seconds(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
                     int(re.search(r"(\d+) requests in", output).group(1)), _socket_errors(output),
                     int(non_2xx.group(1)) if non_2xx else 0, output)


def wrk(url: str, *, connections: int, seconds: float, threads: int = 2, script: str | None = None,
        headers: dict | None = None, timeout: str = "10s") -> WrkResult:
    """Run wrk with --latency and parse its report."""
    args = [_wrk_binary(), f"-t{min(threads, connections)}", f"-c{connections}",
            f"-d{max(int(round(seconds)), 1)}s", "--latency", "--timeout", timeout]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    if script:
        args += ["-s", script]
    return _report(subprocess.run([*args, url], capture_output=True, text=True, timeout=seconds + 120).stdout)


# Each thread loads its share of the file of pre-signed requests (date, digest, signature, body per
# line) into `requests`: args are the file, the number of threads, the path and the Host header.
LOAD_SIGNED_LUA = r"""
local counter, threads = 0, {}
function setup(thread)
  thread:set("id", counter); counter = counter + 1; table.insert(threads, thread)
end
function load_signed(args)
  local file, total, i, loaded = io.open(args[1], "r"), tonumber(args[2]), 0, {}
  for line in file:lines() do
    if i % total == id then
      local date, digest, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(loaded, wrk.format("POST", args[3], {["Host"] = args[4], ["Date"] = date,
        ["Digest"] = digest, ["Signature"] = signature,
        ["Content-Type"] = "application/activity+json"}, body))
    end
    i = i + 1
  end
  file:close()
  return loaded
end
"""

REPLAY_LUA = LOAD_SIGNED_LUA + r"""
-- Replays the pre-signed requests, each once before any repeats (then `wrapped` is set).
function init(args)
  requests, n, sent, accepted, bad = load_signed(args), 0, 0, 0, 0
end
function request()
  n = n + 1
  if n > #requests then n = 1; wrapped = 1 end
  return requests[n]
end
function response(status, headers, body)
  sent = sent + 1
  if status == 202 then accepted = accepted + 1 elseif status >= 500 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local a, b, s, w = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); b = b + t:get("bad"); s = s + t:get("sent"); w = w + (t:get("wrapped") or 0)
  end
  io.write(string.format("REPLAY accepted=%d server_errors=%d answered=%d wrapped=%d\n", a, b, s, w))
end
"""

BURST_LUA = LOAD_SIGNED_LUA + r"""
-- Sends each pre-signed request once, then stops and writes the time its last answer came and its
-- counters to <marker><thread id> (args[5]). Connections that ask for more once the share is sent
-- get GET <path> (405, not counted) until the last answers. wrk calls request() of thread 0 once
-- before starting (to check the script); that call gets the filler, so no activity is lost.
function init(args)
  requests, sent, answered, accepted, bad, marker, finished = load_signed(args), 0, 0, 0, 0, args[5], false
  filler, share = wrk.format("GET", args[3], {["Host"] = args[4]}), #requests
  if id == 0 then table.insert(requests, 1, filler) end
end
function request()
  if sent < #requests then sent = sent + 1; return requests[sent] end
  return filler
end
function response(status, headers, body)
  if status == 405 or finished then return end
  answered = answered + 1
  if status == 202 then accepted = accepted + 1 elseif status >= 500 then bad = bad + 1 end
  if answered >= share then
    finished = true
    local clock = io.popen("date +%s.%N"); local now = clock:read("*l"); clock:close()
    local out = io.open(marker .. id, "w")
    out:write(string.format("%s %d %d %d\n", now, answered, accepted, bad)); out:close()
    wrk.thread:stop()
  end
end
"""


def replay(url: str, path: str, requests_file: Path, host: str, *, connections: int, seconds: float,
           threads: int = 2) -> tuple[WrkResult, dict]:
    """Replay pre-signed POSTs with wrk; returns wrk's result and the Lua counters."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(REPLAY_LUA)
    threads = min(threads, connections)
    args = [_wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(int(round(seconds)), 1)}s",
            "--latency", "--timeout", "10s", "-s", script.name, url + path, "--", str(requests_file),
            str(threads), path, host]
    output = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 180).stdout
    os.unlink(script.name)
    counters = dict(re.findall(r"(\w+)=(\d+)", re.search(r"REPLAY (.*)", output).group(1)))
    return _report(output), {k: int(v) for k, v in counters.items()}


def burst(url: str, path: str, requests_file: Path, host: str, workdir: Path, *, connections: int = 100,
          threads: int = 2, timeout: float = 60.0) -> dict:
    """Send every pre-signed POST of the file once, as fast as `connections` allow; when the last
    answer came, and how many were answered, accepted (202) and 5xx."""
    script, marker = workdir / "burst.lua", workdir / "burst-done-"
    script.write_text(BURST_LUA)
    started = time.time()
    args = [_wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{int(timeout)}s", "--timeout", "10s",
            "-s", str(script), url + path, "--", str(requests_file), str(threads), path, host, str(marker)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    markers = [Path(f"{marker}{n}") for n in range(threads)]
    while not all(m.exists() and m.read_text().endswith("\n") for m in markers) and proc.poll() is None \
            and time.time() - started < timeout:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # wrk reports at once instead of waiting for -d
    output = proc.communicate(timeout=30)[0]
    done = [m.read_text().split() for m in markers if m.exists()]
    return {"seconds": max((float(d[0]) for d in done), default=time.time()) - started,
            "finished": len(done) == threads, "answered": sum(int(d[1]) for d in done),
            "accepted": sum(int(d[2]) for d in done), "server_errors": sum(int(d[3]) for d in done),
            "socket_errors": _socket_errors(output)}
