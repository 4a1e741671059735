// Drawing annotations on a 2D canvas context: the primitives the labeling page, the augmentation
// preview and any other page share. Coordinates are image pixels under whatever transform the
// caller has set (boxFrames alone works in device pixels). Each function sets only the styles it
// is given and leaves every other piece of context state as it found it; callers batch.
import { decodeMask } from "./rle.js";

/** "#rrggbb" to [r, g, b]; an empty colour is grey. */
export function hexToRgb(hex) {
  const n = parseInt((hex || "#888888").slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** "#rrggbb" with an alpha, as a CSS rgba() colour. */
export function rgba(hex, alpha) {
  const n = parseInt((hex || "#888888").slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** A box geometry {x, y, w, h} stroked in the current style. */
export function strokeBox(ctx, g) {
  ctx.strokeRect(g.x, g.y, g.w, g.h);
}

/** A rectangle stroked with a dash pattern (e.g. [4, 3]); the line is solid again afterwards. */
export function dashedRect(ctx, x, y, w, h, dash) {
  ctx.setLineDash(dash);
  ctx.strokeRect(x, y, w, h);
  ctx.setLineDash([]);
}

/**
 * Many box outlines at once, the cheap way: each box as four pixel-aligned filled rectangles in
 * device pixels (no path stroking, no anti-aliasing). `groups` is a Map (or any iterable) of
 * colour → list of {x, y, w, h}; image point p lands on device pixel p * k + (ox, oy); `t` is
 * the line thickness in device pixels. The context's transform is left as it was.
 */
export function boxFrames(ctx, groups, k, ox, oy, t) {
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  for (const [color, list] of groups) {
    ctx.fillStyle = color;
    for (const g of list) {
      const x0 = Math.round(ox + g.x * k), y0 = Math.round(oy + g.y * k);
      const w = Math.max(t, Math.round(ox + (g.x + g.w) * k) - x0), h = Math.max(t, Math.round(oy + (g.y + g.h) * k) - y0);
      ctx.fillRect(x0, y0, w, t);
      ctx.fillRect(x0, y0 + h - t, w, t);
      ctx.fillRect(x0, y0 + t, t, h - 2 * t);
      ctx.fillRect(x0 + w - t, y0 + t, t, h - 2 * t);
    }
  }
  ctx.restore();
}

/** Adds each part of a polygon geometry's `polygons` ([x0, y0, x1, y1, ...]) to the current path, closed. */
export function polygonPath(ctx, polygons) {
  for (const part of polygons) {
    ctx.moveTo(part[0], part[1]);
    for (let i = 2; i < part.length; i += 2) ctx.lineTo(part[i], part[i + 1]);
    ctx.closePath();
  }
}

/** Adds the skeleton edges [[a, b], ...] whose two points are both labelled (v > 0) to the current path. */
export function skeletonPath(ctx, points, edges) {
  for (const [a, b] of edges) {
    if (points[a] && points[b] && points[a][2] > 0 && points[b][2] > 0) {
      ctx.moveTo(points[a][0], points[a][1]);
      ctx.lineTo(points[b][0], points[b][1]);
    }
  }
}

/**
 * A keypoint set [[x, y, v], ...] (v: 0 unlabelled, 1 labelled but hidden, 2 visible): the
 * skeleton's edges as one stroked path in `color` and `lineWidth`, then a disc of `radius` at
 * each labelled point, filled and/or outlined (in `pointLineWidth`) with `visibleFill` /
 * `visibleStroke` or `hiddenFill` / `hiddenStroke` (null: not filled / not outlined); `names`,
 * if given, writes each point's name next to it in `color`.
 */
export function drawKeypoints(ctx, points, edges, {
  color, lineWidth, radius, pointLineWidth = lineWidth,
  visibleFill = color, visibleStroke = null, hiddenFill = null, hiddenStroke = color, names = null,
}) {
  ctx.lineWidth = lineWidth;
  ctx.strokeStyle = color;
  ctx.beginPath();
  skeletonPath(ctx, points, edges || []);
  ctx.stroke();
  for (let i = 0; i < points.length; i++) {
    const [x, y, v] = points[i];
    if (v === 0) continue;
    const fill = v === 2 ? visibleFill : hiddenFill, stroke = v === 2 ? visibleStroke : hiddenStroke;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, Math.PI * 2);
    if (fill) {
      ctx.fillStyle = fill;
      ctx.fill();
    }
    if (stroke) {
      ctx.lineWidth = pointLineWidth;
      ctx.strokeStyle = stroke;
      ctx.stroke();
    }
    const name = names && names[i];
    if (name) {
      ctx.fillStyle = color;
      ctx.fillText(name, x + 4, y - 4);
    }
  }
}

/**
 * Colours the pixels set in a row-major 0/1 `mask` (`width` pixels a row) inside the rectangle
 * [x0, x1) × [y0, y1) into `image`, an ImageData of exactly that rectangle: opaque `rgb`, or
 * with `blend`, each channel averaged with what the image has there (alpha untouched).
 */
export function paintMask(image, mask, width, x0, y0, x1, y1, [r, g, b], blend = false) {
  const out = image.data;
  if (blend) {
    for (let y = y0, k = 0; y < y1; y++) {
      const row = y * width;
      for (let x = x0; x < x1; x++, k += 4) {
        if (mask[row + x]) {
          out[k] = (out[k] + r) >> 1; out[k + 1] = (out[k + 1] + g) >> 1; out[k + 2] = (out[k + 2] + b) >> 1;
        }
      }
    }
    return;
  }
  for (let y = y0, k = 0; y < y1; y++) {
    const row = y * width;
    for (let x = x0; x < x1; x++, k += 4) {
      if (mask[row + x]) {
        out[k] = r; out[k + 1] = g; out[k + 2] = b; out[k + 3] = 255;
      }
    }
  }
}

/**
 * A COCO RLE mask ({size: [h, w], counts}) tinted into what the canvas already shows at (0, 0):
 * its pixels averaged half and half with `color`. Reads and writes pixels directly, so the
 * context's transform does not apply.
 */
export function drawMaskOverlay(ctx, rle, color) {
  const [h, w] = rle.size;
  const mask = decodeMask(rle, w, h);
  const overlay = ctx.getImageData(0, 0, w, h);
  paintMask(overlay, mask, w, 0, 0, w, h, hexToRgb(color), true);
  ctx.putImageData(overlay, 0, 0);
}
