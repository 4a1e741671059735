"""Read a dataset with datumaro and print what it sees as JSON (run with .venv-datumaro's python).

datumaro needs numpy >= 2, which the application cannot have (bpy pins numpy < 2), so it lives in
its own virtual environment (``make datumaro-venv``) and is driven through this script:

    .venv-datumaro/bin/python scripts/datumaro_check.py PATH FORMAT [--convert FORMAT --out DIR]

The last line printed is a JSON object: items, items per subset, annotations per type, labels,
objects per label (annotations that datumaro groups into one object count once), and (with ``--convert``) the seconds the conversion took.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("format")
    parser.add_argument("--convert", help="export the dataset in this datumaro format")
    parser.add_argument("--out", help="folder for --convert")
    parser.add_argument("--save-media", action="store_true", help="copy images when converting")
    args = parser.parse_args()

    import datumaro as dm
    from datumaro.components.annotation import AnnotationType

    started = time.perf_counter()
    dataset = dm.Dataset.import_from(args.path, args.format)
    label_names = [c.name for c in dataset.categories().get(AnnotationType.label, [])]
    subsets: Counter = Counter()
    kinds: Counter = Counter()
    per_label: Counter = Counter()
    for item in dataset:
        subsets[item.subset] += 1
        grouped = set()  # datumaro gives a segmented COCO object a box too, in the same group
        for annotation in item.annotations:
            kinds[annotation.type.name] += 1
            label = getattr(annotation, "label", None)
            if label is None or annotation.type.name == "label":
                continue
            if annotation.group:
                if (label, annotation.group) in grouped:
                    continue
                grouped.add((label, annotation.group))
            per_label[label_names[label]] += 1
    result = {
        "items": len(dataset),
        "subsets": dict(subsets),
        "annotations": dict(kinds),
        "labels": label_names,
        "per_label": dict(per_label),
        "read_seconds": time.perf_counter() - started,
    }
    if args.convert:
        started = time.perf_counter()
        dataset.export(args.out, args.convert, save_media=args.save_media)
        result["convert_seconds"] = time.perf_counter() - started
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
