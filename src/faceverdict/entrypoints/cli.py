"""The ``faceverdict`` command: scan files, serve the API, check a policy."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from faceverdict.entrypoints.cli_support import fail as _fail
from faceverdict.entrypoints.db_cli import db
from faceverdict.entrypoints.eval_cli import eval_command
from faceverdict.entrypoints.review_cli import demo, review_group, users
from faceverdict.entrypoints.worker_cli import assurance, rescan, webhooks, worker
from faceverdict.errors import CaptureRejected, ConfigurationError, FaceverdictError

if TYPE_CHECKING:
    from faceverdict.wiring.records import Records

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".avif"}


def _expand(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield path


@click.group()
@click.version_option(package_name="faceverdict")
def cli() -> None:
    """faceverdict: deepfake defence for identity verification."""


def main() -> None:
    """Entry point: any error ends with one line on stderr and a non-zero exit, no traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        _fail("aborted", 130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except FaceverdictError as exc:
        _fail(exc.detail)
    except Exception as exc:  # last resort: one line, never a traceback
        if os.environ.get("FACEVERDICT_DEBUG"):
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (set FACEVERDICT_DEBUG=1 for details)", 1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True
)
@click.option("--flow", default="onboarding", show_default=True, help="policy flow to apply")
def scan(paths: tuple[Path, ...], fmt: str, flow: str) -> None:
    """Judge image files (or folders of them) without a server; one JSON line per image."""
    from faceverdict.config import load_settings
    from faceverdict.domain.policy import ClientSignals
    from faceverdict.entrypoints.scan_output import rejected_record, scan_record
    from faceverdict.wiring.bootstrap import build_assessor

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"no such file or directory: {', '.join(missing)}")
    try:
        assessor = build_assessor(load_settings())
        flow_policy = assessor.flow(flow)
    except FaceverdictError as exc:
        _fail(exc.detail)
    rows: list[dict[str, Any]] = []
    for path in _expand(paths):
        try:
            data = path.read_bytes()
            record = scan_record(str(path), assessor.assess(data, flow, ClientSignals()))
        except CaptureRejected as exc:
            action = flow_policy.abstentions.get(exc.abstention)
            record = rejected_record(
                str(path),
                exc.abstention,
                exc.detail,
                action.value if action else "review",
                assessor.policy.version,
            )
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror}")
        if fmt == "jsonl":
            click.echo(json.dumps(record, sort_keys=False))
        else:
            rows.append(record)
    if fmt == "table":
        _table(rows)


def _table(rows: list[dict[str, Any]]) -> None:
    click.echo(f"{'score':>6}  {'action':<8} {'band':<10} {'abstained':<16} path")
    for r in rows:
        score = "-" if r["authenticity_score"] is None else f"{r['authenticity_score']:.1f}"
        click.echo(
            f"{score:>6}  {r['action']:<8} {r['band']:<10} {r['abstained'] or '-':<16} {r['path']}"
        )


@cli.command()
@click.option("--host", default=None, help="bind address (default from settings)")
@click.option("--port", default=None, type=int, help="port (default from settings)")
def serve(host: str | None, port: int | None) -> None:
    """Start the HTTP API on the configured database and storage."""
    import uvicorn

    from faceverdict.config import load_settings
    from faceverdict.entrypoints.api.app import create_app
    from faceverdict.entrypoints.background import Maintenance
    from faceverdict.entrypoints.worker import JobWorker
    from faceverdict.wiring.bootstrap import bootstrap

    try:
        settings = load_settings()
        application = bootstrap(settings)
        app = create_app(application)
    except FaceverdictError as exc:
        _fail(exc.detail)
    upkeep = Maintenance(application.records)  # checkpoints and retention, periodically
    upkeep.start()
    worker = JobWorker(application) if settings.embedded_worker else None
    if worker is not None:
        worker.start()  # the embedded default: jobs run in this process, durable in SQLite
    try:
        uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")
    finally:
        if worker is not None:
            worker.stop()
        upkeep.stop()
        application.close()


@cli.group()
def policy() -> None:
    """Policy files."""


@policy.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def policy_check(path: Path) -> None:
    """Validate a policy file and print its version and flows."""
    from faceverdict.policy import load_policy

    try:
        loaded = load_policy(path)
    except ConfigurationError as exc:
        _fail(exc.detail)
    click.echo(f"ok: policy {loaded.version}, flows: {', '.join(sorted(loaded.flows))}")


@cli.group()
def detectors() -> None:
    """Registered detectors."""


@detectors.command("list")
def detectors_list() -> None:
    """List registered detectors and their versions."""
    from faceverdict.detectors.registry import create_detector, list_detectors

    for name in list_detectors():
        info = create_detector(name).info
        click.echo(f"{info.name}\t{info.version}\t{info.kind.value}\t{info.description}")


def _records() -> Records:
    """Storage and record-keeping services from the settings (no detectors loaded)."""
    from faceverdict.config import load_settings
    from faceverdict.wiring.records import build_records

    try:
        records = build_records(load_settings())
    except FaceverdictError as exc:
        _fail(exc.detail)
    click.get_current_context().call_on_close(records.close)
    return records


def _read_vkey(value: str) -> str:
    """A vkey given inline, or the first line of a file that holds it."""
    path = Path(value)
    if "+" not in value or path.is_file():
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            _fail(f"cannot read public key file {value}: {exc.strerror}")
    return value.strip()


@cli.group()
def evidence() -> None:
    """The verifiable evidence log: keys, packages, checkpoints, audit."""


@evidence.command("public-key")
def evidence_public_key() -> None:
    """Print the log's verifier key (vkey) for auditors."""
    click.echo(_records().evidence.signer.vkey)


@evidence.command("verify")
@click.argument("package_file", metavar="PACKAGE.json", type=click.Path(path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    required=True,
    help="the log's vkey, or a file holding it (from a trusted channel)",
)
def evidence_verify(package_file: Path, public_key: str) -> None:
    """Verify an evidence package offline: no database, no network, no settings."""
    from faceverdict.evidence.errors import EvidenceError
    from faceverdict.evidence.verify import verify_package

    try:
        package = json.loads(package_file.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {package_file}: {exc.strerror}")
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(f"{package_file} is not JSON: {exc}", 1)
    try:
        report = verify_package(package, trusted_vkey=_read_vkey(public_key))
    except EvidenceError as exc:
        _fail(f"package does not verify: {exc.detail}", 1)
    if not report.ok:
        failures = report.failures
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        _fail(f"package does not verify: {failures[0]}{more}", 1)
    size = report.checkpoint.size if report.checkpoint else 0
    click.echo(
        f"ok: {len(report.entries)} entries verified against checkpoint {size} of {report.origin}"
    )


@evidence.command("verify-consistency")
@click.argument("old_checkpoint", metavar="OLD_CHECKPOINT", type=click.Path(path_type=Path))
@click.argument("proof_file", metavar="CONSISTENCY.json", type=click.Path(path_type=Path))
@click.option("--public-key", "public_key", required=True, help="the log's vkey, or its file")
def evidence_verify_consistency(old_checkpoint: Path, proof_file: Path, public_key: str) -> None:
    """Verify offline that a newer checkpoint extends one you hold (append-only history).

    CONSISTENCY.json is what GET /v1/evidence/consistency?old_size=N returns.
    """
    from faceverdict.evidence.errors import EvidenceError
    from faceverdict.evidence.verify import verify_consistency_between

    try:
        old = old_checkpoint.read_text(encoding="utf-8")
        body = json.loads(proof_file.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"cannot read {exc.filename}: {exc.strerror}")
    except (UnicodeDecodeError, ValueError) as exc:
        _fail(f"not a checkpoint and a JSON proof: {exc}", 1)
    proof = body.get("proof") if isinstance(body, dict) else None
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        _fail(f"{proof_file} has no 'checkpoint' and 'proof' (a list of base64 hashes)", 1)
    try:
        older, newer = verify_consistency_between(
            old, str(body.get("checkpoint", "")), proof, _read_vkey(public_key)
        )
    except EvidenceError as exc:
        _fail(f"not consistent: {exc.detail}", 1)
    click.echo(f"ok: tree {newer.size} of {newer.origin} extends tree {older.size}")


@evidence.command("audit")
@click.option("--public-key", "public_key", default=None, help="vkey to trust (default: own key)")
def evidence_audit(public_key: str | None) -> None:
    """Re-verify the whole stored log: entries, subtree hashes, checkpoints, consistency."""
    from faceverdict.evidence.checkpoint import parse_vkey
    from faceverdict.evidence.errors import EvidenceError

    records = _records()
    try:
        vkey = parse_vkey(_read_vkey(public_key)) if public_key else None
    except EvidenceError as exc:
        _fail(f"--public-key: {exc.detail}")
    report = records.evidence.audit(vkey)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"FAIL {problem}")
        _fail(f"audit failed: {report.problem_count} problems in a log of {report.size}", 1)
    click.echo(
        f"ok: {report.size} entries ({report.entries_expired} expired), "
        f"{report.checkpoints_checked} checkpoints verified; "
        f"{report.unsigned} entries after the latest checkpoint"
    )


@evidence.command("checkpoint")
def evidence_checkpoint() -> None:
    """Sign a checkpoint of the log now and print it."""
    click.echo(_records().evidence.checkpoint().note, nl=False)


@evidence.command("export")
@click.argument("check_id")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="file (default stdout)")
def evidence_export(check_id: str, out: Path | None) -> None:
    """Write the evidence package of a check (what GET /v1/checks/{id}/evidence returns)."""
    package = _records().packages.package(check_id)
    text = json.dumps(package, indent=2, ensure_ascii=False) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@evidence.command("keygen")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="new key file")
@click.option("--name", default=None, help="key name (default: the log origin)")
def evidence_keygen(out: Path, name: str | None) -> None:
    """Create a checkpoint signing key file (mode 0600) and print its vkey."""
    from faceverdict.adapters.file_signing_key import load_signing_key
    from faceverdict.config import load_settings

    if out.exists():
        _fail(f"{out} exists; refusing to overwrite a key")
    key_name = name or load_settings().evidence_origin
    click.echo(str(load_signing_key(out, name=key_name, create=True).verifier_key()))


@cli.group()
def keys() -> None:
    """Key-encryption keys for captures at rest."""


@keys.command("new-kek")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="new key file")
def keys_new_kek(out: Path) -> None:
    """Create a local key-encryption key file (mode 0600) for FACEVERDICT_KEK_FILE."""
    from faceverdict.adapters.local_key_store import LocalKeyStore

    if out.exists():
        _fail(f"{out} exists; refusing to overwrite a key")
    click.echo(f"created {out} ({LocalKeyStore.from_file(out, create=True).kek_id})")


@cli.group()
def subjects() -> None:
    """Data subjects (the people behind captures)."""


@subjects.command("erase")
@click.argument("subject_ref")
def subjects_erase(subject_ref: str) -> None:
    """Erase a subject: destroy its data key, delete its captures, log the erasure."""
    erasure = _records().erasure.erase(subject_ref, requested_by="cli")
    click.echo(
        f"erased: {erasure.captures_deleted} captures deleted, "
        f"{len(erasure.keys_destroyed)} keys destroyed, {len(erasure.checks)} checks kept "
        f"explainable; evidence entry {erasure.evidence_seq}"
    )


@cli.group()
def retention() -> None:
    """Retention of captures and evidence."""


@retention.command("sweep")
def retention_sweep() -> None:
    """Delete captures and expire evidence that the policy says are due; idempotent."""
    report = _records().retention.sweep()
    where = f"; evidence entry {report.evidence_seq}" if report.evidence_seq is not None else ""
    click.echo(
        f"swept: {len(report.captures_deleted)} captures deleted, "
        f"{len(report.checks_expired)} checks expired ({report.entries_expired} entries)"
        f"{where}"
    )


cli.add_command(worker)  # scale-out job worker
cli.add_command(assurance)  # assurance sweep by hand
cli.add_command(webhooks)  # dead letters and replay
cli.add_command(eval_command)  # evaluation report on a labelled manifest
cli.add_command(rescan)  # re-evaluate stored captures with a newer model
cli.add_command(users)  # reviewer accounts
cli.add_command(review_group)  # review export
cli.add_command(demo)  # a seeded review queue from synthetic captures
cli.add_command(db)  # schema migrations: db upgrade, db current


if __name__ == "__main__":
    main()
