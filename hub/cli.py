"""The `hub` command (DESIGN.md §4): operators' and scripts' way into the domain services.
(`hub worker` and `hub db` are added by hub/console.py, so web processes never import them.)"""

import secrets
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from hub.extensions import db
from hub.models.post import VISIBILITIES
from hub.services import ServiceError, orgs, posts, retention, social, users
from hub.services.posts import LANGUAGES


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group("org")
def org_group():
    """Manage organisations (CSO accounts)."""


@org_group.command("create")
@click.argument("handle")
@click.option("--name", required=True, help="Display name, in Lao or English.")
@with_appcontext
def org_create(handle, name):
    """Create an organisation with its own key pair."""
    try:
        org = orgs.create_org(handle, name)
    except ServiceError as exc:
        _fail(str(exc))
    click.echo(org.uri)


@click.group("network")
def network_group():
    """Manage networks (Group actors) of organisations."""


@network_group.command("create")
@click.argument("handle")
@click.option("--name", required=True, help="Display name.")
@with_appcontext
def network_create(handle, name):
    """Create a network."""
    try:
        network = orgs.create_network(handle, name)
    except ServiceError as exc:
        _fail(str(exc))
    click.echo(network.uri)


@network_group.command("add")
@click.argument("network")
@click.argument("org")
@with_appcontext
def network_add(network, org):
    """Make an organisation a member of a network."""
    try:
        orgs.add_to_network(network, org)
    except ServiceError as exc:
        _fail(str(exc))
    click.echo(f"{org} is a member of {network}")


@click.group("user")
def user_group():
    """Manage staff accounts."""


def _read_password() -> str:
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@user_group.command("create")
@click.argument("email")
@click.option("--org", "org_handle", help="Organisation to join.")
@click.option("--role", type=click.Choice(["owner", "editor", "contributor"]), default="owner",
              show_default=True, help="Role in --org.")
@click.option("--admin", is_flag=True, help="Make an instance administrator.")
@click.option("--name", default="", help="The person's display name.")
@with_appcontext
def user_create(email, org_handle, role, admin, name):
    """Create a staff account; the password is read from standard input."""
    try:
        org = orgs.require_org(org_handle) if org_handle else None
        user = users.create_user(email, _read_password(), display_name=name, is_admin=admin, commit=False)
        if org:
            orgs.add_member(org, user, role, commit=False)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        _fail(str(exc))
    role_text = f" ({role} of {org.handle})" if org else ""
    click.echo(f"created {user.email}{role_text}{' [admin]' if admin else ''}")


@user_group.command("password")
@click.argument("email")
@with_appcontext
def user_password(email):
    """Set a new password (read from standard input); signs the user out everywhere."""
    user = users.find_user(email)
    if user is None:
        _fail(f"No account for {email}.")
    try:
        users.set_password(user, _read_password())
    except ServiceError as exc:
        _fail(str(exc))
    click.echo(f"password changed for {user.email}")


@click.command("post")
@click.argument("handle")
@click.argument("text")
@click.option("--lang", type=click.Choice(LANGUAGES), default="lo", show_default=True)
@click.option("--visibility", type=click.Choice(VISIBILITIES), default="public", show_default=True)
@click.option("--cw", default="", help="Content warning shown before the text.")
@with_appcontext
def post_command(handle, text, lang, visibility, cw):
    """Publish TEXT as the organisation HANDLE; prints the post's id."""
    try:
        org = orgs.require_org(handle)
        post = posts.publish_as_operator(org, text, language=lang, visibility=visibility, summary=cw)
    except ServiceError as exc:
        _fail(str(exc))
    click.echo(post.uri)


@click.command("follow")
@click.argument("handle")
@click.argument("account")
@with_appcontext
def follow_command(handle, account):
    """The organisation HANDLE follows ACCOUNT (@user@host or actor URL); pending until accepted."""
    try:
        org = orgs.require_org(handle)
        follow = social.follow(org, account)
    except ServiceError as exc:
        db.session.rollback()
        _fail(str(exc))
    click.echo(f"{follow.target.uri} {follow.state}")


def _local_post(reference: str):
    post = social.find_post(reference)
    if not post.actor.is_local:
        _fail(f"{reference} is not a post of this hub.")
    return post


def _staff(email: str):
    user = users.find_user(email)
    if user is None:
        _fail(f"No account for {email}.")
    return user


@click.command("post-edit")
@click.argument("post_url")
@click.argument("text")
@click.option("--as", "email", required=True, help="Email of the staff member (editor or owner) editing.")
@with_appcontext
def post_edit_command(post_url, text, email):
    """Replace the text of the post POST_URL (a published post federates an Update)."""
    try:
        posts.edit(_local_post(post_url), _staff(email), text)
    except ServiceError as exc:
        db.session.rollback()
        _fail(str(exc))
    click.echo(post_url)


@click.command("post-delete")
@click.argument("post_url")
@click.option("--as", "email", required=True, help="Email of the staff member (editor or owner) deleting.")
@with_appcontext
def post_delete_command(post_url, email):
    """Delete the post POST_URL (a published post federates a Delete and answers 410)."""
    try:
        posts.delete(_local_post(post_url), _staff(email))
    except ServiceError as exc:
        db.session.rollback()
        _fail(str(exc))
    click.echo(f"deleted {post_url}")


@click.command("boost")
@click.argument("handle")
@click.argument("post_url")
@with_appcontext
def boost_command(handle, post_url):
    """The organisation HANDLE boosts the public post POST_URL (ours or remote); prints the Announce id."""
    try:
        boost = social.boost(orgs.require_org(handle), post_url)
    except ServiceError as exc:
        db.session.rollback()
        _fail(str(exc))
    click.echo(boost.uri)


@click.command("demo")
@with_appcontext
def demo_command():
    """On an empty hub, create a demo organisation and its owner (an administrator); say how to sign in."""
    if users.any_user():
        click.echo("The hub already has accounts; no demo data created.")
        return
    password = secrets.token_urlsafe(12)
    org = orgs.create_org("demo", "ອົງການສາທິດ Demo CSO", commit=False)
    user = users.create_user("admin@example.org", password, display_name="Demo admin", is_admin=True,
                             commit=False)
    orgs.add_member(org, user, "owner", commit=False)
    db.session.commit()
    base = f"{current_app.config['HUB_SCHEME']}://{current_app.config['HUB_DOMAIN']}"
    click.echo(f"Sign in at {base}/login as admin@example.org with password: {password}")
    click.echo("(Shown once. Change it under Settings, or: hub user password admin@example.org)")


@click.command("prune")
@with_appcontext
def prune_command():
    """Delete federation bookkeeping past its retention now (HUB_KEEP_*_DAYS); the worker does it
    every ten minutes while idle. Prints what went."""
    pruned = retention.prune()
    click.echo(f"received={pruned.received} deliveries={pruned.deliveries} activities={pruned.activities} "
               f"folded={pruned.folded}")


COMMANDS = (demo_command, org_group, network_group, user_group, post_command, follow_command,
            post_edit_command, post_delete_command, boost_command, prune_command)


def register_cli(app: Flask) -> None:
    """Attach the hub commands to the Flask CLI."""
    for command in COMMANDS:
        app.cli.add_command(command)
