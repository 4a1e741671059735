// Shapes: the page's in-memory form of annotations, in pixels of the stored image.
// A shape is {uid, label, kind, geometry, attributes, source, score, group, hidden, locked, mask?};
// `group` is the page's own instance-group number (see groups.js), sent canonically by the saver.
// Masks keep their pixels as a row-major Uint8Array (`mask.data`) that is never changed in
// place once another copy (history, clipboard) may see it: painting starts on a fresh copy.
import { decodeMask, encodeMask } from "../common/rle.js";

let nextUid = 1;
export const newUid = () => nextUid++;

const round = (v) => Math.round(v * 100) / 100;
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), hi);

export function fromAnnotation(a, width, height) {
  const shape = {
    uid: newUid(), label: a.label, kind: a.kind, geometry: a.kind === "mask" ? {} : structuredClone(a.geometry || {}),
    attributes: structuredClone(a.attributes || {}), source: a.source || "manual",
    score: a.score ?? null, group: a.group ?? null, hidden: false, locked: false,
  };
  if (a.kind === "mask") {
    shape.mask = makeMask(decodeMask(a.geometry.rle, width, height), width, height);
    shape.mask.encoded = a.geometry.rle.counts;
  }
  return shape;
}

export function toAnnotation(shape, width, height) {
  let geometry = shape.geometry;
  if (shape.kind === "mask") {
    const m = shape.mask;
    if (m.encoded == null) m.encoded = encodeMask(m.data, width, height).counts;
    geometry = { rle: { size: [height, width], counts: m.encoded } };
  }
  return { label: shape.label, kind: shape.kind, geometry, attributes: shape.attributes, source: shape.source, score: shape.score };
}

export function makeMask(data, width, height) {
  const mask = { data, canvas: null, bbox: null, encoded: null, dirty: true };
  mask.bbox = maskBBox(data, width, height);
  return mask;
}

/** A new mask with the pixels of `mask` moved by whole pixels (dx, dy); what leaves the image is cut. */
export function shiftMask(mask, dx, dy, width, height) {
  const data = new Uint8Array(width * height);
  const [x0, y0, x1, y1] = mask.bbox;
  for (let y = Math.max(y0, -dy); y < Math.min(y1, height - dy); y++) {
    const from = y * width, to = (y + dy) * width + dx;
    for (let x = Math.max(x0, -dx); x < Math.min(x1, width - dx); x++) data[to + x] = mask.data[from + x];
  }
  return makeMask(data, width, height);
}

/** A copy of a mask that can be painted on without touching the original. */
export function copyMask(mask) {
  return { data: mask.data.slice(), canvas: null, bbox: mask.bbox && mask.bbox.slice(), encoded: mask.encoded, dirty: true };
}

export function maskBBox(data, width, height) {
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      if (data[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 + 1, y1 + 1];
}

/** A deep copy of geometry, written out per kind: history snapshots copy thousands at a time. */
export function copyGeometry(kind, g) {
  switch (kind) {
    case "box":
      return { x: g.x, y: g.y, w: g.w, h: g.h };
    case "polygon":
      return { polygons: g.polygons.map((part) => part.slice()) };
    case "keypoints":
      return { points: g.points.map((p) => p.slice()) };
    case "mask":
      return {}; // the pixels live in shape.mask
    default:
      return structuredClone(g);
  }
}

const copyAttributes = (a) => {
  for (const _ in a) return structuredClone(a);
  return {};
};

/** Copy for history and clipboard: geometry deep-copied, mask pixels shared (copy on write). */
export function cloneShape(shape, { newId = false } = {}) {
  const copy = { ...shape, geometry: copyGeometry(shape.kind, shape.geometry), attributes: copyAttributes(shape.attributes) };
  if (newId) copy.uid = newUid();
  return copy;
}

/** [x0, y0, x1, y1] around a shape, or null (tags, empty keypoints, empty masks). */
export function bbox(shape) {
  const g = shape.geometry;
  switch (shape.kind) {
    case "box":
      return [g.x, g.y, g.x + g.w, g.y + g.h];
    case "polygon": {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const part of g.polygons) {
        for (let i = 0; i < part.length; i += 2) {
          x0 = Math.min(x0, part[i]); x1 = Math.max(x1, part[i]);
          y0 = Math.min(y0, part[i + 1]); y1 = Math.max(y1, part[i + 1]);
        }
      }
      return x0 === Infinity ? null : [x0, y0, x1, y1];
    }
    case "keypoints": {
      const pts = g.points.filter((p) => p[2] > 0);
      if (!pts.length) return null;
      return [Math.min(...pts.map((p) => p[0])), Math.min(...pts.map((p) => p[1])),
        Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
    }
    case "mask": {
      const b = shape.mask.bbox, o = shape.mask.offset;
      return b && o ? [b[0] + o[0], b[1] + o[1], b[2] + o[0], b[3] + o[1]] : b;
    }
    default:
      return null;
  }
}

function pointInPolygon(part, x, y) {
  let inside = false;
  for (let i = 0, j = part.length - 2; i < part.length; j = i, i += 2) {
    const xi = part[i], yi = part[i + 1], xj = part[j], yj = part[j + 1];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Does (x, y) in image pixels touch the shape? `tol` is in image pixels. */
export function hitTest(shape, x, y, tol, width) {
  const b = bbox(shape);
  if (!b || x < b[0] - tol || x > b[2] + tol || y < b[1] - tol || y > b[3] + tol) return false;
  switch (shape.kind) {
    case "box":
      return true;
    case "polygon":
      return shape.geometry.polygons.some((part) => pointInPolygon(part, x, y)) || nearVertex(shape, x, y, tol) >= 0;
    case "keypoints":
      return true;
    case "mask": {
      const xi = Math.floor(x), yi = Math.floor(y);
      return shape.mask.data[yi * width + xi] === 1;
    }
    default:
      return false;
  }
}

/** Index (flattened over parts as [part, i]) of the polygon vertex near (x, y), or -1. */
export function nearVertex(shape, x, y, tol) {
  const parts = shape.geometry.polygons;
  for (let p = 0; p < parts.length; p++) {
    for (let i = 0; i < parts[p].length; i += 2) {
      if (Math.abs(parts[p][i] - x) <= tol && Math.abs(parts[p][i + 1] - y) <= tol) return p * 1e6 + i;
    }
  }
  return -1;
}

export function nearKeypoint(shape, x, y, tol) {
  const pts = shape.geometry.points;
  for (let i = 0; i < pts.length; i++) {
    if (pts[i][2] > 0 && Math.abs(pts[i][0] - x) <= tol && Math.abs(pts[i][1] - y) <= tol) return i;
  }
  return -1;
}

/** Box corner handle (0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left) near (x, y), or -1. */
export function nearCorner(shape, x, y, tol) {
  const { x: bx, y: by, w, h } = shape.geometry;
  const corners = [[bx, by], [bx + w, by], [bx + w, by + h], [bx, by + h]];
  return corners.findIndex(([cx, cy]) => Math.abs(cx - x) <= tol && Math.abs(cy - y) <= tol);
}

/** Move a shape (not masks) by (dx, dy), clamped so it stays inside the image. */
export function translate(shape, origin, dx, dy, width, height) {
  const b = bbox(origin);
  if (!b) return;
  dx = clamp(dx, -b[0], width - b[2]);
  dy = clamp(dy, -b[1], height - b[3]);
  const g = origin.geometry;
  if (shape.kind === "box") {
    shape.geometry = { x: round(g.x + dx), y: round(g.y + dy), w: g.w, h: g.h };
  } else if (shape.kind === "polygon") {
    shape.geometry = { polygons: g.polygons.map((part) => part.map((v, i) => round(v + (i % 2 ? dy : dx)))) };
  } else if (shape.kind === "keypoints") {
    shape.geometry = { points: g.points.map((p) => (p[2] > 0 ? [round(p[0] + dx), round(p[1] + dy), p[2]] : p.slice())) };
  }
}

/** A box from two corners, clamped to the image; null if it has no area. */
export function boxFromCorners(ax, ay, bx, by, width, height) {
  const x0 = clamp(Math.min(ax, bx), 0, width), x1 = clamp(Math.max(ax, bx), 0, width);
  const y0 = clamp(Math.min(ay, by), 0, height), y1 = clamp(Math.max(ay, by), 0, height);
  if (x1 - x0 < 1 || y1 - y0 < 1) return null;
  return { x: round(x0), y: round(y0), w: round(x1 - x0), h: round(y1 - y0) };
}

export const clampPoint = (x, y, width, height) => [round(clamp(x, 0, width)), round(clamp(y, 0, height))];

/** Paint (value 1) or erase (value 0) a disc of radius r centred at (cx, cy); returns whether anything changed. */
export function paintDisc(mask, cx, cy, r, value, width, height) {
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(width - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(height - 1, Math.ceil(cy + r));
  const r2 = r * r;
  let changed = false;
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      if (dx * dx + dy * dy <= r2 && mask.data[y * width + x] !== value) {
        mask.data[y * width + x] = value;
        changed = true;
      }
    }
  }
  if (changed) {
    mask.encoded = null;
    const d = mask.dirtyRect || [x0, y0, x1 + 1, y1 + 1];
    mask.dirtyRect = [Math.min(d[0], x0), Math.min(d[1], y0), Math.max(d[2], x1 + 1), Math.max(d[3], y1 + 1)];
    if (value) {
      const b = mask.bbox || [x0, y0, x0, y0];
      mask.bbox = [Math.min(b[0], x0), Math.min(b[1], y0), Math.max(b[2], x1 + 1), Math.max(b[3], y1 + 1)];
    }
  }
  return changed;
}

/** Paint discs along the segment from (ax, ay) to (bx, by), spaced a quarter radius apart. */
export function paintSegment(mask, ax, ay, bx, by, r, value, width, height) {
  const steps = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay) / Math.max(0.5, r / 4)));
  let changed = false;
  for (let i = 1; i <= steps; i++) {
    const t = i / steps;
    changed = paintDisc(mask, ax + (bx - ax) * t, ay + (by - ay) * t, r, value, width, height) || changed;
  }
  return changed;
}

/** "cat · box 100×80"; with `withLabel: false` only "box 100×80" (a part under its object's row). */
export function describe(shape, labelsById, { withLabel = true } = {}) {
  const label = labelsById.get(shape.label);
  const prefix = withLabel ? `${label ? label.name : `label ${shape.label}`} · ` : "";
  const g = shape.geometry;
  switch (shape.kind) {
    case "box":
      return `${prefix}box ${Math.round(g.w)}×${Math.round(g.h)}`;
    case "polygon":
      return `${prefix}polygon (${g.polygons.length} part${g.polygons.length > 1 ? "s" : ""})`;
    case "keypoints":
      return `${prefix}${g.points.filter((p) => p[2] > 0).length}/${g.points.length} points`;
    case "mask":
      return `${prefix}mask`;
    default:
      return `${prefix}tag`;
  }
}
