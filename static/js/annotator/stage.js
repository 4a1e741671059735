// The stage: the image under one <canvas> for every shape. The view is a scale and an offset
// (screen = image * scale + offset); the <img> follows it with a CSS transform and the canvas
// is redrawn at most once per frame (or at once with renderNow()).
import {
  boxFrames, dashedRect, drawKeypoints as drawKeypointSet, hexToRgb, paintMask, polygonPath, rgba, strokeBox,
} from "../common/draw.js";
import { bbox } from "./shapes.js";

const MIN_SCALE = 0.02;
const MAX_SCALE = 64;

export class Stage {
  constructor(element, image, canvas, width, height) {
    Object.assign(this, { element, image, canvas, width, height });
    this.ctx = canvas.getContext("2d");
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.painters = []; // functions (ctx, stage) drawn after the shapes, in image coordinates
    this.scene = () => ({ shapes: [], selected: null, related: null, labels: new Map() });
    this.pending = false;
    this.lastRenderMs = 0;
    new ResizeObserver(() => this.resize()).observe(element);
    this.resize();
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.element.clientWidth, h = this.element.clientHeight;
    this.w = w; // cached: reading layout on every frame would force it to be recomputed
    this.h = h;
    this.canvas.width = Math.max(1, Math.round(w * dpr));
    this.canvas.height = Math.max(1, Math.round(h * dpr));
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    if (!this.fitted && w > 0 && h > 0) {
      this.fit();
      this.fitted = true;
    }
    this.renderNow();
  }

  /** Client (event) coordinates to image pixels. */
  toImage(clientX, clientY) {
    const r = this.element.getBoundingClientRect();
    return [(clientX - r.left - this.tx) / this.scale, (clientY - r.top - this.ty) / this.scale];
  }

  fit() {
    // Read the layout here rather than trusting the cache: a fit right after the window changed
    // size may come before the ResizeObserver has reported it.
    if (this.element.clientWidth !== this.w || this.element.clientHeight !== this.h) {
      this.fitted = true; // resize() is about to fit; do it once
      this.resize();
    }
    const { w, h } = this;
    const s = Math.min(w / this.width, h / this.height) * 0.98;
    this.scale = s;
    this.tx = (w - this.width * s) / 2;
    this.ty = (h - this.height * s) / 2;
    this.applyView();
  }

  /** Zoom by `factor` keeping the image point under (clientX, clientY) where it is. */
  zoomAt(factor, clientX, clientY) {
    const r = this.element.getBoundingClientRect();
    const sx = clientX - r.left, sy = clientY - r.top;
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.scale * factor));
    this.tx = sx - ((sx - this.tx) * s) / this.scale;
    this.ty = sy - ((sy - this.ty) * s) / this.scale;
    this.scale = s;
    this.applyView();
  }

  panBy(dx, dy) {
    this.tx += dx;
    this.ty += dy;
    this.applyView();
  }

  applyView() {
    this.image.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.element.dataset.scale = this.scale.toFixed(4);
    this.render();
  }

  render() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => this.renderNow());
  }

  renderNow() {
    this.pending = false;
    const t0 = performance.now();
    const { ctx, canvas } = this;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty);
    const scene = this.scene();
    drawShapes(ctx, this, scene);
    for (const paint of this.painters) paint(ctx, this);
    this.lastRenderMs = performance.now() - t0;
  }

  /** The visible part of the image, in image pixels, for culling. */
  viewport() {
    const { w, h } = this;
    return [-this.tx / this.scale, -this.ty / this.scale, (w - this.tx) / this.scale, (h - this.ty) / this.scale];
  }
}

function maskCanvas(mask, color, width, height) {
  if (!mask.canvas) {
    mask.canvas = document.createElement("canvas");
    mask.canvas.width = width;
    mask.canvas.height = height;
    mask.ctx = mask.canvas.getContext("2d");
    mask.dirty = true;
  }
  if (mask.dirty || mask.color !== color || mask.dirtyRect) {
    const full = mask.dirty || mask.color !== color;
    const [x0, y0, x1, y1] = full ? [0, 0, width, height] : mask.dirtyRect;
    if (x1 > x0 && y1 > y0) {
      const img = mask.ctx.createImageData(x1 - x0, y1 - y0);
      paintMask(img, mask.data, width, x0, y0, x1, y1, hexToRgb(color));
      mask.ctx.putImageData(img, x0, y0);
    }
    mask.dirty = false;
    mask.dirtyRect = null;
    mask.color = color;
  }
  return mask.canvas;
}

/** A keypoint shape: visible points filled in the label's colour, hidden ones white, each ringed in the other. */
function drawKeypoints(ctx, shape, label, px, selected) {
  const color = label?.color || "#888888";
  drawKeypointSet(ctx, shape.geometry.points, label?.skeleton, {
    color, lineWidth: (selected ? 2.5 : 1.5) * px, radius: 4 * px, pointLineWidth: 1.5 * px,
    visibleFill: color, visibleStroke: "#ffffff", hiddenFill: "#ffffff", hiddenStroke: color,
  });
}

/** Every visible shape. Unselected boxes — the bulk of a crowded image — are drawn as four
 * pixel-aligned filled rectangles each in device pixels, grouped by colour: axis-aligned fills
 * skip path stroking and anti-aliasing, which is what keeps thousands of boxes cheap.
 * `related` (a Set of uids, or null): the other parts of the selected object and the rest of a
 * multi-selection, drawn as usual and then ringed with a thin dashed frame. */
export function drawShapes(ctx, stage, { shapes, selected, related = null, labels, ghost = false }) {
  const px = 1 / stage.scale;
  const [vx0, vy0, vx1, vy1] = stage.viewport();
  const boxes = new Map();
  const rings = [];
  let selectedShape = null;
  ctx.imageSmoothingEnabled = false;
  if (ghost) ctx.setLineDash([6 * px, 4 * px]);
  for (const shape of shapes) {
    if (shape.hidden || shape.kind === "tag") continue;
    const b = bbox(shape);
    if (!b || b[2] < vx0 || b[0] > vx1 || b[3] < vy0 || b[1] > vy1) continue;
    if (shape.uid === selected) {
      selectedShape = shape;
      continue;
    }
    if (related && related.has(shape.uid)) rings.push([b, shape]);
    const label = labels.get(shape.label);
    if (shape.kind === "box" && !ghost) {
      const color = label?.color || "#888888";
      let list = boxes.get(color);
      if (!list) boxes.set(color, (list = []));
      list.push(shape.geometry);
    } else {
      drawOne(ctx, stage, shape, label, false, ghost);
    }
  }
  ctx.setLineDash([]);
  if (boxes.size) {
    const dpr = window.devicePixelRatio || 1;
    const k = dpr * stage.scale, ox = dpr * stage.tx, oy = dpr * stage.ty;
    boxFrames(ctx, boxes, k, ox, oy, Math.max(1, Math.round(1.5 * dpr)));
  }
  for (const [b, shape] of rings) relatedRing(ctx, px, b, labels.get(shape.label)?.color || "#888888");
  if (selectedShape) drawOne(ctx, stage, selectedShape, labels.get(selectedShape.label), true, ghost);
}

function drawOne(ctx, stage, shape, label, selected, ghost) {
  const px = 1 / stage.scale;
  const color = label?.color || "#888888";
  const g = shape.geometry;
  ctx.lineWidth = (selected ? 2.5 : 1.5) * px;
  ctx.strokeStyle = color;
  if (shape.kind === "mask") {
    ctx.globalAlpha = selected ? 0.6 : 0.4;
    const [ox, oy] = shape.mask.offset || [0, 0];
    ctx.drawImage(maskCanvas(shape.mask, color, stage.width, stage.height), ox, oy);
    ctx.globalAlpha = 1;
    if (selected) {
      const b = bbox(shape);
      dashedRect(ctx, b[0], b[1], b[2] - b[0], b[3] - b[1], [4 * px, 3 * px]);
    }
  } else if (shape.kind === "box") {
    strokeBox(ctx, g);
    if (selected) {
      ctx.fillStyle = rgba(color, 0.12);
      ctx.fillRect(g.x, g.y, g.w, g.h);
      if (!shape.locked) handles(ctx, px, [[g.x, g.y], [g.x + g.w, g.y], [g.x + g.w, g.y + g.h], [g.x, g.y + g.h]], color);
    }
  } else if (shape.kind === "polygon") {
    ctx.beginPath();
    polygonPath(ctx, g.polygons);
    ctx.fillStyle = rgba(color, selected ? 0.3 : ghost ? 0.05 : 0.15);
    ctx.fill("evenodd");
    ctx.stroke();
    if (selected && !shape.locked) {
      handles(ctx, px, g.polygons.flatMap((part) => part.flatMap((v, i) => (i % 2 ? [] : [[v, part[i + 1]]]))), color);
    }
  } else if (shape.kind === "keypoints") {
    drawKeypoints(ctx, shape, label, px, selected);
  }
}

/** A thin dashed frame just outside bbox `b`: white under the label's colour, seen on any image. */
function relatedRing(ctx, px, b, color) {
  const pad = 3 * px;
  const [x, y, w, h] = [b[0] - pad, b[1] - pad, b[2] - b[0] + 2 * pad, b[3] - b[1] + 2 * pad];
  ctx.lineWidth = 2.5 * px;
  ctx.strokeStyle = "#ffffff";
  dashedRect(ctx, x, y, w, h, [5 * px, 3 * px]);
  ctx.lineWidth = 1.2 * px;
  ctx.strokeStyle = color;
  dashedRect(ctx, x, y, w, h, [5 * px, 3 * px]);
}

function handles(ctx, px, points, color) {
  const r = 4 * px;
  ctx.fillStyle = "#ffffff";
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5 * px;
  for (const [x, y] of points) {
    ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
    ctx.strokeRect(x - r, y - r, 2 * r, 2 * r);
  }
}

export { drawKeypoints };
