"""Storing what the training process reports, line by line (:mod:`training.protocol`).

PROGRESS moves the job's progress (and honours a cancel: the job context raises, and the jobs
subprocess helper kills the process); EPOCH is merged into the run's history by epoch number and
saved at once (a resumed run re-reports nothing twice, and RESUMED drops the epochs after its
checkpoint, which it trains again); METRICS, ARTIFACT, PLOT and DONE store the results. Paths the
process names must lie inside the run folder; anything else it prints goes to the job's log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.public_text import without_server_paths
from jobs.runner import JobContext

from .models import ModelArtifact, TrainingRun
from .protocol import parse

PLOT_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
MESSAGE_EVERY_SECONDS = 1.0
LOG_LINE_CHARS = 2000

EventHook = Callable[[str, Any], None]


def inside(folder: Path, relative: Any) -> str | None:
    """``relative`` as a clean path inside ``folder``, or None if it points elsewhere."""
    if not isinstance(relative, str) or not relative or relative.startswith(("/", "\\")):
        return None
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        return None
    root = folder.resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        return None
    return resolved.relative_to(root).as_posix()


class RunRecorder:
    """``recorder.line(text)`` for each stdout line of the training process of ``run``."""

    def __init__(self, run: TrainingRun, ctx: JobContext, on_event: EventHook | None = None):
        self.run, self.ctx, self.on_event = run, ctx, on_event
        self.folder = run.folder
        self.history: dict[int, dict] = {
            e["epoch"]: e for e in (run.history or []) if isinstance(e, dict) and isinstance(e.get("epoch"), int)
        }
        self.plots: dict[str, str] = dict(run.plots or {})
        self.done: dict | None = None
        self.resumed_from: int | None = None
        self._message_at = 0.0

    # --- the lines --------------------------------------------------------------------------
    def line(self, text: str) -> None:
        parsed = parse(text)
        if parsed is None:
            if text.strip():
                self.ctx.log(text[:LOG_LINE_CHARS])
            return
        event, payload = parsed
        handler = getattr(self, f"_on_{event.lower()}")
        if handler(payload) is False:
            self.ctx.log(f"Ignored a malformed {event} line: {text[:300]}")
            return
        if self.on_event is not None:
            self.on_event(event, payload)

    def _on_progress(self, payload: tuple[float, str]) -> bool:
        fraction, message = payload
        now = time.monotonic()
        if message and now - self._message_at >= MESSAGE_EVERY_SECONDS:
            self._message_at = now
            self.ctx.progress(fraction, message)
        else:
            self.ctx.progress(fraction)
        return True

    def _on_resumed(self, epochs_done: int) -> bool:
        self.resumed_from = epochs_done
        self.history = {n: e for n, e in self.history.items() if n <= epochs_done}
        self._save_history()
        self.ctx.log(f"Resumed from the checkpoint after epoch {epochs_done}.")
        return True

    def _on_epoch(self, payload: Any) -> bool:
        if not isinstance(payload, dict) or not isinstance(payload.get("epoch"), int) or payload["epoch"] < 1:
            return False
        self.history[payload["epoch"]] = payload
        self._save_history()
        return True

    def _on_metrics(self, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return False
        metrics = dict(payload)
        best = metrics.pop("best_epoch", None)
        fields: dict[str, Any] = {"metrics": metrics}
        if isinstance(best, int) and best >= 1:
            fields["best_epoch"] = best
        self._update(**fields)
        return True

    def _on_artifact(self, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return False
        fmt, variant = payload.get("format"), payload.get("variant")
        if fmt not in ModelArtifact.Format.values or variant not in ModelArtifact.Variant.values:
            return False
        ok = payload.get("status", "ok") == ModelArtifact.Status.OK
        path = inside(self.folder, payload.get("path")) if payload.get("path") else ""
        if path is None or (ok and not path):
            return False
        size, gzipped = payload.get("size_bytes"), payload.get("gzip_size_bytes")
        ModelArtifact.objects.update_or_create(
            run=self.run, format=fmt, variant=variant,
            defaults={
                "status": ModelArtifact.Status.OK if ok else ModelArtifact.Status.FAILED,
                "error": without_server_paths(str(payload.get("error") or ""))[:5000],
                "path": path,
                "size_bytes": size if isinstance(size, int) and size >= 0 else None,
                "gzip_size_bytes": gzipped if isinstance(gzipped, int) and gzipped >= 0 else None,
                "sha256": str(payload.get("sha256") or "")[:64],
                "latency_ms": payload.get("latency_ms") if isinstance(payload.get("latency_ms"), dict) else {},
                "metrics": payload.get("metrics") if isinstance(payload.get("metrics"), dict) else {},
            },
        )
        return True

    def _on_plot(self, payload: tuple[str, str]) -> bool:
        name, path = payload
        relative = inside(self.folder, path.strip())
        if not PLOT_NAME.match(name) or relative is None:
            return False
        self.plots[name] = relative
        self._update(plots=self.plots)
        return True

    def _on_done(self, payload: Any) -> bool:
        if not isinstance(payload, dict):
            return False
        self.done = payload
        fields: dict[str, Any] = {}
        if isinstance(payload.get("model_card"), dict):
            fields["model_card"] = payload["model_card"]
        if isinstance(payload.get("best_epoch"), int) and payload["best_epoch"] >= 1:
            fields["best_epoch"] = payload["best_epoch"]
        if fields:
            self._update(**fields)
        return True

    # --- storing ----------------------------------------------------------------------------
    @property
    def ordered_history(self) -> list[dict]:
        return [self.history[n] for n in sorted(self.history)]

    def _save_history(self) -> None:
        self._update(history=self.ordered_history)

    def _update(self, **fields: Any) -> None:
        TrainingRun.objects.filter(pk=self.run.pk).update(**fields)
        for name, value in fields.items():
            setattr(self.run, name, value)
