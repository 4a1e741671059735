"""The keypoints task: in-graph decode on hand-made heads, COCO OKS wiring on hand-made cases with
known AP, targets, checks, figures, and a whole tiny run through ``python -m training.worker`` on a
toy of bright triangles (three keypoints each) whose exported files agree with Keras.

Expected values, by hand. COCO's OKS of a prediction to an instance of area ``A`` is the mean over
its labeled keypoints of ``exp(-d^2 / (2 A (2 sigma)^2))``. With the box 40 x 30 (``A = 1200``):

* every keypoint 3 px off, sigma 0.05: ``exp(-9 / (2 * 1200 * 0.01)) = exp(-0.375) = 0.687``; with
  one instance and one detection the AP at an OKS threshold is 1 when the OKS reaches it, else 0:
  thresholds .50, .55, .60, .65 pass, so AP@[.5:.95] = 4/10, AP@.5 = 1, AP@.75 = 0;
* sigmas (0.025, 0.05, 0.1) and offsets of 1, 2 and 4 px: each term is ``exp(-1/6) = 0.846``, so
  thresholds .50 ... .80 pass: AP = 7/10, AP@.75 = 1;
* a false positive (on an image without instances) scored above the one true match halves the
  precision at every recall: AP = 0.5.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from training.protocol import RunItem, RunSpec
from training.worker.keypoints import KeypointsTask, make_targets
from training.worker.keypoints_metrics import oks
from training.worker.task_api import Sample

from .toy import run_worker

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

S = 64
NAMES = ["top", "left", "right"]


def spec(**overrides) -> RunSpec:
    options = {
        "alpha": 0.25,
        "minimalistic": True,
        "keypoint_names": list(NAMES),
        "sigmas": [0.05, 0.05, 0.05],
        "skeleton": [[0, 1], [1, 2], [2, 0]],
    }
    options.update(overrides.pop("options", {}))
    fields = dict(
        run_id=1,
        task="keypoints",
        architecture="mobilenet_v3_small",
        input_size=S,
        resize="stretch",
        epochs=1,
        batch_size=8,
        learning_rate=0.01,
        schedule="constant",
        warmup_epochs=0,
        seed=0,
        labels=["triangle"],
        items=[],
        options=options,
    )
    fields.update(overrides)
    return RunSpec(**fields)


def sample(boxes, keypoints, size: int = S) -> Sample:
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Sample(
        image=np.zeros((size, size, 3), np.uint8),
        item=RunItem(path="", split="test", width=size, height=size),
        label=None,
        boxes=boxes,
        classes=np.zeros(len(boxes), np.int32),
        keypoints=np.asarray(keypoints, np.float32).reshape(len(boxes), len(NAMES), 3),
    )


# --- decode -------------------------------------------------------------------------------------


def _decode(heads: dict[str, np.ndarray], **kwargs) -> dict[str, np.ndarray]:
    from training.worker.keypoints_model import decode_model

    grid, k = heads["heatmap"].shape[0], heads["kp_heatmap"].shape[-1]
    model = decode_model(grid, k, **kwargs)
    order = ("heatmap", "size", "offset", "kp_offset", "kp_heatmap")
    out = model([heads[name][None] for name in order])
    return {name: np.asarray(value)[0] for name, value in out.items()}


def blank_heads(grid: int, k: int) -> dict[str, np.ndarray]:
    """All-zero decoder inputs for one image: a grid of ``grid`` cells and ``k`` keypoint types."""
    return {
        "heatmap": np.zeros((grid, grid, 1), np.float32),
        "size": np.zeros((grid, grid, 2), np.float32),
        "offset": np.zeros((grid, grid, 2), np.float32),
        "kp_offset": np.zeros((grid, grid, 2 * k), np.float32),
        "kp_heatmap": np.zeros((grid, grid, k), np.float32),
    }


def test_decode_hand_made_heads_gives_exact_boxes_keypoints_scores_and_count():
    heads = blank_heads(grid=8, k=2)
    # Instance 1: centre peak at (row 2, col 3), and a non-maximum neighbour the max-pool removes.
    heads["heatmap"][2, 3, 0] = 0.9
    heads["heatmap"][2, 4, 0] = 0.6
    heads["size"][2, 3] = (2.0, 4.0)
    heads["offset"][2, 3] = (0.5, 0.25)
    heads["kp_offset"][2, 3] = (-1.5, -1.0, 1.25, 2.5)  # keypoints at cells (x 1.5, y 1.0) and (4.25, 4.5)
    heads["kp_heatmap"][1, 1, 0] = 0.75  # keypoint 0's score, read at its cell (row 1, col 1) ...
    heads["kp_heatmap"][1, 1, 1] = 0.3  # ... from its own channel only
    heads["kp_heatmap"][4, 4, 1] = 0.5
    heads["kp_heatmap"][4, 4, 0] = 0.2
    # Instance 2: peak at (row 6, col 1); keypoint 1 displaced off the grid: clipped to (1, 0), its
    # score read at the nearest cell (row 0, col 7).
    heads["heatmap"][6, 1, 0] = 0.7
    heads["size"][6, 1] = (1.0, 1.0)
    heads["kp_offset"][6, 1] = (0.0, 0.0, 10.0, -10.0)
    heads["kp_heatmap"][6, 1, 0] = 0.25
    heads["kp_heatmap"][0, 7, 1] = 0.4

    out = _decode(heads, max_detections=4, score_threshold=0.3, refine=False)

    assert out["boxes"].shape == (4, 4) and out["scores"].shape == (4,) and out["keypoints"].shape == (4, 2, 3)
    assert out["count"].shape == () and out["count"].dtype == np.int32 and int(out["count"]) == 2
    assert out["keypoints"].dtype == np.float32
    np.testing.assert_array_equal(out["scores"], np.float32([0.9, 0.7, 0.0, 0.0]))
    np.testing.assert_array_equal(out["boxes"][0], np.float32([0.03125, 0.3125, 0.53125, 0.5625]))
    np.testing.assert_array_equal(out["boxes"][1], np.float32([0.6875, 0.0625, 0.8125, 0.1875]))
    np.testing.assert_array_equal(
        out["keypoints"][0], np.float32([[1.5 / 8, 1.0 / 8, 0.75], [4.25 / 8, 4.5 / 8, 0.5]])
    )
    np.testing.assert_array_equal(out["keypoints"][1], np.float32([[1 / 8, 6 / 8, 0.25], [1.0, 0.0, 0.4]]))


def test_refine_moves_each_keypoint_to_the_highest_cell_of_its_type_nearby():
    heads = blank_heads(grid=8, k=2)
    # One instance centred on cell (row 3, col 3).
    heads["heatmap"][3, 3, 0] = 0.9
    heads["size"][3, 3] = (4.0, 4.0)
    heads["kp_offset"][3, 3] = (-0.8, -0.3, 1.0, 1.0)  # regressed: (2.2, 2.7) and (4, 4), in cells
    # Type 0: the highest cell within 3 cells of cell (row 2, col 2) is (row 1, col 3): x 3.5, y 1.5;
    # a stronger one 4 rows away is out of reach, and a tie of 0.4 farther away loses to the nearer.
    heads["kp_heatmap"][1, 3, 0] = 0.4
    heads["kp_heatmap"][5, 5, 0] = 0.4
    heads["kp_heatmap"][6, 6, 0] = 0.95
    # Type 1: nothing nearby reaches the threshold: the regressed point stays (its score is read at
    # its own cell, row 4 col 4: 0).
    heads["kp_heatmap"][4, 5, 1] = 0.05
    heads["kp_heatmap"][0, 0, 1] = 0.9  # 4 cells away
    out = _decode(heads, max_detections=2, score_threshold=0.3, refine=True, refine_threshold=0.1)
    np.testing.assert_allclose(out["keypoints"][0], [[3.5 / 8, 1.5 / 8, 0.4], [4 / 8, 4 / 8, 0.0]], rtol=0, atol=1e-6)
    plain = _decode(heads, max_detections=2, score_threshold=0.3, refine=False)
    np.testing.assert_allclose(plain["keypoints"][0][:, :2], [[2.2 / 8, 2.7 / 8], [4 / 8, 4 / 8]], atol=1e-6)
    np.testing.assert_array_equal(out["boxes"], plain["boxes"])  # the boxes are the same decode


def test_decode_caps_detections_at_the_number_of_cells():
    from training.worker.keypoints_model import decode_model

    model = decode_model(2, 1, max_detections=20)  # a 2x2 grid has 4 cells: top_k takes 4
    shapes = {name: tuple(t.shape) for name, t in zip(model.output_names, model.outputs)}
    assert shapes["boxes"][1:] == (4, 4) and shapes["keypoints"][1:] == (4, 1, 3)


# --- COCO OKS evaluation ------------------------------------------------------------------------

BOX = [10.0, 10.0, 40.0, 30.0]  # area 1200
POINTS = [[20.0, 12.0, 2.0], [15.0, 35.0, 2.0], [45.0, 38.0, 1.0]]


def _predict(per_image: list[list[tuple[list[list[float]], float]]], m: int = 5):
    """A ``predict`` that returns, for image i of each batch, the instances ``per_image[i]``
    (keypoints in input pixels, score)."""

    def predict(images):
        n = len(images)
        boxes = np.zeros((n, m, 4), np.float32)
        scores = np.zeros((n, m), np.float32)
        keypoints = np.zeros((n, m, len(NAMES), 3), np.float32)
        for i in range(n):
            for j, (points, score) in enumerate(per_image[i] if i < len(per_image) else []):
                pts = np.asarray(points, np.float32)
                keypoints[i, j, :, :2] = pts[:, :2] / S
                keypoints[i, j, :, 2] = 0.9
                x0, y0 = pts[:, :2].min(0) / S
                x1, y1 = pts[:, :2].max(0) / S
                boxes[i, j] = (y0, x0, y1, x1)
                scores[i, j] = score
        count = (scores >= 0.05).sum(1).astype(np.int32)
        return {"boxes": boxes, "scores": scores, "keypoints": keypoints, "count": count}

    return predict


def _moved(points, dx) -> list[list[float]]:
    return [[x + d, y, v] for (x, y, v), d in zip(points, dx)]


def _task(sigmas=(0.05, 0.05, 0.05)) -> KeypointsTask:
    return KeypointsTask(spec(options={"sigmas": list(sigmas)}))


def test_perfect_prediction_scores_one():
    metrics = _task().evaluate(_predict([[(POINTS, 0.9)]]), [sample([BOX], [POINTS])], ["triangle"])
    assert metrics["oks_ap"] == pytest.approx(1.0)
    assert metrics["oks_ap50"] == pytest.approx(1.0) and metrics["oks_ap75"] == pytest.approx(1.0)
    assert metrics["oks_ar"] == pytest.approx(1.0)
    assert metrics["per_keypoint_ap"] == {name: pytest.approx(1.0) for name in NAMES}
    assert metrics["images"] == 1 and metrics["instances"] == 1 and metrics["detections"] == 1


def test_displaced_prediction_has_the_hand_computed_oks_and_ap():
    moved = _moved(POINTS, [3.0, 3.0, 3.0])
    assert oks(np.array(POINTS), np.array(moved), 1200.0, [0.05] * 3) == pytest.approx(math.exp(-0.375))
    metrics = _task().evaluate(_predict([[(moved, 0.9)]]), [sample([BOX], [POINTS])], ["triangle"])
    assert metrics["oks_ap"] == pytest.approx(0.4)
    assert metrics["oks_ap50"] == pytest.approx(1.0) and metrics["oks_ap75"] == 0.0
    assert metrics["per_keypoint_ap"] == {name: pytest.approx(0.4) for name in NAMES}


def test_per_keypoint_sigmas_weigh_the_distances():
    sigmas = (0.025, 0.05, 0.1)
    moved = _moved(POINTS, [1.0, 2.0, 4.0])  # each term exp(-1/6) = 0.846
    assert oks(np.array(POINTS), np.array(moved), 1200.0, sigmas) == pytest.approx(math.exp(-1 / 6))
    metrics = _task(sigmas).evaluate(_predict([[(moved, 0.9)]]), [sample([BOX], [POINTS])], ["triangle"])
    assert metrics["oks_ap"] == pytest.approx(0.7)
    assert metrics["oks_ap75"] == pytest.approx(1.0)


def test_per_keypoint_ap_counts_only_that_keypoint():
    moved = _moved(POINTS, [0.0, 0.0, 30.0])  # the third keypoint far off: OKS (1 + 1 + ~0) / 3
    metrics = _task().evaluate(_predict([[(moved, 0.9)]]), [sample([BOX], [POINTS])], ["triangle"])
    assert metrics["per_keypoint_ap"] == {"top": pytest.approx(1.0), "left": pytest.approx(1.0), "right": 0.0}
    assert metrics["oks_ap"] == pytest.approx(0.4)  # 0.667 passes .50 ... .65


def test_unlabeled_keypoints_and_instances_do_not_count():
    truth = [POINTS[0], POINTS[1], [0.0, 0.0, 0.0]]  # the third keypoint unlabeled
    far = _moved(truth, [0.0, 0.0, 50.0])
    second = [BOX[0] + 0, 45.0, 10.0, 10.0]
    samples = [sample([BOX, second], [truth, [[0.0, 0.0, 0.0]] * 3])]  # the second instance has no labeled point
    metrics = _task().evaluate(_predict([[(far, 0.9)]]), samples, ["triangle"])
    assert metrics["oks_ap"] == pytest.approx(1.0)  # not missed: COCO ignores it
    assert metrics["instances"] == 1
    assert metrics["per_keypoint_ap"] == {"top": pytest.approx(1.0), "left": pytest.approx(1.0), "right": None}


def test_false_positive_on_an_image_without_instances_halves_the_precision():
    samples = [sample([BOX], [POINTS]), sample(np.zeros((0, 4)), np.zeros((0, 3, 3)))]
    elsewhere = _moved(POINTS, [5.0, 5.0, 5.0])
    metrics = _task().evaluate(_predict([[(POINTS, 0.9)], [(elsewhere, 0.95)]]), samples, ["triangle"])
    assert metrics["oks_ap"] == pytest.approx(0.5) and metrics["oks_ap50"] == pytest.approx(0.5)
    assert metrics["images"] == 2 and metrics["detections"] == 2


def test_no_detections_and_no_samples_give_zeros():
    none = _task().evaluate(_predict([[]]), [sample([BOX], [POINTS])], ["triangle"])
    assert none["detections"] == 0 and none["instances"] == 1
    assert none["oks_ap"] == 0.0 and none["oks_ap50"] == 0.0 and none["oks_ap75"] == 0.0
    assert none["per_keypoint_ap"] == {name: 0.0 for name in NAMES}
    empty = _task().evaluate(_predict([]), [], ["triangle"])
    assert empty["oks_ap"] == 0.0 and empty["images"] == 0 and empty["per_keypoint_ap"] == {n: None for n in NAMES}
    with pytest.raises(RuntimeError):
        KeypointsTask().evaluate(_predict([]), [], ["triangle"])


# --- targets ------------------------------------------------------------------------------------


def test_targets_centre_and_keypoint_offsets_and_heatmaps():
    box = [21.0, 13.0, 16.0, 24.0]  # centre (29, 25) px = (7.25, 6.25) cells: cell (row 6, col 7)
    points = [[30.0, 14.0, 2.0], [0.0, 0.0, 0.0], [22.2, 36.0, 1.0]]  # cells (7.5, 3.5), -, (5.55, 9.0)
    out = KeypointsTask(spec()).targets(sample([box], [points]))
    assert out["heatmap"].shape == (16, 16, 1) and out["size"].shape == out["offset"].shape == (16, 16, 3)
    assert out["kp_offset"].shape == (16, 16, 9) and out["kp_heatmap"].shape == (16, 16, 3)
    assert out["heatmap"][6, 7, 0] == 1.0 and (out["heatmap"] == 1.0).sum() == 1
    np.testing.assert_allclose(out["size"][6, 7], [4.0, 6.0, 1.0])
    np.testing.assert_allclose(out["offset"][6, 7], [0.25, 0.25, 1.0])
    np.testing.assert_allclose(out["kp_offset"][6, 7], [0.5, -2.5, 0, 0, 5.55 - 7, 3.0, 1, 0, 1], atol=1e-6)
    assert np.count_nonzero(out["kp_offset"].reshape(-1, 9).any(axis=1)) == 1  # only the centre cell
    heat = out["kp_heatmap"]
    assert heat[3, 7, 0] == 1.0 and heat[9, 5, 2] == 1.0 and (heat == 1.0).sum() == 2
    assert 0 < heat[3, 8, 0] < 1 and 0 < heat[10, 5, 2] < 1  # Gaussians of the instance's radius
    assert not heat[..., 1].any()


def test_targets_shared_cell_keeps_the_larger_instance_and_skips_degenerate_boxes():
    small = [24.0, 24.0, 8.0, 8.0]  # centre (28, 28): cell (7, 7)
    large = [14.0, 14.0, 28.0, 28.0]  # the same centre
    flat = [10.0, 10.0, 0.0, 10.0]  # no area
    points = [
        [[28.0, 24.0, 2.0], [24.0, 32.0, 2.0], [32.0, 32.0, 2.0]],
        [[28.0, 14.0, 2.0], [0.0, 0.0, 0.0], [42.0, 42.0, 2.0]],
        [[10.0, 10.0, 2.0], [10.0, 20.0, 2.0], [10.0, 15.0, 2.0]],
    ]
    out = make_targets(np.array([small, large, flat]), np.array(points), input_size=S, stride=4, num_keypoints=3)
    np.testing.assert_allclose(out["kp_offset"][7, 7], [0.0, -3.5, 0, 0, 3.5, 3.5, 1, 0, 1])
    np.testing.assert_allclose(out["size"][7, 7], [7.0, 7.0, 1.0])
    assert out["kp_heatmap"][6, 7, 0] == 1.0 and out["kp_heatmap"][3, 7, 0] == 1.0  # both instances' points
    assert out["kp_heatmap"][2, 2, 0] == 0.0  # the degenerate box's points are not targets
    no_points = make_targets(np.array([small]), np.zeros((1, 3, 3)), input_size=S, stride=4, num_keypoints=3)
    assert not no_points["kp_offset"].any() and not no_points["kp_heatmap"].any()
    assert no_points["heatmap"].max() == 1.0
    with pytest.raises(RuntimeError):
        KeypointsTask().targets(sample([small], [points[0]]))


# --- check, layout, figures ---------------------------------------------------------------------


def test_check_gives_one_sentence_per_problem():
    task = KeypointsTask()
    assert task.check(spec()) is None
    assert task.check(spec(input_size=1024, architecture="mobilenet_v3_large")) is None
    assert "efficientnet_b0" in task.check(spec(architecture="efficientnet_b0"))
    for size in (32, 100, 1056):
        assert "multiple of 32" in task.check(spec(input_size=size))
    assert "exactly one" in task.check(spec(labels=["a", "b"]))
    assert "keypoint_names" in task.check(spec(options={"keypoint_names": []}))
    assert "3 keypoints, 2 sigmas" in task.check(spec(options={"sigmas": [0.1, 0.1]}))
    assert "positive" in task.check(spec(options={"sigmas": [0.1, -0.1, 0.1]}))
    assert "Skeleton edge [0, 3]" in task.check(spec(options={"skeleton": [[0, 1], [0, 3]]}))
    assert "Skeleton edge" in task.check(spec(options={"skeleton": [[0, 1, 2]]}))
    assert "output_stride" in task.check(spec(options={"output_stride": 16}))
    bad = [RunItem(path="/x/a.png", split="train", width=64, height=64, boxes=[[0, 0, 9, 9, 0]], keypoints=[[1, 2, 2]])]
    assert "a.png" in task.check(spec(items=bad))
    empty = [RunItem(path="/x/b.png", split="train", width=64, height=64)]
    assert "No training image" in task.check(spec(items=empty))


def test_output_layout_names_every_output():
    layout = KeypointsTask().output_layout(spec())
    assert [o["name"] for o in layout["outputs"]] == ["boxes", "scores", "keypoints", "count"]
    assert [o["shape"] for o in layout["outputs"]] == [[-1, 20, 4], [-1, 20], [-1, 20, 3, 3], [-1]]
    assert layout["keypoint_names"] == NAMES and layout["skeleton"] == [[0, 1], [1, 2], [2, 0]]
    assert layout["float_outputs"] == ["boxes", "scores", "keypoints", "count"]
    assert KeypointsTask().class_weights([], 1) is None


def test_plots_and_drawing(tmp_path):
    task = KeypointsTask(spec())
    metrics = task.evaluate(_predict([[(_moved(POINTS, [0, 0, 30]), 0.9)]]), [sample([BOX], [POINTS])], ["triangle"])
    written = task.plots(metrics, ["triangle"], tmp_path / "plots")
    assert [name for name, _ in written] == ["per_keypoint_ap"]
    with Image.open(written[0][1]) as image:
        assert image.format == "PNG" and image.size[0] > 100

    outputs = {k: v[0] for k, v in _predict([[(POINTS, 0.9), (_moved(POINTS, [5, 5, 5]), 0.01)]])(np.zeros((1,))).items()}
    drawn = task.draw(sample([BOX], [POINTS]), outputs, ["triangle"])
    assert drawn.shape == (S, S, 3) and drawn.dtype == np.uint8
    assert drawn[12, 20].any() and drawn[35, 15].any()  # keypoint dots
    assert drawn[36:38, 30].any()  # the skeleton line between left (15, 35) and right (45, 38)
    assert not drawn[38, 49:51].any()  # the second instance (score below the threshold) is not drawn


# --- a whole tiny run through the worker --------------------------------------------------------

TOY_SIGMAS = [0.06, 0.08, 0.08]
VARIANTS = {
    "keras-float32",
    "saved_model-float32",
    "tflite-float32",
    "tflite-float16",
    "tflite-dynamic_int8",
    "tflite-int8",
    "onnx-float32",
}


def triangle_items(folder: Path, count: int, seed: int) -> list[RunItem]:
    """``count`` dark noisy images (64..88 px wide, 64..80 high) with one or two bright upright
    triangles each; keypoints: apex, bottom-left, bottom-right, all visible. Splits: the first
    two thirds train, then a sixth val, a sixth test."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for n in range(count):
        width, height = int(rng.integers(64, 89)), int(rng.integers(64, 81))
        image = Image.fromarray(rng.integers(0, 50, (height, width, 3)).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        boxes, keypoints = [], []
        instances = int(rng.integers(1, 3))
        for i in range(instances):
            side = int(rng.integers(18, 30))
            tall = int(side * rng.uniform(0.8, 1.2))
            lane = width // instances
            left = int(rng.integers(i * lane, max(i * lane + 1, (i + 1) * lane - side)))
            top = int(rng.integers(0, height - tall))
            apex = (left + side / 2 + float(rng.uniform(-3, 3)), float(top))
            base_l, base_r = (float(left), float(top + tall)), (float(left + side), float(top + tall))
            draw.polygon([apex, base_l, base_r], fill=tuple(int(c) for c in rng.integers(190, 256, 3)))
            xs, ys = [apex[0], base_l[0], base_r[0]], [apex[1], base_l[1], base_r[1]]
            boxes.append([min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys), 0])
            keypoints.append([apex[0], apex[1], 2, base_l[0], base_l[1], 2, base_r[0], base_r[1], 2])
        path = folder / f"triangles_{n:03d}.png"
        image.save(path)
        split = "train" if n < count * 2 // 3 else ("val" if n < count * 5 // 6 else "test")
        items.append(RunItem(path=str(path), split=split, width=width, height=height, boxes=boxes, keypoints=keypoints))
    return items


class Run:
    def __init__(self, folder: Path, spec: RunSpec, events: list, stderr: str, code: int):
        self.folder, self.spec, self.events_list, self.stderr, self.code = folder, spec, events, stderr, code

    def events(self, name: str) -> list:
        return [payload for event, payload in self.events_list if event == name]

    @property
    def artifacts(self) -> dict[str, dict]:
        return {f"{a['format']}-{a['variant']}": a for a in self.events("ARTIFACT")}

    def test_samples(self) -> list[Sample]:
        from training.worker.data import load_sample

        return [load_sample(i, self.spec.input_size, self.spec.resize) for i in self.spec.items if i.split == "test"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("keypoints_run")
    items = triangle_items(root / "images", 120, seed=0)
    run_spec = spec(
        items=items,
        resize="letterbox",
        epochs=6,
        batch_size=8,
        learning_rate=0.01,
        threads=2,
        options={"sigmas": TOY_SIGMAS, "max_detections": 10},
        export={"latency_runs": 3, "calibration_images": 32},
    )
    folder = root / "run"
    folder.mkdir()
    run_spec.write(folder)
    code, events, stderr = run_worker(folder, timeout=1200)
    return Run(folder, run_spec, events, stderr, code)


def test_the_run_succeeds_and_the_loss_goes_down(run):
    assert run.code == 0, run.stderr[-4000:]
    assert [e for e, _ in run.events_list][-1] == "DONE"
    history = json.loads((run.folder / "state.json").read_text())["history"]
    assert len(history) == 6
    assert history[-1]["loss"] < 0.7 * history[0]["loss"], [h["loss"] for h in history]
    assert all("val_oks_ap" in h for h in history)


def test_metrics_figures_and_card(run):
    (metrics,) = run.events("METRICS")
    for key in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert set(metrics["per_keypoint_ap"]) == set(NAMES)
    assert metrics["split"] == "test" and metrics["instances"] > 0
    assert metrics["oks_ap50"] > 0.25, metrics  # the toy is learned (about 0.9 after 6 epochs)
    plots = dict(run.events("PLOT"))
    assert {"loss", "val_oks_ap", "per_keypoint_ap", "sample_predictions"} <= set(plots), run.stderr[-2000:]
    for path in plots.values():
        assert (run.folder / path).is_file()
    card = run.events("DONE")[0]["model_card"]
    assert card["task"] == "keypoints" and card["outputs"]["keypoint_names"] == NAMES
    assert [o["name"] for o in card["outputs"]["outputs"]] == ["boxes", "scores", "keypoints", "count"]
    assert "decode runs in float32 inside the int8 file" in card["outputs"]["int8_float_ops"]
    assert "its decode stays float32 inside the file" in card["recommended"]["NPU/DSP"]["note"]


def test_every_variant_converts_with_builtins_only(run):
    from ai_edge_litert.tools import flatbuffer_utils

    artifacts = run.artifacts
    assert set(artifacts) == VARIANTS
    for key, artifact in artifacts.items():
        assert artifact["status"] == "ok", f"{key}: {artifact['error']}"
    for key in ("tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8"):
        model = flatbuffer_utils.read_model(str(run.folder / artifacts[key]["path"]))
        custom = [c.customCode for c in model.operatorCodes if c.customCode]
        assert not custom, f"{key} has custom/Flex ops {custom}"


def _stable(scores: np.ndarray, gap: float = 1e-3) -> np.ndarray:
    """Positions whose score is clear of its neighbours', where the order cannot differ by rounding."""
    padded = np.concatenate([[np.inf], scores, [-np.inf]])
    return (padded[:-2] - padded[1:-1] > gap) & (padded[1:-1] - padded[2:] > gap) & (scores > 0.01)


def test_float_files_match_keras(run):
    import keras

    import training.worker.keypoints_model  # noqa: F401 - registers the decode layer for load_model
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import run_file

    model = keras.models.load_model(run.folder / run.artifacts["keras-float32"]["path"])
    images = np.stack([s.image for s in run.test_samples()]).astype(np.float32)
    expected = keras_predict(model, images)
    grid = S // 4
    for key in ("tflite-float32", "onnx-float32"):
        (got,) = run_file(run.folder / run.artifacts[key]["path"], [images])
        assert set(got) == {"boxes", "scores", "keypoints", "count"}, key
        assert got["keypoints"].shape == expected["keypoints"].shape == (len(images), 10, 3, 3)
        np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-4, err_msg=key)
        np.testing.assert_array_equal(got["count"], expected["count"], err_msg=key)
        checked = 0
        for i in range(len(images)):
            stable = _stable(expected["scores"][i])
            checked += int(stable.sum())
            np.testing.assert_allclose(got["boxes"][i][stable], expected["boxes"][i][stable], atol=1e-4, err_msg=key)
            want, have = expected["keypoints"][i][stable], got["keypoints"][i][stable]
            np.testing.assert_allclose(have[..., :2], want[..., :2], atol=1e-4, err_msg=key)
            # the score is read at the cell the point falls in: compare where it is clear of a cell edge
            cells = want[..., :2] * grid
            clear = (np.abs(cells - np.round(cells)) > 1e-3).all(axis=-1)
            np.testing.assert_allclose(have[..., 2][clear], want[..., 2][clear], atol=1e-4, err_msg=key)
        assert checked > 0, key


def test_int8_file_keeps_float_outputs_and_its_recorded_metric_is_that_file(run):
    from export.model_formats.measure import FileRunner, describe_io

    path = run.folder / run.artifacts["tflite-int8"]["path"]
    io = describe_io(path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert {t["name"]: t["dtype"] for t in io["outputs"]} == {
        "boxes": "float32",
        "scores": "float32",
        "keypoints": "float32",
        "count": "int32",
    }
    from ai_edge_litert.tools import flatbuffer_utils as fb

    # The decode runs in float inside the int8 file. Only its top-k over the centre heatmap stays int8:
    # the quantizer keeps a same-scale op with its input, and top-k passes the head's int8 values through.
    model = fb.read_model(str(path))
    graph = model.subgraphs[0]
    written = [(fb.opcode_to_name(model, op.opcodeIndex), graph.tensors[int(i)]) for op in graph.operators for i in op.outputs]
    decode = [(name, fb.type_to_name(t.type)) for name, t in written if b"/decode" in t.name]
    assert any(dtype == "FLOAT32" for _, dtype in decode)
    assert {name for name, dtype in decode if dtype == "INT8"} <= {"TOPK_V2", "QUANTIZE"}, decode
    task = KeypointsTask(run.spec)
    samples = run.test_samples()
    for key in ("tflite-int8", "tflite-float32", "onnx-float32"):
        runner = FileRunner(run.folder / run.artifacts[key]["path"], threads=int(run.spec.threads))
        recomputed = task.evaluate(lambda images, r=runner: r(images), samples, run.spec.labels)
        recorded = run.artifacts[key]["metrics"]
        assert recorded["oks_ap"] == recomputed["oks_ap"], key
        assert recorded["per_keypoint_ap"] == recomputed["per_keypoint_ap"], key
        assert recorded["detections"] == recomputed["detections"], key
