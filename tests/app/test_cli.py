"""The `hub` command as operators and scripts use it (DESIGN.md §4)."""

import os
import subprocess
import sys

from hub.models import Post
from hub.services import orgs, users


def _run(app, *args, stdin=None):
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


def test_org_create_prints_actor_id_and_refuses_duplicates(app):
    result = _run(app, "org", "create", "lao_women", "--name", "ສະມາຄົມແມ່ຍິງ")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "http://hub.test/actors/lao_women"
    again = _run(app, "org", "create", "LAO_WOMEN", "--name", "Other")
    assert again.exit_code != 0
    assert "already taken" in again.output


def test_org_create_refuses_bad_handles(app):
    for handle in ("bad handle", "ສິດ", "x" * 31, "admin"):
        result = _run(app, "org", "create", handle, "--name", "X")
        assert result.exit_code != 0, handle
        assert "Error" in result.output


def test_user_create_reads_password_from_stdin_and_joins_org(app):
    _run(app, "org", "create", "cso", "--name", "CSO")
    result = _run(app, "user", "create", "Staff@Example.la", "--org", "cso", "--role", "editor",
                  stdin="a long enough password\n")
    assert result.exit_code == 0, result.output
    user = users.find_user("staff@example.la")
    assert orgs.role_of(user, orgs.require_org("cso")) == "editor"
    assert users.authenticate("staff@example.la", "a long enough password") == user


def test_user_create_with_unknown_org_creates_nothing(app):
    result = _run(app, "user", "create", "x@example.la", "--org", "nope", stdin="a long enough password\n")
    assert result.exit_code != 0
    assert users.find_user("x@example.la") is None


def test_short_password_is_refused(app):
    result = _run(app, "user", "create", "x@example.la", "--admin", stdin="short\n")
    assert result.exit_code != 0
    assert "at least" in result.output
    assert users.find_user("x@example.la") is None


def test_post_publishes_and_prints_its_id(app):
    _run(app, "org", "create", "cso", "--name", "CSO")
    result = _run(app, "post", "cso", "ສະບາຍດີ #ທົດລອງ", "--lang", "lo", "--cw", "ທົດລອງ")
    assert result.exit_code == 0, result.output
    post = Post.query.one()
    assert result.output.strip() == post.uri == f"http://hub.test/@cso/{post.id}"
    assert post.state == "published" and post.language == "lo" and post.summary == "ທົດລອງ"


def test_post_errors_are_clear(app):
    assert "No organisation" in _run(app, "post", "ghost", "hello").output
    _run(app, "org", "create", "cso", "--name", "CSO")
    empty = _run(app, "post", "cso", "   ")
    assert empty.exit_code != 0 and "empty" in empty.output
    bad = _run(app, "post", "cso", "hi", "--visibility", "secret")
    assert bad.exit_code != 0


def test_demo_creates_an_admin_once(app):
    first = _run(app, "demo")
    assert "password" in first.output
    assert users.find_user("admin@example.org").is_admin
    second = _run(app, "demo")
    assert "already has accounts" in second.output


def test_a_malformed_setting_stops_any_command_with_its_name_and_no_traceback(tmp_path):
    env = dict(os.environ, HUB_INSTANCE_DIR=str(tmp_path), HUB_KEEP_RECEIVED_DAYS="a week")
    done = subprocess.run([sys.executable, "-c", "import sys; from hub.console import main; "
                           "sys.argv[0] = 'hub'; main()", "prune"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: HUB_KEEP_RECEIVED_DAYS must be a positive number, not 'a week'"
