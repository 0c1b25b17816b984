"""The final-decision replay: selected checks take the assurance action, others keep theirs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from faceverdict.domain.assurance import AssuranceRules
from faceverdict.domain.policy import Action
from faceverdict.evaluation.final import final_outcomes, main, summarise

RULES = AssuranceRules(
    enabled=True, min_score=60, max_score=90, actions=frozenset({Action.STEP_UP})
)
FINAL = frozenset({Action.ACCEPT, Action.REJECT})


def row(relpath: str, label: str, score: str, action: str, family: str = "f") -> dict[str, str]:
    return {
        "relpath": relpath,
        "label": label,
        "family": family if label == "fake" else "camera",
        "authenticity_score": score,
        "action": action,
    }


INLINE = [
    row("a", "fake", "75", "step_up"),  # gray band: assured, relaxed to accept
    row("b", "fake", "95", "accept"),  # final: never assured
    row("c", "real", "", "step_up"),  # abstained, step_up action: assured
    row("d", "real", "40", "review"),  # not final, not in band, not a chosen action
    row("e", "fake", "70", "step_up", family="g"),  # assured, stays step_up
    row("f", "fake", "80", "step_up", family="g"),  # assured, escalated to review
]
ASSURANCE = {
    "a": row("a", "fake", "93", "accept"),
    "b": row("b", "fake", "20", "review"),
    "c": row("c", "real", "97", "accept"),
    "d": row("d", "real", "99", "accept"),
    "e": row("e", "fake", "65", "step_up", family="g"),
    "f": row("f", "fake", "45", "review", family="g"),
}


def test_only_selected_checks_take_the_assurance_action() -> None:
    outcomes = {o.relpath: o for o in final_outcomes(INLINE, ASSURANCE, RULES, FINAL)}
    assert [outcomes[k].assured for k in "abcdef"] == [True, False, True, False, True, True]
    assert outcomes["a"].final_action is Action.ACCEPT
    assert outcomes["b"].final_action is Action.ACCEPT  # a final decision is never superseded
    assert outcomes["c"].final_action is Action.ACCEPT
    assert outcomes["d"].final_action is Action.REVIEW
    assert outcomes["e"].final_action is Action.STEP_UP
    assert outcomes["f"].final_action is Action.REVIEW
    strict = AssuranceRules(
        enabled=True,
        min_score=60,
        max_score=90,
        actions=frozenset({Action.STEP_UP}),
        may_relax=False,
    )
    kept = {o.relpath: o for o in final_outcomes(INLINE, ASSURANCE, strict, FINAL)}
    assert kept["a"].final_action is Action.STEP_UP  # not relaxed
    assert kept["c"].final_action is Action.STEP_UP
    assert kept["f"].final_action is Action.REVIEW  # escalating is always allowed
    disabled = final_outcomes(INLINE, ASSURANCE, AssuranceRules(enabled=False), FINAL)
    assert all(o.final_action is o.inline_action for o in disabled)


def test_summary_counts_relaxations_and_escalations_by_class() -> None:
    summary = summarise(final_outcomes(INLINE, ASSURANCE, RULES, FINAL))
    assert summary["apcer"] == {"inline": 0.25, "final": 0.5}
    assert summary["bpcer"] == {"inline": 1.0, "final": 0.5}
    assert summary["fake"] == {
        "assured": 3,
        "relaxed_to_accept": 1,
        "moved_from_accept": 0,
        "escalated": 1,
    }
    assert summary["real"] == {
        "assured": 1,
        "relaxed_to_accept": 1,
        "moved_from_accept": 0,
        "escalated": 0,
    }
    assert summary["apcer_by_family"]["g"] == {"inline": 0.0, "final": 0.0}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_command_prints_the_table_and_refuses_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = _write(tmp_path / "inline.csv", INLINE)
    assurance = _write(tmp_path / "assurance.csv", list(ASSURANCE.values()))
    main(
        ["--inline", str(inline), "--assurance", str(assurance), "--out", str(tmp_path / "s.json")]
    )
    assert "| APCER (attacks accepted, n 4) |" in capsys.readouterr().out
    written = json.loads((tmp_path / "s.json").read_text())
    # The bundled policy never relaxes (may_relax = false): the final APCER is the inline one.
    assert written["apcer"] == {"inline": 0.25, "final": 0.25}
    assert written["fake"]["relaxed_to_accept"] == 0
    assert written["fake"]["escalated"] == 1
    short = _write(tmp_path / "short.csv", list(ASSURANCE.values())[:2])
    with pytest.raises(SystemExit, match="4 inline images are not in"):
        main(["--inline", str(inline), "--assurance", str(short)])
    with pytest.raises(SystemExit, match="unknown flow"):
        main(["--inline", str(inline), "--assurance", str(assurance), "--flow", "nope"])
    with pytest.raises(SystemExit, match="is not a faceverdict eval scores"):
        main(
            [
                "--inline",
                str(_write(tmp_path / "x.csv", [{"a": "1"}])),
                "--assurance",
                str(assurance),
            ]
        )
