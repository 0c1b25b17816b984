"""CLI commands of human review: ``users`` (accounts), ``review export`` and ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from faceverdict.domain.review import Role
from faceverdict.entrypoints.cli_support import fail as _fail
from faceverdict.errors import FaceverdictError

if TYPE_CHECKING:
    from faceverdict.wiring.review import Review


def _wired() -> Review:
    """The wired review services of the configured deployment."""
    from faceverdict.config import load_settings
    from faceverdict.wiring.bootstrap import bootstrap

    try:
        application = bootstrap(load_settings(), record_config=False)
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.get_current_context().call_on_close(application.close)
    if application.review is None:
        _fail("review is not configured")
    return application.review


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@click.group()
def users() -> None:
    """Reviewer accounts of the web UI (roles: reviewer, senior, admin)."""


@users.command("create")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.REVIEWER.value,
    show_default=True,
)
@click.option("--name", "display_name", default=None, help="display name (default: username)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_create(username: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create a reviewer account (the password is hashed with argon2id)."""
    review = _wired()
    try:
        account = review.accounts.create(
            username, _password(password_stdin), Role(role), display_name
        )
    except FaceverdictError as exc:
        _fail(exc.detail)
    except Exception as exc:  # DuplicateUsername and friends: one line, no traceback
        _fail(f"cannot create {username!r}: {type(exc).__name__} {exc}")
    click.echo(f"created {account.username} ({account.role.value})")


@users.command("list")
def users_list() -> None:
    """List accounts."""
    for a in _wired().accounts.accounts():
        state = "active" if a.active else "disabled"
        click.echo(f"{a.username}\t{a.role.value}\t{state}\t{a.display_name}")


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def users_set_password(username: str, password_stdin: bool) -> None:
    """Replace a password (ends the account's sessions)."""
    try:
        _wired().accounts.set_password(username, _password(password_stdin))
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.echo(f"password of {username} changed")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable an account (ends its sessions)."""
    try:
        _wired().accounts.set_active(username, False)
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.echo(f"{username} disabled")


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Enable a disabled account."""
    try:
        _wired().accounts.set_active(username, True)
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.echo(f"{username} enabled")


@click.group("review")
def review_group() -> None:
    """Human review: export labelled examples."""


@review_group.command("export")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--licence", required=True, help="licence/usage terms written in the manifest")
@click.option("--actor", default="cli", show_default=True, help="who exports (logged)")
@click.option("--overwrite", is_flag=True, help="replace an existing MANIFEST.csv")
def review_export(out: Path, licence: str, actor: str, overwrite: bool) -> None:
    """Write reviewed captures and MANIFEST.csv (shared dataset columns); erased subjects
    and inconclusive cases are left out."""
    try:
        summary = _wired().reports.export(out, actor, licence, overwrite)
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.echo(
        f"wrote {summary.written} examples to {summary.manifest} "
        f"(left out: {summary.skipped_inconclusive} inconclusive, "
        f"{summary.skipped_erased} erased or expired)"
    )


@click.command()
@click.option("--captures", default=20, show_default=True, type=click.IntRange(1, 500))
@click.option("--password", default=None, help="password of the demo accounts (default: random)")
@click.option("--serve/--no-serve", default=False, help="start the service afterwards")
@click.option("--host", default=None, help="bind address when serving")
@click.option("--port", default=None, type=int, help="port when serving")
@click.pass_context
def demo(
    ctx: click.Context,
    captures: int,
    password: str | None,
    serve: bool,
    host: str | None,
    port: int | None,
) -> None:
    """Seed a realistic review queue from synthetic captures (development mode only)."""
    from faceverdict.config import Mode, load_settings
    from faceverdict.entrypoints.demo import DemoHeatmaps, demo_captures
    from faceverdict.entrypoints.demo_seed import DemoClock, seed_demo
    from faceverdict.wiring.bootstrap import bootstrap
    from faceverdict.wiring.ensembles import build_ensemble

    try:
        settings = load_settings()
        if settings.mode is not Mode.DEVELOPMENT:
            _fail("the demo seeds fake data: it runs in development mode only")
        made = demo_captures(captures)
        ensemble = build_ensemble(settings)
        ensemble.detectors.append(DemoHeatmaps(made))
        clock = DemoClock()
        application = bootstrap(settings, ensemble=ensemble, clock=clock, record_config=False)
        ctx.call_on_close(application.close)
        if application.review is None:
            _fail("review is not configured")
        click.echo(f"seeding {len(made)} synthetic captures into {settings.data_dir} ...")
        summary = seed_demo(application, application.review, made, clock, password)
    except FaceverdictError as exc:
        _fail(exc.detail)
    url = f"http://{host or settings.host}:{port or settings.port}/review/"
    click.echo(f"{summary.checks} checks, {summary.tasks} review tasks queued.")
    click.echo(f"Reviewer UI: {url}")
    accounts = "alice, bob (reviewer), sam (senior), ada (admin)"
    if summary.password:
        click.echo(f"Sign in as {accounts} with password: {summary.password}")
    else:
        click.echo(f"Accounts {accounts} already existed; their passwords are unchanged.")
    if serve:
        group = ctx.parent.command if ctx.parent else None
        command = group.get_command(ctx, "serve") if isinstance(group, click.Group) else None
        if command is None:
            _fail("no serve command")
        ctx.invoke(command, host=host, port=port)
