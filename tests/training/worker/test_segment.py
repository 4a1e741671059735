"""The segmentation task: IoU metrics on hand-computed confusion matrices, targets and loss, checks,
the LR-ASPP model and its conversion with builtins only, and a whole tiny run through
``python -m training.worker`` on a toy of discs (stored as RLE masks) and squares (stored as
polygons) whose files agree with Keras.

The hand-made case used below, three classes (background, disc, square), six counted pixels and
two ignored ones::

    truth  0 0 1 1        predicted  0 1 1 1
           2 2 - -   (- = 255)       2 0 0 2

gives the confusion matrix (rows true, columns predicted) ``[[1, 1, 0], [0, 2, 0], [1, 0, 1]]``,
so IoU(background) = 1 / (1 + 1 + 1) = 1/3, IoU(disc) = 2 / (2 + 1 + 0) = 2/3,
IoU(square) = 1 / (1 + 0 + 1) = 1/2, mIoU = (1/3 + 2/3 + 1/2) / 3 = 1/2 and pixel accuracy 4/6.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.protocol import RunItem, RunSpec
from training.worker.segment import SegmentTask, make_targets
from training.worker.segment_metrics import confusion_matrix, draw_class_map, palette, segmentation_metrics
from training.worker.task_api import IGNORE, Sample

from .toy import run_worker

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:In the future `np.object`:FutureWarning")]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

S = 64
LABELS = ["background", "disc", "square"]
TRUTH = np.array([[0, 0, 1, 1], [2, 2, IGNORE, IGNORE]], np.uint8)
PREDICTED = np.array([[0, 1, 1, 1], [2, 0, 0, 2]], np.uint8)
MATRIX = [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
VARIANTS = {"keras-float32", "saved_model-float32", "tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8", "onnx-float32"}


def spec(**overrides) -> RunSpec:
    options = {"alpha": 0.25}
    options.update(overrides.pop("options", {}))
    fields = dict(
        run_id=1,
        task="segment",
        architecture="mobilenet_v3_small",
        input_size=S,
        resize="letterbox",
        epochs=1,
        batch_size=8,
        learning_rate=0.01,
        schedule="constant",
        warmup_epochs=0,
        seed=0,
        labels=list(LABELS),
        items=[],
        options=options,
    )
    fields.update(overrides)
    return RunSpec(**fields)


def sample(mask: np.ndarray | None, image: np.ndarray | None = None) -> Sample:
    if image is None:
        shape = mask.shape if mask is not None else (S, S)
        image = np.full((*shape, 3), 100, np.uint8)
    item = RunItem(path="toy.png", split="test", width=image.shape[1], height=image.shape[0], segments=[])
    return Sample(image, item, None, np.zeros((0, 4), np.float32), np.zeros(0, np.int32), mask=mask)


def fixed_predict(class_map: np.ndarray, num_classes: int, *, as_scores: bool = False):
    """A ``predict`` that returns ``class_map`` for every image, as a class map or as one-hot scores."""

    def predict(images):
        maps = np.repeat(class_map[None], len(images), axis=0)
        if as_scores:
            return {"scores": np.eye(num_classes, dtype=np.float32)[maps]}
        return {"class_map": maps.astype(np.uint8)}

    return predict


# --- metrics ------------------------------------------------------------------------------------


def test_confusion_matrix_leaves_ignored_pixels_out():
    matrix = confusion_matrix(TRUTH, PREDICTED, 3)
    assert matrix.tolist() == MATRIX and matrix.sum() == 6
    with pytest.raises(ValueError):
        confusion_matrix(np.array([3]), np.array([0]), 3)  # a true class outside the labels


def test_iou_pixel_accuracy_and_miou_match_the_hand_computed_case():
    metrics = segmentation_metrics(np.array(MATRIX), LABELS, images=1)
    assert metrics["per_class_iou"] == {
        "background": pytest.approx(1 / 3),
        "disc": pytest.approx(2 / 3),
        "square": pytest.approx(1 / 2),
    }
    assert metrics["miou"] == pytest.approx(0.5)
    assert metrics["pixel_accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion_matrix"] == MATRIX and metrics["pixels"] == 6 and metrics["images"] == 1


def test_a_class_absent_from_truth_and_prediction_is_none_and_not_averaged():
    labels = [*LABELS, "cat"]
    metrics = segmentation_metrics(confusion_matrix(TRUTH, PREDICTED, 4), labels)
    assert metrics["per_class_iou"]["cat"] is None
    assert metrics["miou"] == pytest.approx(0.5)  # the mean over the three present classes
    # A class only predicted counts (IoU 0): truth [0, 0], predicted [0, 3] -> IoU(bg) 1/2, IoU(cat) 0.
    metrics = segmentation_metrics(confusion_matrix(np.array([0, 0]), np.array([0, 3]), 4), labels)
    assert metrics["per_class_iou"] == {"background": 0.5, "disc": None, "square": None, "cat": 0.0}
    assert metrics["miou"] == pytest.approx(0.25) and metrics["pixel_accuracy"] == pytest.approx(0.5)


def test_evaluate_scores_class_maps_and_scores_alike_over_several_images():
    task = SegmentTask()
    samples = [sample(TRUTH), sample(TRUTH), sample(np.full_like(TRUTH, IGNORE))]
    by_map = task.evaluate(fixed_predict(PREDICTED, 3), samples, LABELS)
    by_scores = task.evaluate(fixed_predict(PREDICTED, 3, as_scores=True), samples, LABELS)
    assert by_map == by_scores
    assert by_map["confusion_matrix"] == (2 * np.array(MATRIX)).tolist()  # the all-ignored image adds nothing
    assert by_map["miou"] == pytest.approx(0.5) and by_map["images"] == 3 and by_map["pixels"] == 12
    assert task.headline == "miou"


def test_nothing_counted_scores_zero():
    metrics = SegmentTask().evaluate(fixed_predict(PREDICTED, 3), [sample(np.full_like(TRUTH, IGNORE))], LABELS)
    assert metrics["miou"] == 0.0 and metrics["pixel_accuracy"] == 0.0 and metrics["pixels"] == 0
    assert set(metrics["per_class_iou"].values()) == {None}
    assert SegmentTask().evaluate(fixed_predict(PREDICTED, 3), [], LABELS)["images"] == 0


# --- targets and loss ---------------------------------------------------------------------------


def test_targets_are_the_class_map_and_need_one():
    mask = np.zeros((S, S), np.uint8)
    mask[10:20, 10:30] = 2
    mask[:, :4] = IGNORE
    out = SegmentTask().targets(sample(mask))
    assert set(out) == {"logits"} and out["logits"].dtype == np.uint8
    np.testing.assert_array_equal(out["logits"], mask)
    with pytest.raises(ValueError, match="no class map"):
        make_targets(sample(None))
    with pytest.raises(ValueError, match="does not match"):
        make_targets(sample(mask[:32], image=np.zeros((S, S, 3), np.uint8)))


def test_loss_is_cross_entropy_over_the_counted_pixels_only():
    from training.worker.segment_model import MaskedSegmentationLoss

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    target = rng.integers(0, 3, size=(2, 4, 4)).astype(np.uint8)
    target[0, :2] = IGNORE
    target[1, :, 3] = IGNORE
    counted = target != IGNORE
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_softmax, np.where(counted, target, 0)[..., None].astype(np.int64), -1)[..., 0]
    expected = -(picked * counted).sum() / counted.sum()
    loss = float(MaskedSegmentationLoss()(target, logits))
    assert loss == pytest.approx(expected, rel=1e-5)
    # Ignored pixels change nothing, whatever their logits.
    changed = logits.copy()
    changed[0, :2] = 50.0
    assert float(MaskedSegmentationLoss()(target, changed)) == pytest.approx(expected, rel=1e-5)
    assert float(MaskedSegmentationLoss()(np.full_like(target, IGNORE), logits)) == 0.0


def test_class_weights_weigh_each_pixel_by_its_class():
    from training.worker.segment_model import MaskedSegmentationLoss

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    target = rng.integers(0, 3, size=(1, 4, 4)).astype(np.uint8)
    target[0, 0] = IGNORE
    counted = target != IGNORE
    weights = np.array([0.5, 2.0, 4.0])
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_softmax, np.where(counted, target, 0)[..., None].astype(np.int64), -1)[..., 0]
    expected = -(picked * counted * weights[np.where(counted, target, 0)]).sum() / counted.sum()
    loss = MaskedSegmentationLoss(class_weights=list(weights))
    assert float(loss(target, logits)) == pytest.approx(expected, rel=1e-5)
    assert MaskedSegmentationLoss.from_config(loss.get_config()).class_weights == [0.5, 2.0, 4.0]


def test_balanced_pixel_weights_come_from_the_train_split_at_the_input_size():
    from training.worker.segment import loss_class_weights, pixel_frequencies

    # A 64x32 picture letterboxed to 64 px: 64x32 counted pixels, a 16x16 disc-class square (256 of
    # 2048) and a 32x8 square-class polygon (256); the test image does not count.
    square = {"polygons": [[0, 0, 16, 0, 16, 16, 0, 16]]}
    strip = {"polygons": [[32, 0, 64, 0, 64, 8, 32, 8]]}
    train = RunItem(path="a.png", split="train", width=64, height=32, segments=[[1, "polygon", square], [2, "polygon", strip]])
    test = RunItem(path="b.png", split="test", width=64, height=64, segments=[[1, "polygon", {"polygons": [[0, 0, 64, 0, 64, 64, 0, 64]]}]])
    share = pixel_frequencies([train], 3, 64, "letterbox")
    assert share.tolist() == pytest.approx([1536 / 2048, 256 / 2048, 256 / 2048])
    weights = loss_class_weights(spec(items=[train, test], options={"class_weights": True}))
    assert weights == pytest.approx([1 / (3 * 0.75), 1 / (3 * 0.125), 1 / (3 * 0.125)], rel=1e-5)
    assert sum(w * f for w, f in zip(weights, share)) == pytest.approx(1.0)  # a pixel weighs 1 on average
    assert loss_class_weights(spec(items=[train])) is None
    assert loss_class_weights(spec(items=[train], options={"class_weights": {"square": 3}})) == [1.0, 1.0, 3.0]
    task = SegmentTask()
    assert "'cat'" in task.check(spec(items=[train], options={"class_weights": {"cat": 2}}))
    assert "class_weights must be" in task.check(spec(items=[train], options={"class_weights": "rare"}))


# --- check, layout, figures ---------------------------------------------------------------------


def test_check_refuses_each_bad_spec_with_one_sentence():
    task = SegmentTask()
    assert task.check(spec()) is None
    assert task.check(spec(architecture="mobilenet_v3_large", input_size=1024)) is None
    assert task.check(spec(options={"segment_output": "scores"})) is None
    assert "efficientnet_b0" in task.check(spec(architecture="efficientnet_b0"))
    for size in (32, 100, 1056):
        assert "multiple of 32" in task.check(spec(input_size=size))
    assert '"background" as the first label' in task.check(spec(labels=["disc", "background"]))
    assert "at least one object class" in task.check(spec(labels=["background"]))
    assert "segment_output" in task.check(spec(options={"segment_output": "logits"}))
    assert "alpha" in task.check(spec(options={"alpha": 0}))
    bad_index = RunItem(path="a.png", split="train", width=8, height=8, segments=[[3, "polygon", {"polygons": []}]])
    assert "class index 3" in task.check(spec(items=[bad_index]))
    bad_kind = RunItem(path="a.png", split="train", width=8, height=8, segments=[[1, "box", {}]])
    assert "kind 'box'" in task.check(spec(items=[bad_kind]))
    empty = RunItem(path="a.png", split="train", width=8, height=8, segments=[])
    assert "No training image has a segment" in task.check(spec(items=[empty]))
    for reason in (task.check(spec(input_size=100)), task.check(spec(labels=["disc"]))):
        assert reason.count(". ") == 0 and reason.endswith(".")


def test_output_layout_and_float_outputs_follow_segment_output():
    task = SegmentTask()
    layout = task.output_layout(spec())
    assert [o["name"] for o in layout["outputs"]] == ["class_map"]
    assert layout["outputs"][0]["shape"] == [-1, S, S] and layout["outputs"][0]["dtype"].startswith("uint8")
    assert task.float_outputs(spec()) == ()
    scores = spec(options={"segment_output": "scores"})
    layout = task.output_layout(scores)
    assert [o["name"] for o in layout["outputs"]] == ["scores"] and layout["outputs"][0]["shape"] == [-1, S, S, 3]
    assert task.float_outputs(scores) == ("scores",)
    assert task.class_weights([], 3) is None


def test_plots_and_drawing(tmp_path):
    task = SegmentTask()
    metrics = segmentation_metrics(confusion_matrix(TRUTH, PREDICTED, 4), [*LABELS, "cat"])
    written = task.plots(metrics, [*LABELS, "cat"], tmp_path / "plots")
    assert [name for name, _ in written] == ["per_class_iou", "confusion_matrix"]
    for _, path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100

    assert palette(3).tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]  # the fixed VOC colours
    image = np.full((S, S, 3), 100, np.uint8)
    predicted = np.zeros((S, S), np.uint8)
    predicted[8:24, 8:24] = 1
    predicted[40:56, 40:56] = 2
    for outputs in ({"class_map": predicted}, {"scores": np.eye(3, dtype=np.float32)[predicted]}):
        drawn = task.draw(sample(None, image=image), outputs, LABELS)
        assert drawn.shape == image.shape and drawn.dtype == np.uint8
        assert (drawn[0, 0] == 100).all()  # background untouched
        assert drawn[10, 10].tolist() == [114, 50, 50] and drawn[50, 50].tolist() == [50, 114, 50]
    np.testing.assert_array_equal(draw_class_map(image, np.zeros((S, S), np.uint8), 3), image)


# --- the model ----------------------------------------------------------------------------------


@pytest.mark.parametrize("architecture", ["mobilenet_v3_small", "mobilenet_v3_large"])
def test_lraspp_model_outputs_and_shared_layers(architecture):
    import keras

    task = SegmentTask()
    train, export = task.build(spec(architecture=architecture))
    images = np.random.default_rng(0).uniform(0, 255, (2, S, S, 3)).astype(np.float32)
    logits = keras.ops.convert_to_numpy(train(images)["logits"])
    assert train.output_names == ["logits"] and logits.shape == (2, S, S, 3) and logits.dtype == np.float32
    out = export(images)
    assert export.output_names == ["class_map"]
    class_map = keras.ops.convert_to_numpy(out["class_map"])
    assert class_map.shape == (2, S, S) and class_map.dtype == np.uint8
    np.testing.assert_array_equal(class_map, logits.argmax(-1))
    # The LR-ASPP head and the backbone cut after stride 16 (no stride-32 stage built).
    names = {layer.name for layer in train.layers}
    assert {"aspp_conv", "aspp_pool", "aspp_gate", "aspp_mul", "aspp_up", "high_classifier", "low_classifier"} <= names
    backbone = {layer.name for layer in train.get_layer("backbone").layers}
    last = "expanded_conv_10_add" if architecture == "mobilenet_v3_small" else "expanded_conv_14_add"
    assert last not in backbone and train.get_layer("backbone").outputs[0].shape[1] == S // 16

    _, scores_model = task.build(spec(architecture=architecture, options={"segment_output": "scores"}))
    scores = keras.ops.convert_to_numpy(scores_model(images)["scores"])
    assert scores_model.output_names == ["scores"] and scores.shape == (2, S, S, 3)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)


def test_the_scores_output_converts_with_builtins_only(tmp_path):
    """``segment_output: scores`` (the class map, the default, is checked on the whole run's files)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from export.model_formats.convert import export_model, keras_predict
    from export.model_formats.measure import describe_io, run_file

    task = SegmentTask()
    run_spec = spec(options={"segment_output": "scores"})
    _, export = task.build(run_spec)
    images = np.random.default_rng(1).uniform(0, 255, (4, S, S, 3)).astype(np.float32)
    records = {
        r.key: r
        for r in export_model(
            export, tmp_path, representative_data=[images[i : i + 1] for i in range(4)], float_outputs=task.float_outputs(run_spec)
        )
    }
    assert set(records) == VARIANTS
    for record in records.values():
        assert record.ok, f"{record.key}: {record.error}"
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    for key in ("tflite-float32", "tflite-float16", "tflite-dynamic_int8", "tflite-int8"):
        model = flatbuffer_utils.read_model(str(records[key].path))
        assert not [c.customCode for c in model.operatorCodes if c.customCode], key
        ops = {names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes}
        assert {"RESIZE_BILINEAR", "MEAN", "MUL", "ADD", "LOGISTIC", "CONV_2D", "SOFTMAX"} <= ops, (key, ops)
    io = describe_io(records["tflite-int8"].path)
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert {t["name"]: t["dtype"] for t in io["outputs"]} == {"scores": "float32"}
    expected = keras_predict(export, images)["scores"]
    for key in ("tflite-float32", "onnx-float32"):
        (got,) = run_file(records[key].path, [images])
        assert set(got) == {"scores"} and got["scores"].shape == expected.shape, key
        np.testing.assert_allclose(got["scores"], expected, atol=1e-4, err_msg=key)


# --- a whole tiny run ---------------------------------------------------------------------------


def toy_image(rng: np.random.Generator) -> tuple[np.ndarray, list[list]]:
    """Grey noise of 56..80 px a side (letterboxed to 64: bars to ignore) with a red disc, stored as
    an RLE mask, and/or a blue square, stored as a polygon; the square is painted last."""
    from pycocotools import mask as mask_utils

    height, width = int(rng.integers(56, 81)), int(rng.integers(56, 81))
    image = rng.integers(60, 160, size=(height, width, 3)).astype(np.uint8)
    segments: list[list] = []
    kinds = [["disc"], ["square"], ["disc", "square"]][int(rng.integers(0, 3))]
    if "disc" in kinds:
        radius = float(rng.uniform(8, 15))
        cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
        yy, xx = np.mgrid[:height, :width]
        disc = ((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) <= radius**2
        image[disc] = (220, 40, 40)
        rle = mask_utils.encode(np.asfortranarray(disc.astype(np.uint8)))
        segments.append([1, "mask", {"rle": {"size": [height, width], "counts": rle["counts"].decode("ascii")}}])
    if "square" in kinds:
        side = int(rng.integers(14, 26))
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        image[y : y + side, x : x + side] = (40, 60, 220)
        segments.append([2, "polygon", {"polygons": [[x, y, x + side, y, x + side, y + side, x, y + side]]}])
    return image, segments


def toy_items(folder: Path, *, count: int = 96, seed: int = 0) -> list[RunItem]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        image, segments = toy_image(rng)
        path = folder / f"toy_{i:03d}.png"
        Image.fromarray(image).save(path)
        split = "train" if i < count * 2 // 3 else ("val" if i < count * 5 // 6 else "test")
        items.append(RunItem(path=str(path), split=split, width=image.shape[1], height=image.shape[0], segments=segments))
    return items


class Run:
    def __init__(self, folder: Path, spec: RunSpec, events: list, stderr: str, code: int):
        self.folder, self.spec, self.events_, self.stderr, self.code = folder, spec, events, stderr, code

    def events(self, name: str) -> list:
        return [payload for event, payload in self.events_ if event == name]

    @property
    def artifacts(self) -> dict[str, dict]:
        return {f"{a['format']}-{a['variant']}": a for a in self.events("ARTIFACT")}

    def test_samples(self) -> list[Sample]:
        from training.worker.data import load_sample

        return [load_sample(i, self.spec.input_size, self.spec.resize) for i in self.spec.items if i.split == "test"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("segment_run")
    items = toy_items(root / "images")
    run_spec = spec(
        items=items,
        epochs=10,
        batch_size=8,
        learning_rate=0.01,
        schedule="cosine",
        warmup_epochs=1,
        options={"alpha": 0.5, "mode_check_images": 16, "class_weights": True},
        threads=2,
        export={"latency_runs": 3, "calibration_images": 24},
    )
    folder = root / "run"
    folder.mkdir()
    run_spec.write(folder)
    code, events, stderr = run_worker(folder)
    return Run(folder, run_spec, events, stderr, code)


def test_the_run_succeeds_and_the_loss_goes_down(run):
    assert run.code == 0, run.stderr[-4000:]
    assert [e for e, _ in run.events_][-1] == "DONE"
    history = json.loads((run.folder / "state.json").read_text())["history"]
    assert len(history) == 10 and history[-1]["loss"] < 0.5 * history[0]["loss"], history
    assert all(0.0 <= h["val_miou"] <= 1.0 for h in history)
    # options.class_weights weighs the loss per pixel (the toy's discs and squares are rare pixels)
    weights = re.search(r"Pixel class weights of the loss: background ([\d.]+), disc ([\d.]+), square ([\d.]+)\.", run.stderr)
    assert weights and float(weights[1]) < 1 < float(weights[2]) and float(weights[3]) > 1, run.stderr[-3000:]
    assert "ignored for the segment task" not in run.stderr


def test_metrics_plots_and_card(run):
    (metrics,) = run.events("METRICS")
    tests = len(run.test_samples())
    assert metrics["split"] == "test" and metrics["images"] == tests == 16
    assert set(metrics["per_class_iou"]) == set(LABELS)
    assert 0.5 < metrics["miou"] <= 1.0 and 0.0 <= metrics["pixel_accuracy"] <= 1.0, metrics  # it learned the toy
    matrix = np.asarray(metrics["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == metrics["pixels"]
    ignored = sum(int((s.mask == IGNORE).sum()) for s in run.test_samples())
    assert ignored > 0 and metrics["pixels"] == tests * S * S - ignored  # letterbox bars are not counted
    assert set(metrics["inference_mode_check"]) == {"images", "train_miou_inference_mode", "train_miou_training_mode"}
    plots = dict(run.events("PLOT"))
    assert {"loss", "val_miou", "learning_rate", "per_class_iou", "confusion_matrix", "sample_predictions"} <= set(plots)
    card = run.events("DONE")[0]["model_card"]
    assert card["task"] == "segment" and card["outputs"]["outputs"][0]["name"] == "class_map"
    assert card["metrics"]["miou"] == pytest.approx(metrics["miou"])


def test_every_variant_is_ok_and_builtins_only(run):
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from export.model_formats.measure import describe_io

    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    artifacts = run.artifacts
    assert set(artifacts) == VARIANTS
    for key, artifact in artifacts.items():
        assert artifact["status"] == "ok", (key, artifact["error"])
        assert "miou" in artifact["metrics"], key
        if artifact["format"] == "tflite":
            model = flatbuffer_utils.read_model(str(run.folder / artifact["path"]))
            assert not [c.customCode for c in model.operatorCodes if c.customCode], key
            ops = {names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in model.operatorCodes}
            assert {"RESIZE_BILINEAR", "MEAN", "MUL", "ADD", "LOGISTIC", "CONV_2D", "ARG_MAX", "CAST"} <= ops, (key, ops)
    io = describe_io(run.folder / artifacts["tflite-int8"]["path"])
    assert [t["dtype"] for t in io["inputs"]] == ["int8"]
    assert {t["name"]: t["dtype"] for t in io["outputs"]} == {"class_map": "uint8"}


def test_float_files_match_keras(run):
    import keras

    import training.worker.segment_model  # noqa: F401 - registers the custom layer for load_model
    from export.model_formats.convert import keras_predict
    from export.model_formats.measure import run_file

    artifacts = run.artifacts
    model = keras.models.load_model(run.folder / artifacts["keras-float32"]["path"])
    images = np.stack([s.image for s in run.test_samples()]).astype(np.float32)
    expected = keras_predict(model, images)["class_map"]
    for key in ("tflite-float32", "onnx-float32"):
        (got,) = run_file(run.folder / artifacts[key]["path"], [images])
        assert got["class_map"].shape == expected.shape and got["class_map"].dtype == np.uint8, key
        agree = float((got["class_map"] == expected).mean())
        assert agree > 0.995, (key, agree)
        assert artifacts[key]["metrics"]["miou"] == pytest.approx(run.events("METRICS")[0]["miou"], abs=0.01), key


def test_int8_metric_is_the_metric_of_the_file(run):
    from export.model_formats.measure import FileRunner

    artifact = run.artifacts["tflite-int8"]
    runner = FileRunner(run.folder / artifact["path"], threads=run.spec.threads)
    recomputed = SegmentTask().evaluate(lambda images: runner(images), run.test_samples(), LABELS)
    assert artifact["metrics"]["miou"] == pytest.approx(recomputed["miou"], abs=1e-9)
    assert artifact["metrics"]["confusion_matrix"] == recomputed["confusion_matrix"]
