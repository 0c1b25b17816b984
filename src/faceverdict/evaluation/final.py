"""What the product finally decides when asynchronous assurance may supersede the inline
decision.

``faceverdict eval`` measures one ensemble at a time. A deployment answers with the inline
ensemble, then the worker judges every check the policy selects for assurance (gray band,
chosen actions, chosen flows) with the assurance ensemble and, where that action differs,
a superseding decision replaces the inline one. This module replays that on two reports of
the same images: the inline report's actions, with each selected check given the assurance
report's action (unless it is less severe and the flow's ``may_relax`` is false).

Usage::

    python -m faceverdict.evaluation.final --inline docs/eval/scores.csv \\
        --assurance docs/eval/assurance/scores.csv [--policy FILE] [--flow onboarding]

The keyed-hash sample (``sample_fraction``) depends on decision ids and is not replayed; the
bundled policy samples nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceverdict.domain.assurance import AssuranceRules
from faceverdict.domain.policy import Action
from faceverdict.errors import ConfigurationError
from faceverdict.policy import load_policy_file


@dataclass(frozen=True)
class FinalOutcome:
    """One image: the inline action, whether assurance looked again, the final action."""

    relpath: str
    fake: bool
    family: str
    inline_action: Action
    assured: bool
    final_action: Action


def final_outcomes(
    inline: Sequence[Mapping[str, str]],
    assurance: Mapping[str, Mapping[str, str]],
    rules: AssuranceRules,
    final_actions: frozenset[Action],
) -> list[FinalOutcome]:
    """Replay the worker on each inline row (``scores.csv`` rows, keyed by relpath)."""
    outcomes = []
    for row in inline:
        action = Action(row["action"])
        score = float(row["authenticity_score"]) if row["authenticity_score"] else None
        why = rules.reasons(action=action, final=action in final_actions, score=score, draw=1.0)
        assured = Action(assurance[row["relpath"]]["action"]) if why else action
        final = assured if rules.allows(action, assured) else action
        outcomes.append(
            FinalOutcome(
                relpath=row["relpath"],
                fake=row["label"] == "fake",
                family=row["family"],
                inline_action=action,
                assured=bool(why),
                final_action=final,
            )
        )
    return outcomes


def summarise(outcomes: Sequence[FinalOutcome]) -> dict[str, Any]:
    """BPCER (genuine not accepted) and APCER (attacks accepted), inline and final, with how
    many checks assurance relaxed to ``accept``, how many it moved away from it and how many
    it made more severe (``step_up`` -> ``review``, for instance)."""

    def share(items: list[FinalOutcome], accepted: bool, final: bool) -> float:
        hits = [(o.final_action if final else o.inline_action) is Action.ACCEPT for o in items]
        return round(sum(h == accepted for h in hits) / max(len(items), 1), 4)

    reals = [o for o in outcomes if not o.fake]
    fakes = [o for o in outcomes if o.fake]

    def moves(items: list[FinalOutcome]) -> dict[str, int]:
        return {
            "assured": sum(o.assured for o in items),
            "relaxed_to_accept": sum(
                o.inline_action is not Action.ACCEPT and o.final_action is Action.ACCEPT
                for o in items
            ),
            "moved_from_accept": sum(
                o.inline_action is Action.ACCEPT and o.final_action is not Action.ACCEPT
                for o in items
            ),
            "escalated": sum(o.final_action.severity > o.inline_action.severity for o in items),
        }

    families = sorted({o.family for o in fakes})
    return {
        "n_real": len(reals),
        "n_fake": len(fakes),
        "bpcer": {"inline": share(reals, False, False), "final": share(reals, False, True)},
        "apcer": {"inline": share(fakes, True, False), "final": share(fakes, True, True)},
        "apcer_by_family": {
            f: {
                "inline": share([o for o in fakes if o.family == f], True, False),
                "final": share([o for o in fakes if o.family == f], True, True),
            }
            for f in families
        },
        "real": moves(reals),
        "fake": moves(fakes),
    }


def markdown(summary: Mapping[str, Any]) -> str:
    """The summary as a short Markdown table."""

    def pct(x: float) -> str:
        return f"{100 * x:.1f} %"

    lines = [
        "| measure | inline decision | final decision (after assurance) |",
        "|---|---|---|",
        f"| BPCER (genuine not accepted, n {summary['n_real']}) | "
        f"{pct(summary['bpcer']['inline'])} | {pct(summary['bpcer']['final'])} |",
        f"| APCER (attacks accepted, n {summary['n_fake']}) | "
        f"{pct(summary['apcer']['inline'])} | {pct(summary['apcer']['final'])} |",
    ]
    for family, rates in summary["apcer_by_family"].items():
        lines.append(f"| APCER {family} | {pct(rates['inline'])} | {pct(rates['final'])} |")
    for label in ("real", "fake"):
        m = summary[label]
        lines.append(
            f"| {label}: assured / relaxed to accept / moved from accept / escalated | "
            f"{m['assured']} | {m['relaxed_to_accept']} / {m['moved_from_accept']}"
            f" / {m['escalated']} |"
        )
    return "\n".join(lines)


def _read(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise SystemExit(f"cannot read {path}: {exc.strerror}") from None
    needed = {"relpath", "label", "family", "authenticity_score", "action"}
    if not rows or not needed <= set(rows[0]):
        raise SystemExit(f"{path} is not a faceverdict eval scores.csv (needs {sorted(needed)})")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print the final-decision table (and write JSON with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inline", type=Path, required=True, help="inline scores.csv")
    parser.add_argument("--assurance", type=Path, required=True, help="assurance scores.csv")
    parser.add_argument("--policy", type=Path, default=None, help="default: the bundled one")
    parser.add_argument("--flow", default="onboarding")
    parser.add_argument("--out", type=Path, default=None, help="write the summary as JSON")
    args = parser.parse_args(argv)
    inline = _read(args.inline)
    assurance = {row["relpath"]: row for row in _read(args.assurance)}
    missing = [row["relpath"] for row in inline if row["relpath"] not in assurance]
    if missing:
        raise SystemExit(
            f"{len(missing)} inline images are not in {args.assurance}, e.g. {missing[0]}"
        )
    try:
        policy = load_policy_file(args.policy)
        rules = policy.assurance.for_flow(args.flow)
        flow = policy.decisions.flow(args.flow)
    except ConfigurationError as exc:
        raise SystemExit(str(exc)) from None
    except KeyError:
        raise SystemExit(f"unknown flow {args.flow!r}") from None
    summary = summarise(final_outcomes(inline, assurance, rules, flow.final_actions))
    print(markdown(summary))
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
