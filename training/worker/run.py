"""The run loop of ``python -m training.worker <run folder>`` (the protocol: :mod:`training.protocol`).

One run, start to end:

1. read ``spec.json``; check it (the generic checks here, then ``task.check``) before TensorFlow
   is even imported, so a spec that cannot be trained fails in a second with one sentence;
2. bound TensorFlow to ``spec.threads`` intra- and inter-op threads (before any op), seed
   Python, numpy and TensorFlow (``keras.utils.set_random_seed``);
3. read and resize every image (:class:`training.worker.data.RunData`, cached in memory when it
   fits);
4. build the task's models, set BatchNormalization momentum from the run's length
   (``options.bn_momentum``, ``"auto"``: :func:`schedule.auto_bn_momentum`), Adam / AdamW with
   linear warm-up + cosine decay per step (or a constant rate);
5. resume from ``state.json`` + ``checkpoint.keras`` when they exist (``RESUMED n``; the
   checkpoint restores the optimizer's step count, so the schedule continues where it stopped),
   else start from ``spec.initial_weights`` where layer names and shapes match;
6. train epoch by epoch: ``PROGRESS`` per batch (at most ~2 a second), then the validation metric
   (``task.evaluate`` on val; the headline picks the best epoch), ``checkpoint.keras`` /
   ``best.keras`` / ``state.json`` written atomically, and only then the ``EPOCH`` line (a
   printed epoch is a saved one);
7. load the best epoch; test metrics (``METRICS``), with a check that inference mode
   (BatchNormalization moving statistics) scores like training mode on train images;
8. figures (``PLOT``): loss, validation metric, learning rate, the task's own, sample predictions;
9. export every variant, measure each file (latency, and the task metric by running the file),
   embed labels + model card in each ``.tflite`` (``ARTIFACT`` per variant), ``DONE``.

Errors: a spec or data problem exits with code 2 and a sentence as the last line of stderr; any
other failure exits 1, a traceback first, the sentence last.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from training.protocol import (
    ARTIFACTS_DIR,
    BEST_FILE,
    CHECKPOINT_FILE,
    HEADLINE_METRIC,
    PLOTS_DIR,
    STATE_FILE,
    RunSpec,
    line,
)

from .artifacts import INPUT_RANGE, card_variants, jsonable, recommend, scalar_metrics
from .data import LETTERBOX_FILL, RESIZE_MODES, RunData
from .schedule import SCHEDULES, SpecError, bn_momentum, learning_rate_at, plan_steps
from .tasks import float_layers, float_outputs, get_task

TRAIN_END = 0.85  # PROGRESS: reading + training up to here, evaluation and export after
READ_END = 0.03
PROGRESS_INTERVAL_S = 0.5
GAP_WARNING = 0.1  # inference mode this much below training mode (0..1 metric) is a warning
SAMPLE_GRID = 16


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def emit(event: str, *parts: Any) -> None:
    print(line(event, *(jsonable(p) for p in parts)), flush=True)


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=1))
    os.replace(tmp, path)


class Progress:
    """``PROGRESS`` lines, throttled (the first and last always go out)."""

    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, fraction: float, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        emit("PROGRESS", round(min(max(fraction, 0.0), 1.0), 4), " ".join(message.split()))


def check_spec(spec: RunSpec) -> None:
    """The task-independent checks; each failure is one sentence."""
    if spec.schedule not in SCHEDULES:
        raise SpecError(f"Unknown learning-rate schedule {spec.schedule!r}; choose one of {', '.join(SCHEDULES)}.")
    if spec.resize not in RESIZE_MODES:
        raise SpecError(f"Unknown resize mode {spec.resize!r}; choose one of {', '.join(RESIZE_MODES)}.")
    if not isinstance(spec.learning_rate, int | float) or not math.isfinite(spec.learning_rate) or spec.learning_rate <= 0:
        raise SpecError(f"The learning rate must be a positive number, got {spec.learning_rate!r}.")
    if spec.epochs < 1 or spec.batch_size < 1 or spec.input_size < 1 or spec.threads < 1:
        raise SpecError("epochs, batch_size, input_size and threads must all be at least 1.")
    if not spec.labels or len(set(spec.labels)) != len(spec.labels):
        raise SpecError("The labels must be a non-empty list of distinct class names.")
    if any(not label or "\n" in label or "\r" in label for label in spec.labels):
        raise SpecError("Every label must be a non-empty single line of text.")
    if not any(item.split == "train" for item in spec.items):
        raise SpecError("The version has no train images.")
    unknown = sorted({item.split for item in spec.items} - {"train", "val", "test"})
    if unknown:
        raise SpecError(f"Unknown split(s) {unknown}: images must be in train, val or test.")
    if spec.initial_weights and not Path(spec.initial_weights).is_file():
        raise SpecError(f"The initial weights file {spec.initial_weights} does not exist.")
    if spec.recipe:
        from .augmentation import check_recipe

        check_recipe(spec)


def configure_tensorflow(spec: RunSpec) -> tuple[Any, Any]:
    """Import TensorFlow bounded to ``spec.threads`` (before any op runs) and seed everything."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(spec.threads))
    tf.config.threading.set_inter_op_parallelism_threads(int(spec.threads))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    import keras

    keras.utils.set_random_seed(int(spec.seed))
    return tf, keras


def keras_predictor(model: Any) -> Any:
    """The Keras model as a :data:`Predict` (compiled ``predict_on_batch``; outputs by name)."""
    names = list(model.output_names)

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        out = model.predict_on_batch(images)
        if isinstance(out, dict):
            return {k: np.asarray(v) for k, v in out.items()}
        values = out if isinstance(out, list | tuple) else [out]
        return {name: np.asarray(v) for name, v in zip(names, values)}

    return predict


def eager_predictor(model: Any, *, training: bool, batch_size: int | None = None) -> Any:
    """The model called eagerly. With ``batch_size``, each batch is run in chunks of about that
    size: in training mode BatchNormalization normalises by the chunk's statistics, which must be
    those of a training batch to say how the model behaved in training."""
    import keras

    names = list(model.output_names)

    def call(images: np.ndarray) -> dict[str, np.ndarray]:
        out = model(images, training=training)
        if isinstance(out, dict):
            return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
        values = keras.tree.flatten(out)
        return {name: keras.ops.convert_to_numpy(v) for name, v in zip(names, values)}

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        if not batch_size or len(images) <= batch_size:
            return call(images)
        parts = [call(chunk) for chunk in np.array_split(images, max(1, round(len(images) / batch_size)))]
        return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}

    return predict


class Run:
    def __init__(self, folder: Path, spec: RunSpec) -> None:
        self.folder = Path(folder)
        self.spec = spec
        self.options = dict(spec.options or {})
        self.progress = Progress()
        self.warnings: list[str] = []
        self.initial_weights_report: dict[str, Any] | None = None

    # --- entry -----------------------------------------------------------------------------
    def execute(self) -> int:
        spec = self.spec
        check_spec(spec)
        self.task = get_task(spec.task)
        reason = self.task.check(spec)
        if reason:
            raise SpecError(reason)
        self.headline = getattr(self.task, "headline", HEADLINE_METRIC.get(spec.task, "accuracy"))
        self.progress(0.0, "Starting TensorFlow", force=True)
        self.tf, self.keras = configure_tensorflow(spec)
        self.data = RunData(spec, self.task, progress=lambda f, m: self.progress(READ_END * f, m))
        try:
            self._run()
        finally:
            self.data.close()
        return 0

    def _run(self) -> None:
        from .optim import learning_rate, make_optimizer, set_bn_momentum

        spec, task, data = self.spec, self.task, self.data
        self.steps = plan_steps(
            train_images=data.count("train"),
            batch_size=spec.batch_size,
            epochs=spec.epochs,
            warmup_epochs=spec.warmup_epochs if spec.schedule == "cosine" else 0,
        )
        if self.steps.batch_size != spec.batch_size:
            log(f"batch_size {spec.batch_size} is more than the {self.steps.train_images} train images: using {self.steps.batch_size}.")
        self.bn_momentum = bn_momentum(self.options.get("bn_momentum", "auto"), self.steps.total_steps)
        self.min_ratio = float(self.options.get("min_lr_ratio", 0.0))
        self.train_model, self.export_model = task.build(spec)
        count = set_bn_momentum(self.train_model, self.bn_momentum)
        log(f"BatchNormalization momentum {self.bn_momentum} on {count} layers ({self.steps.total_steps} steps).")
        lr = learning_rate(
            spec.schedule,
            base_lr=spec.learning_rate,
            total_steps=self.steps.total_steps,
            warmup_steps=self.steps.warmup_steps,
            min_ratio=self.min_ratio,
        )
        self.optimizer = make_optimizer(self.options, lr)
        task.compile(self.train_model, self.optimizer)
        from .pruning import PruningConfig

        self.pruning = PruningConfig.from_options(self.options, self.steps.total_steps)
        if self.pruning is not None:
            log(f"Magnitude pruning to {self.pruning.sparsity:.0%} sparsity, steps {self.pruning.begin_step}.."
                f"{self.pruning.end_step} (every {self.pruning.frequency}); the best epoch is chosen from step "
                f"{self.pruning.end_step} on, where the target is reached.")
        self.average = None
        if self.options.get("ema"):
            from .averaging import WeightAverage

            self.average = WeightAverage(self.train_model, float(self.options["ema"]))
            log(f"Weight averaging (EMA) with decay {self.average.ema}: the average is validated and exported.")
        data.class_weights = self._class_weights()
        state = self._start()
        self._train(state)
        self._finish()

    def _class_weights(self) -> dict[int, float] | None:
        option = self.options.get("class_weights")
        if not option:
            return None
        if getattr(self.task, "weighs_pixels", False):
            return None  # the task weighs its loss per pixel from the same option
        if any(item.label is None for item in self.data.items["train"]):
            log(f"options.class_weights weigh images by their one class: ignored for the {self.spec.task} task.")
            return None
        if option in (True, "balanced", "auto"):
            return self.task.class_weights(self.data.items["train"], len(self.spec.labels))
        if isinstance(option, dict):
            weights = {}
            for key, value in option.items():
                index = self.spec.labels.index(key) if key in self.spec.labels else None
                if index is None and str(key).isdigit() and int(key) < len(self.spec.labels):
                    index = int(key)
                if index is None:
                    raise SpecError(f"options.class_weights names {key!r}, which is not one of the labels.")
                weights[index] = float(value)
            return weights
        raise SpecError('options.class_weights must be "balanced", true, or a mapping of label to weight.')

    # --- start: resume or initial weights ----------------------------------------------
    def _start(self) -> dict[str, Any]:
        state_path, checkpoint = self.folder / STATE_FILE, self.folder / CHECKPOINT_FILE
        if state_path.is_file() and checkpoint.is_file():
            state = json.loads(state_path.read_text())
            done = int(state.get("epochs_done", 0))
            self.optimizer.build(self.train_model.trainable_variables)
            self.train_model.load_weights(str(checkpoint))
            steps_done = int(self.keras.ops.convert_to_numpy(self.optimizer.iterations))
            if steps_done != done * self.steps.steps_per_epoch:
                log(f"The checkpoint holds {steps_done} optimizer steps, state.json says {done} epochs "
                    f"({done * self.steps.steps_per_epoch} steps): the schedule continues from the checkpoint's step.")
            if self.average is not None:
                if self.average.load(self.folder) and self.average.updates == steps_done:
                    log(f"The weight average resumes after {self.average.updates} updates.")
                else:  # missing, or written for another epoch than the checkpoint (a kill between the two)
                    self.average.restart(steps_done)
                    log("No weight average of the checkpoint's epoch: averaging starts again from its weights.")
            emit("RESUMED", done)
            log(f"Resumed after epoch {done} of {self.spec.epochs} (optimizer step {steps_done}).")
            self.keras.utils.set_random_seed(int(self.spec.seed) + done)
            return state
        if self.spec.initial_weights:
            from .optim import load_matching_weights

            report = load_matching_weights(self.train_model, self.spec.initial_weights)
            name = Path(self.spec.initial_weights).name
            if report["loaded"] is None:
                log(f"Initial weights from {name}: {report['note']}.")
            else:
                log(
                    f"Initial weights from {name}: loaded {report['loaded']} of {report['of']} layers with weights; "
                    f"skipped {len(report['skipped'])} whose shapes differ ({', '.join(report['skipped']) or 'none'}); "
                    f"{len(report['missing'])} not in the file."
                )
            self.initial_weights_report = report
        if self.average is not None:
            self.average.restart(0)  # from the initial weights, not the ones before they were loaded
        return {"epochs_done": 0, "history": [], "best_epoch": None, "best_metric": None}

    # --- training ----------------------------------------------------------------------
    def _train(self, state: dict[str, Any]) -> None:
        spec, steps = self.spec, self.steps
        progress_callback = _progress_callback(self.keras, self.progress, steps.steps_per_epoch, spec.epochs)
        callbacks = [progress_callback]
        if self.pruning is not None:
            from .pruning import MagnitudePruning

            callbacks.append(MagnitudePruning(self.train_model, self.pruning))
        if self.average is not None:
            callbacks.append(self.average)
        predict = keras_predictor(self.export_model)
        has_val = self.data.count("val") > 0
        want_val_loss = has_val and bool(self.options.get("val_loss", True))
        if not has_val:
            log("The version has no val images: every epoch counts as the best so far (the last one is kept).")
        self.state = state
        for epoch in range(int(state["epochs_done"]) + 1, spec.epochs + 1):
            start = time.monotonic()
            progress_callback.epoch = epoch
            try:
                fit = self.train_model.fit(
                    self.data.train_dataset(epoch, steps.batch_size),
                    epochs=epoch,
                    initial_epoch=epoch - 1,
                    verbose=0,
                    shuffle=False,  # the dataset is shuffled per epoch by (seed, epoch)
                    callbacks=callbacks,
                )
            except Exception:
                if self.data.pipeline_error is not None:  # the input's own error, not tf.data's wrapper
                    raise self.data.pipeline_error from None
                raise
            loss = float(fit.history["loss"][-1])
            if not math.isfinite(loss):
                raise SpecError(
                    f"The loss became {loss} in epoch {epoch}: the learning rate ({spec.learning_rate}) is probably too high."
                )
            record: dict[str, Any] = {"epoch": epoch, "loss": loss}
            with self._averaged():
                metric = self._validate(record, has_val, want_val_loss, predict)
            record[f"val_{self.headline}"] = metric
            record["lr"] = _current_lr(self.optimizer)
            record["seconds"] = round(time.monotonic() - start, 3)
            # A pruned run ships a model at its target sparsity: only epochs from the schedule's end count.
            eligible = self.pruning is None or epoch * steps.steps_per_epoch >= self.pruning.end_step
            improved = eligible and (metric is None or state["best_metric"] is None or metric > state["best_metric"])
            if improved:
                state["best_epoch"], state["best_metric"] = epoch, metric
            state["history"].append(record)
            state["epochs_done"] = epoch
            self._save_epoch(state, improved)
            emit("EPOCH", record)
            self.progress(READ_END + (TRAIN_END - READ_END) * epoch / spec.epochs, f"Epoch {epoch}/{spec.epochs} done", force=True)

    def _averaged(self) -> Any:
        """The weight average in the model while validating and saving the best (a no-op without ``ema``)."""
        return self.average.swapped() if self.average is not None else contextlib.nullcontext()

    def _validate(self, record: dict[str, Any], has_val: bool, want_val_loss: bool, predict: Any) -> float | None:
        """The headline metric on val (None without val images); val_loss into ``record``."""
        metric = None
        if has_val:
            if want_val_loss:
                evaluated = self.train_model.evaluate(
                    self.data.eval_dataset("val", self.steps.batch_size), verbose=0, return_dict=True
                )
                record["val_loss"] = float(evaluated["loss"])
            val_metrics = self.task.evaluate(predict, self.data.samples("val"), self.spec.labels)
            metric = float(val_metrics[self.headline])
        return metric

    def _save_epoch(self, state: dict[str, Any], improved: bool) -> None:
        """checkpoint.keras (the raw weights and the optimizer), the weight average, best.keras
        (the weights that are exported: the average where there is one) and state.json, each
        written to a temporary name and moved into place; state.json last, so it never names an
        epoch whose files are missing."""
        tmp_checkpoint = self.folder / ".checkpoint.tmp.keras"
        self.train_model.save(tmp_checkpoint)
        if improved:
            tmp_best = self.folder / ".best.tmp.keras"
            if self.average is not None:
                with self.average.swapped():
                    self.train_model.save(tmp_best)
            else:
                shutil.copyfile(tmp_checkpoint, tmp_best)
            os.replace(tmp_best, self.folder / BEST_FILE)
        if self.average is not None:
            self.average.save(self.folder)
        os.replace(tmp_checkpoint, self.folder / CHECKPOINT_FILE)
        write_json_atomic(self.folder / STATE_FILE, state)

    # --- the end: test metrics, figures, export ------------------------------------------
    def _finish(self) -> None:
        spec, task, data = self.spec, self.task, self.data
        best = self.folder / BEST_FILE
        self.train_model.load_weights(str(best))
        self.eval_split = "test" if data.count("test") else ("val" if data.count("val") else "train")
        if self.eval_split != "test":
            self.warnings.append(f"The version has no test images: the metrics are measured on {self.eval_split}.")
        predict = keras_predictor(self.export_model)
        self.progress(TRAIN_END, f"Evaluating the best epoch ({self.state['best_epoch']}) on {self.eval_split}", force=True)
        metrics = task.evaluate(predict, data.samples(self.eval_split), spec.labels)
        metrics["best_epoch"] = self.state["best_epoch"]
        metrics["split"] = self.eval_split
        metrics.update(self._inference_mode_check())
        if self.pruning is not None:
            from .pruning import sparsity_report

            self.pruning_report = sparsity_report(self.train_model, self.pruning)
            metrics["sparsity"] = self.pruning_report["overall"]
            log(f"Sparsity of the pruned kernels: {self.pruning_report['overall']:.4f} (target {self.pruning.sparsity}).")
        if self.warnings:
            metrics["warnings"] = list(self.warnings)
        self.metrics = metrics
        emit("METRICS", metrics)
        self._plots(predict)
        entries = self._export(metrics)
        card = self._card(entries)
        self._embed(entries, card)
        for entry in entries:
            emit("ARTIFACT", {k: v for k, v in entry.items() if k != "key"})
        emit("DONE", {"best_epoch": self.state["best_epoch"], "epochs": self.state["epochs_done"], "model_card": card})

    def _inference_mode_check(self) -> dict[str, Any]:
        """Train images scored in inference mode (BatchNormalization moving statistics) and in
        training mode (statistics of batches of the training batch size, dropout off, the
        moving statistics restored afterwards): if the first is far below, the moving statistics
        never converged and the exported model is worse than its training curve."""
        from .optim import leaf_layers

        keras, model, headline = self.keras, self.export_model, self.headline
        count = int(self.options.get("mode_check_images", 128))
        samples = self.data.spread("train", count)
        if not samples:
            return {}
        # Shuffled as training batches are: a batch of one class has that class normalised away.
        order = np.random.default_rng(int(self.spec.seed)).permutation(len(samples))
        samples = [samples[i] for i in order]
        dropouts = [layer for _, layer in leaf_layers(model) if isinstance(layer, keras.layers.Dropout)]
        rates = [layer.rate for layer in dropouts]
        variables = list(model.non_trainable_variables)
        snapshot = [keras.ops.convert_to_numpy(v) for v in variables]
        try:
            for layer in dropouts:
                layer.rate = 0.0
            inference = self.task.evaluate(eager_predictor(model, training=False), samples, self.spec.labels)[headline]
            training = self.task.evaluate(
                eager_predictor(model, training=True, batch_size=self.steps.batch_size), samples, self.spec.labels
            )[headline]
        finally:
            for layer, rate in zip(dropouts, rates):
                layer.rate = rate
            for variable, value in zip(variables, snapshot):
                variable.assign(value)
        gap = float(training) - float(inference)
        if gap > GAP_WARNING:
            message = (
                f"Inference mode scores {headline} {inference:.3f} on {len(samples)} train images where training mode "
                f"scores {training:.3f}: the BatchNormalization moving statistics have not converged "
                f"(momentum {self.bn_momentum} over {self.steps.total_steps} steps). Train longer or set a lower "
                "options.bn_momentum; the exported files behave like inference mode."
            )
            self.warnings.append(message)
            log("WARNING: " + message)
        return {
            "inference_mode_gap": round(gap, 6),
            "inference_mode_check": {
                "images": len(samples),
                f"train_{headline}_inference_mode": float(inference),
                f"train_{headline}_training_mode": float(training),
            },
        }

    def _plots(self, predict: Any) -> None:
        from . import plots

        folder = self.folder / PLOTS_DIR
        folder.mkdir(exist_ok=True)
        history = self.state["history"]
        key = f"val_{self.headline}"
        steps = list(range(0, self.steps.total_steps, max(1, self.steps.total_steps // 400)))
        rates = [
            learning_rate_at(
                s,
                base_lr=self.spec.learning_rate,
                total_steps=self.steps.total_steps,
                warmup_steps=self.steps.warmup_steps,
                schedule=self.spec.schedule,
                min_ratio=self.min_ratio,
            )
            for s in steps
        ]
        makers: list[tuple[str, Any]] = [
            ("loss", lambda: [("loss", plots.loss_figure(history, folder / "loss.png"))]),
            ("learning_rate", lambda: [("learning_rate", plots.lr_figure(steps, rates, self.steps.steps_per_epoch, folder / "learning_rate.png"))]),
        ]
        if any(h.get(key) is not None for h in history):
            makers.insert(1, (key, lambda: [(key, plots.metric_figure(history, key, folder / f"{key}.png", self.state["best_epoch"]))]))
        makers.append(("task", lambda: self.task.plots(self.metrics, self.spec.labels, folder)))
        makers.append(("sample_predictions", lambda: [("sample_predictions", self._sample_grid(predict, folder))]))
        for what, make in makers:
            try:
                for name, path in make():
                    emit("PLOT", name, Path(path).relative_to(self.folder).as_posix())
            except Exception as exc:  # noqa: BLE001 - a figure never fails a trained run
                log(f"The {what} figure could not be drawn: {type(exc).__name__}: {exc}")

    def _sample_grid(self, predict: Any, folder: Path) -> Path:
        from .plots import image_grid

        samples = self.data.spread(self.eval_split, SAMPLE_GRID)
        images = np.stack([s.image for s in samples]).astype(np.float32)
        outputs = predict(images)
        drawn = [
            self.task.draw(sample, {k: np.asarray(v)[i] for k, v in outputs.items()}, self.spec.labels)
            for i, sample in enumerate(samples)
        ]
        return image_grid(drawn, folder / "sample_predictions.png", title=f"Predictions on {self.eval_split} images")

    def _export(self, metrics: dict[str, Any]) -> list[dict[str, Any]]:
        from .artifacts import export_variants, measure_variant

        spec = self.spec
        settings = dict(spec.export or {})
        out = self.folder / ARTIFACTS_DIR
        self.progress(0.88, "Exporting the model (Keras, SavedModel, TFLite, ONNX)", force=True)
        representative = self.data.calibration(int(settings.get("calibration_images", 200)))
        records = export_variants(
            self.export_model,
            out,
            representative=representative,
            float_outputs=float_outputs(self.task, spec),
            float_layers=float_layers(self.task),
            variants=settings.get("variants"),
            coreml_labels=spec.labels if getattr(self.task, "coreml", False) else None,
        )
        samples = list(self.data.samples(self.eval_split)) if self.data.cached(self.eval_split) else None

        def evaluate(predict: Any) -> dict[str, Any]:
            source = samples if samples is not None else self.data.samples(self.eval_split)
            return self.task.evaluate(predict, source, spec.labels)

        keras_metrics = {
            k: v for k, v in metrics.items() if k not in ("best_epoch", "warnings") and not k.startswith("inference_mode")
        }
        entries = []
        for i, record in enumerate(records):
            self.progress(0.9 + 0.09 * i / max(1, len(records)), f"Measuring {record.key}", force=True)
            try:
                measured = measure_variant(
                    record,
                    evaluate=evaluate,
                    keras_metrics=keras_metrics,
                    threads=int(spec.threads),
                    latency_runs=int(settings.get("latency_runs", 50)),
                )
                error = record.error
                status = record.status
            except Exception as exc:  # noqa: BLE001 - a file that will not run is a failed variant
                measured = {"latency_ms": {}, "metrics": {}, "latency": []}
                status, error = "failed", f"the file did not run: {type(exc).__name__}: {exc}"
            entries.append(
                {
                    "key": record.key,
                    "format": record.format,
                    "variant": record.variant,
                    "status": status,
                    "error": error,
                    "path": record.path.relative_to(self.folder).as_posix() if record.path is not None else None,
                    "size_bytes": record.size_bytes,
                    "sha256": record.sha256,
                    "notes": record.notes,
                    **measured,
                    "_record": record,
                }
            )
            if status != "ok":
                log(f"{record.key} failed: {error}")
        return entries

    def _card(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        import keras
        import tensorflow as tf

        spec, state, steps = self.spec, self.state, self.steps
        history = state["history"]
        key = f"val_{self.headline}"
        input_info: dict[str, Any] = {
            "name": "image",
            "shape": [1, spec.input_size, spec.input_size, 3],
            "layout": "NHWC",
            "size": spec.input_size,
            "resize": spec.resize,
            "dtype_range": INPUT_RANGE,
        }
        if spec.resize == "letterbox":
            input_info["letterbox"] = {"fill": list(LETTERBOX_FILL), "padding": "centred"}
        int8 = next((e for e in entries if e["key"] == "tflite-int8" and e["status"] == "ok"), None)
        if int8:
            from export.model_formats.measure import describe_io

            io = describe_io(self.folder / int8["path"])
            if io["inputs"]:
                first = io["inputs"][0]
                input_info["int8_file_input"] = {"dtype": first["dtype"], "scale": first["scale"], "zero_point": first["zero_point"]}
        recipe = spec.recipe or {}
        card = {
            "task": spec.task,
            "architecture": spec.architecture,
            "labels": list(spec.labels),
            "num_classes": len(spec.labels),
            "input": input_info,
            "outputs": self.task.output_layout(spec),
            "version": dict(spec.version or {}),
            "run_id": spec.run_id,
            "data": {split: self.data.count(split) for split in ("train", "val", "test")},
            "hyperparameters": {
                "epochs": spec.epochs,
                "batch_size": steps.batch_size,
                "learning_rate": spec.learning_rate,
                "schedule": spec.schedule + (" (linear warm-up, per step)" if spec.schedule == "cosine" else ""),
                "warmup_epochs": spec.warmup_epochs if spec.schedule == "cosine" else 0,
                "warmup_steps": steps.warmup_steps,
                "steps_per_epoch": steps.steps_per_epoch,
                "total_steps": steps.total_steps,
                "optimizer": str(self.options.get("optimizer", "adam")).lower(),
                "bn_momentum": self.bn_momentum,
                "seed": spec.seed,
                "options": dict(self.options),
                "augmentation": [t.get("name") for t in recipe.get("transforms", [])] if recipe else None,
                "class_weights": self.data.class_weights,
                "initial_weights": Path(spec.initial_weights).name if spec.initial_weights else None,
                "initial_weights_loaded": self.initial_weights_report,
            },
            "history": {
                "epochs": state["epochs_done"],
                "best_epoch": state["best_epoch"],
                f"best_{key}": state["best_metric"],
                "first_loss": history[0]["loss"] if history else None,
                "last_loss": history[-1]["loss"] if history else None,
                "seconds": round(sum(h.get("seconds") or 0 for h in history), 1),
                "per_epoch": [{k: h.get(k) for k in ("epoch", "loss", "val_loss", key, "lr")} for h in history],
            },
            "metrics": {**scalar_metrics(self.metrics), "split": self.eval_split},
            "variants": card_variants(entries),
            "recommended": recommend(entries, self.headline, float_layers(self.task)),
            "latency_measured_on": f"{cpu_name()}, {os.cpu_count()} cores; median of "
            f"{int((spec.export or {}).get('latency_runs', 50))} runs at batch 1 (LiteRT with XNNPACK, ONNX Runtime CPU)",
            "size_note": "size_bytes is each file as exported; a .tflite then carries labels.txt and this card "
            "appended as a zip (a few kB more; LiteRT ignores it)",
            "warnings": list(self.warnings),
            "framework": {"tensorflow": tf.__version__, "keras": keras.__version__},
        }
        if self.pruning is not None:
            card["pruning"] = {
                **self.pruning_report,
                "schedule": "polynomial (power 3, Zhu & Gupta 2017), magnitude per layer",
                "begin_step": self.pruning.begin_step, "end_step": self.pruning.end_step,
                "frequency": self.pruning.frequency,
            }
        return jsonable(card)

    def _embed(self, entries: list[dict[str, Any]], card: dict[str, Any]) -> None:
        from export.model_formats.metadata import embed_metadata

        for entry in entries:
            record = entry.pop("_record")
            if entry["format"] != "tflite" or entry["status"] != "ok" or record.path is None:
                continue
            embed_metadata(record.path, labels=self.spec.labels, card=card)
            refreshed = record.refreshed()
            entry["size_bytes"], entry["sha256"] = refreshed.size_bytes, refreshed.sha256
        from .pruning import gzip_size

        for entry in entries:  # the download size of each shipped file, next to its raw size
            if entry["status"] == "ok" and entry.get("path"):
                entry["gzip_size_bytes"] = gzip_size(self.folder / entry["path"])


def cpu_name() -> str:
    """The CPU model, for the card's latency figures (``/proc/cpuinfo`` on Linux)."""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.lower().startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} {platform.processor() or platform.system()}".strip()


def _current_lr(optimizer: Any) -> float:
    from .optim import current_lr

    return current_lr(optimizer)


def _progress_callback(keras: Any, progress: Progress, steps_per_epoch: int, epochs: int) -> Any:
    class ProgressCallback(keras.callbacks.Callback):
        """A ``PROGRESS`` line per batch, throttled by :class:`Progress` to ~2 a second."""

        epoch = 1

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            done = (self.epoch - 1 + (batch + 1) / steps_per_epoch) / epochs
            loss = (logs or {}).get("loss")
            text = f"Epoch {self.epoch}/{epochs}, batch {batch + 1}/{steps_per_epoch}"
            if loss is not None:
                text += f", loss {float(loss):.4f}"
            progress(READ_END + (TRAIN_END - READ_END) * done, text)

    return ProgressCallback()


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 500 else text[:499] + "…"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        log("usage: python -m training.worker <run folder>")
        return 2
    folder = Path(argv[0])
    try:
        if not (folder / "spec.json").is_file():
            raise SpecError(f"There is no spec.json in {folder}.")
        try:
            spec = RunSpec.read(folder)
        except (TypeError, ValueError, KeyError) as exc:
            raise SpecError(f"spec.json cannot be read: {one_line(exc)}")
        return Run(folder, spec).execute()
    except SpecError as exc:
        log(one_line(exc))
        return 2
    except KeyboardInterrupt:
        log("Training was interrupted.")
        return 130
    except Exception as exc:  # noqa: BLE001 - the last stderr line is the reason, for the job page
        traceback.print_exc(file=sys.stderr)
        log(f"Training failed: {type(exc).__name__}: {one_line(exc)}")
        return 1
