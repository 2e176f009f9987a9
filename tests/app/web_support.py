"""A small 'browser' over the Flask test client for the web tests: it reads the CSRF token from
the page a form is on, posts like a browser would, and keeps its own cookies (one per person)."""

import re

from flask import g

PASSWORD = "correct horse battery"  # as in tests/conftest.py

TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


_TEST_GLOBALS: set[str] = set()


def _fresh_request_globals() -> None:
    """The test's app context (and g) outlives requests: forget what the last request cached in g
    (signed-in user, locale, CSRF token, current organisation), as a fresh request in production would."""
    for name in [n for n in vars(g) if n not in _TEST_GLOBALS]:
        g.pop(name, None)


class Web:
    """One person's browser: its own cookie jar, forms posted with the page's CSRF token."""

    def __init__(self, app, accept_language: str = "lo"):
        app.config.update(SESSION_COOKIE_SECURE=False, REMEMBER_COOKIE_SECURE=False)
        if _fresh_request_globals not in app.before_request_funcs.setdefault(None, []):
            _TEST_GLOBALS.clear()
            _TEST_GLOBALS.update(vars(g))
            app.before_request_funcs[None].insert(0, _fresh_request_globals)
        self.client = app.test_client()
        self.headers = {"Accept-Language": accept_language}

    def get(self, url: str, **kwargs):
        """GET a page."""
        return self.client.get(url, headers={**self.headers, **kwargs.pop("headers", {})}, **kwargs)

    def token(self, url: str) -> str:
        """The CSRF token of the form on the page at url."""
        page = self.get(url)
        match = TOKEN_RE.search(page.get_data(as_text=True))
        assert match, f"no form with a CSRF token at {url} ({page.status_code})"
        return match.group(1)

    def submit(self, url: str, data: dict, *, page: str | None = None, **kwargs):
        """Post a form to url as a browser would, with the CSRF token from `page` (default: url)."""
        data = {"csrf_token": self.token(page or url), **data}
        return self.client.post(url, data=data, headers=self.headers, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD):
        """Sign in through the form; returns the response."""
        return self.submit("/login", {"email": email, "password": password})

    def signed_in_as(self, user) -> "Web":
        """Hold the session a sign-in would create, without the password hashing (tests of sign-in
        itself use sign_in)."""
        with self.client.session_transaction() as session:
            session["_user_id"] = user.get_id()
            session["_fresh"] = True
        return self

    def sign_out(self):
        """Sign out through the button in the staff menu."""
        return self.submit("/logout", {}, page="/settings")


def text_of(response) -> str:
    """The page's HTML as text."""
    return response.get_data(as_text=True)
