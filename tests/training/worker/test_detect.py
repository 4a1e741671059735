"""The detection task: in-graph decode on hand-made heads, COCO wiring on hand-made cases with known
AP, targets, and a tiny detector that learns a toy, converts to every format with builtins only,
and whose files agree with Keras.

Expected AP values, computed by hand with COCO's 101-point interpolation (recall thresholds
0, 0.01, ..., 1; the precision at threshold r is the best precision at any recall >= r, 0 past the
last reached recall): with 2 ground-truth boxes and one of them found exactly, recall reaches 0.5
at precision 1, so the 51 thresholds 0..0.50 score 1 and the other 50 score 0:
AP@.5 = 51/101 = 0.50495 (not 0.5). If a false positive outscores the true positive, the precision
at recall 0.5 is 1/2, and AP@.5 = 0.5 * 51/101 = 0.25248.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from training.protocol import RunItem, RunSpec
from training.worker.detect import DetectTask, gaussian_radius, make_targets
from training.worker.task_api import Sample

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

S = 64
HALF_RECALL_AP = 51 / 101


def spec(**overrides) -> RunSpec:
    options = {"alpha": 0.25, "minimalistic": True, "max_detections": 20}
    options.update(overrides.pop("options", {}))
    fields = dict(
        run_id=1,
        task="detect",
        architecture="mobilenet_v3_small",
        input_size=S,
        resize="stretch",
        epochs=1,
        batch_size=16,
        learning_rate=0.01,
        schedule="constant",
        warmup_epochs=0,
        seed=0,
        labels=["square"],
        items=[],
        options=options,
    )
    fields.update(overrides)
    return RunSpec(**fields)


# --- decode -------------------------------------------------------------------------------------


def _decode(heatmap, size, offset, **kwargs):
    from training.worker.detect_model import decode_model

    grid, classes = heatmap.shape[0], heatmap.shape[-1]
    model = decode_model(grid, classes, **kwargs)
    out = model([heatmap[None], size[None], offset[None]])
    return {name: np.asarray(value)[0] for name, value in out.items()}


def test_decode_hand_made_heatmap_gives_exact_boxes_classes_scores_and_count():
    grid = 8
    heatmap = np.zeros((grid, grid, 2), np.float32)
    size = np.zeros((grid, grid, 2), np.float32)
    offset = np.zeros((grid, grid, 2), np.float32)
    heatmap[2, 3, 0] = 0.9  # a peak of class 0 ...
    heatmap[2, 4, 0] = 0.6  # ... and its non-maximum neighbour, which the 3x3 max-pool removes
    size[2, 3] = (2.0, 4.0)  # w, h in cells
    offset[2, 3] = (0.5, 0.25)  # dx, dy in the cell
    heatmap[6, 1, 1] = 0.7  # a peak of class 1
    size[6, 1] = (1.0, 1.0)
    heatmap[5, 6, 0] = 0.2  # a peak below the threshold: returned, not counted
    size[5, 6] = (2.0, 2.0)

    out = _decode(heatmap, size, offset, max_detections=5, score_threshold=0.3)

    assert out["boxes"].shape == (5, 4) and out["scores"].shape == (5,) and out["count"].shape == ()
    assert out["classes"].dtype == np.int32 and out["count"].dtype == np.int32
    np.testing.assert_array_equal(out["scores"][:3], np.float32([0.9, 0.7, 0.2]))
    np.testing.assert_array_equal(out["scores"][3:], [0.0, 0.0])
    assert 0.6 not in out["scores"].tolist()
    np.testing.assert_array_equal(out["classes"][:3], [0, 1, 0])
    assert int(out["count"]) == 2
    # centre ((3 + .5) / 8, (2 + .25) / 8) = (.4375, .28125); size (2 / 8, 4 / 8) -> [ymin, xmin, ymax, xmax]
    np.testing.assert_array_equal(out["boxes"][0], np.float32([0.03125, 0.3125, 0.53125, 0.5625]))
    # class 1 at cell (row 6, col 1), no offset, 1x1 cell
    np.testing.assert_array_equal(out["boxes"][1], np.float32([0.6875, 0.0625, 0.8125, 0.1875]))
    # clipped to the image: centre (6/8, 5/8), 2x2 cells
    np.testing.assert_array_equal(out["boxes"][2], np.float32([0.5, 0.625, 0.75, 0.875]))


def test_decode_keeps_the_top_k_by_score():
    grid = 16
    heatmap = np.zeros((grid, grid, 1), np.float32)
    size = np.ones((grid, grid, 2), np.float32)
    offset = np.zeros((grid, grid, 2), np.float32)
    cells = [(1, 1), (1, 5), (1, 9), (5, 1), (5, 5), (5, 9), (9, 1), (9, 5)]  # isolated peaks
    scores = [0.3, 0.8, 0.5, 0.95, 0.4, 0.6, 0.7, 0.2]
    for (row, col), score in zip(cells, scores):
        heatmap[row, col, 0] = score

    out = _decode(heatmap, size, offset, max_detections=3, score_threshold=0.05)

    np.testing.assert_allclose(out["scores"], [0.95, 0.8, 0.7])
    assert int(out["count"]) == 3  # 8 above the threshold, but only K are returned
    centres = (out["boxes"][:, :2] + out["boxes"][:, 2:]) / 2 * grid  # (cell + offset 0) / grid
    np.testing.assert_allclose(centres, [[5, 1], [1, 5], [9, 1]])  # rows, cols of the three best


def test_a_plateau_of_equal_values_is_one_peak():
    """An int8 heatmap has 256 levels, so cells around a peak tie; each plateau counts once (its first
    cell in raster order), or one object would come out as two to four copies of its box."""
    grid = 12
    heatmap = np.zeros((grid, grid, 1), np.float32)
    size = np.ones((grid, grid, 2), np.float32)
    offset = np.zeros((grid, grid, 2), np.float32)
    heatmap[1, 1:3, 0] = 0.8  # side by side
    heatmap[1:3, 6, 0] = 0.7  # one above the other
    heatmap[5:7, 1:3, 0] = 0.6  # a 2x2 block
    heatmap[5, 7, 0] = heatmap[6, 6, 0] = 0.5  # diagonal neighbours (up-right of the second)
    heatmap[9, 9, 0] = 0.4  # alone
    heatmap[9, 10, 0] = 0.3  # below its neighbour: not a peak at all

    out = _decode(heatmap, size, offset, max_detections=10, score_threshold=0.05)

    assert int(out["count"]) == 5
    np.testing.assert_allclose(out["scores"][:5], [0.8, 0.7, 0.6, 0.5, 0.4])
    centres = (out["boxes"][:5, :2] + out["boxes"][:5, 2:]) / 2 * grid
    np.testing.assert_allclose(centres, [[1, 1], [1, 6], [5, 1], [5, 7], [9, 9]])  # the first cell of each


# --- COCO evaluation ----------------------------------------------------------------------------

ORIGINAL_W, ORIGINAL_H = 128, 96
SCALE, OFFSET = (0.5, 0.5), (0.0, 8.0)  # letterbox 128x96 -> 64x64: half size, 8 px bars top and bottom
TRUTH = [[10.0, 10.0, 40.0, 30.0, 0], [70.0, 40.0, 30.0, 50.0, 0]]


def _letterboxed(boxes) -> Sample:
    item = RunItem(path="", split="test", width=ORIGINAL_W, height=ORIGINAL_H, boxes=boxes)
    return Sample(
        image=np.zeros((S, S, 3), np.uint8),
        item=item,
        label=None,
        boxes=np.zeros((0, 4), np.float32),
        classes=np.zeros(0, np.int32),
        scale=SCALE,
        offset=OFFSET,
    )


def _as_output(box) -> list[float]:
    """An original-pixel ``x, y, w, h`` as the model would output it: normalised input ``yxyx``."""
    x, y, w, h = box[:4]
    (sx, sy), (ox, oy) = SCALE, OFFSET
    x0, y0, x1, y1 = x * sx + ox, y * sy + oy, (x + w) * sx + ox, (y + h) * sy + oy
    return [y0 / S, x0 / S, y1 / S, x1 / S]


def _predict_fixed(detections: list[tuple[list[float], int, float]], k: int = 10):
    """A ``predict`` that returns the same detections (original-pixel box, class, score) for every image."""

    def predict(images):
        n = len(images)
        boxes = np.zeros((n, k, 4), np.float32)
        classes = np.zeros((n, k), np.int32)
        scores = np.zeros((n, k), np.float32)
        for i, (box, label, score) in enumerate(detections):
            boxes[:, i] = _as_output(box)
            classes[:, i] = label
            scores[:, i] = score
        return {"boxes": boxes, "classes": classes, "scores": scores, "count": (scores >= 0.05).sum(1).astype(np.int32)}

    return predict


def _evaluate(detections, labels=("square",), truth=TRUTH):
    return DetectTask().evaluate(_predict_fixed(detections), [_letterboxed(truth)], list(labels))


def test_coco_one_of_two_found_has_the_hand_computed_ap():
    metrics = _evaluate([(TRUTH[0], 0, 0.9)])
    assert metrics["map50"] == pytest.approx(HALF_RECALL_AP)
    assert metrics["map"] == pytest.approx(HALF_RECALL_AP)  # exact match: the same at every IoU
    assert metrics["per_class_ap"] == {"square": pytest.approx(HALF_RECALL_AP)}
    assert metrics["objects"] == 2 and metrics["detections"] == 1 and metrics["images"] == 1
    curve = metrics["pr_curve"]
    assert len(curve["recall"]) == len(curve["precision"]) == 101
    assert curve["precision"][:51] == pytest.approx([1.0] * 51) and curve["precision"][51:] == [0.0] * 50


def test_coco_false_positive_above_the_match_halves_the_precision():
    far = [0.0, 0.0, 10.0, 10.0]
    metrics = _evaluate([(far, 0, 0.95), (TRUTH[0], 0, 0.9)])
    assert metrics["map50"] == pytest.approx(0.5 * HALF_RECALL_AP)


def test_coco_perfect_detections_score_one_and_none_score_zero():
    perfect = _evaluate([(TRUTH[0], 0, 0.9), (TRUTH[1], 0, 0.8)])
    assert perfect["map50"] == pytest.approx(1.0) and perfect["map"] == pytest.approx(1.0)
    assert perfect["mar100"] == pytest.approx(1.0)

    none = _evaluate([])  # all scores 0: nothing reaches the evaluation
    assert none["detections"] == 0
    assert none["map"] == 0.0 and none["map50"] == 0.0 and none["per_class_ap"] == {"square": 0.0}
    assert none["pr_curve"]["precision"] == [0.0] * 101


def test_coco_per_class_ap_and_classes_without_truth():
    truth = [[10.0, 10.0, 40.0, 30.0, 0], [70.0, 40.0, 30.0, 50.0, 1]]
    metrics = _evaluate(
        [(truth[0][:4], 0, 0.9), (truth[1][:4], 0, 0.8)],  # the second box has the wrong class
        labels=("cat", "dog", "bird"),
        truth=truth,
    )
    assert metrics["per_class_ap"] == {"cat": pytest.approx(1.0), "dog": 0.0, "bird": None}
    assert metrics["map50"] == pytest.approx(0.5)  # mean over the classes with ground truth


def test_no_samples_do_not_crash():
    metrics = DetectTask().evaluate(_predict_fixed([]), [], ["square"])
    assert metrics["map50"] == 0.0 and metrics["images"] == 0 and metrics["per_class_ap"] == {"square": None}


def test_plots_and_drawing(tmp_path):
    task = DetectTask(spec())
    metrics = _evaluate([(TRUTH[0], 0, 0.9)])
    written = task.plots(metrics, ["square"], tmp_path / "plots")
    assert [name for name, _ in written] == ["pr_curve", "per_class_ap"]
    for _, path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100

    outputs = {k: v[0] for k, v in _predict_fixed([(TRUTH[0], 0, 0.9), (TRUTH[1], 0, 0.01)])(np.zeros((1,))).items()}
    sample = _letterboxed(TRUTH)
    drawn = task.draw(sample, outputs, ["square"])
    assert drawn.shape == sample.image.shape and drawn.dtype == np.uint8
    y0, x0, y1, x1 = (np.array(_as_output(TRUTH[0])) * S).round().astype(int)
    assert drawn[y0 + 2 : y1 - 1, x1 - 1 : x1 + 1].any()  # the first box's right edge
    assert not drawn[40:56, 40:52].any()  # the second (score below the threshold) is not drawn


# --- targets ------------------------------------------------------------------------------------


def test_targets_peak_size_and_offset_at_the_centre_cell():
    box = [21.0, 13.0, 16.0, 24.0]  # centre (29, 25) px = (7.25, 6.25) cells at stride 4
    out = make_targets(np.array([box]), np.array([1]), input_size=S, stride=4, num_classes=2)
    assert out["heatmap"].shape == (16, 16, 2) and out["size"].shape == out["offset"].shape == (16, 16, 3)
    heat = out["heatmap"][:, :, 1]
    assert heat[6, 7] == 1.0 and heat.max() == 1.0 and (heat == 1.0).sum() == 1
    assert 0 < heat[6, 8] < 1 and 0 < heat[7, 7] < 1  # a Gaussian around it (radius > 0 for this size)
    assert not out["heatmap"][:, :, 0].any()
    np.testing.assert_allclose(out["size"][6, 7], [4.0, 6.0, 1.0])
    np.testing.assert_allclose(out["offset"][6, 7], [0.25, 0.25, 1.0])
    assert out["size"][..., 2].sum() == 1 and out["offset"][..., 2].sum() == 1
    assert gaussian_radius(6, 4) >= 1


def test_targets_via_the_task_and_degenerate_boxes():
    task = DetectTask(spec(options={"output_stride": 8}))
    sample = Sample(
        image=np.zeros((S, S, 3), np.uint8),
        item=RunItem(path="", split="train", width=S, height=S),
        label=None,
        boxes=np.array([[0, 0, 0, 10], [60, 60, 8, 8]], np.float32),  # no area; centre (64, 64) is outside
        classes=np.array([0, 0], np.int32),
    )
    out = task.targets(sample)
    assert out["heatmap"].shape == (8, 8, 1) and not out["heatmap"].any() and not out["size"].any()
    with pytest.raises(RuntimeError):
        DetectTask().targets(sample)


# --- check and layout ---------------------------------------------------------------------------


def test_check_refuses_other_architectures_and_sizes():
    task = DetectTask()
    assert task.check(spec()) is None
    assert task.check(spec(input_size=1024, architecture="mobilenet_v3_large")) is None
    assert "efficientnet_b0" in task.check(spec(architecture="efficientnet_b0"))
    for size in (32, 100, 1056):
        assert "multiple of 32" in task.check(spec(input_size=size))
    assert "output_stride" in task.check(spec(options={"output_stride": 16}))
    items = [RunItem(path="a.jpg", split="train", width=64, height=64)]
    assert "No training image has a box" in task.check(spec(items=items))


def test_output_layout_names_every_output():
    layout = DetectTask().output_layout(spec())
    assert [o["name"] for o in layout["outputs"]] == ["boxes", "classes", "scores", "count"]
    assert layout["outputs"][0]["shape"] == [-1, 20, 4] and layout["box_format"] == "yxyx_normalized"
    assert DetectTask().class_weights([], 1) is None


# --- a tiny detector end to end -----------------------------------------------------------------


def toy_samples(n: int, seed: int) -> list[Sample]:
    """One bright square (12..28 px) per dark noisy 64x64 image."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        image = rng.integers(0, 40, (S, S, 3)).astype(np.uint8)
        w, h = (int(v) for v in rng.integers(12, 29, 2))
        x, y = int(rng.integers(0, S - w + 1)), int(rng.integers(0, S - h + 1))
        image[y : y + h, x : x + w] = rng.integers(200, 256)
        item = RunItem(path="", split="train", width=S, height=S, boxes=[[x, y, w, h, 0]])
        samples.append(Sample(image, item, None, np.array([[x, y, w, h]], np.float32), np.array([0], np.int32)))
    return samples


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    import keras

    from export.model_formats.convert import export_model

    keras.utils.set_random_seed(0)
    task = DetectTask()
    train, export = task.build(spec())
    task.compile(train, keras.optimizers.Adam(0.01))
    samples = toy_samples(96, seed=0)
    images = np.stack([s.image for s in samples]).astype(np.float32)
    targets = [task.targets(s) for s in samples]
    y = {key: np.stack([t[key] for t in targets]) for key in targets[0]}
    history = train.fit(images, y, epochs=8, batch_size=16, verbose=0).history
    folder = tmp_path_factory.mktemp("detector")
    records = export_model(
        export,
        folder,
        representative_data=[images[i : i + 16] for i in range(0, 64, 16)],
        float_outputs=task.float_outputs,
    )
    return {
        "task": task,
        "train": train,
        "export": export,
        "history": history,
        "records": {r.key: r for r in records},
        "folder": folder,
    }


def test_tiny_detector_learns_the_toy(trained):
    from export.model_formats.convert import keras_predict

    loss = trained["history"]["loss"]
    assert loss[-1] < 0.5 * loss[0], loss
    assert trained["history"]["heatmap_loss"][-1] < trained["history"]["heatmap_loss"][0]
    assert trained["train"].output_names == ["heatmap", "offset", "size"]
    metrics = trained["task"].evaluate(
        lambda b: keras_predict(trained["export"], b), toy_samples(32, seed=5), ["square"]
    )
    assert metrics["map50"] > 0.3, metrics


def test_every_variant_converts_with_builtins_only(trained):
    from ai_edge_litert.tools import flatbuffer_utils

    records = trained["records"]
    assert set(records) == {
        "keras-float32",
        "saved_model-float32",
        "tflite-float32",
        "tflite-float16",
        "tflite-dynamic_int8",
        "tflite-int8",
        "onnx-float32",
    }
    for record in records.values():
        assert record.ok, f"{record.key}: {record.error}"
    for key in ("tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8"):
        model = flatbuffer_utils.read_model(str(records[key].path))
        custom = [c.customCode for c in model.operatorCodes if c.customCode]
        assert not custom, f"{key} has custom/Flex ops {custom}"


def _stable(scores: np.ndarray, gap: float = 1e-3) -> np.ndarray:
    """Positions whose score is clear of its neighbours', where the order cannot differ by rounding."""
    padded = np.concatenate([[np.inf], scores, [-np.inf]])
    return (padded[:-2] - padded[1:-1] > gap) & (padded[1:-1] - padded[2:] > gap) & (scores > 0.01)


def test_float_files_match_keras(trained):
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import run_file

    images = np.stack([s.image for s in toy_samples(8, seed=7)]).astype(np.float32)
    expected = keras_predict(trained["export"], images)
    for key in ("tflite-float32", "onnx-float32"):
        (got,) = run_file(trained["records"][key].path, [images])
        assert set(got) == {"boxes", "classes", "scores", "count"}, key
        np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-4, err_msg=key)
        np.testing.assert_array_equal(got["count"], expected["count"], err_msg=key)
        for i in range(len(images)):
            stable = _stable(expected["scores"][i])
            assert stable.any()
            np.testing.assert_allclose(got["boxes"][i][stable], expected["boxes"][i][stable], atol=1e-4, err_msg=key)
            np.testing.assert_array_equal(got["classes"][i][stable], expected["classes"][i][stable], err_msg=key)


def test_int8_file_runs_with_the_same_named_outputs(trained):
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import describe_io, run_file

    path = trained["records"]["tflite-int8"].path
    io = describe_io(path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert {t["name"]: t["dtype"] for t in io["outputs"]} == {
        "boxes": "float32",
        "classes": "int32",
        "scores": "float32",
        "count": "int32",
    }
    samples = toy_samples(16, seed=9)
    images = np.stack([s.image for s in samples]).astype(np.float32)
    (got,) = run_file(path, [images])
    expected = keras_predict(trained["export"], images)
    for name in ("boxes", "classes", "scores", "count"):
        assert got[name].shape == expected[name].shape, name
    assert (got["boxes"] >= 0).all() and (got["boxes"] <= 1).all()
    assert ((0 <= got["count"]) & (got["count"] <= 20)).all()
    # the int8 file finds the same square: its best box overlaps the Keras one
    overlaps = [_iou(got["boxes"][i, 0], expected["boxes"][i, 0]) for i in range(len(images))]
    assert np.mean(np.array(overlaps) > 0.5) >= 0.75, overlaps


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def test_saved_models_load_back(trained, tmp_path):
    """The custom layer and losses are registered: ``model.keras`` and a compiled checkpoint reload."""
    import keras

    from export.model_formats.convert import keras_predict

    images = np.stack([s.image for s in toy_samples(2, seed=11)]).astype(np.float32)
    exported = keras.models.load_model(trained["records"]["keras-float32"].path)
    np.testing.assert_allclose(
        keras_predict(exported, images)["scores"], keras_predict(trained["export"], images)["scores"], atol=1e-6
    )
    trained["train"].save(tmp_path / "checkpoint.keras")
    restored = keras.models.load_model(tmp_path / "checkpoint.keras")
    assert type(restored.loss["heatmap"]).__name__ == "CenterNetFocalLoss"
