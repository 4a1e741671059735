"""The offline engine: augmented copies of train images only, deterministic by seed whatever the
number of processes, with the seed and recipe recorded on every copy."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage

from annotate.geometry import validate_geometry
from augment.offline import MAX_CHUNK, AugmentError, augment_items, chunk_size, derive_seed, run_engine
from augment.online import online_augmenter
from augment.pipeline import Augmenter, LabelInfo
from augment.profiles import PROFILES

from .helpers import scene_with_object

LABELS = {1: {"name": "thing"}, 2: {"name": "face", "keypoint_names": ["left_eye", "right_eye", "nose"]}}
SPEC = {"transforms": [
    {"name": "HorizontalFlip", "p": 0.5},
    {"name": "Affine", "params": {"rotate": [-20, 20], "scale": [0.9, 1.1]}, "p": 0.8},
    {"name": "PoissonGaussianNoise", "p": 0.8},
]}


def make_items(tmp_path, n=3, split="train"):
    items = []
    for i in range(n):
        image, annotations = scene_with_object(rect=(40 + 5 * i, 30, 90, 75))
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        items.append({"key": 100 + i, "path": str(path), "split": split, "annotations": annotations})
    return items


def test_copies_with_images_annotations_and_meta(tmp_path):
    items = make_items(tmp_path)
    progress = []
    out = list(augment_items(spec=SPEC, items=items, copies=2, seed=7, labels=LABELS, recipe={"id": 4, "name": "r"},
                             progress=lambda f, m: progress.append(f)))
    assert [(o["key"], o["copy"]) for o in out] == [(100, 0), (100, 1), (101, 0), (101, 1), (102, 0), (102, 1)]
    assert progress == pytest.approx([1 / 3, 2 / 3, 1.0])
    for o in out:
        decoded = PILImage.open(io.BytesIO(o["image"]))
        assert decoded.format == "JPEG" and decoded.size == (o["width"], o["height"])
        assert o["meta"] == {"seed": derive_seed(7, o["key"], o["copy"]), "recipe": {"id": 4, "name": "r"},
                             "source_image": o["key"], "copy": o["copy"], "spec_sha256": o["meta"]["spec_sha256"]}
        assert {a["kind"] for a in o["annotations"]} >= {"box", "keypoints", "tag"}
        for a in o["annotations"]:
            names = LABELS.get(a["label"], {}).get("keypoint_names", [])
            validate_geometry(a["kind"], a["geometry"], width=o["width"], height=o["height"], keypoint_names=names)
    # Copies of one image differ from each other.
    assert out[0]["image"] != out[1]["image"]


def test_the_engine_matches_the_pipeline_for_the_derived_seed(tmp_path):
    items = make_items(tmp_path, n=1)
    out = list(augment_items(spec=SPEC, items=items, copies=1, seed=3, labels=LABELS))
    image = cv2.cvtColor(cv2.imread(items[0]["path"]), cv2.COLOR_BGR2RGB)
    infos = {k: LabelInfo(v["name"], tuple(v.get("keypoint_names", ()))) for k, v in LABELS.items()}
    _, annotations = Augmenter(SPEC, labels=infos)(image, items[0]["annotations"], seed=derive_seed(3, 100, 0))
    assert out[0]["annotations"] == annotations


def test_seed_reproduces_and_changes(tmp_path):
    items = make_items(tmp_path, n=2)
    a = list(augment_items(spec=SPEC, items=items, copies=2, seed=1, labels=LABELS))
    b = list(augment_items(spec=SPEC, items=items, copies=2, seed=1, labels=LABELS))
    c = list(augment_items(spec=SPEC, items=items, copies=2, seed=2, labels=LABELS))
    assert [o["image"] for o in a] == [o["image"] for o in b]
    assert [o["annotations"] for o in a] == [o["annotations"] for o in b]
    assert [o["image"] for o in a] != [o["image"] for o in c]


def test_an_items_copies_do_not_depend_on_the_other_items(tmp_path):
    items = make_items(tmp_path, n=3)
    alone = list(augment_items(spec=SPEC, items=items[2:], copies=2, seed=1, labels=LABELS))
    together = list(augment_items(spec=SPEC, items=items, copies=2, seed=1, labels=LABELS))
    assert [o["image"] for o in alone] == [o["image"] for o in together[4:]]


def test_chunks_are_small_enough_to_balance_and_at_most_max_chunk():
    assert chunk_size(3, 2) == 1 and chunk_size(37, 2) == 2 and chunk_size(400, 2) == MAX_CHUNK
    assert chunk_size(10_000, 4) == MAX_CHUNK and chunk_size(1, 8) == 1


@pytest.mark.slow
@pytest.mark.parametrize("n", [4, 37])  # 37 items go in chunks of 2, the last one alone
def test_same_output_with_two_processes(tmp_path, n):
    items = make_items(tmp_path, n=n)
    spec = PROFILES["phone-low-light"].spec
    one = list(augment_items(spec=spec, items=items, copies=2, seed=9, labels=LABELS, processes=1))
    progress = []
    two = list(augment_items(spec=spec, items=items, copies=2, seed=9, labels=LABELS, processes=2,
                             progress=lambda fraction, message: progress.append(fraction)))
    assert [(o["key"], o["copy"]) for o in one] == [(o["key"], o["copy"]) for o in two]
    assert [(o["key"], o["copy"]) for o in two] == [(item["key"], c) for item in items for c in (0, 1)]
    assert progress == [(i + 1) / n for i in range(n)]  # one report per image, in order
    assert [o["image"] for o in one] == [o["image"] for o in two]
    assert [o["annotations"] for o in one] == [o["annotations"] for o in two]


def _engine_in_a_pool_child(items):
    return [o["image"] for o in augment_items(spec=SPEC, items=items, copies=1, seed=9, labels=LABELS, processes=2)]


@pytest.mark.slow
def test_two_processes_from_inside_a_celery_prefork_child(tmp_path):
    """Celery's prefork children are daemonic billiard processes: the engine's pool must start there."""
    import billiard

    items = make_items(tmp_path, n=3)
    with billiard.Pool(1) as pool:
        inside = pool.apply(_engine_in_a_pool_child, (items,))
    here = [o["image"] for o in augment_items(spec=SPEC, items=items, copies=1, seed=9, labels=LABELS)]
    assert inside == here


@pytest.mark.parametrize("split", ["val", "test", "unassigned", None])
def test_val_and_test_images_are_never_augmented(tmp_path, split):
    items = make_items(tmp_path, n=2)
    items[1]["split"] = split
    with pytest.raises(AugmentError, match="Only train images are augmented"):
        augment_items(spec=SPEC, items=items, copies=1, seed=0)


def test_bad_inputs_are_refused_before_any_work(tmp_path):
    items = make_items(tmp_path, n=1)
    with pytest.raises(AugmentError, match="copies"):
        augment_items(spec=SPEC, items=items, copies=0, seed=0)
    with pytest.raises(AugmentError, match="processes"):
        augment_items(spec=SPEC, items=items, copies=1, seed=0, processes=0)
    with pytest.raises(AugmentError, match="var_limit"):
        augment_items(spec={"transforms": [{"name": "GaussNoise", "params": {"var_limit": 5}}]}, items=items,
                      copies=1, seed=0)


def test_missing_or_broken_file_names_the_problem(tmp_path):
    items = make_items(tmp_path, n=1)
    items[0]["path"] = str(tmp_path / "gone.jpg")
    with pytest.raises(AugmentError, match="missing"):
        list(augment_items(spec=SPEC, items=items, copies=1, seed=0))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    items[0]["path"] = str(broken)
    with pytest.raises(AugmentError, match="cannot be decoded"):
        list(augment_items(spec=SPEC, items=items, copies=1, seed=0))


def test_run_engine_accepts_any_split_for_the_corruption_suite(tmp_path):
    items = make_items(tmp_path, n=1, split="test")
    out = list(run_engine(spec=SPEC, items=items, copies=1, seed=0))
    assert len(out) == 1


def test_online_augmenter_is_the_same_recipe_as_a_function():
    image, annotations = scene_with_object()
    augment = online_augmenter(SPEC, labels=LABELS, seed=0)
    out, anns = augment(image, annotations, seed=5)
    infos = {k: LabelInfo(v["name"], tuple(v.get("keypoint_names", ()))) for k, v in LABELS.items()}
    ref_img, ref_anns = Augmenter(SPEC, labels=infos)(image, annotations, seed=5)
    assert np.array_equal(out, ref_img) and anns == ref_anns
    # Without a seed: a reproducible stream for a given constructor seed.
    first = [online_augmenter(SPEC, labels=LABELS, seed=1)(image, annotations)[0] for _ in range(2)]
    assert np.array_equal(first[0], first[1])
    stream = online_augmenter(SPEC, labels=LABELS, seed=1)
    assert not np.array_equal(stream(image, annotations)[0], stream(image, annotations)[0])
    with pytest.raises(ValueError):
        augment(image.astype(np.float32), annotations)
