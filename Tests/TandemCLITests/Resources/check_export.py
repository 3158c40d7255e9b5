"""Scores a Tandem dataset with an exported ONNX model in onnxruntime and
compares with `tandem predict`'s probabilities; checks the model with onnx's
checker, and a safetensors export against model.h5. Prints one JSON line.

usage: check_export.py MODEL.onnx DATASET.h5 PREDICTIONS.csv MODEL.h5 [WEIGHTS.safetensors]
"""
import csv, json, sys

import h5py, numpy as np, onnx, onnxruntime

model_path, data_path, predictions_path, parameters_path = sys.argv[1:5]
weights_path = sys.argv[5] if len(sys.argv) > 5 else None

model = onnx.load(model_path)
onnx.checker.check_model(model, full_check=True)
metadata = {p.key: p.value for p in model.metadata_props}
opset = {o.domain: o.version for o in model.opset_import}[""]

with h5py.File(data_path, "r") as f:
    if "images" in f:
        images = f["images"][...]
        x = (images.astype(np.float32) / np.float32(255))[:, None, :, :]
    else:
        x = f["features"][...].astype(np.float32)

session = onnxruntime.InferenceSession(model_path, providers=["CPUExecutionProvider"])
(probability,) = session.run(["probability"], {"input": x})

with open(predictions_path, newline="") as f:
    rows = list(csv.DictReader(f))
tandem = np.array([float(r["probability"]) for r in rows], dtype=np.float64)
assert probability.shape == tandem.shape, (probability.shape, tandem.shape)
difference = float(np.max(np.abs(probability.astype(np.float64) - tandem)))

result = {"opset": opset, "samples": int(tandem.shape[0]), "max_abs_difference": difference,
          "threshold": float(metadata["threshold"]), "predict_threshold": float(rows[0]["threshold"]),
          "class_names": json.loads(metadata["class_names"]), "labels_agree":
          all((p >= float(metadata["threshold"])) == (r["label"] == json.loads(metadata["class_names"])[1])
              for p, r in zip(probability, rows) if abs(p - float(metadata["threshold"])) > 1e-5),
          "metadata": sorted(metadata)}

if weights_path:
    from safetensors.numpy import load_file
    weights = load_file(weights_path)
    with h5py.File(parameters_path, "r") as f:
        saved = {name: f["parameters"][name][...] for name in f["parameters"]}
    renamed = {n.replace(".scale", ".weight").replace(".shift", ".bias") if n.startswith("norm") else n: v
               for n, v in saved.items()}
    result["safetensors_equal"] = sorted(weights) == sorted(renamed) and all(
        weights[n].dtype == np.float32 and np.array_equal(weights[n], renamed[n]) for n in renamed)

print(json.dumps(result))
