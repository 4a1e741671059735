"""The left-right mirror rule shared by augmentation and the YOLO writer (annotate.keypoints)."""

import pytest

from annotate.keypoints import flip_index, mirror_name, mirror_pairs


@pytest.mark.parametrize(
    "names, pairs",
    [
        # what both former rules agreed on: the word left / right, in any case style
        (["left_eye", "right_eye", "nose"], [(0, 1)]),
        (["snout", "leftear", "rightear", "tailbase"], [(1, 2)]),
        (["LeftHand", "RightHand", "left_knee"], [(0, 1)]),
        (["Left_Eye", "Right_Eye"], [(0, 1)]),
        (["LEFT_KNEE", "RIGHT_KNEE"], [(0, 1)]),
        (["right_eye", "left_eye"], [(1, 0)]),  # (left, right), by the left one's index
        # the YOLO writer's way, now augmentation's too: the twin's case does not matter
        (["Left_eye", "right_eye"], [(0, 1)]),
        # one-letter sides (MPII, animal pose, Blender rigs, OpenPose), which neither knew
        (["l_eye", "r_eye"], [(0, 1)]),
        (["ankle_r", "ankle_l"], [(1, 0)]),
        (["hand.L", "hand.R", "head"], [(0, 1)]),
        (["L-Shoulder", "R-Shoulder"], [(0, 1)]),
        (["nose", "LEye", "REye"], [(1, 2)]),
        # no side, or no twin: nothing pairs
        (["tail", "lower_lip", "LED", "RED", "cleft"], []),
        (["left_eye", "nose"], []),
    ],
)
def test_mirror_pairs_by_the_names(names, pairs):
    assert mirror_pairs(names) == pairs


def test_an_exact_twin_wins_and_every_keypoint_is_in_one_pair_at_most():
    assert mirror_pairs(["Left_eye", "left_eye", "right_eye"]) == [(1, 2)]


def test_mirror_name_keeps_the_case_style():
    assert mirror_name("leftEar") == "rightEar"
    assert mirror_name("Right_Hand") == "Left_Hand"
    assert mirror_name("eye.L") == "eye.R"
    assert mirror_name("nose") is None


def test_given_pairs_replace_the_rule():
    names = ["left_eye", "right_eye", "nose"]
    assert mirror_pairs(names, []) == []
    assert mirror_pairs(names, [["right_eye", "nose"], ["left_eye", "ear"]]) == [(1, 2)]


def test_flip_index_is_the_permutation_of_the_pairs():
    assert flip_index(["nose", "left_eye", "right_eye", "leftear", "rightear", "tail"]) == [0, 2, 1, 4, 3, 5]
    assert flip_index(["Left_Hand", "Right_Hand"]) == [1, 0]
    assert flip_index(["l_eye", "r_eye", "nose"]) == [1, 0, 2]
    assert flip_index(["left_eye", "right_eye", "nose"], [["right_eye", "nose"]]) == [0, 2, 1]
    assert flip_index(["left_eye", "right_eye"], []) == [0, 1]


def test_flip_index_matches_swapping_the_points_pair_by_pair():
    names = ["a", "b", "c", "d"]
    given = [["a", "b"], ["b", "c"]]
    points = list(names)
    for i, j in mirror_pairs(names, given):
        points[i], points[j] = points[j], points[i]
    assert [names[k] for k in flip_index(names, given)] == points
