"""The final-decision replay: selected checks take the assurance action, others keep theirs."""

from __future__ import annotations

import csv
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
]
ASSURANCE = {
    "a": row("a", "fake", "93", "accept"),
    "b": row("b", "fake", "20", "review"),
    "c": row("c", "real", "97", "accept"),
    "d": row("d", "real", "99", "accept"),
    "e": row("e", "fake", "65", "step_up", family="g"),
}


def test_only_selected_checks_take_the_assurance_action() -> None:
    outcomes = {o.relpath: o for o in final_outcomes(INLINE, ASSURANCE, RULES, FINAL)}
    assert [outcomes[k].assured for k in "abcde"] == [True, False, True, False, True]
    assert outcomes["a"].final_action is Action.ACCEPT
    assert outcomes["b"].final_action is Action.ACCEPT  # a final decision is never superseded
    assert outcomes["c"].final_action is Action.ACCEPT
    assert outcomes["d"].final_action is Action.REVIEW
    assert outcomes["e"].final_action is Action.STEP_UP
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
    disabled = final_outcomes(INLINE, ASSURANCE, AssuranceRules(enabled=False), FINAL)
    assert all(o.final_action is o.inline_action for o in disabled)


def test_summary_counts_relaxations_by_class() -> None:
    summary = summarise(final_outcomes(INLINE, ASSURANCE, RULES, FINAL))
    assert summary["apcer"] == {
        "inline": pytest.approx(1 / 3, abs=1e-4),
        "final": pytest.approx(2 / 3, abs=1e-4),
    }
    assert summary["bpcer"] == {"inline": 1.0, "final": 0.5}
    assert summary["fake"] == {"assured": 2, "relaxed_to_accept": 1, "moved_from_accept": 0}
    assert summary["real"] == {"assured": 1, "relaxed_to_accept": 1, "moved_from_accept": 0}
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
    assert "| APCER (attacks accepted, n 3) |" in capsys.readouterr().out
    assert (tmp_path / "s.json").is_file()
    short = _write(tmp_path / "short.csv", list(ASSURANCE.values())[:2])
    with pytest.raises(SystemExit, match="3 inline images are not in"):
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
