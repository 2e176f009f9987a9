"""The exceptions of the federation library, all under one FederationError base."""


class FederationError(Exception):
    """Base of every error this library raises on purpose."""


class MalformedDocument(FederationError, ValueError):
    """A JSON document that is too large, too deep, invalid or not an object."""


class SignatureError(FederationError):
    """An HTTP signature that is missing, malformed, stale or does not verify (answer 401)."""


class FetchError(FederationError):
    """A fetch or post that could not be completed safely."""


class UnsafeAddress(FetchError):
    """The host resolves to (or spells) an address the policy refuses, or cannot be resolved."""


class Unresolvable(FetchError):
    """The host name does not resolve (worth retrying later, unlike UnsafeAddress)."""


class TooLarge(FetchError):
    """The response body exceeds the size cap."""


class Timeout(FetchError):
    """The total deadline of a request passed (connect, TLS, headers and body together)."""


class BadContentType(FetchError):
    """The response is not of an accepted media type."""


class IdMismatch(FetchError):
    """The fetched document's id is not the URL it was fetched from."""


class HTTPStatusError(FetchError):
    """The peer answered with a non-2xx status (kept in .status, e.g. 404 or 410)."""

    def __init__(self, status: int, url: str = ""):
        super().__init__(f"HTTP {status} from {url}" if url else f"HTTP {status}")
        self.status = status
        self.url = url
