"""Synchronous HTTP for the web path with the safety rules: every host vetted by an AddressPolicy
and connected to at the vetted address, signed GETs, a total deadline, streamed size caps,
ActivityStreams content types and the id == URL rule across manually followed redirects."""

import http.client
import socket
import threading
import time
import zlib
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError

from federation.addresses import AddressPolicy
from federation.errors import (
    BadContentType,
    FetchError,
    HTTPStatusError,
    IdMismatch,
    MalformedDocument,
    Timeout,
    TooLarge,
    UnsafeAddress,
)
from federation.jsonld import MAX_BYTES, parse_json_limited
from federation.vocab import (
    ACCEPT_ACTIVITY,
    ACTIVITY_JSON,
    JRD_JSON,
    as_list,
    get_id,
    is_activity_json,
    media_type,
    normalise_host,
    same_origin,
)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "CSO-Hub/0.1 (ActivityPub)"
_CHUNK = 65536


class Deadline:
    """A total wall-clock budget: a watchdog shuts the sockets down when it passes."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left; Timeout when none are."""
        left = self.end - time.monotonic()
        if left <= 0 or self.expired:
            raise Timeout("deadline passed")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut this socket down when the deadline passes (a duplicate keeps the socket ours to stop)."""
        dup = sock.dup()
        with self._lock:
            self._sockets.append(dup)
            if self.expired:
                self._shutdown(dup)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                self._shutdown(sock)

    def close(self) -> None:
        """Stop the watchdog and release the duplicated sockets."""
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def __enter__(self) -> "Deadline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _PinnedMixin:
    """Connect to the vetted addresses instead of resolving the host again."""

    def __init__(self, *args, pinned: tuple[str, ...] = (), deadline: Deadline | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._pinned = pinned
        self._deadline = deadline

    def _new_conn(self) -> socket.socket:
        error: Exception | None = None
        for address in self._pinned:
            timeout = self._deadline.remaining() if self._deadline else self.timeout
            if isinstance(self.timeout, int | float):
                timeout = min(timeout, self.timeout)
            try:
                sock = urllib3.util.connection.create_connection(
                    (address, self.port), timeout, source_address=self.source_address,
                    socket_options=self.socket_options)
            except OSError as exc:
                error = exc
                continue
            if self._deadline:
                self._deadline.watch(sock)
            return sock
        raise NewConnectionError(self, f"cannot connect to {self.host}: {error}")


class _PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class _PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedPoolManager(urllib3.PoolManager):
    def __init__(self, target: tuple, pinned: tuple[str, ...], deadline: Deadline, **kwargs):
        super().__init__(**kwargs)
        self._target, self._pinned, self._deadline = target, pinned, deadline

    def _new_pool(self, scheme, host, port, request_context=None):
        if (scheme, host.strip("[]").lower(), port) != self._target:
            raise UnsafeAddress(f"unexpected connection to {host}:{port}")
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
        pool.conn_kw.update(pinned=self._pinned, deadline=self._deadline)
        return pool


class _PinnedAdapter(HTTPAdapter):
    def __init__(self, target: tuple, pinned: tuple[str, ...], deadline: Deadline):
        self._pin = (target, pinned, deadline)
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self.poolmanager = _PinnedPoolManager(*self._pin, num_pools=connections, maxsize=maxsize,
                                              block=block, **pool_kwargs)


def clean_url(url: str) -> str:
    """An http(s) URL with an ASCII host, no userinfo, no default port and no fragment."""
    if not isinstance(url, str):
        raise FetchError("URL must be a string")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"not an http(s) URL: {url[:200]}")
    try:
        netloc = normalise_host(url.strip())
    except ValueError as exc:
        raise FetchError(str(exc)) from exc
    return f"{scheme}://{netloc}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


def _send(method: str, url: str, *, policy: AddressPolicy, deadline: Deadline, headers: dict,
          body: bytes | None = None, signer=None, verify: bool | str = True):
    """One request to a cleaned URL at its vetted address; (session, streamed response)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    pinned = tuple(policy.vet(parts.hostname or "", port))
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: they would bypass the vetting
    session.verify = verify
    adapter = _PinnedAdapter((parts.scheme, (parts.hostname or "").lower(), port), pinned, deadline)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **headers}
    if signer is not None:
        headers = signer.sign(method, url, body, headers)
    try:
        left = deadline.remaining()
        response = session.request(method, url, data=body, headers=headers, stream=True,
                                   allow_redirects=False, timeout=(left, left))
        if budget_spent := deadline.expired:  # the watchdog cut the headers short
            response.close()
    except BaseException:
        session.close()
        raise
    if budget_spent:
        session.close()
        raise Timeout(f"deadline passed waiting for {url}")
    return session, response


def _decoder(encoding: str):
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise BadContentType(f"unsupported Content-Encoding {encoding}")


def _read_body(response, deadline: Deadline, max_bytes: int) -> bytes:
    """The body, streamed under the cap (also without Content-Length) and within the deadline."""
    length = response.headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > max_bytes:
        raise TooLarge(f"Content-Length {length} exceeds {max_bytes}")
    decoder = _decoder(response.headers.get("Content-Encoding", ""))
    chunks, size = [], 0
    while True:
        deadline.remaining()
        chunk = response.raw.read(_CHUNK, decode_content=False)
        if not chunk:
            break
        if decoder is not None:
            chunk = decoder.decompress(chunk, max_bytes + 1 - size)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    if deadline.expired:
        raise Timeout("deadline passed while reading the body")
    return b"".join(chunks)


def _network_error(exc: Exception, deadline: Deadline, url: str) -> FetchError:
    if deadline.expired or isinstance(exc, requests.Timeout | socket.timeout):
        return Timeout(f"deadline passed fetching {url}")
    return FetchError(f"{type(exc).__name__} fetching {url}: {exc}")


_NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                   OSError)


def _get(url: str, *, policy, signer, accept: str, deadline: float, max_bytes: int, max_redirects: int,
         type_ok, verify: bool | str = True) -> tuple[bytes, str]:
    """A GET following redirects by hand (each hop re-vetted and re-signed); (body, final URL)."""
    current = clean_url(url)
    with Deadline(deadline) as budget:
        for _ in range(max_redirects + 1):
            try:
                session, response = _send("GET", current, policy=policy, deadline=budget,
                                          headers={"Accept": accept}, signer=signer, verify=verify)
                with session, response:
                    if response.status_code in REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise HTTPStatusError(response.status_code, current)
                        current = clean_url(urljoin(current, location))
                        continue
                    if not 200 <= response.status_code < 300:
                        raise HTTPStatusError(response.status_code, current)
                    content_type = response.headers.get("Content-Type", "")
                    if not type_ok(content_type):
                        raise BadContentType(f"{content_type or 'no content type'} from {current}")
                    return _read_body(response, budget, max_bytes), current
            except FetchError:
                raise
            except _NETWORK_ERRORS as exc:
                raise _network_error(exc, budget, current) from exc
        raise FetchError(f"more than {max_redirects} redirects from {url}")


def _canonical(url: str) -> str | None:
    try:
        return clean_url(url)
    except FetchError:
        return None


def fetch_document(url: str, *, signer=None, policy: AddressPolicy, deadline: float = 10.0,
                   max_bytes: int = MAX_BYTES, accept: str = ACCEPT_ACTIVITY, max_redirects: int = 3,
                   check_id: bool = True, verify: bool | str = True) -> tuple[dict, str]:
    """(document, final URL) of an ActivityStreams GET; check_id=False only asks for the same origin."""
    body, final = _get(url, policy=policy, signer=signer, accept=accept, deadline=deadline,
                       max_bytes=max_bytes, max_redirects=max_redirects, type_ok=is_activity_json,
                       verify=verify)
    try:
        document = parse_json_limited(body, max_bytes=max_bytes)
    except MalformedDocument as exc:
        raise FetchError(f"malformed document from {final}: {exc}") from exc
    doc_id = get_id(document)
    if check_id and _canonical(doc_id or "") != final:
        raise IdMismatch(f"document id {str(doc_id)[:200]!r} is not {final}")
    if not check_id and doc_id is not None and not same_origin(doc_id, final):
        raise IdMismatch(f"document id {doc_id[:200]!r} is not on the origin of {final}")
    return document, final


def fetch_json(url: str, *, signer=None, policy: AddressPolicy, deadline: float = 10.0,
               max_bytes: int = MAX_BYTES, accept: str = ACCEPT_ACTIVITY, max_redirects: int = 3,
               check_id: bool = True, verify: bool | str = True) -> dict:
    """An ActivityStreams document whose id is the URL it was (finally) fetched from."""
    return fetch_document(url, signer=signer, policy=policy, deadline=deadline, max_bytes=max_bytes,
                          accept=accept, max_redirects=max_redirects, check_id=check_id, verify=verify)[0]


def fetch_key(key_id: str, *, signer=None, policy: AddressPolicy, deadline: float = 10.0,
              verify: bool | str = True) -> tuple[str, str, dict]:
    """(owner id, public key PEM, document) served at a key id (actor, key or GoToSocial stub); the
    owner must be on the key's origin. Callers still check that the owner's actor lists the key."""
    document, _ = fetch_document(key_id, signer=signer, policy=policy, deadline=deadline, check_id=False,
                                 verify=verify)
    entries = [document] if "publicKeyPem" in document else as_list(document.get("publicKey"))
    for entry in entries:
        if (isinstance(entry, dict) and entry.get("id") == key_id
                and isinstance(entry.get("publicKeyPem"), str)):
            owner = get_id(entry.get("owner")) or get_id(document)
            if not owner or not same_origin(owner, key_id):
                raise IdMismatch(f"key {key_id[:200]} is owned by {str(owner)[:200]} on another origin")
            return owner, entry["publicKeyPem"], document
    raise IdMismatch(f"no key {key_id[:200]} in the document served at it")


def _is_jrd(content_type: str) -> bool:
    return media_type(content_type)[0] in (JRD_JSON, "application/json")


def fetch_jrd(url: str, policy: AddressPolicy, *, signer=None, deadline: float = 10.0,
              max_bytes: int = 100_000, max_redirects: int = 3, verify: bool | str = True) -> dict:
    """A WebFinger JRD (application/jrd+json or application/json); no id rule applies."""
    body, final = _get(url, policy=policy, signer=signer, accept=f"{JRD_JSON}, application/json",
                       deadline=deadline, max_bytes=max_bytes, max_redirects=max_redirects, type_ok=_is_jrd,
                       verify=verify)
    try:
        return parse_json_limited(body, max_bytes=max_bytes)
    except MalformedDocument as exc:
        raise FetchError(f"malformed JRD from {final}: {exc}") from exc


def post_activity(url: str, body: bytes, signer, policy: AddressPolicy, deadline: float = 10.0,
                  content_type: str = ACTIVITY_JSON, verify: bool | str = True) -> tuple[int, dict]:
    """POST a serialised activity, signed; (status, lower-cased headers). Redirects are not followed."""
    current = clean_url(url)
    with Deadline(deadline) as budget:
        try:
            session, response = _send("POST", current, policy=policy, deadline=budget, body=body,
                                      headers={"Content-Type": content_type}, signer=signer, verify=verify)
            with session, response:
                try:
                    _read_body(response, budget, 100_000)
                except TooLarge:
                    pass
                return response.status_code, {k.lower(): v for k, v in response.headers.items()}
        except FetchError:
            raise
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc, budget, current) from exc
