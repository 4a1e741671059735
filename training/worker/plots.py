"""The run page's figures: PNGs drawn with matplotlib's Agg backend (no display, no Tk).

Each function writes one file and returns its path; the loop names it in a ``PLOT`` line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def loss_figure(history: Sequence[dict[str, Any]], path: Path) -> Path:
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(epochs, [h.get("loss") for h in history], marker="o", label="train loss")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(epochs, [h.get("val_loss") for h in history], marker="o", label="val loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("Loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def metric_figure(history: Sequence[dict[str, Any]], key: str, path: Path, best_epoch: int | None) -> Path:
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    values = [h.get(key) for h in history]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(epochs, [np.nan if v is None else v for v in values], marker="o", color="tab:green", label=key)
    if best_epoch is not None and best_epoch in epochs and values[epochs.index(best_epoch)] is not None:
        ax.scatter([best_epoch], [values[epochs.index(best_epoch)]], s=120, facecolors="none", edgecolors="k",
                   label=f"best (epoch {best_epoch})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.set_title(f"Validation {key.removeprefix('val_')}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def lr_figure(steps: Sequence[int], rates: Sequence[float], steps_per_epoch: int, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(steps, rates, color="tab:orange")
    for boundary in range(steps_per_epoch, (max(steps) if steps else 0) + 1, steps_per_epoch):
        ax.axvline(boundary, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("step (grey: epoch ends)")
    ax.set_ylabel("learning rate")
    ax.set_title("Learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix_figure(matrix: np.ndarray, labels: Sequence[str], path: Path, *, title: str) -> Path:
    """Rows true class, columns predicted; colour by the row's share, text the count."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    count = len(labels)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    side = min(2.0 + 0.45 * count, 14.0)
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    tilt = count > 4 or sum(len(label) for label in labels) > 24
    ax.set_xticks(range(count), labels, rotation=45 if tilt else 0, ha="right" if tilt else "center")
    ax.set_yticks(range(count), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if count <= 30:
        for i in range(count):
            for j in range(count):
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                        color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    return _save(fig, path)


def image_grid(images: Sequence[np.ndarray], path: Path, *, title: str, columns: int = 4) -> Path:
    plt = _pyplot()
    count = max(1, len(images))
    columns = min(columns, count)
    rows = int(np.ceil(count / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.4 * columns, 2.4 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image in zip(axes.ravel(), images):
        ax.imshow(image)
    fig.suptitle(title)
    return _save(fig, path)
