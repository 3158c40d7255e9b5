#!/usr/bin/env python3
"""Reads Tandem datasets with h5py alone and prints what it finds as JSON.

Usage: interop.py FILE [FILE ...]
For each file: kind, the shapes of its datasets, label counts, split counts,
the stored content hash and, for images, pixel values at fixed positions
(for tables, the first row's raw features and the stored mean/std). The
Swift test compares this with what Tandem's reader sees.
"""
import json
import sys

import h5py
import numpy as np


def describe(path):
    with h5py.File(path, "r") as f:
        out = {"kind": f.attrs["kind"], "content_sha256": f.attrs["content_sha256"], "shapes": {}}
        f.visititems(lambda name, obj: out["shapes"].__setitem__("/" + name, list(obj.shape))
                     if isinstance(obj, h5py.Dataset) else None)
        labels = f["labels"][()]
        out["labels"] = labels[:20].tolist()
        out["label_counts"] = np.bincount(labels).tolist()
        out["split_counts"] = np.bincount(f["split"][()], minlength=3).tolist()
        out["class_names"] = list(f.attrs["class_names"])
        if out["kind"] == "images":
            images = f["images"]
            assert images.dtype == np.uint8
            out["pixels"] = [int(images[i, y, x]) for (i, y, x) in [(0, 0, 0), (0, 64, 64), (100, 10, 90), (len(images) - 1, 127, 127)]]
            out["patients"] = [p.decode() for p in f["patient"][:3]]
            out["subtype_counts"] = np.bincount(f["subtype"][()], minlength=3).tolist()
            out["pixel_mean"] = float(f.attrs["pixel_mean"])
            out["source_files"] = [s.decode() for s in f["source/files"][:2]]
        else:
            out["first_row"] = f["features"][0].astype(float).tolist()
            out["feature_mean"] = f["feature_mean"][()].astype(float).tolist()
            out["feature_std"] = f["feature_std"][()].astype(float).tolist()
            out["feature_names"] = [s.decode() for s in f["feature_names"][()]]
            out["ids"] = [s.decode() for s in f["ids"][:3]]
            out["contract_categories"] = list(f["columns/Contract"].attrs["categories"])
        return out


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps([describe(p) for p in sys.argv[1:]], default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
