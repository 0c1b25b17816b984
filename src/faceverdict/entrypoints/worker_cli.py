"""``faceverdict worker`` and ``faceverdict assurance ...``: background work from the shell."""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING

import click

from faceverdict.errors import FaceverdictError

if TYPE_CHECKING:
    from faceverdict.ports.rescans import RescanRun
    from faceverdict.services.rescan import RescanService


@click.command()
@click.option("--threads", default=None, type=int, help="job threads (default from settings)")
def worker(threads: int | None) -> None:
    """Run queued jobs until SIGTERM or SIGINT (scale-out: start as many as needed)."""
    from faceverdict.config import load_settings
    from faceverdict.entrypoints.worker import JobWorker
    from faceverdict.wiring.bootstrap import bootstrap

    try:
        overrides = {} if threads is None else {"worker_threads": threads}
        application = bootstrap(load_settings(**overrides))
    except FaceverdictError as exc:
        raise click.ClickException(exc.detail) from None
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    runner = JobWorker(application)
    runner.start()
    click.echo(f"worker started ({application.settings.job_queue} queue)", err=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        runner.stop()
        application.close()


@click.group()
def assurance() -> None:
    """Asynchronous assurance."""


@assurance.command("reconcile")
def assurance_reconcile() -> None:
    """Enqueue again the checks that stayed in ``assuring`` past their lease."""
    from faceverdict.config import load_settings
    from faceverdict.wiring.bootstrap import bootstrap

    try:
        application = bootstrap(load_settings(), record_config=False)
    except FaceverdictError as exc:
        raise click.ClickException(exc.detail) from None
    try:
        found = application.assurance.reconcile() if application.assurance else 0
    finally:
        application.close()
    click.echo(f"re-enqueued {found} checks")


@click.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("dead-letters")
def webhooks_dead_letters() -> None:
    """List the deliveries given up on, one JSON line each."""
    import json

    from faceverdict.config import load_settings
    from faceverdict.wiring.bootstrap import bootstrap

    application = bootstrap(load_settings(), record_config=False)
    try:
        assert application.webhooks is not None
        for d in application.webhooks.dead_letters():
            click.echo(
                json.dumps(
                    {
                        "delivery_id": d.delivery_id,
                        "endpoint_id": d.endpoint_id,
                        "event_type": d.event_type,
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                        "created_at": d.created_at.isoformat(),
                    }
                )
            )
    finally:
        application.close()


@webhooks.command("replay")
@click.argument("delivery_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead-lettered delivery")
def webhooks_replay(delivery_ids: tuple[str, ...], replay_all: bool) -> None:
    """Send dead-lettered deliveries again (same webhook-id); a worker delivers them."""
    from faceverdict.config import load_settings
    from faceverdict.wiring.bootstrap import bootstrap

    application = bootstrap(load_settings(), record_config=False)
    try:
        service = application.webhooks
        assert service is not None
        ids = list(delivery_ids)
        if replay_all:
            ids += [d.delivery_id for d in service.dead_letters()]
        if not ids:
            raise click.UsageError("name delivery ids, or pass --all")
        for delivery_id in dict.fromkeys(ids):
            try:
                service.replay(delivery_id)
            except FaceverdictError as exc:
                raise click.ClickException(exc.detail) from None
            click.echo(f"replayed {delivery_id}")
    finally:
        application.close()


@click.command()
@click.option("--model", "model_version", required=True, help="model version the workers run")
@click.option("--since", type=click.DateTime(), default=None, help="captures stored from DATE")
@click.option("--flow", default=None, help="only this flow")
@click.option("--resume", "run_id", default=None, help="continue this run (its id)")
@click.option("--wait/--no-wait", default=True, show_default=True, help="show progress to the end")
@click.option(
    "--stall-seconds",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="warn when no capture was re-scanned for this long (is a worker running?)",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=0.0,
    help="stop waiting after this many seconds (exit 1; the run goes on); 0: no limit",
)
def rescan(
    model_version: str,
    since: datetime | None,
    flow: str | None,
    run_id: str | None,
    wait: bool,
    stall_seconds: float,
    timeout: float,
) -> None:
    """Judge stored, not erased captures again with MODEL, through the workers.

    Resumable: an interrupted run continues with ``--resume RUN_ID``. Only decisions whose
    action changes are superseded (and sent as ``decision.superseded`` webhooks).
    """
    from faceverdict.config import load_settings
    from faceverdict.wiring.bootstrap import bootstrap

    try:
        application = bootstrap(load_settings(), record_config=False)
    except FaceverdictError as exc:
        raise click.ClickException(exc.detail) from None
    try:
        service = application.rescans
        assert service is not None
        when = since.replace(tzinfo=UTC) if since and since.tzinfo is None else since
        try:
            run = service.start(model_version, since=when, flow=flow, run_id=run_id)
        except FaceverdictError as exc:
            raise click.ClickException(exc.detail) from None
        click.echo(f"re-scan run {run.run_id} (resume with --resume {run.run_id})", err=True)
        service.resume(run.run_id)  # items listed before an interruption
        while service.feed(run.run_id):
            pass
        run = service.run(run.run_id)
        if not wait:
            click.echo(f"{run.run_id}: {run.enqueued} captures queued")
            return
        run = _follow(service, run.run_id, stall_seconds, timeout)
        click.echo(f"{run.run_id}: {run.done} re-scanned, {run.changed} decisions changed")
    finally:
        application.close()


def _follow(service: RescanService, run_id: str, stall_seconds: float, timeout: float) -> RescanRun:
    """Show a run's progress until it is finished; warn once per stall, give up at timeout."""
    run = service.run(run_id)
    started = last_progress = time.monotonic()
    warned = False
    with click.progressbar(length=run.enqueued, label="re-scanning", file=sys.stderr) as bar:
        shown = run.done
        bar.update(shown)
        while not run.finished:
            time.sleep(0.5)
            run = service.run(run_id)
            now = time.monotonic()
            if run.done > shown:
                bar.update(run.done - shown)
                shown, last_progress, warned = run.done, now, False
            elif not warned and now - last_progress >= stall_seconds:
                warned = True
                click.echo(
                    f"\nno capture re-scanned for {stall_seconds:.0f} s: is a worker running? "
                    "Start `faceverdict worker` (scale-out) or `faceverdict serve` (embedded); "
                    f"the run waits in the queue (resume with --resume {run_id}).",
                    err=True,
                )
            if timeout and now - started >= timeout:
                raise click.ClickException(
                    f"{run_id}: {run.done} of {run.enqueued} re-scanned after {timeout:.0f} s; "
                    f"the run goes on in the workers (follow it with --resume {run_id})"
                )
    return run
