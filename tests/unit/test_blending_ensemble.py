"""The blending seed ensemble: one ONNX graph that averages finished runs of one recipe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceverdict.training.blending_args import parse_args
from faceverdict.training.blending_ensemble import (
    combine_onnx,
    display_path,
    ensemble_command,
    member_command,
    read_members,
    recipe_argv,
    weight_count,
)
from faceverdict.training.blending_history import History
from faceverdict.training.blending_recipe_card import recipe_lines
from faceverdict.training.model_card import hand_written

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = 32  # a multiple of the 16-px boundary grid
RECIPE = ["--extra-fakes", "--max-minutes", "70", "--threads", "2"]


def tiny_member(
    path: Path, scale: float, *, outputs: tuple[str, str] = ("fake_logit", "boundary")
) -> Path:
    """A stand-in with the detector's interface: logit = scale * mean(image); a pooled map."""
    from onnx import TensorProto, helper

    logit, boundary = outputs
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["pooled"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["pooled", "axis1"], ["pooled1"]),
        helper.make_node("Mul", ["pooled1", "scale"], [logit]),
        helper.make_node(
            "AveragePool", ["image"], ["cells"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        helper.make_node("ReduceMean", ["cells"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["grey", "scale"], ["scaled"]),
        helper.make_node("Sigmoid", ["scaled"], [boundary]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info(logit, TensorProto.FLOAT, ["n", 1]),
            helper.make_tensor_value_info(boundary, TensorProto.FLOAT, ["n", 1, 2, 2]),
        ],
        initializer=[
            helper.make_tensor("scale", TensorProto.FLOAT, [], [scale]),
            helper.make_tensor("axis1", TensorProto.INT64, [1], [1]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run(path: Path, image: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(o) for o in session.run(None, {"image": image})]


def test_the_ensemble_outputs_the_mean_of_its_members(tmp_path: Path) -> None:
    members = [tiny_member(tmp_path / f"m{i}.onnx", s) for i, s in enumerate((0.01, -0.03, 0.05))]
    out = tmp_path / "ensemble.onnx"

    assert combine_onnx(members, out, size=SIZE) < 1e-6

    image = np.random.default_rng(1).uniform(0, 255, (2, 3, SIZE, SIZE)).astype(np.float32)
    got = run(out, image)
    each = [run(m, image) for m in members]
    for index in range(2):
        np.testing.assert_allclose(got[index], np.mean([e[index] for e in each], axis=0), rtol=1e-6)
    # The members really differ, so the mean is not one of them.
    assert not np.allclose(each[0][0], each[1][0])
    # What the members compute alike (the frozen backbone, here the pooling) runs once;
    # what differs (their own weights) runs per member.
    ops = [node.op_type for node in onnx.load(str(out)).graph.node]
    assert ops.count("AveragePool") == 1
    assert ops.count("Sigmoid") == 3
    # Identical weights (the int64 axis) are stored once; each member's own scale stays.
    assert weight_count(members[0]) == 2
    assert weight_count(out) == 4  # three scales, one shared axis
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["fake_logit", "boundary"]


def test_combining_refuses_one_member_or_another_interface(tmp_path: Path) -> None:
    good = tiny_member(tmp_path / "good.onnx", 0.01)
    other = tiny_member(tmp_path / "other.onnx", 0.02, outputs=("score", "map"))

    with pytest.raises(ValueError, match="at least two"):
        combine_onnx([good], tmp_path / "out.onnx", size=SIZE)
    with pytest.raises(ValueError, match="not the detector's"):
        combine_onnx([good, other], tmp_path / "out.onnx", size=SIZE)
    assert not (tmp_path / "out.onnx").exists()


def test_recipe_argv_drops_only_the_seed_and_the_paths() -> None:
    argv = [*RECIPE, "--seed", "1", "--out=/x", "--work", "/y", "--card", "/z/c.md"]

    assert recipe_argv(argv) == RECIPE
    assert recipe_argv(["--seed=3", *RECIPE]) == RECIPE


def test_cards_do_not_name_the_trainers_home_folder() -> None:
    assert display_path(Path.home() / "runs" / "s0") == "~/runs/s0"
    assert display_path(Path("/srv/runs")) == "/srv/runs"


def finished_run(folder: Path, seed: int, scale: float, recipe: list[str] = RECIPE) -> Path:
    """A run folder as the recipe leaves it: the ONNX file and run.json."""
    folder.mkdir(parents=True)
    tiny_member(folder / "blending_v1.onnx", scale)
    argv = [*recipe, "--seed", str(seed), "--out", str(folder), "--work", str(folder)]
    history = History(steps_done=10, planned_steps=10, best_step=9, best_loss=0.5, schedule="0:10")
    record = {
        "argv": argv,
        "history": history.__dict__,
        "export": {"parameters": 7, "max_diff": 1e-6, "device": "cpu (x86_64)"},
        "counts": {"val_sbi_faces": 300},
    }
    (folder / "run.json").write_text(json.dumps(record))
    return folder


def test_members_must_be_distinct_seeds_of_one_recipe(tmp_path: Path) -> None:
    a = finished_run(tmp_path / "a", 0, 0.01)
    b = finished_run(tmp_path / "b", 1, 0.02)
    same_seed = finished_run(tmp_path / "c", 1, 0.03)
    other_recipe = finished_run(tmp_path / "d", 2, 0.03, [*RECIPE, "--lr", "0.001"])
    unfinished = tmp_path / "e"
    unfinished.mkdir()

    members = read_members([a, b])
    assert [m.seed for m in members] == [0, 1]
    assert members[0].sha256 != members[1].sha256
    with pytest.raises(ValueError, match="repeat a seed"):
        read_members([a, b, same_seed])
    with pytest.raises(ValueError, match="more than their seed"):
        read_members([a, other_recipe])
    with pytest.raises(ValueError, match="finished training run"):
        read_members([a, unfinished])
    with pytest.raises(ValueError, match="at least two"):
        read_members([a])


def test_the_card_gives_both_commands_and_every_run(tmp_path: Path) -> None:
    members = read_members(
        [finished_run(tmp_path / "s0", 0, 0.01), finished_run(tmp_path / "s1", 1, 0.02)]
    )
    args = parse_args(members[0].argv)

    text = "\n".join(
        recipe_lines(args, ["--ensemble-of"], {"val_sbi_faces": 300}, History(), {}, members)
    )

    assert member_command(members) in text
    assert ensemble_command(members) in text
    assert "--seed S --out RUN" in text
    assert f"S -> RUN: 0 -> {tmp_path / 's0'}, 1 -> {tmp_path / 's1'}" in text
    assert "### Run with seed 0" in text
    assert "### Run with seed 1" in text
    assert members[1].sha256 in text


def test_a_regenerated_card_keeps_its_hand_written_sections(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("# Card\n\n## References\n\n- x\n\n## Why (hand-written)\n\nBecause.\n")

    assert hand_written(card) == ["", "## Why (hand-written)", "", "Because."]
    assert hand_written(tmp_path / "missing.md") == []
