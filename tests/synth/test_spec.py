"""Absurd specs are refused with a reason per field."""

from __future__ import annotations

import pytest

from synth.spec import SpecError, spec_clean

LABELS = {1: {"name": "thing", "keypoint_names": []}}


def clean(**spec):
    base = {"classes": [{"label": 1, "assets": ["builtin:cube"]}]}
    base.update(spec)
    return spec_clean(base, labels=LABELS, assets={})


@pytest.mark.parametrize(
    "spec, field",
    [
        ({"resolution": [0, 96]}, "resolution"),
        ({"count": 10**9}, "count"),
        ({"camera_distance": [5, 2]}, "camera_distance"),
        ({"samples": 0}, "samples"),
        ({"classes": [{"label": 1, "assets": []}]}, "classes[0]"),
        ({"classes": [{"label": 1, "assets": ["builtin:teapot"]}]}, "classes[0]"),
        ({"classes": [{"label": 99, "assets": ["builtin:cube"]}]}, "classes[0]"),
        ({"classes": []}, "classes"),
    ],
)
def test_bad_specs_are_refused(spec, field):
    with pytest.raises(SpecError) as err:
        clean(**spec)
    assert field in err.value.errors


def test_good_spec_gets_defaults():
    spec = clean(count=3)
    assert spec["count"] == 3 and spec["resolution"] == [640, 480] and spec["camera_distance"][0] <= spec["camera_distance"][1]
