"""The training worker's plain parts, checked by hand: the learning-rate curve, BatchNormalization
momentum, resize geometry, online augmentation of boxes, classification metrics, the variant
recommendation, the task registry, and a spec that cannot be trained.

None of these import TensorFlow (except the one comparing the Keras schedule with the formula).
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
from PIL import Image

from training.protocol import RunItem
from training.worker.artifacts import CPU_TARGET, GPU_TARGET, NPU_TARGET, recommend
from training.worker.classify import classification_metrics
from training.worker.data import LETTERBOX_FILL, load_sample, move_boxes, plan_resize, resize_image
from training.worker.schedule import SpecError, auto_bn_momentum, bn_momentum, learning_rate_at, plan_steps

from .toy import ROOT, make_spec, worker_command, worker_env

# --- learning-rate schedule -----------------------------------------------------------------


def test_cosine_with_linear_warmup_on_a_hand_made_case():
    lr = lambda step: learning_rate_at(step, base_lr=0.1, total_steps=10, warmup_steps=2)  # noqa: E731
    # warm-up: base / warmup * (step + 1), so the first step already learns
    assert lr(0) == pytest.approx(0.05)
    assert lr(1) == pytest.approx(0.1)
    # cosine over the remaining 8 steps: 0.1 * (1 + cos(pi * (step - 2) / 8)) / 2
    assert lr(2) == pytest.approx(0.1)
    assert lr(4) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)))
    assert lr(6) == pytest.approx(0.05)
    assert lr(10) == pytest.approx(0.0, abs=1e-12)
    assert lr(12) == pytest.approx(0.0, abs=1e-12)  # flat after the end (a resumed run's extra step)
    values = [lr(s) for s in range(2, 11)]
    assert values == sorted(values, reverse=True)
    assert learning_rate_at(0, base_lr=0.1, total_steps=10, warmup_steps=2, min_ratio=0.1) == pytest.approx(0.05)
    assert learning_rate_at(10, base_lr=0.1, total_steps=10, warmup_steps=2, min_ratio=0.1) == pytest.approx(0.01)
    assert all(learning_rate_at(s, base_lr=0.1, total_steps=10, warmup_steps=2, schedule="constant") == 0.1 for s in range(12))
    with pytest.raises(SpecError, match="schedule"):
        learning_rate_at(0, base_lr=0.1, total_steps=10, warmup_steps=0, schedule="step")


def test_steps_drop_the_partial_batch_and_cap_the_warmup():
    steps = plan_steps(train_images=50, batch_size=8, epochs=3, warmup_epochs=1)
    assert (steps.steps_per_epoch, steps.total_steps, steps.warmup_steps) == (6, 18, 6)
    assert plan_steps(train_images=50, batch_size=8, epochs=2, warmup_epochs=5).warmup_steps == 6  # at most half
    assert plan_steps(train_images=5, batch_size=8, epochs=1, warmup_epochs=0).batch_size == 5
    with pytest.raises(SpecError, match="no train images"):
        plan_steps(train_images=0, batch_size=8, epochs=1, warmup_epochs=0)


@pytest.mark.slow
def test_keras_schedule_follows_the_formula():
    from keras import ops

    from training.worker.optim import WarmupCosine

    schedule = WarmupCosine(0.02, total_steps=30, warmup_steps=5, min_ratio=0.05)
    for step in range(0, 33):
        expected = learning_rate_at(step, base_lr=0.02, total_steps=30, warmup_steps=5, min_ratio=0.05)
        assert float(ops.convert_to_numpy(schedule(step))) == pytest.approx(expected, rel=1e-5, abs=1e-9), step
    again = WarmupCosine.from_config(schedule.get_config())
    assert float(ops.convert_to_numpy(again(7))) == pytest.approx(float(ops.convert_to_numpy(schedule(7))))


# --- BatchNormalization momentum ------------------------------------------------------------


def test_auto_bn_momentum_keeps_the_time_constant_under_a_tenth_of_the_run():
    assert auto_bn_momentum(18) == 0.9  # clipped: a tiny run
    assert auto_bn_momentum(100) == 0.9
    assert auto_bn_momentum(400) == pytest.approx(0.975)
    assert auto_bn_momentum(600) == pytest.approx(1 - 10 / 600)  # Keras's 0.999 never converged here
    assert auto_bn_momentum(1000) == 0.99
    assert auto_bn_momentum(10**6) == 0.99
    for steps in (100, 400, 600, 1000, 5000):
        assert 1 / (1 - auto_bn_momentum(steps)) <= steps / 10 + 1e-6
    assert bn_momentum("auto", 400) == bn_momentum(None, 400) == auto_bn_momentum(400)
    assert bn_momentum(0.95, 400) == 0.95
    for bad in (1.0, 0, -0.5, "fast"):
        with pytest.raises(SpecError, match="bn_momentum"):
            bn_momentum(bad, 400)


# --- resize ---------------------------------------------------------------------------------


def test_letterbox_moves_boxes_exactly_and_pads_in_the_centre(tmp_path):
    # 40 x 20 -> 32: scale 0.8, the picture is 32 x 16, centred with 8-pixel bars above and below.
    image = np.full((20, 40, 3), 10, np.uint8)
    image[5:15, 10:30] = (250, 0, 0)  # a red block exactly under the box [10, 5, 20, 10]
    path = tmp_path / "wide.png"
    Image.fromarray(image).save(path)
    item = RunItem(path=str(path), split="train", width=40, height=20, boxes=[[10, 5, 20, 10, 1], [0, 0, 4, 2, 0]])
    sample = load_sample(item, 32, "letterbox")
    assert sample.image.shape == (32, 32, 3) and sample.image.dtype == np.uint8
    assert sample.scale == (0.8, 0.8) and sample.offset == (0.0, 8.0)
    np.testing.assert_allclose(sample.boxes, [[8, 12, 16, 8], [0, 8, 3.2, 1.6]], atol=1e-5)
    assert sample.classes.tolist() == [1, 0]
    assert (sample.image[:8] == LETTERBOX_FILL).all() and (sample.image[24:] == LETTERBOX_FILL).all()
    # the block's pixels sit exactly inside the moved box (edges on pixel edges: 8..24 x 12..20)
    red = (sample.image[..., 0] > 200) & (sample.image[..., 1] < 60)
    ys, xs = np.nonzero(red)
    assert xs.min() >= 8 and xs.max() <= 23 and ys.min() >= 12 and ys.max() <= 19
    assert red[13:19, 9:23].all()
    # and back: original = (input - offset) / scale
    x, y, w, h = sample.boxes[0]
    (sx, sy), (dx, dy) = sample.scale, sample.offset
    assert ((x - dx) / sx, (y - dy) / sy, w / sx, h / sy) == pytest.approx((10, 5, 20, 10))


def test_letterbox_uses_the_rounded_pictures_exact_scale():
    # 30 x 50 -> 32: 0.64 would make the picture 19.2 px wide; it is 19, so sx = 19/30, and it is
    # centred with (32 - 19) // 2 = 6 px on the left.
    plan = plan_resize("letterbox", 30, 50, 32)
    assert (plan.inner_width, plan.inner_height) == (19, 32)
    assert plan.sx == pytest.approx(19 / 30) and plan.sy == pytest.approx(32 / 50)
    assert (plan.dx, plan.dy) == (6.0, 0.0)
    boxes, keep = move_boxes(np.array([[0, 0, 30, 50], [15, 25, 30, 30], [-10, 0, 5, 5]]), plan)
    np.testing.assert_allclose(boxes[0], [6, 0, 19, 32], atol=1e-5)  # the whole image: the picture's area
    np.testing.assert_allclose(boxes[1], [6 + 9.5, 16, 9.5, 16], atol=1e-5)  # clipped at the picture's edge
    assert keep.tolist() == [True, True, False]  # [-10, 0, 5, 5] lies left of the image
    resized = resize_image(np.zeros((50, 30, 3), np.uint8), plan)
    assert (resized[:, :6] == 114).all() and (resized[:, 25:] == 114).all() and (resized[:, 6:25] == 0).all()


def test_stretch_scales_each_axis():
    plan = plan_resize("stretch", 64, 16, 32)
    assert (plan.sx, plan.sy, plan.dx, plan.dy) == (0.5, 2.0, 0.0, 0.0)
    boxes, keep = move_boxes(np.array([[8, 4, 16, 8]]), plan)
    np.testing.assert_allclose(boxes, [[4, 8, 8, 16]])
    with pytest.raises(SpecError, match="resize mode"):
        plan_resize("crop", 10, 10, 32)


def _parts(image, boxes, classes, keypoints=None, mask=None):
    from training.worker.augmentation import Parts

    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    points = np.zeros((len(boxes), 0, 3), np.float32) if keypoints is None else np.asarray(keypoints, np.float32)
    return Parts(image, boxes, np.asarray(classes, np.int32), points, mask)


def test_online_augmentation_moves_boxes_and_keeps_the_size():
    from augment.online import online_augmenter
    from training.worker.augmentation import augment_arrays

    augment = online_augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1.0}]}, labels={}, seed=0)
    image = np.zeros((32, 32, 3), np.uint8)
    image[4:12, 2:10] = 255
    out = augment_arrays(augment, _parts(image, [[2, 4, 8, 8]], [1]), ["a", "b"], 32, seed=3)
    assert out.image.shape == (32, 32, 3) and out.classes.tolist() == [1] and out.mask is None
    np.testing.assert_allclose(out.boxes, [[22, 4, 8, 8]], atol=1e-4)
    assert out.image[4:12, 22:30].min() == 255
    # a recipe that changes the size: stretched back to the input size, boxes with it
    resize = online_augmenter({"transforms": [{"name": "Resize", "params": {"height": 64, "width": 16}, "p": 1.0}]}, seed=0)
    out = augment_arrays(resize, _parts(image, [[2, 4, 8, 8]], [0]), ["a"], 32, seed=1)
    assert out.image.shape == (32, 32, 3)
    # within half a pixel: the augmenter scales box corners as pixel indices ((x - 0.5) * s + 0.5)
    np.testing.assert_allclose(out.boxes, [[2, 4, 8, 8]], atol=0.5)


def test_online_flip_moves_keypoints_with_their_box_and_swaps_left_and_right():
    from augment.online import online_augmenter
    from training.worker.augmentation import augment_arrays

    recipe = {"transforms": [{"name": "HorizontalFlip", "p": 1.0}], "flip_pairs": {"face": [["left_eye", "right_eye"]]}}
    labels = {"face": {"name": "face", "keypoint_names": ["left_eye", "right_eye", "nose"]}}
    augment = online_augmenter(recipe, labels=labels, seed=0)
    image = np.zeros((32, 32, 3), np.uint8)
    # two instances; the second one's nose is unlabeled
    points = [[[4, 6, 2], [8, 6, 2], [6, 9, 1]], [[20, 20, 2], [26, 20, 2], [0, 0, 0]]]
    out = augment_arrays(augment, _parts(image, [[2, 4, 8, 8], [18, 18, 10, 6]], [0, 0], points), ["face"], 32, seed=3)
    np.testing.assert_allclose(out.boxes, [[22, 4, 8, 8], [4, 18, 10, 6]], atol=1e-4)
    # mirrored x -> 32 - x, and left/right swapped: the new left eye is the old right eye
    np.testing.assert_allclose(out.keypoints[0], [[24, 6, 2], [28, 6, 2], [26, 9, 1]], atol=1e-4)
    np.testing.assert_allclose(out.keypoints[1], [[6, 20, 2], [12, 20, 2], [0, 0, 0]], atol=1e-4)


def test_online_augmentation_moves_the_class_map_and_keeps_the_ignore_region():
    from augment.online import online_augmenter
    from training.worker.augmentation import augment_arrays
    from training.worker.task_api import IGNORE

    augment = online_augmenter({"transforms": [{"name": "HorizontalFlip", "p": 1.0}]}, labels={}, seed=0)
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[:4] = IGNORE  # a letterbox bar
    mask[8:16, 2:10] = 1
    mask[20:24, 20:30] = 2
    out = augment_arrays(augment, _parts(image, [], [], mask=mask), ["background", "cat", "dog"], 32, seed=3)
    np.testing.assert_array_equal(out.mask, mask[:, ::-1])


def test_samples_carry_keypoints_and_a_class_map_at_the_input_size(tmp_path):
    from pycocotools import mask as mask_utils

    from training.worker.task_api import IGNORE

    path = tmp_path / "wide.png"
    Image.fromarray(np.zeros((20, 40, 3), np.uint8)).save(path)  # 40 x 20: letterboxed to 32 with bars 8 px high
    square = np.zeros((20, 40), np.uint8)
    square[0:10, 20:40] = 1
    rle = mask_utils.encode(np.asfortranarray(square))
    item = RunItem(
        path=str(path), split="train", width=40, height=20,
        boxes=[[0, 0, 20, 20, 0], [20, 0, 20, 10, 1]],
        keypoints=[[10, 10, 2, 40, 20, 1], [30, 5, 2, 0, 0, 0]],
        segments=[
            [1, "polygon", {"polygons": [[0, 0, 20, 0, 20, 20, 0, 20]]}],
            [2, "mask", {"rle": {"size": [20, 40], "counts": rle["counts"].decode("ascii")}}],
        ],
    )
    sample = load_sample(item, 32, "letterbox")  # scale 0.8, picture 32 x 16 at y = 8
    np.testing.assert_allclose(sample.boxes, [[0, 8, 16, 16], [16, 8, 16, 8]], atol=1e-5)
    np.testing.assert_allclose(sample.keypoints, [[[8, 16, 2], [32, 24, 1]], [[24, 12, 2], [0, 0, 0]]], atol=1e-5)
    assert sample.mask.shape == (32, 32) and sample.mask.dtype == np.uint8
    assert (sample.mask[:8] == IGNORE).all() and (sample.mask[24:] == IGNORE).all()
    assert (sample.mask[8:24, :16] == 1).all()
    assert (sample.mask[8:16, 16:] == 2).all() and (sample.mask[16:24, 16:] == 0).all()
    # runs without segments have no class map
    assert load_sample(RunItem(path=str(path), split="train", width=40, height=20), 32, "stretch").mask is None


# --- metrics and recommendation --------------------------------------------------------------


def test_classification_metrics_by_hand():
    labels = ["a", "b", "c"]
    y = np.array([0, 0, 1, 1, 2, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 2, 0]]
    m = classification_metrics(y, scores, labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3) and m["per_class"]["b"]["recall"] == 1.0
    assert m["per_class"]["c"]["precision"] == 1.0 and m["per_class"]["c"]["recall"] == 0.5
    assert "top5_accuracy" not in m
    many = classification_metrics(np.array([0, 6]), np.tile(np.arange(7.0), (2, 1)), list("abcdefg"))
    assert many["top5_accuracy"] == 0.5  # class 6 scores highest, so it is in the top 5; class 0 is not


def _entry(key, metric, latency, size=100):
    fmt, variant = key.split("-", 1)
    return {"key": key, "format": fmt, "variant": variant, "status": "ok", "path": f"artifacts/{key}",
            "size_bytes": size, "latency_ms": {"1": latency, "2": latency} if latency else {},
            "metrics": {"accuracy": metric}}


def test_recommendation_per_target_from_measured_figures():
    entries = [
        _entry("keras-float32", 0.90, None),
        _entry("tflite-float32", 0.90, 1.0, 400),
        _entry("tflite-float16", 0.90, 1.1, 200),
        _entry("tflite-dynamic_int8", 0.85, 0.4, 100),  # fastest, but 5 points down
        _entry("tflite-int8", 0.895, 1.5, 110),  # within a point, slower than float32 here
        _entry("onnx-float32", 0.90, 0.9, 400),
    ]
    picks = recommend(entries, "accuracy")
    assert picks[CPU_TARGET]["variant"] == "onnx-float32"
    assert picks[NPU_TARGET]["variant"] == "tflite-int8"
    assert "slower than float32" in picks[NPU_TARGET]["note"]
    assert picks[GPU_TARGET]["variant"] == "tflite-float16"
    assert "float32 inside the file" not in picks[NPU_TARGET]["note"]
    tail = recommend(entries, "accuracy", ("decode",))[NPU_TARGET]["note"]
    assert "its decode stays float32 inside the file" in tail and "slower than float32" in tail
    entries[4] = {**entries[4], "status": "failed", "error": "no calibration data"}
    picks = recommend(entries, "accuracy")
    assert picks[NPU_TARGET]["variant"] is None and "no calibration data" in picks[NPU_TARGET]["why"]


# --- registry and errors ---------------------------------------------------------------------


def test_a_missing_task_module_says_so():
    from training.worker.tasks import _from_module, get_task

    with pytest.raises(SpecError, match="detection is not available"):
        _from_module("training.worker.no_such_detector", "DetectTask", "Object detection")()
    with pytest.raises(SpecError, match="Unknown task 'panoptic'"):
        get_task("panoptic")
    assert get_task("classify").headline == "accuracy"


def test_a_spec_that_cannot_be_trained_exits_with_one_sentence(tmp_path):
    items = [RunItem(path=str(tmp_path / "x.png"), split="train", width=8, height=8, label=0)]
    make_spec(items, input_size=16).write(tmp_path)
    result = subprocess.run(worker_command(tmp_path), cwd=ROOT, env=worker_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "at least 32px" in last and last.endswith(".")
    assert "tensorflow" not in result.stderr.lower()  # refused before TensorFlow was even imported
    assert result.stdout.strip() == ""


def test_the_worker_never_imports_django_and_its_light_modules_not_tensorflow():
    script = (
        "import sys\n"
        "import training.worker.data, training.worker.augmentation, training.worker.schedule\n"
        "import training.worker.artifacts, training.worker.classify, training.worker.tasks, augment.online\n"
        "light = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "import training.worker.run, training.worker.optim\n"
        "print(light, sorted(m for m in sys.modules if m.split('.')[0] == 'django'))\n"
    )
    env = {k: v for k, v in worker_env().items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([*worker_command(ROOT)[:1], "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[] []"


@pytest.mark.slow
def test_a_missing_image_exits_with_a_sentence_naming_it(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(good)
    items = [RunItem(path=str(good), split="train", width=40, height=40, label=i % 3) for i in range(3)]
    items.append(RunItem(path=str(tmp_path / "gone.png"), split="val", width=40, height=40, label=0))
    make_spec(items).write(tmp_path)
    result = subprocess.run(worker_command(tmp_path), cwd=ROOT, env=worker_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"The image file {tmp_path / 'gone.png'} is missing."


def test_a_bad_recipe_is_refused_before_training():
    from training.worker.run import check_spec

    items = [RunItem(path="x.png", split="train", width=8, height=8, label=0)]
    with pytest.raises(SpecError, match="recipe cannot be used: transforms\\[0\\].params.var_limit: GaussNoise has no parameter"):
        check_spec(make_spec(items, recipe={"transforms": [{"name": "GaussNoise", "params": {"var_limit": [10, 50]}}]}))
