"""Training and mobile export, end to end through the platform's API, against bare Keras in the same run.

Starts the live stack on a scratch ``DATA_DIR`` (``manage.py migrate``, ``ensure_admin``,
``runserver --noreload``, a Celery worker for ``default,render`` and one for ``train`` with one
process), takes a token from ``/api/auth/token/`` and then does only what a client could:

1. **Digits** — the 1,797 8x8 handwritten digits of scikit-learn's ``load_digits``, read from
   ``sklearn/datasets/data/digits.csv.gz`` inside the scikit-learn wheel (``pip download``, cached
   in ``var/bench-cache/``; scikit-learn is never installed nor imported), written as 32x32 RGB PNGs
   (bilinear) in an image-folder zip ``<class>/<file>.png``, imported (``format=imagefolder``),
   split 70/15/15 (stratified, seed 0), frozen in a version, then a MobileNetV3-Small classifier
   trained from scratch at 32 px through ``POST /api/projects/{id}/training-runs/``. Reported: test
   accuracy of the float32 and full-int8 ``.tflite`` files (the artifacts' metrics: measured by
   running each file), wall time. Baseline in the same run: the same model (the worker's own
   builder, optimizer and schedule) trained by a bare ``model.fit`` on the same split's images held
   in memory, in a child process (TensorFlow never loads in this process); the **input pipeline
   ratio** is the platform's training images/s (history ``seconds`` per epoch) over bare
   ``model.fit``'s. Then a second platform run with the ``phone-low-light`` profile cloned as a
   recipe and applied online, and its ratio to the same baseline.
2. **Raccoon** (``../shared/datasets/raccoon-voc``): VOC import, split 70/15/15, a version
   letterboxed to ``--raccoon-size`` px, a CenterNet-style MobileNetV3-Small detector from scratch
   (online augmentation: flip, scale/shift, colour; ``--raccoon-recipe``), batch 8 with a weight
   average (``options.ema`` 0.995); mAP@.5 of the float32 and int8 files.
3. **Size and latency**: the artifact table of every run; and the full-int8 MobileNetV3-Small
   classifier at 224 px (10 classes), plain and minimalistic, built with the worker's builder and
   exported with ``export.model_formats.convert.export_model`` in a child process: sizes and latency
   at 1 and 2 threads (budget: int8 <= 1.5 MB and <= 0.35x its float32 file).

Targets: digits float32 accuracy >= 0.985, int8 within 0.5 point; ratio >= 0.85 without
augmentation, >= 0.6 with the low-light recipe; raccoon mAP@.5 >= 0.40, int8 within 3 points.

    .venv/bin/python bench/train.py [--epochs 40] [--batch-size 32] [--learning-rate 0.005] [--bn-momentum 0.9] \
        [--skip-recipe-run] [--skip-baseline] [--skip-size] [--skip-raccoon] [--raccoon-epochs 120] \
        [--raccoon-batch-size 8] [--raccoon-ema 0.995] [--keep]

Prints progress and Markdown tables; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CACHE = ROOT / "var" / "bench-cache"
RACCOON = ROOT.parent / "shared" / "datasets" / "raccoon-voc"
ADMIN_PASSWORD = "bench-train-pass"
# Online augmentation recipes of the detector (albumentations 2.0.8 names, checked by the recipe API).
RACCOON_RECIPES: dict[str, list[dict]] = {
    "augment": [
        {"name": "HorizontalFlip", "p": 0.5},
        {"name": "Affine", "params": {"scale": [0.75, 1.25], "translate_percent": [-0.1, 0.1]}, "p": 0.7},
        {"name": "RandomBrightnessContrast", "params": {"brightness_limit": [-0.2, 0.2], "contrast_limit": [-0.2, 0.2]}, "p": 0.5},
        {"name": "HueSaturationValue", "p": 0.3},
    ],
    "flip": [{"name": "HorizontalFlip", "p": 0.5}],
    "none": [],
}

# bench/ must not come first on sys.path: bench/export.py would shadow the `export` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(message, flush=True)


# --- the digits, from the scikit-learn wheel --------------------------------------------------------
def digits_arrays() -> tuple[Any, Any]:
    """``(images (1797, 8, 8) float 0..16, targets (1797,))`` from the cached wheel."""
    import numpy as np

    CACHE.mkdir(parents=True, exist_ok=True)
    csv = CACHE / "digits.csv.gz"
    if not csv.is_file():
        wheels = sorted(CACHE.glob("scikit_learn-*.whl"))
        if not wheels:
            say("Fetching the scikit-learn wheel once (for its digits.csv.gz; not installed) ...")
            subprocess.run([sys.executable, "-m", "pip", "download", "scikit-learn", "--no-deps", "--only-binary", ":all:",
                            "-d", str(CACHE), "-q"], check=True)
            wheels = sorted(CACHE.glob("scikit_learn-*.whl"))
        with zipfile.ZipFile(wheels[-1]) as wheel:
            csv.write_bytes(wheel.read("sklearn/datasets/data/digits.csv.gz"))
    data = np.loadtxt(io.BytesIO(gzip.decompress(csv.read_bytes())), delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int)


def digits_zip(size: int) -> tuple[bytes, int]:
    """An image-folder zip ``<digit>/digit_<index>.png``: each 8x8 digit upscaled (bilinear) to
    ``size`` px, grayscale 0..16 -> 0..255, as RGB."""
    import numpy as np
    from PIL import Image

    images, targets = digits_arrays()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for i, (pixels, target) in enumerate(zip(images, targets)):
            gray = Image.fromarray(np.clip(pixels * (255.0 / 16.0), 0, 255).round().astype(np.uint8), "L")
            picture = gray.resize((size, size), Image.Resampling.BILINEAR).convert("RGB")
            png = io.BytesIO()
            picture.save(png, "PNG")
            archive.writestr(f"{int(target)}/digit_{i:04d}.png", png.getvalue())
    return out.getvalue(), len(targets)


def raccoon_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(RACCOON.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(RACCOON).as_posix())
    return out.getvalue()


# --- the live stack -----------------------------------------------------------------------------
class Stack:
    """migrate, ensure_admin, runserver and two Celery workers on a scratch DATA_DIR."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        env = os.environ.copy()
        for key in ("DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "TRAINING_DIR", "CACHE_URL",
                    "EXPORT_CACHE_DIR", "TRAINING_WORKER_COMMAND", "CELERY_TASK_ALWAYS_EAGER"):
            env.pop(key, None)
        env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings.base", ADMIN_PASSWORD=ADMIN_PASSWORD,
                   PYTHONUNBUFFERED="1", LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"))
        self.env = env
        self.session: Any = None

    def _manage(self, *args: str) -> None:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")

    def _start(self, name: str, argv: list[str]) -> None:
        log = self.data_dir.parent / f"{name}.log"
        self.logs[name] = log
        with open(log, "wb") as out:
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                                start_new_session=True)

    def start(self) -> None:
        import requests

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._manage("migrate", "--noinput", "-v", "0")
        self._manage("ensure_admin")
        python = sys.executable
        self._start("web", [python, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"])
        self._start("worker", [python, "-m", "celery", "-A", "config", "worker", "-Q", "default,render", "-c", "1",
                               "-n", "bench-default@%h", "-l", "info", "--without-gossip", "--without-mingle"])
        self._start("train-worker", [python, "-m", "celery", "-A", "config", "worker", "-Q", "train", "-c", "1",
                                     "-n", "bench-train@%h", "-l", "info", "--without-gossip", "--without-mingle"])
        deadline = time.monotonic() + 180
        for name in ("worker", "train-worker"):
            while b"ready." not in self.logs[name].read_bytes():
                self._alive_or_die(name)
                if time.monotonic() > deadline:
                    raise SystemExit(f"The {name} did not start:\n{self.logs[name].read_text(errors='replace')[-3000:]}")
                time.sleep(0.3)
        session = requests.Session()
        while True:
            self._alive_or_die("web")
            try:
                answer = session.post(f"{self.base}/api/auth/token/", data={"username": "admin", "password": ADMIN_PASSWORD},
                                      timeout=10)
                if answer.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"The web server did not answer:\n{self.logs['web'].read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        session.headers["Authorization"] = f"Token {answer.json()['token']}"
        self.session = session

    def _alive_or_die(self, name: str) -> None:
        if self.procs[name].poll() is not None:
            raise SystemExit(f"The {name} exited ({self.procs[name].returncode}):\n"
                             f"{self.logs[name].read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"The {name} did not stop in 20 s; killing its process group.")
            try:  # the group: a Celery worker's pool child and a training process it started
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # --- HTTP ---------------------------------------------------------------------------------
    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 202), **kwargs: Any) -> Any:
        answer = self.session.request(method, self.base + path, timeout=600, **kwargs)
        if answer.status_code not in expect:
            raise SystemExit(f"{method} {path} -> {answer.status_code}: {answer.text[:3000]}")
        return answer.json() if answer.content else None

    def wait_job(self, job_id: int, what: str, timeout: float = 3600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.call("GET", f"/api/jobs/{job_id}/")
            if job["status"] == "succeeded":
                return job
            if job["status"] in ("failed", "cancelled"):
                raise SystemExit(f"{what}: job {job_id} {job['status']}: {job.get('error') or job.get('message')}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{what}: job {job_id} still {job['status']} after {timeout:.0f}s")
            time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- platform steps -------------------------------------------------------------------------------
def make_project(stack: Stack, name: str) -> int:
    return stack.call("POST", "/api/projects/", json={"name": name})["id"]


def import_dataset(stack: Stack, project: int, archive: bytes, fmt: str, name: str) -> dict:
    started = time.perf_counter()
    job = stack.call("POST", f"/api/projects/{project}/import", data={"format": fmt},
                     files={"file": (name, archive, "application/zip")})
    done = stack.wait_job(job["id"], f"import {name}")
    result = done.get("result") or {}
    say(f"  import ({fmt}): {result.get('images_created')} images, {result.get('annotations_created')} annotations "
        f"in {time.perf_counter() - started:.1f}s")
    return result


def split(stack: Stack, project: int, stratify: bool) -> dict:
    answer = stack.call("POST", f"/api/projects/{project}/split",
                        json={"train": 0.7, "val": 0.15, "test": 0.15, "seed": 0, "stratify": stratify,
                              "reset": True})  # an imported dataset may bring its own splits
    say(f"  split 70/15/15 (stratify={stratify}): {answer['counts']}")
    return answer["counts"]


def build_version(stack: Stack, project: int, name: str, resize: dict | None = None) -> dict:
    started = time.perf_counter()
    body: dict[str, Any] = {"name": name}
    if resize:
        body["preprocessing"] = {"resize": resize}
    job = stack.call("POST", f"/api/projects/{project}/versions/", json=body)
    stack.wait_job(job["id"], f"version {name}")
    version = stack.call("GET", f"/api/versions/{job['version']}/")
    say(f"  version {version['id']} ({name}): {version.get('image_count')} images, "
        f"{version.get('annotation_count')} annotations, built in {time.perf_counter() - started:.1f}s")
    return version


def train(stack: Stack, project: int, params: dict, title: str) -> dict:
    """Start a run through the API and follow it to its end; the finished run (detail) and timings."""
    started = time.perf_counter()
    run = stack.call("POST", f"/api/projects/{project}/training-runs/", json=params)
    run_id = run["id"]
    say(f"  {title}: run {run_id} queued ({json.dumps(params)})")
    seen_epochs = 0
    last_message = ""
    first_epoch_at = None
    while True:
        run = stack.call("GET", f"/api/training-runs/{run_id}/")
        history = run.get("history") or []
        for entry in history[seen_epochs:]:
            if first_epoch_at is None:
                first_epoch_at = time.perf_counter()
            metric = {k: v for k, v in entry.items() if k.startswith("val_") and k != "val_loss"}
            say(f"    epoch {entry['epoch']}/{run['epochs']}: loss {entry['loss']:.4f}"
                + (f", val_loss {entry['val_loss']:.4f}" if entry.get("val_loss") is not None else "")
                + "".join(f", {k} {v:.4f}" for k, v in metric.items() if v is not None)
                + f", lr {entry.get('lr', 0):.2e}, {entry.get('seconds', 0):.1f}s")
        seen_epochs = len(history)
        message = run.get("message") or ""
        if message != last_message and not message.startswith("Epoch "):
            say(f"    [{run['status']} {100 * (run.get('progress') or 0):.0f}%] {message}")
        last_message = message
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(2.0)
    wall = time.perf_counter() - started
    if run["status"] != "succeeded":
        raise SystemExit(f"{title}: run {run_id} {run['status']}: {run.get('error')}")
    artifacts = stack.call("GET", f"/api/training-runs/{run_id}/artifacts/")
    train_seconds = sum(h.get("seconds") or 0 for h in run["history"])
    say(f"  {title}: run {run_id} succeeded in {wall:.0f}s (training epochs {train_seconds:.0f}s, best epoch "
        f"{run.get('best_epoch')})")
    return {"run": run, "artifacts": artifacts, "wall_s": wall, "train_s": train_seconds}


def artifact(result: dict, fmt: str, variant: str) -> dict:
    return next((a for a in result["artifacts"] if a["format"] == fmt and a["variant"] == variant), {})


def artifact_table(result: dict, headline: str, title: str) -> tuple[str, list[dict]]:
    rows = []
    lines = [f"{title}", "", f"| format | variant | size | latency 1 thread | latency 2 threads | {headline} |",
             "|---|---|---|---|---|---|"]
    for a in result["artifacts"]:
        lat = a.get("latency_ms") or {}
        metric = (a.get("metrics") or {}).get(headline)
        rows.append({"format": a["format"], "variant": a["variant"], "status": a["status"], "size_bytes": a["size_bytes"],
                     "latency_ms_1": lat.get("1"), "latency_ms_2": lat.get("2"), headline: metric,
                     **({"error": a["error"]} if a.get("error") else {})})
        size = f"{a['size_bytes'] / 1e6:.3f} MB" if a.get("size_bytes") else "—"
        l1 = f"{lat['1']:.3f} ms" if lat.get("1") is not None else "—"
        l2 = f"{lat['2']:.3f} ms" if lat.get("2") is not None else "—"
        m = f"{metric:.4f}" if isinstance(metric, int | float) else ("failed: " + a.get("error", "")[:80] if a["status"] != "ok" else "—")
        lines.append(f"| {a['format']} | {a['variant']} | {size} | {l1} | {l2} | {m} |")
    return "\n".join(lines), rows


def epoch_rate(history: list[dict], images_per_epoch: int) -> dict:
    """Training images/s from the per-epoch seconds: the median of epochs 2.. (epoch 1 traces the
    graphs and warms the caches), and over all epochs."""
    seconds = [float(h["seconds"]) for h in history if h.get("seconds")]
    steady = seconds[1:] or seconds
    median = statistics.median(steady)
    return {"images_per_epoch": images_per_epoch, "median_epoch_s": round(median, 3),
            "images_per_s": round(images_per_epoch / median, 1),
            "images_per_s_all_epochs": round(images_per_epoch * len(seconds) / sum(seconds), 1)}


def ratios(platform_rate: float, base: dict) -> dict:
    return {
        "input_pipeline_ratio": round(platform_rate / base["images_per_s"], 3),
        "input_pipeline_ratio_train_only": round(platform_rate / base["images_per_s_train_only"], 3),
        "input_pipeline_ratio_like_platform": round(platform_rate / base["images_per_s_like_platform"], 3),
    }


# --- children (TensorFlow lives here) -------------------------------------------------------------
def run_child(*args: str, timeout: float = 7200) -> dict:
    env = os.environ.copy()
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", out, *args], cwd=ROOT, env=env,
                              timeout=timeout, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f"child {args[0]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        return json.loads(Path(out).read_text())
    finally:
        Path(out).unlink(missing_ok=True)


def child_baseline(spec_path: str, epochs: int) -> dict:
    """Bare ``model.fit`` of the run's model on its images in memory: the same builder, BN
    momentum, optimizer and schedule as the training process; none of its input pipeline."""
    import numpy as np

    from training.protocol import RunSpec
    from training.worker.data import load_sample
    from training.worker.run import configure_tensorflow
    from training.worker.schedule import bn_momentum, plan_steps
    from training.worker.tasks import get_task

    spec = RunSpec.read(Path(spec_path).parent)
    spec.epochs = epochs
    tf, keras = configure_tensorflow(spec)
    from training.worker.optim import learning_rate, make_optimizer, set_bn_momentum

    t0 = time.perf_counter()
    arrays: dict[str, tuple[Any, Any]] = {}
    for name in ("train", "val", "test"):
        samples = [load_sample(item, spec.input_size, spec.resize) for item in spec.items if item.split == name]
        arrays[name] = (np.stack([s.image for s in samples]).astype(np.float32),
                        np.asarray([int(s.label) for s in samples], dtype=np.int32))
    load_s = time.perf_counter() - t0
    x_train, y_train = arrays["train"]
    steps = plan_steps(train_images=len(x_train), batch_size=spec.batch_size, epochs=epochs,
                       warmup_epochs=spec.warmup_epochs if spec.schedule == "cosine" else 0)
    keep = steps.steps_per_epoch * steps.batch_size  # the run drops the last partial batch: so does this
    task = get_task(spec.task)
    model, _ = task.build(spec)
    set_bn_momentum(model, bn_momentum((spec.options or {}).get("bn_momentum", "auto"), steps.total_steps))
    lr = learning_rate(spec.schedule, base_lr=spec.learning_rate, total_steps=steps.total_steps,
                       warmup_steps=steps.warmup_steps, min_ratio=float((spec.options or {}).get("min_lr_ratio", 0.0)))
    task.compile(model, make_optimizer(dict(spec.options or {}), lr))
    x_val, y_val = arrays["val"]
    x_test, y_test = arrays["test"]

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epochs: list[float] = []
            self.val: list[float] = []
            self.best = (-1.0, None)

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_test_begin(self, logs=None):
            self._v = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val.append(time.perf_counter() - self._v)

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._t)
            metric = float((logs or {}).get("val_accuracy", (logs or {}).get("val_scores_accuracy", -1)))
            if metric > self.best[0]:
                self.best = (metric, self.model.get_weights())

    timer = Timer()
    t0 = time.perf_counter()
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(x_train))[:keep]  # the same images each epoch; fit shuffles them
    history = model.fit(x_train[order], {"scores": y_train[order]}, batch_size=steps.batch_size, epochs=epochs,
                        shuffle=True, verbose=0, validation_data=(x_val, {"scores": y_val}),
                        validation_batch_size=steps.batch_size, callbacks=[timer])
    fit_s = time.perf_counter() - t0

    def accuracy(x: Any, y: Any) -> float:
        scores = model.predict(x, batch_size=32, verbose=0)
        scores = scores["scores"] if isinstance(scores, dict) else scores
        return float((np.asarray(scores).argmax(axis=1) == y).mean())

    last_test = accuracy(x_test, y_test)
    model.set_weights(timer.best[1])
    best_test = accuracy(x_test, y_test)
    # The platform's epoch also scores val a second time (task.evaluate: predict_on_batch in 32s):
    # time that too, so a like-for-like epoch can be compared.
    for start in range(0, len(x_val), 32):  # traces predict_on_batch (full and last partial batch)
        model.predict_on_batch(x_val[start:start + 32])
    t0 = time.perf_counter()
    for start in range(0, len(x_val), 32):
        model.predict_on_batch(x_val[start:start + 32])
    val_predict_s = time.perf_counter() - t0
    train_only = [e - v for e, v in zip(timer.epochs, timer.val)]

    def median_rest(values: list[float]) -> float:  # epochs 2..: the first traces the graphs
        return statistics.median(values[1:] or values)

    fit_epoch = median_rest(timer.epochs)
    train_epoch = median_rest(train_only)
    like_epoch = fit_epoch + val_predict_s
    return {
        "epochs": epochs, "batch_size": steps.batch_size, "images_per_epoch": keep, "load_s": round(load_s, 2),
        "fit_s": round(fit_s, 1), "epoch_s": [round(e, 3) for e in timer.epochs], "val_s": [round(v, 3) for v in timer.val],
        # model.fit's epoch with its validation_data pass (val loss + accuracy), as a Keras user writes it
        "median_epoch_s": round(fit_epoch, 3), "images_per_s": round(keep / fit_epoch, 1),
        # the same without the validation pass: training steps only
        "median_train_only_epoch_s": round(train_epoch, 3), "images_per_s_train_only": round(keep / train_epoch, 1),
        # plus a second val pass by predict_on_batch, as the platform's epoch scores val twice (loss, metric)
        "median_epoch_like_platform_s": round(like_epoch, 3), "images_per_s_like_platform": round(keep / like_epoch, 1),
        "val_predict_s": round(val_predict_s, 3),
        "test_accuracy_last_epoch": round(last_test, 4), "test_accuracy_best_val_epoch": round(best_test, 4),
        "best_val_accuracy": round(timer.best[0], 4), "final_loss": round(float(history.history["loss"][-1]), 4),
        "threads": spec.threads,
    }


def child_size224(spec_path: str, out_dir: str, latency_runs: int) -> dict:
    """MobileNetV3-Small classifiers at 224 px, 10 classes, plain and minimalistic: the worker's
    builder, exported by ``export_model`` (TFLite only), calibrated on 100 train digits at 224."""
    import dataclasses

    import numpy as np

    from export.model_formats.convert import export_model
    from export.model_formats.measure import measure_latency
    from training.protocol import RunSpec
    from training.worker.data import load_sample
    from training.worker.run import configure_tensorflow
    from training.worker.tasks import get_task

    base = RunSpec.read(Path(spec_path).parent)
    spec = dataclasses.replace(base, input_size=224, options={**(base.options or {}), "minimalistic": False})
    configure_tensorflow(spec)
    train = [item for item in spec.items if item.split == "train"]
    picks = np.linspace(0, len(train) - 1, 100).round().astype(int)
    calibration = [load_sample(train[i], 224, spec.resize).image[None].astype(np.float32) for i in picks]
    results = {}
    for minimalistic in (False, True):
        name = "minimalistic" if minimalistic else "plain"
        variant_spec = dataclasses.replace(spec, options={**spec.options, "minimalistic": minimalistic})
        _, model = get_task("classify").build(variant_spec)
        t0 = time.perf_counter()
        records = export_model(model, Path(out_dir) / name, representative_data=calibration, keras_file=False, onnx=False)
        export_s = time.perf_counter() - t0
        rows = {}
        for record in records:
            if record.format != "tflite":
                continue
            row: dict[str, Any] = {"status": record.status, "size_bytes": record.size_bytes}
            if record.ok:
                for lat in measure_latency(record.path, threads=(1, 2), runs=latency_runs):
                    row[f"latency_ms_{lat.threads}"] = round(lat.median_ms, 3)
            else:
                row["error"] = record.error
            rows[record.variant] = row
        f32, i8 = rows.get("float32", {}), rows.get("int8", {})
        results[name] = {"params": int(model.count_params()), "export_s": round(export_s, 1), "variants": rows,
                         "int8_over_float32": round(i8["size_bytes"] / f32["size_bytes"], 3)
                         if i8.get("size_bytes") and f32.get("size_bytes") else None}
    return results


# --- main -------------------------------------------------------------------------------------
def size_table(size: dict) -> str:
    lines = ["MobileNetV3-Small classifier, 224 px, 10 classes (untrained weights; size and latency only)", "",
             "| model | variant | size | vs float32 | latency 1 thread | latency 2 threads |", "|---|---|---|---|---|---|"]
    for name, entry in size.items():
        f32 = entry["variants"].get("float32", {}).get("size_bytes")
        for variant, row in entry["variants"].items():
            if row.get("status") != "ok":
                lines.append(f"| {name} | {variant} | failed | — | — | — |")
                continue
            ratio = f"{row['size_bytes'] / f32:.3f}x" if f32 else "—"
            lines.append(f"| {name} | {variant} | {row['size_bytes'] / 1e6:.3f} MB | {ratio} | "
                         f"{row['latency_ms_1']:.3f} ms | {row['latency_ms_2']:.3f} ms |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40, help="digits epochs (platform and baseline)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--bn-momentum", default="0.9",
                        help='digits: BatchNormalization momentum ("auto" picks 0.99 here, and val accuracy then sits at '
                             "0.1 for the first ~10 epochs)")
    parser.add_argument("--minimalistic", action="store_true", help="digits: MobileNetV3 minimalistic blocks")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--dropout", type=float, default=None)
    parser.add_argument("--recipe-epochs", type=int, default=None, help="epochs of the low-light run (default: --epochs)")
    parser.add_argument("--skip-recipe-run", action="store_true", help="leave out the phone-low-light run")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-size", action="store_true", help="leave out the 224 px size/latency export")
    parser.add_argument("--skip-digits", action="store_true", help="leave out the digits runs (the baseline and 224 px need them)")
    parser.add_argument("--skip-raccoon", action="store_true")
    parser.add_argument("--raccoon-epochs", type=int, default=120)
    parser.add_argument("--raccoon-size", type=int, default=256, help="version letterbox and detector input, px (<= 320)")
    parser.add_argument("--raccoon-batch-size", type=int, default=8)
    parser.add_argument("--raccoon-learning-rate", type=float, default=0.002)
    parser.add_argument("--raccoon-recipe", choices=sorted(RACCOON_RECIPES), default="augment",
                        help="online augmentation of the detector's train split (augment: flip, scale/shift, colour)")
    parser.add_argument("--raccoon-bn-momentum", default="0.9",
                        help='detector BatchNormalization momentum ("auto" picks ~0.99 for 120 epochs of 8 steps, and '
                             "the moving statistics then lag so far that val mAP stays 0)")
    parser.add_argument("--raccoon-minimalistic", action="store_true")
    parser.add_argument("--raccoon-ema", type=float, default=0.995,
                        help="decay of the detector's weight average (options.ema; 0: none)")
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        out, what, *rest = args.child
        if what == "baseline":
            result = child_baseline(rest[0], int(rest[1]))
        elif what == "size224":
            result = child_size224(rest[0], rest[1], int(rest[2]))
        else:
            raise SystemExit(f"unknown child {what}")
        Path(out).write_text(json.dumps(result))
        return 0

    figures: dict[str, Any] = {"cpu_count": os.cpu_count()}
    timings: dict[str, float] = {}
    tables: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="lensforge-train-bench-"))
    say(f"scratch folder: {scratch}")
    stack = Stack(scratch / "data", free_port())
    bench_start = time.perf_counter()
    try:
        t0 = time.perf_counter()
        stack.start()
        timings["stack_start_s"] = round(time.perf_counter() - t0, 1)
        say(f"stack up on {stack.base} in {timings['stack_start_s']}s")
        train_dir = scratch / "data" / "training"

        digits_spec = None
        if not args.skip_digits:
            say("== Digits ==")
            t0 = time.perf_counter()
            archive, count = digits_zip(args.input_size)
            project = make_project(stack, "digits")
            imported = import_dataset(stack, project, archive, "imagefolder", "digits.zip")
            counts = split(stack, project, stratify=True)
            version = build_version(stack, project, "digits 32px")
            timings["digits_data_s"] = round(time.perf_counter() - t0, 1)
            figures["digits"] = {"images": count, "imported": imported.get("images_created"), "split": counts,
                                 "duplicate_files": imported.get("duplicate_files")}
            options: dict[str, Any] = {"minimalistic": args.minimalistic, "alpha": args.alpha,
                                       "bn_momentum": args.bn_momentum if args.bn_momentum == "auto" else float(args.bn_momentum)}
            if args.dropout is not None:
                options["dropout"] = args.dropout
            params = {"version": version["id"], "task": "classify", "architecture": "mobilenet_v3_small",
                      "input_size": args.input_size, "epochs": args.epochs, "batch_size": args.batch_size,
                      "learning_rate": args.learning_rate, "options": options, "seed": 0}
            plain = train(stack, project, params, "digits run (no augmentation)")
            timings["digits_run_s"] = round(plain["wall_s"], 1)
            digits_spec = train_dir / str(plain["run"]["id"]) / "spec.json"
            train_images = plain["run"]["model_card"]["data"]["train"]
            per_epoch = (train_images // args.batch_size) * args.batch_size
            f32, i8 = artifact(plain, "tflite", "float32"), artifact(plain, "tflite", "int8")
            acc32 = (f32.get("metrics") or {}).get("accuracy")
            acc8 = (i8.get("metrics") or {}).get("accuracy")
            table, rows = artifact_table(plain, "accuracy", f"Digits, run {plain['run']['id']} (32 px, test split)")
            tables.append(table)
            entry = {
                "run": plain["run"]["id"], "params": params, "train_images": train_images,
                "test_images": plain["run"]["model_card"]["data"]["test"],
                "keras_test_accuracy": (plain["run"].get("metrics") or {}).get("accuracy"),
                "tflite_float32_accuracy": acc32, "tflite_int8_accuracy": acc8,
                "int8_drop_points": round(100 * (acc32 - acc8), 2) if acc32 is not None and acc8 is not None else None,
                "best_epoch": plain["run"].get("best_epoch"), "wall_s": round(plain["wall_s"], 1),
                "train_epochs_s": round(plain["train_s"], 1), "rate": epoch_rate(plain["run"]["history"], per_epoch),
                "history_seconds": [h.get("seconds") for h in plain["run"]["history"]],
                "inference_mode_gap": (plain["run"].get("metrics") or {}).get("inference_mode_gap"),
                "warnings": (plain["run"].get("metrics") or {}).get("warnings"),
                "artifacts": rows,
            }
            entry["targets_met"] = {
                "float32_accuracy_ge_0.985": acc32 is not None and acc32 >= 0.985,
                "int8_within_0.5_point": entry["int8_drop_points"] is not None and entry["int8_drop_points"] <= 0.5,
            }
            figures["digits"]["platform"] = entry
            say(f"  digits: float32 .tflite accuracy {acc32}, int8 .tflite accuracy {acc8} "
                f"(drop {entry['int8_drop_points']} points); {entry['rate']['images_per_s']} train images/s")

            if not args.skip_baseline:
                say("  baseline: bare model.fit in a child process ...")
                t0 = time.perf_counter()
                base = run_child("baseline", str(digits_spec), str(args.epochs))
                timings["baseline_s"] = round(time.perf_counter() - t0, 1)
                figures["digits"]["baseline"] = base
                figures["digits"].update(ratios(entry["rate"]["images_per_s"], base))
                say(f"  baseline: test accuracy {base['test_accuracy_best_val_epoch']} (best val epoch; last "
                    f"{base['test_accuracy_last_epoch']}); {base['images_per_s']} train images/s per model.fit epoch with "
                    f"validation_data ({base['images_per_s_train_only']} training steps only, "
                    f"{base['images_per_s_like_platform']} with a second val pass like the platform's); fit {base['fit_s']}s")
                say(f"  input pipeline ratio: {figures['digits']['input_pipeline_ratio']} (vs model.fit with validation_data); "
                    f"{figures['digits']['input_pipeline_ratio_train_only']} vs its training steps only; "
                    f"{figures['digits']['input_pipeline_ratio_like_platform']} like for like; target >= 0.85")

            if not args.skip_recipe_run:
                say("  phone-low-light recipe, online ...")
                recipe = stack.call("POST", f"/api/projects/{project}/recipes/from-profile", json={"profile": "phone-low-light"})
                params_r = {**params, "recipe": recipe["id"], "epochs": args.recipe_epochs or args.epochs}
                aug = train(stack, project, params_r, "digits run (phone-low-light online)")
                timings["digits_recipe_run_s"] = round(aug["wall_s"], 1)
                f32r, i8r = artifact(aug, "tflite", "float32"), artifact(aug, "tflite", "int8")
                table, rows = artifact_table(aug, "accuracy", f"Digits with phone-low-light online, run {aug['run']['id']}")
                tables.append(table)
                rentry = {
                    "run": aug["run"]["id"], "recipe": recipe["id"],
                    "recipe_transforms": [t.get("name") for t in (recipe.get("spec") or {}).get("transforms", [])],
                    "tflite_float32_accuracy": (f32r.get("metrics") or {}).get("accuracy"),
                    "tflite_int8_accuracy": (i8r.get("metrics") or {}).get("accuracy"),
                    "wall_s": round(aug["wall_s"], 1), "train_epochs_s": round(aug["train_s"], 1),
                    "rate": epoch_rate(aug["run"]["history"], per_epoch),
                    "history_seconds": [h.get("seconds") for h in aug["run"]["history"]], "artifacts": rows,
                }
                if "baseline" in figures["digits"]:
                    rentry.update(ratios(rentry["rate"]["images_per_s"], figures["digits"]["baseline"]))
                    say(f"  low-light ratio: {rentry['input_pipeline_ratio']} ({rentry['input_pipeline_ratio_train_only']} vs "
                        f"training steps only, {rentry['input_pipeline_ratio_like_platform']} like for like); target >= 0.6")
                figures["digits"]["recipe_run"] = rentry

            if not args.skip_size:
                say("== 224 px size and latency (child process) ==")
                t0 = time.perf_counter()
                size = run_child("size224", str(digits_spec), str(scratch / "size224"), str(args.latency_runs))
                timings["size224_s"] = round(time.perf_counter() - t0, 1)
                for entry224 in size.values():
                    i8v = entry224["variants"].get("int8", {})
                    entry224["targets_met"] = {
                        "int8_le_1.5MB": bool(i8v.get("size_bytes")) and i8v["size_bytes"] <= 1.5e6,
                        "int8_le_0.35x_float32": entry224["int8_over_float32"] is not None
                        and entry224["int8_over_float32"] <= 0.35,
                    }
                figures["size224"] = size
                tables.append(size_table(size))

        if not args.skip_raccoon:
            say("== Raccoon ==")
            if not RACCOON.is_dir():
                say(f"  {RACCOON} not found: skipped")
            else:
                t0 = time.perf_counter()
                project = make_project(stack, "raccoon")
                imported = import_dataset(stack, project, raccoon_zip(), "voc", "raccoon-voc.zip")
                counts = split(stack, project, stratify=True)  # one class: exact 70/15/15
                size_px = args.raccoon_size
                version = build_version(stack, project, f"raccoon {size_px}px letterbox",
                                        resize={"mode": "letterbox", "width": size_px, "height": size_px})
                recipe_id = None
                if RACCOON_RECIPES[args.raccoon_recipe]:
                    recipe_id = stack.call("POST", f"/api/projects/{project}/recipes/", json={
                        "name": args.raccoon_recipe, "spec": {"transforms": RACCOON_RECIPES[args.raccoon_recipe]}})["id"]
                timings["raccoon_data_s"] = round(time.perf_counter() - t0, 1)
                params = {"version": version["id"], "task": "detect", "architecture": "mobilenet_v3_small",
                          "input_size": size_px, "epochs": args.raccoon_epochs, "batch_size": args.raccoon_batch_size,
                          "learning_rate": args.raccoon_learning_rate, "recipe": recipe_id,
                          "options": {"minimalistic": args.raccoon_minimalistic, "ema": args.raccoon_ema or None,
                                      "bn_momentum": args.raccoon_bn_momentum if args.raccoon_bn_momentum == "auto"
                                      else float(args.raccoon_bn_momentum)}, "seed": 0}
                det = train(stack, project, params, "raccoon detector")
                timings["raccoon_run_s"] = round(det["wall_s"], 1)
                f32, i8 = artifact(det, "tflite", "float32"), artifact(det, "tflite", "int8")
                m32, m8 = (f32.get("metrics") or {}).get("map50"), (i8.get("metrics") or {}).get("map50")
                table, rows = artifact_table(det, "map50", f"Raccoon detector, run {det['run']['id']} ({size_px} px, test split)")
                tables.append(table)
                figures["raccoon"] = {
                    "images": imported.get("images_created"), "annotations": imported.get("annotations_created"),
                    "split": counts, "version": version["id"], "params": params, "run": det["run"]["id"],
                    "recipe_transforms": [t["name"] for t in RACCOON_RECIPES[args.raccoon_recipe]],
                    "keras_map50": (det["run"].get("metrics") or {}).get("map50"),
                    "keras_map": (det["run"].get("metrics") or {}).get("map"),
                    "tflite_float32_map50": m32, "tflite_int8_map50": m8,
                    "int8_drop_points": round(100 * (m32 - m8), 2) if m32 is not None and m8 is not None else None,
                    "best_epoch": det["run"].get("best_epoch"), "wall_s": round(det["wall_s"], 1),
                    "train_epochs_s": round(det["train_s"], 1),
                    "history": [{k: h.get(k) for k in ("epoch", "loss", "val_loss", "val_map50", "seconds")}
                                for h in det["run"]["history"]],
                    "artifacts": rows,
                    "targets_met": {"float32_map50_ge_0.40": m32 is not None and m32 >= 0.40,
                                    "int8_within_3_points": m32 is not None and m8 is not None and 100 * (m32 - m8) <= 3},
                }
                say(f"  raccoon: mAP@.5 float32 {m32}, int8 {m8}")
    finally:
        timings["total_s"] = round(time.perf_counter() - bench_start, 1)
        stack.stop()
        if args.keep:
            say(f"kept {scratch}")
        else:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)

    say("")
    for table in tables:
        say(table)
        say("")
    figures["timings"] = timings
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
