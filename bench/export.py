"""Export speed and memory, against writing the same image files into a zip, in the same run.

Builds a scratch project (fresh SQLite under a temporary DATA_DIR) of N small JPEGs (default
10,000) with 10 objects each (100,000; one in ten is a mask, the rest boxes) and builds a dataset
version, timed against its own baseline in the same process: a bare loop that reads the same
rows, copies the same files and computes the same COCO entries and YOLO lines (budget: the
build within 3x of it). Then, each in its own process so its peak memory is its own:

  (a) baseline: ``zipfile`` writing the version's image files, stored (no compression);
  (b) our full COCO export with images (the streamed zip, written to a file);
  (c) our YOLO export with images;
  (d) datumaro (its own virtual environment) reading the COCO export and writing it as YOLO
      (Ultralytics layout, with images), for comparison.

Budgets: (b) time <= 1.5x (a); peak RSS of (b) <= 300 MB. Goal: (c) >= 5x faster than (d).
Prints what it measured; the last line is one JSON object.

    python bench/export.py [--images 10000] [--skip-datumaro] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATUMARO_PYTHON = ROOT / ".venv-datumaro" / "bin" / "python"


def _django(data_dir: str) -> None:
    os.environ["DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: on Linux a child's ru_maxrss
    keeps the (forked) parent's peak across exec, which would charge the set-up to the export."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- setup ----------------------------------------------------------------------------------
def setup(n_images: int, objects_per_image: int) -> int:
    """Create the project, images and annotations; returns the project id."""
    import io

    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from PIL import Image as PILImage

    from annotate import services
    from annotate.geometry import mask_to_rle, validate_geometry
    from annotate.imaging import check_image_bytes
    from annotate.services import AnnotationRow, annotations_add_bulk
    from annotate.uploads import images_store_checked

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass")
    project = services.project_create(name="export bench", created_by=user)
    labels = [services.label_create(project=project, name=f"class_{i}") for i in range(10)]
    rng = np.random.default_rng(0)
    width, height = 160, 120
    started = time.perf_counter()
    done = 0
    while done < n_images:
        batch = min(500, n_images - done)
        checked = []
        for i in range(done, done + batch):
            small = rng.integers(0, 256, size=(15, 20, 3), dtype=np.uint8)
            out = io.BytesIO()
            PILImage.fromarray(small).resize((width, height), PILImage.Resampling.BICUBIC).save(out, "JPEG", quality=85)
            checked.append((f"img_{i:06d}.jpg", check_image_bytes(out.getvalue())))
        images = images_store_checked(project=project, checked=checked, user=user, source="upload").created
        rows = []
        for image in images:
            for k in range(objects_per_image):
                x, y = float(rng.integers(0, width - 20)), float(rng.integers(0, height - 20))
                w, h = float(rng.integers(4, 20)), float(rng.integers(4, 20))
                label = labels[int(rng.integers(0, len(labels)))]
                if k == 0:  # one object in ten is a mask
                    mask = np.zeros((height, width), dtype=np.uint8)
                    mask[int(y):int(y + h), int(x):int(x + w)] = 1
                    kind, geometry = "mask", mask_to_rle(mask)
                else:
                    kind, geometry = "box", {"x": x, "y": y, "w": w, "h": h}
                geometry = validate_geometry(kind, geometry, width=width, height=height)
                rows.append(AnnotationRow(image_id=image.pk, label_id=label.pk, kind=kind, geometry=geometry))
        annotations_add_bulk(rows=rows, user=user)
        done += batch
        print(f"  setup: {done}/{n_images} images", file=sys.stderr)
    print(f"setup: {n_images} images, {n_images * objects_per_image} objects in {time.perf_counter() - started:.1f}s")
    return project.pk


def build(project_id: int) -> tuple[int, float]:
    """Build a version of the project (split by ratios); returns its id and the seconds it took."""
    from annotate.models import Project
    from datasets.services import version_build, version_create

    project = Project.objects.get(pk=project_id)
    user = project.created_by
    started = time.perf_counter()
    version = version_create(project=project, created_by=user, params={
        "split": {"mode": "ratios", "train": 0.8, "val": 0.1, "test": 0.1, "seed": 0}})
    version.refresh_from_db()
    if version.status == "building":  # no eager task ran (outside a transaction it runs at once)
        version_build(version=version)
        version.refresh_from_db()
    seconds = time.perf_counter() - started
    assert version.status == "ready", version.error
    print(f"version build: {version.image_count} images, {version.annotation_count} objects, {seconds:.2f}s")
    return version.pk, seconds


def build_baseline(project_id: int, folder: Path) -> float:
    """The build's bare work: read the rows, copy every file, make its COCO entries and YOLO lines."""
    from collections import defaultdict

    from annotate.models import Annotation, Image, LabelClass
    from export.dataset_formats import coco, yolo

    labels = list(LabelClass.objects.filter(project_id=project_id).order_by("id").values_list("id", "name"))
    names = dict(labels)
    category_ids = {name: i + 1 for i, (_, name) in enumerate(labels)}
    indexes = {name: i for i, (_, name) in enumerate(labels)}
    media = Path(os.environ["DATA_DIR"]) / "media"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    ids = list(Image.objects.filter(project_id=project_id).order_by("id").values_list("id", flat=True))
    index = offset = 0
    for start in range(0, len(ids), 500):
        page = ids[start:start + 500]
        objects = defaultdict(list)
        for image_id, label_id, kind, geometry in Annotation.objects.filter(image_id__in=page).order_by("id") \
                .values_list("image_id", "label_id", "kind", "geometry"):
            objects[image_id].append({"label": names[label_id], "kind": kind, "geometry": geometry, "attributes": {}})
        for pk, relative, sha, width, height in Image.objects.filter(pk__in=page).order_by("id") \
                .values_list("id", "file", "sha256", "width", "height"):
            shutil.copyfile(media / relative, folder / f"{sha}.jpg")
            annotations = objects[pk]
            coco.row_fragment(annotations, index=index, offset=offset, category_ids=category_ids, width=width,
                              height=height)
            yolo.label_lines(annotations, width=width, height=height, task="segment", indexes=indexes,
                             keypoint_count=0, keypoint_label_names=set())
            index += 1
            offset += len(annotations)
    return time.perf_counter() - started


# --- the measured children ------------------------------------------------------------------
def child_baseline(version_id: int, out: str) -> dict:
    from annotate import storage
    from datasets.models import VersionImage

    started = time.perf_counter()
    rows = VersionImage.objects.filter(version_id=version_id).order_by("index").values_list("file", "split", "file_name")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for relative, split, name in rows.iterator(chunk_size=1000):
            archive.write(storage.media_path(relative), f"images/{split}/{name}")
    return {"seconds": time.perf_counter() - started}


def child_export(version_id: int, out: str, fmt: str) -> dict:
    from datasets.models import DatasetVersion
    from export.services import export_chunks

    version = DatasetVersion.objects.select_related("project").get(pk=version_id)
    started = time.perf_counter()
    with open(out, "wb") as fh:
        for chunk in export_chunks(version=version, fmt=fmt, with_images=True):
            fh.write(chunk)
    return {"seconds": time.perf_counter() - started}


def run_child(data_dir: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", data_dir, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def warm_cache(media: Path) -> None:
    for path in media.rglob("*"):
        if path.is_file():
            path.read_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=10, help="objects per image")
    parser.add_argument("--skip-datumaro", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        data_dir, what, version_id, out, *rest = args.child
        _django(data_dir)
        result = child_baseline(int(version_id), out) if what == "baseline" else child_export(int(version_id), out, rest[0])
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return 0

    scratch = tempfile.mkdtemp(prefix="lensforge-export-bench-")
    try:
        data_dir = str(Path(scratch) / "data")
        _django(data_dir)
        project_id = setup(args.images, args.objects)
        warm_cache(Path(data_dir) / "media")
        build_base_s = build_baseline(project_id, Path(scratch) / "bare-1")
        version_id, build_s = build(project_id)
        build_base_s = min(build_base_s, build_baseline(project_id, Path(scratch) / "bare-2"))
        print(f"bare loop (rows, file copies, COCO entries, YOLO lines): {build_base_s:.2f}s")
        print(f"  version build ratio to it: {build_s / build_base_s:.2f} (budget <= 3)")
        out = Path(scratch) / "out"
        out.mkdir()
        baseline = run_child(data_dir, "baseline", str(version_id), str(out / "baseline.zip"))
        coco = run_child(data_dir, "export", str(version_id), str(out / "coco.zip"), "coco")
        baseline_2 = run_child(data_dir, "baseline", str(version_id), str(out / "baseline2.zip"))
        coco_2 = run_child(data_dir, "export", str(version_id), str(out / "coco2.zip"), "coco")
        yolo = run_child(data_dir, "export", str(version_id), str(out / "yolo.zip"), "yolo")
        yolo_2 = run_child(data_dir, "export", str(version_id), str(out / "yolo2.zip"), "yolo")
        yolo = min(yolo, yolo_2, key=lambda r: r["seconds"])
        base_s = min(baseline["seconds"], baseline_2["seconds"])
        coco_s = min(coco["seconds"], coco_2["seconds"])
        peak = max(coco["peak_rss_mb"], coco_2["peak_rss_mb"])
        sizes = {name: (out / f"{name}.zip").stat().st_size for name in ("baseline", "coco", "yolo")}
        print(f"baseline zipfile (stored) of the images: {base_s:.2f}s, {sizes['baseline'] / 1e6:.1f} MB, "
              f"peak RSS {baseline['peak_rss_mb']:.0f} MB")
        print(f"COCO export with images:                {coco_s:.2f}s, {sizes['coco'] / 1e6:.1f} MB, peak RSS {peak:.0f} MB")
        print(f"  ratio to baseline: {coco_s / base_s:.2f} (budget <= 1.5); peak RSS budget <= 300 MB")
        print(f"YOLO export with images:                {yolo['seconds']:.2f}s, peak RSS {yolo['peak_rss_mb']:.0f} MB")
        result = {
            "bench": "export", "images": args.images, "objects": args.images * args.objects,
            "build_seconds": round(build_s, 3), "build_baseline_seconds": round(build_base_s, 3),
            "build_ratio": round(build_s / build_base_s, 3), "build_within_budget": build_s / build_base_s <= 3,
            "baseline_seconds": round(base_s, 3), "coco_seconds": round(coco_s, 3),
            "coco_ratio": round(coco_s / base_s, 3), "coco_peak_rss_mb": round(peak, 1),
            "yolo_seconds": round(yolo["seconds"], 3), "yolo_peak_rss_mb": round(yolo["peak_rss_mb"], 1),
            "coco_within_budget": coco_s / base_s <= 1.5 and peak <= 300,
        }
        if not args.skip_datumaro and DATUMARO_PYTHON.exists():
            folder = Path(scratch) / "coco-export"
            with zipfile.ZipFile(out / "coco.zip") as archive:
                archive.extractall(folder)
            (folder / "lensforge_version.json").unlink()
            started = time.perf_counter()
            done = subprocess.run(
                [str(DATUMARO_PYTHON), str(ROOT / "scripts" / "datumaro_check.py"), str(folder), "coco_instances",
                 "--convert", "yolo_ultralytics", "--save-media", "--out", str(Path(scratch) / "datumaro-yolo")],
                capture_output=True, text=True,
            )
            wall = time.perf_counter() - started
            if done.returncode != 0:
                print(f"datumaro failed: {done.stderr[-2000:]}")
            else:
                seen = json.loads(done.stdout.strip().splitlines()[-1])
                dm_s = seen["read_seconds"] + seen["convert_seconds"]
                print(f"datumaro COCO -> YOLO (read + write):   {dm_s:.2f}s ({wall:.2f}s with start-up); "
                      f"it saw {seen['items']} items")
                print(f"  our YOLO export is {dm_s / yolo['seconds']:.1f}x faster (goal >= 5); "
                      f"our COCO export {dm_s / coco_s:.1f}x")
                result.update(datumaro_seconds=round(dm_s, 3), datumaro_items=seen["items"],
                              speedup_vs_datumaro=round(dm_s / yolo["seconds"], 2),
                              coco_speedup_vs_datumaro=round(dm_s / coco_s, 2))
        elif not args.skip_datumaro:
            print(f"datumaro skipped: {DATUMARO_PYTHON} is missing (make datumaro-venv)")
        print(json.dumps(result))
    finally:
        if args.keep:
            print(f"scratch kept in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
