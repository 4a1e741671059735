"""A tiny learnable classification version for the worker tests, and a way to run the worker.

Three classes at small sizes: a red square, green horizontal stripes, a blue square, each on grey
noise, with images of different sizes and aspect ratios (so stretch and letterbox both have work
to do). Written as PNG files; the spec is what the web side would write.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from training.protocol import RunItem, RunSpec, parse

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["red_square", "green_stripes", "blue_square"]


def toy_image(label: int, rng: np.random.Generator) -> np.ndarray:
    height, width = int(rng.integers(36, 60)), int(rng.integers(36, 60))
    image = rng.integers(70, 150, size=(height, width, 3)).astype(np.uint8)
    side = int(min(height, width) * rng.uniform(0.45, 0.7))
    y, x = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    if label == 0:
        image[y : y + side, x : x + side] = (220, 30, 30)
    elif label == 1:
        for row in range(int(rng.integers(0, 4)), height, 6):
            image[row : row + 3, :] = (30, 200, 40)
    else:
        image[y : y + side, x : x + side] = (30, 40, 220)
    return image


def make_items(folder: Path, *, per_class: int = 24, seed: int = 0) -> list[RunItem]:
    """``per_class`` images of each class: two thirds train, a sixth val, a sixth test."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for label in range(len(LABELS)):
        for i in range(per_class):
            image = toy_image(label, rng)
            path = folder / f"{LABELS[label]}_{i:03d}.png"
            Image.fromarray(image).save(path)
            split = "train" if i < per_class * 2 // 3 else ("val" if i < per_class * 5 // 6 else "test")
            items.append(RunItem(path=str(path), split=split, width=image.shape[1], height=image.shape[0], label=label))
    return items


def make_spec(items: list[RunItem], **overrides) -> RunSpec:
    fields = dict(
        run_id=7,
        task="classify",
        architecture="mobilenet_v3_small",
        input_size=32,
        resize="letterbox",
        epochs=3,
        batch_size=8,
        learning_rate=0.005,
        schedule="cosine",
        warmup_epochs=1,
        seed=0,
        labels=list(LABELS),
        items=items,
        options={},
        threads=2,
        export={"latency_runs": 10, "calibration_images": 48},
        version={"id": 3, "number": 2, "content_hash": "abc123"},
    )
    fields.update(overrides)
    return RunSpec(**fields)


def worker_command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "training.worker", str(folder)]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}


def run_worker(folder: Path, timeout: float = 600) -> tuple[int, list[tuple[str, object]], str]:
    """Run the worker to the end: (exit code, parsed protocol events, stderr)."""
    result = subprocess.run(
        worker_command(folder), cwd=ROOT, env=worker_env(), capture_output=True, text=True, timeout=timeout
    )
    events = [event for event in map(parse, result.stdout.splitlines()) if event is not None]
    return result.returncode, events, result.stderr
