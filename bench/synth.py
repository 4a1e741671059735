"""Synth benchmarks: Blender pipeline overhead versus a bare render, and compositor throughput.

1. The same scenes rendered twice by the render worker in this run: bare (render + PNG only) and
   full (object-index pass, EXR read-back, masks, keypoints with ray casts), then the Django-free
   part of storing (image check and hash, mask RLE, boxes). Ratio full / bare, target <= 1.25.
   The database insert is not included.
2. Cut-and-paste compositing at 640x480 on one core (cv2.setNumThreads(1)), per blending mode.

Usage: python bench/synth.py [--images 6] [--size 256] [--samples 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def render(scenes: list[dict], bare: bool, folder: Path) -> float:
    shard = folder / "shard.json"
    shard.write_text(json.dumps({"device": "CPU", "bare": bare, "scenes": scenes,
                                 "keypoint_names": {"1": ["nose", "left_hand", "right_hand", "left_foot", "right_foot"]}}))
    proc = subprocess.run([sys.executable, "-m", "synth.render_worker", str(shard), str(folder / "out")],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    return sum(float(line.split()[2]) for line in proc.stdout.splitlines() if line.startswith("RENDERED "))


def store_cost(folder: Path, n: int) -> float:
    import django

    django.setup()
    from annotate.geometry import mask_to_rle
    from annotate.imaging import check_image_bytes

    started = time.perf_counter()
    for i in range(n):
        check_image_bytes((folder / "out" / f"{i}.png").read_bytes())
        ids = cv2.imread(str(folder / "out" / f"{i}.ids.png"), cv2.IMREAD_UNCHANGED)
        labels = json.loads((folder / "out" / f"{i}.json").read_text())
        for inst in labels["instances"]:
            mask = ids == inst["instance"]
            if mask.any():
                mask_to_rle(mask)
                np.flatnonzero(mask.any(axis=0))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    from synth.spec import scene_sample, spec_clean

    spec = spec_clean({"count": args.images, "resolution": [args.size, args.size], "samples": args.samples, "seed": 1,
                       "objects_per_image": [2, 3], "distractors": [1, 1],
                       "classes": [{"label": 1, "assets": ["builtin:character", "builtin:torus"]}]},
                      labels={1: {"name": "thing", "keypoint_names": []}}, assets={})
    scenes = [scene_sample(spec, i) for i in range(args.images)]
    bares, fulls = [], []
    for _round in range(2):  # interleaved, best of two: the machine is shared and noisy
        with tempfile.TemporaryDirectory() as tmp:
            bare_dir, full_dir = Path(tmp) / "bare", Path(tmp) / "full"
            bare_dir.mkdir(), full_dir.mkdir()
            bares.append(render(scenes, True, bare_dir))
            fulls.append(render(scenes, False, full_dir) + store_cost(full_dir, args.images))
    bare, full = min(bares), min(fulls)
    ratio = full / bare
    print(f"render {args.images} images {args.size}x{args.size} @ {args.samples} samples: "
          f"bare {bare / args.images * 1000:.1f} ms/image, full pipeline {full / args.images * 1000:.1f} ms/image, "
          f"ratio {ratio:.3f}")

    from synth.compositor import compose, cutout_from_rgba, fit_background

    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    background = fit_background(rng.integers(0, 255, (600, 800, 3), dtype=np.uint8), 640, 480)
    cuts = []
    for k in range(4):
        rgba = np.zeros((160, 120, 4), np.uint8)
        cv2.ellipse(rgba, (60, 80), (55, 75), 0, 0, 360, (40 * k, 200, 100, 255), -1)
        cuts.append(cutout_from_rgba(rgba, label=1))
    throughput = {}
    for mode in ("none", "gaussian", "poisson"):
        n, started = 60, time.perf_counter()
        for _ in range(n):
            compose(background, cuts, rng=rng, objects=3, scale=(0.2, 0.5), rotation=(-30, 30), truncation=(0, 0.3),
                    flip=True, blending=mode)
        throughput[mode] = n / (time.perf_counter() - started)
        print(f"compositor 640x480, 3 objects, {mode}: {throughput[mode]:.1f} images/s (one core)")
    print(json.dumps({"render_bare_ms": round(bare / args.images * 1000, 1), "render_full_ms": round(full / args.images * 1000, 1),
                      "render_ratio": round(ratio, 3), "compositor_images_per_s": {k: round(v, 1) for k, v in throughput.items()}}))


if __name__ == "__main__":
    main()
