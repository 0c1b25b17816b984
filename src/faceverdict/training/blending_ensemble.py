"""A seed ensemble of the blending detector as one ONNX graph with the detector's interface.

Runs of the same recipe that differ only in their seed disagree by up to 0.15 AUC on a
photoshop family (docs/models/blending.md, "Why these weights"). Averaging the members' fake
logits and boundary maps removes part of that run-to-run variance without choosing between
runs. ``combine_onnx`` joins the members' exported graphs side by side: one ``image`` input
feeds every member, and ``fake_logit`` / ``boundary`` are the element-wise means, so the
service, the metrics and the calibration read the ensemble exactly as they read one model.
The members' frozen stem and first blocks are the same ImageNet layers, so they run once
(``shared_nodes``): two members cost about 1.9 times one, not 2.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceverdict.detectors.blending import INPUT_SIZE, MODEL_NAME
from faceverdict.detectors.model_files import sha256_file
from faceverdict.training.blending_args import parse_args

INPUT = "image"
OUTPUTS = ("fake_logit", "boundary")


def combine_onnx(members: Sequence[Path], out: Path, size: int = INPUT_SIZE) -> float:
    """Write the mean of ``members`` to ``out``; returns the max |ensemble - mean of members|.

    Every member must have the blending detector's interface (input ``image``, outputs
    ``fake_logit`` and ``boundary``) and the same opset.
    """
    import onnx
    from onnx import compose, helper

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two members")
    models = [onnx.load(str(path)) for path in members]
    opsets = {tuple((o.domain, o.version) for o in m.opset_import) for m in models}
    if len(opsets) != 1:
        raise ValueError(f"members have different opsets: {sorted(opsets)}")
    for path, model in zip(members, models, strict=True):
        inputs = [i.name for i in model.graph.input]
        outputs = tuple(o.name for o in model.graph.output)
        if inputs != [INPUT] or outputs != OUTPUTS:
            raise ValueError(f"{path}: inputs {inputs} / outputs {outputs} are not the detector's")

    graphs = []
    for index, model in enumerate(models):
        prefixed = compose.add_prefix(model, prefix=f"m{index}/")
        feed = helper.make_node("Identity", [INPUT], [f"m{index}/{INPUT}"])
        graphs.append(([feed, *prefixed.graph.node], list(prefixed.graph.initializer)))
    nodes, initializers, alias = shared_nodes(graphs)
    for name in OUTPUTS:
        member_outputs = [alias.get(f"m{i}/{name}", f"m{i}/{name}") for i in range(len(models))]
        nodes.append(helper.make_node("Mean", member_outputs, [name], name=f"mean_{name}"))

    first = models[0].graph
    graph = helper.make_graph(
        nodes,
        "blending_seed_ensemble",
        inputs=list(first.input),
        outputs=list(first.output),
        initializer=initializers,
    )
    combined = helper.make_model(graph, opset_imports=list(models[0].opset_import))
    combined.ir_version = models[0].ir_version
    combined.producer_name = "faceverdict.training.blending_ensemble"
    onnx.checker.check_model(combined)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(combined, str(out))
    return max_difference(members, out, size)


def shared_nodes(
    graphs: Sequence[tuple[Sequence[Any], Sequence[Any]]],
) -> tuple[list[Any], list[Any], dict[str, str]]:
    """The members' nodes and initializers, each computation kept once.

    The recipe freezes the backbone's stem and first blocks at their ImageNet weights (in eval
    mode, so their batch-norm statistics never move either): every member computes exactly the
    same full-resolution features, the costliest part of the network. Initializers with equal
    contents are merged, then a node whose operator, attributes and (merged) inputs equal an
    earlier node's is dropped and its outputs are read from that node (common-subexpression
    elimination). ``graphs`` are (nodes in topological order, initializers) per member; the
    result's ``alias`` maps each dropped output to the output that replaces it.
    """
    from onnx import numpy_helper

    alias: dict[str, str] = {}
    initializers: list[Any] = []
    by_content: dict[tuple[int, tuple[int, ...], bytes], str] = {}
    nodes: list[Any] = []
    by_computation: dict[tuple[Any, ...], list[str]] = {}
    for graph_nodes, graph_initializers in graphs:
        for tensor in graph_initializers:
            content = (
                tensor.data_type,
                tuple(tensor.dims),
                numpy_helper.to_array(tensor).tobytes(),
            )
            if content in by_content:
                alias[tensor.name] = by_content[content]
            else:
                by_content[content] = tensor.name
                initializers.append(tensor)
        for node in graph_nodes:
            inputs = [alias.get(name, name) for name in node.input]
            del node.input[:]
            node.input.extend(inputs)
            has_subgraph = any(a.HasField("g") or len(a.graphs) for a in node.attribute)
            attributes = tuple(sorted((a.name, a.SerializeToString()) for a in node.attribute))
            computation = (node.domain, node.op_type, tuple(inputs), attributes)
            if not has_subgraph and computation in by_computation:
                for dropped, kept in zip(node.output, by_computation[computation], strict=True):
                    alias[dropped] = kept
                continue
            by_computation[computation] = list(node.output)
            nodes.append(node)
    return nodes, initializers, alias


def weight_count(path: Path) -> int:
    """Distinct weights of an ONNX graph: the elements of its initializers, each shared
    tensor once (for an ensemble, the members' common frozen layers count once)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return sum(int(np.prod(tensor.dims)) for tensor in graph.initializer)


def max_difference(members: Sequence[Path], ensemble: Path, size: int = INPUT_SIZE) -> float:
    """Max |ensemble output - mean of the members' outputs| on random images."""
    import onnxruntime as ort

    probe = np.random.default_rng(0).uniform(0, 255, size=(3, 3, size, size)).astype(np.float32)

    def run(path: Path) -> list[np.ndarray]:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return [np.asarray(o) for o in session.run(None, {INPUT: probe})]

    outputs = [run(path) for path in members]
    expected = [np.mean([o[i] for o in outputs], axis=0) for i in range(len(OUTPUTS))]
    got = run(ensemble)
    return max(float(np.abs(a - b).max()) for a, b in zip(got, expected, strict=True))


# ----------------------------------------------------------------------- members

RUN_OPTIONS = ("--seed", "--out", "--work", "--card")  # what may differ between members


@dataclass(frozen=True)
class Member:
    """One finished run of the recipe: its folder, command line, seed, run record and weights."""

    folder: Path
    argv: list[str]
    seed: int
    run: dict[str, Any]
    sha256: str

    @property
    def onnx(self) -> Path:
        """The run's exported model."""
        return self.folder / f"{MODEL_NAME}.onnx"


def recipe_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` without the options that may differ between members (seed and paths)."""
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
            continue
        name = token.split("=", 1)[0]
        if name in RUN_OPTIONS:
            skip = "=" not in token
            continue
        out.append(token)
    return out


def read_members(folders: Sequence[Path]) -> list[Member]:
    """The runs in ``folders``; refused unless they are distinct seeds of one recipe."""
    if len(folders) < 2:
        raise ValueError("an ensemble needs at least two runs")
    members: list[Member] = []
    for folder in folders:
        run_path, onnx_path = folder / "run.json", folder / f"{MODEL_NAME}.onnx"
        for path in (run_path, onnx_path):
            if not path.is_file():
                raise ValueError(f"{path} is missing: is {folder} a finished training run?")
        run = json.loads(run_path.read_text())
        argv = [str(a) for a in run["argv"]]
        seed = int(parse_args(argv).seed)
        members.append(Member(folder, argv, seed, run, sha256_file(onnx_path)))
    recipes = {" ".join(recipe_argv(m.argv)) for m in members}
    if len(recipes) != 1:
        raise ValueError(f"the runs differ in more than their seed: {sorted(recipes)}")
    seeds = [m.seed for m in members]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"the runs repeat a seed: {seeds}")
    return members


def member_args(ensemble: argparse.Namespace, member: Member) -> argparse.Namespace:
    """The members' recipe options, with the ensemble command's paths and threads."""
    args = parse_args(member.argv)
    for name in ("out", "card", "work", "cache", "dataset", "threads", "ensemble_of"):
        setattr(args, name, getattr(ensemble, name))
    args.metrics_only = False
    return args


def display_path(path: Path) -> str:
    """``path`` with the home folder written as ``~`` (cards must not name a user's home)."""
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if text.startswith(home + "/") else text


def member_command(members: Sequence[Member]) -> str:
    """The recipe every member ran, each with its seed and its own run folder."""
    runs = ", ".join(f"{m.seed} -> {display_path(m.folder)}" for m in members)
    return (
        "python -m faceverdict.training.blending "
        + " ".join(recipe_argv(members[0].argv))
        + f" --seed S --out RUN --work RUN --card RUN/card.md  # S -> RUN: {runs}"
    )


def ensemble_command(members: Sequence[Member]) -> str:
    """The command that combines the members."""
    folders = " ".join(display_path(m.folder) for m in members)
    return f"python -m faceverdict.training.blending --ensemble-of {folders}"


def ensemble_source(members: Sequence[Member]) -> str:
    """The manifest's ``source`` of an ensemble."""
    return (
        f"seed ensemble of {len(members)} runs trained in this repository (make train-blending): "
        f"{member_command(members)}, each to its own folder, then {ensemble_command(members)}"
    )
