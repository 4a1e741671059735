"""The browser's COCO RLE encoder and decoder against pycocotools, on random masks."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from pycocotools import mask as mask_utils

pytestmark = [pytest.mark.e2e]

SIZES = [(1, 1), (3, 7), (7, 3), (48, 64), (97, 123), (300, 401)]


@pytest.fixture
def rle_page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/static/css/app.css")  # any same-origin page can import the module
    yield page
    context.close()


def make_mask(kind: str, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(h * 1000 + w)
    mask = np.zeros((h, w), dtype=np.uint8)
    if kind == "noise":
        mask = (rng.random((h, w)) < 0.3).astype(np.uint8)
    elif kind == "blobs":
        for _ in range(4):
            y, x = rng.integers(0, h), rng.integers(0, w)
            mask[y: y + rng.integers(1, h + 1), x: x + rng.integers(1, w + 1)] = 1
    elif kind == "full":
        mask[:] = 1
    elif kind == "first-pixel":
        mask[0, 0] = 1
    elif kind == "last-pixel":
        mask[-1, -1] = 1
    return mask


KINDS = ["noise", "blobs", "empty", "full", "first-pixel", "last-pixel"]


def test_browser_rle_is_what_pycocotools_writes_and_reads(rle_page):
    cases = [(kind, h, w, make_mask(kind, h, w)) for kind in KINDS for h, w in SIZES]
    expected = [mask_utils.encode(np.asfortranarray(m))["counts"].decode("ascii") for *_, m in cases]
    # one round trip for every case: the browser encodes each mask and decodes pycocotools' string
    results = rle_page.evaluate(
        """async (cases) => {
            const rle = await import('/static/js/common/rle.js');
            return cases.map(([b64, w, h, theirs]) => {
                const mask = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                const back = rle.decodeMask({size: [h, w], counts: theirs}, w, h);
                let same = back.length === mask.length;
                for (let i = 0; same && i < mask.length; i++) same = back[i] === mask[i];
                return [rle.encodeMask(mask, w, h).counts, same];
            });
        }""",
        [[base64.b64encode(m.tobytes()).decode(), w, h, e] for (_, h, w, m), e in zip(cases, expected)],
    )
    for (kind, h, w, mask), want, (counts, decoded_same) in zip(cases, expected, results):
        assert counts == want, (kind, h, w)
        decoded = mask_utils.decode({"size": [h, w], "counts": counts.encode("ascii")})
        assert (decoded == mask).all(), (kind, h, w)
        assert decoded_same, (kind, h, w)


def test_browser_rejects_a_malformed_rle_string(rle_page):
    error = rle_page.evaluate(
        """async () => {
            const rle = await import('/static/js/common/rle.js');
            try { rle.decodeMask({size: [4, 4], counts: '3'}, 4, 4); return null; } catch (e) { return e.message; }
        }"""
    )
    assert error and "cover" in error
