"""Keypoints, segmentation, pruning and robustness, end to end through the API (figures in the README).

Starts the whole stack on a scratch data folder (as ``bench/train.py`` does, whose stack and API
helpers this reuses) and does only what a client would:

1. **Keypoints**: the DeepLabCut open-field mouse frames (``../shared/datasets/dlc-openfield-keypoints``,
   116 frames, 4 keypoints) imported as COCO, split 70/15/15, a version letterboxed to
   ``--kp-size`` px, a pose model trained from scratch; OKS AP of the float32 and int8 files.
2. **Segmentation**: coco128 (``../shared/datasets/coco128-instances``) imported as COCO, every
   label but ``person`` deleted through the API (person vs background), split, a version
   letterboxed to ``--seg-size`` px, an LR-ASPP MobileNetV3-Small; mIoU of the float32 and int8 files.
3. **Pruning**: the digits classifier of ``bench/train.py`` dense and at 50% and 80% magnitude
   sparsity: accuracy and gzip size of each full-int8 file.
4. **Robustness** (the headline): the digits classifier trained without and with the
   ``phone-low-light`` profile as online augmentation (its mirror flip taken out of the cloned
   recipe, since digits are not mirror-symmetric; ``--keep-flip`` leaves it in), each run's robustness report (every device
   profile at severities 1-5) on its int8 file, side by side. Goal: at severity 3 the augmented
   model keeps >= 10 points more accuracy under ``phone-low-light`` than the plain one, while its
   clean accuracy stays within 1 point.

    .venv/bin/python bench/train_kp_seg.py [--skip-keypoints] [--skip-segment] [--skip-pruning] \
        [--skip-robustness] [--kp-epochs 120] [--kp-size 192] [--kp-batch-size 8] [--seg-epochs 60] [--digits-epochs 30] [--keep-flip] [--keep]

Prints progress and Markdown tables; the last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DATASETS = ROOT.parent / "shared" / "datasets"
DLC = DATASETS / "dlc-openfield-keypoints"
COCO128 = DATASETS / "coco128-instances"
PROFILE = "phone-low-light"


def _load_train_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_train", BENCH / "train.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)  # (it also puts the project root first on sys.path)
    return module


tb = _load_train_bench()
say = tb.say


def folder_zip(folder: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "LICENSE":
                archive.write(path, path.relative_to(folder).as_posix())
    return out.getvalue()


def gzip_size_of(stack: Any, artifact: dict) -> int | None:
    """The gzip-compressed size of an artifact file (from the run folder on this machine)."""
    return artifact.get("gzip_size_bytes")


def keypoints(stack: Any, args: Any, figures: dict, tables: list[str]) -> None:
    say("== Keypoints (DeepLabCut open-field mouse) ==")
    if not DLC.is_dir():
        say(f"  {DLC} not found: skipped")
        return
    project = tb.make_project(stack, "mouse pose")
    imported = tb.import_dataset(stack, project, folder_zip(DLC), "coco", "dlc.zip")
    counts = tb.split(stack, project, stratify=False)
    size = args.kp_size
    version = tb.build_version(stack, project, f"mouse {size}px", resize={"mode": "letterbox", "width": size, "height": size})
    recipe = stack.call("POST", f"/api/projects/{project}/recipes/", json={"name": "flip and light", "spec": {"transforms": [
        {"name": "HorizontalFlip", "p": 0.5},
        {"name": "Affine", "params": {"scale": [0.8, 1.2], "translate_percent": [-0.1, 0.1], "rotate": [-20, 20]}, "p": 0.7},
        {"name": "RandomBrightnessContrast", "p": 0.5},
    ]}})
    params = {"version": version["id"], "task": "keypoints", "architecture": "mobilenet_v3_small", "input_size": size,
              "epochs": args.kp_epochs, "batch_size": args.kp_batch_size, "learning_rate": args.kp_learning_rate,
              "recipe": recipe["id"],
              "options": {"bn_momentum": 0.9}, "seed": 0}
    run = tb.train(stack, project, params, "pose model")
    f32, i8 = tb.artifact(run, "tflite", "float32"), tb.artifact(run, "tflite", "int8")
    ap32, ap8 = (f32.get("metrics") or {}).get("oks_ap"), (i8.get("metrics") or {}).get("oks_ap")
    table, rows = tb.artifact_table(run, "oks_ap", f"Mouse pose, run {run['run']['id']} ({size} px, test split)")
    tables.append(table)
    figures["keypoints"] = {
        "images": imported.get("images_created"), "split": counts, "params": params, "run": run["run"]["id"],
        "keras": {k: (run["run"].get("metrics") or {}).get(k) for k in ("oks_ap", "oks_ap50", "oks_ap75")},
        "per_keypoint_ap": (run["run"].get("metrics") or {}).get("per_keypoint_ap"),
        "tflite_float32_oks_ap": ap32, "tflite_int8_oks_ap": ap8,
        "tflite_float32_oks_ap50": (f32.get("metrics") or {}).get("oks_ap50"),
        "tflite_int8_oks_ap50": (i8.get("metrics") or {}).get("oks_ap50"),
        "wall_s": round(run["wall_s"], 1), "best_epoch": run["run"].get("best_epoch"), "artifacts": rows,
    }
    say(f"  pose: OKS AP float32 {ap32}, int8 {ap8}")


def segmentation(stack: Any, args: Any, figures: dict, tables: list[str]) -> None:
    say("== Segmentation (coco128, person vs background) ==")
    if not COCO128.is_dir():
        say(f"  {COCO128} not found: skipped")
        return
    project = tb.make_project(stack, "people")
    imported = tb.import_dataset(stack, project, folder_zip(COCO128), "coco", "coco128.zip")
    labels = stack.call("GET", f"/api/projects/{project}/labels/")
    labels = labels["results"] if isinstance(labels, dict) else labels
    for label in labels:
        if label["name"] != "person":
            stack.call("DELETE", f"/api/projects/{project}/labels/{label['id']}/", expect=(204,))
    counts = tb.split(stack, project, stratify=False)
    size = args.seg_size
    version = tb.build_version(stack, project, f"people {size}px", resize={"mode": "letterbox", "width": size, "height": size})
    transforms = [{"name": "HorizontalFlip", "p": 0.5}, {"name": "RandomBrightnessContrast", "p": 0.5}]
    if args.seg_affine:
        transforms.insert(1, {"name": "Affine", "params": {"scale": [0.7, 1.3], "translate_percent": [-0.1, 0.1],
                                                           "rotate": [-10, 10]}, "p": 0.8})
    recipe = stack.call("POST", f"/api/projects/{project}/recipes/", json={"name": "flip", "spec": {"transforms": transforms}})
    params = {"version": version["id"], "task": "segment", "architecture": "mobilenet_v3_small", "input_size": size,
              "epochs": args.seg_epochs, "batch_size": args.seg_batch_size, "learning_rate": 0.002,
              "recipe": recipe["id"],
              "options": {"bn_momentum": 0.9, "class_weights": args.seg_class_weights}, "seed": 0}
    run = tb.train(stack, project, params, "person segmenter")
    f32, i8 = tb.artifact(run, "tflite", "float32"), tb.artifact(run, "tflite", "int8")
    m32, m8 = (f32.get("metrics") or {}).get("miou"), (i8.get("metrics") or {}).get("miou")
    table, rows = tb.artifact_table(run, "miou", f"Person segmentation, run {run['run']['id']} ({size} px, test split)")
    tables.append(table)
    metrics = run["run"].get("metrics") or {}
    figures["segment"] = {
        "images": imported.get("images_created"), "split": counts, "params": params, "run": run["run"]["id"],
        "keras_miou": metrics.get("miou"), "keras_per_class_iou": metrics.get("per_class_iou"),
        "keras_pixel_accuracy": metrics.get("pixel_accuracy"),
        "tflite_float32_miou": m32, "tflite_int8_miou": m8,
        "wall_s": round(run["wall_s"], 1), "best_epoch": run["run"].get("best_epoch"), "artifacts": rows,
    }
    say(f"  segmentation: mIoU float32 {m32}, int8 {m8}")


def digits_project(stack: Any, args: Any) -> tuple[int, dict]:
    archive, _count = tb.digits_zip(32)
    project = tb.make_project(stack, "digits")
    tb.import_dataset(stack, project, archive, "imagefolder", "digits.zip")
    tb.split(stack, project, stratify=True)
    version = tb.build_version(stack, project, "digits 32px")
    params = {"version": version["id"], "task": "classify", "architecture": "mobilenet_v3_small", "input_size": 32,
              "epochs": args.digits_epochs, "batch_size": 32, "learning_rate": 0.005,
              "options": {"bn_momentum": 0.9}, "seed": 0}
    return project, params


def pruning_row(run: dict, name: str) -> dict:
    i8 = tb.artifact(run, "tflite", "int8")
    f32 = tb.artifact(run, "tflite", "float32")
    card = run["run"].get("model_card") or {}
    sparsity = (card.get("pruning") or {}).get("overall")
    return {
        "model": name, "run": run["run"]["id"], "sparsity": sparsity,
        "int8_accuracy": (i8.get("metrics") or {}).get("accuracy"),
        "float32_accuracy": (f32.get("metrics") or {}).get("accuracy"),
        "int8_size_bytes": i8.get("size_bytes"), "int8_gzip_bytes": i8.get("gzip_size_bytes"),
        "float32_size_bytes": f32.get("size_bytes"), "float32_gzip_bytes": f32.get("gzip_size_bytes"),
    }


def pruning(stack: Any, args: Any, figures: dict, tables: list[str], project: int, params: dict, dense: dict) -> None:
    say("== Pruning (digits) ==")
    rows = [pruning_row(dense, "dense")]
    for sparsity in (0.5, 0.8):
        run = tb.train(stack, project, {**params, "options": {**params["options"], "pruning": {"sparsity": sparsity}}},
                       f"digits pruned to {sparsity:.0%}")
        rows.append(pruning_row(run, f"{sparsity:.0%} sparse"))
    lines = ["Digits classifier, magnitude pruning (full-int8 file; gzip -9 of the file)", "",
             "| model | sparsity reached | int8 accuracy | int8 size | int8 gzip | float32 gzip |", "|---|---|---|---|---|---|"]
    for row in rows:
        def mb(v: Any) -> str:
            return f"{v / 1e6:.3f} MB" if v else "—"
        sp = f"{row['sparsity']:.3f}" if isinstance(row["sparsity"], float) else "0"
        acc = f"{row['int8_accuracy']:.4f}" if row["int8_accuracy"] is not None else "—"
        lines.append(f"| {row['model']} | {sp} | {acc} | {mb(row['int8_size_bytes'])} | {mb(row['int8_gzip_bytes'])} | "
                     f"{mb(row['float32_gzip_bytes'])} |")
    tables.append("\n".join(lines))
    figures["pruning"] = rows


def robustness_report(stack: Any, run_id: int, variant: str) -> dict:
    started = stack.call("POST", f"/api/training-runs/{run_id}/robustness", json={"variant": variant, "seed": 0})
    job = started.get("job")
    job_id = job["id"] if isinstance(job, dict) else job
    stack.wait_job(job_id, f"robustness of run {run_id}", timeout=7200)
    reports = stack.call("GET", f"/api/training-runs/{run_id}/robustness")
    reports = reports["results"] if isinstance(reports, dict) and "results" in reports else reports
    return next(r for r in reports if r.get("id") == started.get("id")) if started.get("id") else reports[-1]


def robustness(stack: Any, args: Any, figures: dict, tables: list[str], project: int, params: dict, plain: dict) -> None:
    say("== Robustness (digits, plain vs phone-low-light online) ==")
    recipe = stack.call("POST", f"/api/projects/{project}/recipes/from-profile", json={"profile": PROFILE})
    if not args.keep_flip:
        # A digit and its mirror image are not the same digit (a mirrored 2 is no 2): a team cloning the
        # profile for digits takes the flip out, as a user would, through the recipe API.
        spec = {**recipe["spec"], "transforms": [t for t in recipe["spec"]["transforms"] if t["name"] != "HorizontalFlip"]}
        recipe = stack.call("PATCH", f"/api/recipes/{recipe['id']}/", json={"spec": spec})
    augmented = tb.train(stack, project, {**params, "recipe": recipe["id"]}, f"digits run ({PROFILE} online)")
    reports = {}
    for name, run in (("plain", plain), ("augmented", augmented)):
        say(f"  robustness report of the {name} run (int8 file) ...")
        t0 = time.perf_counter()
        reports[name] = robustness_report(stack, run["run"]["id"], "tflite-int8")
        say(f"    done in {time.perf_counter() - t0:.0f}s")
    profiles = list(reports["plain"]["results"])
    lines = ["Digits, int8 file: accuracy by device profile and severity (plain / with phone-low-light online)", "",
             "| profile | " + " | ".join(f"severity {s}" for s in range(1, 6)) + " | relative error |",
             "|---|" + "---|" * 6]
    lines.append(f"| clean | {reports['plain']['clean']:.3f} / {reports['augmented']['clean']:.3f} |" + " |" * 5)
    for profile in profiles:
        cells = [f"{a:.3f} / {b:.3f}" for a, b in zip(reports["plain"]["results"][profile], reports["augmented"]["results"][profile])]
        rel = [reports[n]["summary"]["profiles"][profile]["relative_corruption_error"] for n in ("plain", "augmented")]
        lines.append(f"| {profile} | " + " | ".join(cells) + f" | {rel[0]:.3f} / {rel[1]:.3f} |")
    tables.append("\n".join(lines))
    plain_s3 = reports["plain"]["results"][PROFILE][2]
    aug_s3 = reports["augmented"]["results"][PROFILE][2]
    clean_gap = 100 * (reports["plain"]["clean"] - reports["augmented"]["clean"])
    figures["robustness"] = {
        "plain_run": plain["run"]["id"], "augmented_run": augmented["run"]["id"],
        "plain": {k: reports["plain"][k] for k in ("clean", "results", "summary")},
        "augmented": {k: reports["augmented"][k] for k in ("clean", "results", "summary")},
        "severity3_gain_points": round(100 * (aug_s3 - plain_s3), 2),
        # Beside the goal, for reading it: the gain at every severity of the profile.
        "gain_points_by_severity": [
            round(100 * (a - p), 2)
            for p, a in zip(reports["plain"]["results"][PROFILE], reports["augmented"]["results"][PROFILE])
        ],
        "clean_gap_points": round(clean_gap, 2),
        "targets_met": {"severity3_gain_ge_10_points": 100 * (aug_s3 - plain_s3) >= 10,
                        "clean_within_1_point": clean_gap <= 1},
    }
    say(f"  {PROFILE} severity 3: plain {plain_s3:.3f}, augmented {aug_s3:.3f}; clean gap {clean_gap:.2f} points")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-keypoints", action="store_true")
    parser.add_argument("--skip-segment", action="store_true")
    parser.add_argument("--skip-pruning", action="store_true")
    parser.add_argument("--skip-robustness", action="store_true")
    # 80 training frames: small batches give the from-scratch model enough optimizer steps.
    parser.add_argument("--kp-epochs", type=int, default=120)
    parser.add_argument("--kp-size", type=int, default=192)
    parser.add_argument("--kp-batch-size", type=int, default=8)
    parser.add_argument("--kp-learning-rate", type=float, default=0.002)
    parser.add_argument("--seg-epochs", type=int, default=60)
    parser.add_argument("--seg-batch-size", type=int, default=8)
    parser.add_argument("--seg-class-weights", action="store_true", help="pixel class weights in the loss")
    parser.add_argument("--seg-affine", action="store_true", help="scale/shift/rotate in the segmentation recipe")
    parser.add_argument("--seg-size", type=int, default=224)
    parser.add_argument("--digits-epochs", type=int, default=30)
    parser.add_argument("--keep-flip", action="store_true",
                        help="train the augmented digits model with the profile's HorizontalFlip left in")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    figures: dict[str, Any] = {"cpu_count": os.cpu_count()}
    tables: list[str] = []
    scratch = Path(tempfile.mkdtemp(prefix="lensforge-kpseg-bench-"))
    say(f"scratch folder: {scratch}")
    stack = tb.Stack(scratch / "data", tb.free_port())
    started = time.perf_counter()
    try:
        stack.start()
        if not args.skip_keypoints:
            keypoints(stack, args, figures, tables)
        if not args.skip_segment:
            segmentation(stack, args, figures, tables)
        if not (args.skip_pruning and args.skip_robustness):
            say("== Digits ==")
            project, params = digits_project(stack, args)
            plain = tb.train(stack, project, params, "digits run (dense, no augmentation)")
            if not args.skip_pruning:
                pruning(stack, args, figures, tables, project, params, plain)
            if not args.skip_robustness:
                robustness(stack, args, figures, tables, project, params, plain)
    finally:
        figures["total_s"] = round(time.perf_counter() - started, 1)
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
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
