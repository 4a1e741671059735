// Drawing and editing tools. Each gets pointer events in image pixels and keys, and may paint
// an overlay (the shape being drawn). Finished shapes go to the editor as one undoable change.
import {
  boxFromCorners, bbox, clampPoint, cloneShape, copyMask, hitTest, makeMask, maskBBox, nearCorner,
  nearKeypoint, nearVertex, newUid, paintDisc, paintSegment, shiftMask, translate,
} from "./shapes.js";
import { dashedRect, rgba } from "../common/draw.js";
import { drawKeypoints } from "./stage.js";

const HANDLE_PX = 7; // grab distance on screen, whatever the zoom

class Tool {
  constructor(app) {
    this.app = app;
  }
  get editor() { return this.app.editor; }
  get stage() { return this.app.stage; }
  tol() { return HANDLE_PX / this.stage.scale; }
  down() {}
  move() {}
  up() {}
  key() { return false; }
  cancel() {}
  overlay() {}
  hint() { return ""; }
  newShape(kind, geometry) {
    return { uid: newUid(), label: this.editor.currentLabel.id, kind, geometry, attributes: {}, source: "manual", score: null, group: null, hidden: false, locked: false };
  }
}

export class SelectTool extends Tool {
  hint() {
    return "Click a shape to select (Shift+click adds to the selection; G groups it into one object); drag to move, corners/points to reshape; drag empty space to pan. Del deletes.";
  }

  down(x, y, e) {
    const ed = this.editor;
    const tol = this.tol();
    const sel = ed.selectedShape();
    this.drag = null;
    if (e?.shiftKey) {
      // extend (or shrink) the selection; nothing moves. Empty space still pans.
      const hit = ed.pick(x, y, tol, hitTest);
      if (hit) ed.toggleSelect(hit.uid);
      return !!hit;
    }
    if (sel && !sel.locked && !sel.hidden) {
      let handle = -1;
      if (sel.kind === "box") handle = nearCorner(sel, x, y, tol);
      else if (sel.kind === "polygon") handle = nearVertex(sel, x, y, tol);
      else if (sel.kind === "keypoints") handle = nearKeypoint(sel, x, y, tol);
      if (handle >= 0) {
        if (sel.kind === "keypoints") this.grabbed = { uid: sel.uid, index: handle };
        ed.begin();
        this.drag = { type: "handle", shape: sel, origin: cloneShape(sel), handle, x, y, moved: false };
        return true;
      }
    }
    const hit = ed.pick(x, y, tol, hitTest);
    ed.select(hit ? hit.uid : null);
    this.app.requestRender();
    if (hit && !hit.locked) {
      ed.begin();
      this.drag = { type: hit.kind === "mask" ? "mask" : "move", shape: hit, origin: cloneShape(hit), x, y, moved: false };
      if (hit.kind === "mask") hit.mask = { ...hit.mask }; // its own offset while dragging; pixels shared
      return true;
    }
    return !!hit; // empty space: the caller pans
  }

  move(x, y) {
    const d = this.drag;
    if (!d) return;
    const { width, height } = this.editor;
    if (Math.abs(x - d.x) + Math.abs(y - d.y) > 0) d.moved = true;
    if (d.type === "move") {
      translate(d.shape, d.origin, x - d.x, y - d.y, width, height);
    } else if (d.type === "mask") {
      // whole pixels, kept inside the image; applied to the pixels on release
      const b = d.origin.mask.bbox;
      const dx = Math.round(Math.min(Math.max(x - d.x, -b[0]), width - b[2]));
      const dy = Math.round(Math.min(Math.max(y - d.y, -b[1]), height - b[3]));
      d.shape.mask.offset = [dx, dy];
      d.moved = dx !== 0 || dy !== 0;
    } else {
      const [px, py] = clampPoint(x, y, width, height);
      const s = d.shape;
      if (s.kind === "box") {
        const g = d.origin.geometry;
        const corners = [[g.x, g.y], [g.x + g.w, g.y], [g.x + g.w, g.y + g.h], [g.x, g.y + g.h]];
        const [ox, oy] = corners[(d.handle + 2) % 4];
        const box = boxFromCorners(ox, oy, px, py, width, height);
        if (box) s.geometry = box;
      } else if (s.kind === "polygon") {
        const part = Math.floor(d.handle / 1e6), i = d.handle % 1e6;
        const polygons = d.origin.geometry.polygons.map((p) => p.slice());
        polygons[part][i] = px;
        polygons[part][i + 1] = py;
        s.geometry = { polygons };
      } else if (s.kind === "keypoints") {
        const points = d.origin.geometry.points.map((p) => p.slice());
        points[d.handle] = [px, py, points[d.handle][2]];
        s.geometry = { points };
      }
    }
    this.editor.moved();
  }

  up() {
    const d = this.drag;
    if (d && d.type === "mask") {
      const offset = d.shape.mask.offset;
      d.shape.mask = d.origin.mask; // unchanged pixels, whatever happens next
      if (d.moved) d.shape.mask = shiftMask(d.origin.mask, offset[0], offset[1], this.editor.width, this.editor.height);
    }
    if (d) this.editor.end(d.moved);
    this.drag = null;
  }

  /** V / N on the last grabbed point of the selected keypoints: hidden <-> visible, or not labelled. */
  key(e) {
    const k = e.key.toLowerCase();
    const sel = this.editor.selectedShape();
    const g = this.grabbed;
    if ((k !== "v" && k !== "n") || e.ctrlKey || e.metaKey || !sel || sel.locked || !g || g.uid !== sel.uid) return false;
    const point = sel.geometry.points[g.index];
    if (!point || point[2] === 0) return false;
    const points = sel.geometry.points.map((p) => p.slice());
    points[g.index] = k === "v" ? [point[0], point[1], point[2] === 2 ? 1 : 2] : [0, 0, 0];
    if (!points.some((p) => p[2] > 0)) return false; // the last point: delete the object instead
    this.editor.change(() => { sel.geometry = { points }; });
    if (k === "n") this.grabbed = null;
    return true;
  }

  cancel() {
    if (this.drag) {
      this.drag.shape.geometry = this.drag.origin.geometry;
      if (this.drag.type === "mask") this.drag.shape.mask = this.drag.origin.mask;
      this.editor.end(false);
      this.drag = null;
    }
  }
}

export class BoxTool extends Tool {
  hint() {
    return `Drag to draw a ${this.editor.currentLabel?.name || ""} box.`;
  }
  down(x, y) {
    this.start = [x, y];
    this.end = [x, y];
    return true;
  }
  move(x, y) {
    if (!this.start) return;
    this.end = [x, y];
    this.app.requestRender();
  }
  up(x, y) {
    if (!this.start) return;
    const box = boxFromCorners(this.start[0], this.start[1], x, y, this.editor.width, this.editor.height);
    this.start = null;
    if (box) {
      const shape = this.newShape("box", box);
      this.editor.change(() => this.editor.add(shape));
      this.editor.select(shape.uid);
      this.app.drew?.(shape);
    }
    this.app.requestRender();
  }
  cancel() {
    this.start = null;
  }
  overlay(ctx) {
    if (!this.start) return;
    const [ax, ay] = this.start, [bx, by] = this.end;
    ctx.lineWidth = 1.5 / this.stage.scale;
    ctx.strokeStyle = this.editor.currentLabel?.color || "#fff";
    dashedRect(ctx, Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay),
      [5 / this.stage.scale, 3 / this.stage.scale]);
  }
}

export class PolygonTool extends Tool {
  constructor(app) {
    super(app);
    this.points = [];
    this.target = null; // uid of the polygon that receives further parts
    this.cursor = null;
  }
  hint() {
    const n = this.points.length / 2;
    const part = this.target ? "another part of the selected polygon" : "a polygon";
    if (!n) return `Click to start ${part}. Shift+Enter after a part adds another part to the same object.`;
    return `${n} point${n > 1 ? "s" : ""}: click to add, double-click or Enter to close, Shift+Enter to close and add another part, Backspace removes the last point, Esc cancels.`;
  }
  down(x, y) {
    const [px, py] = clampPoint(x, y, this.editor.width, this.editor.height);
    const tol = this.tol();
    const n = this.points.length;
    if (n >= 6 && Math.abs(px - this.points[0]) <= tol && Math.abs(py - this.points[1]) <= tol) {
      this.close(false);
    } else if (n && Math.abs(px - this.points[n - 2]) <= tol && Math.abs(py - this.points[n - 1]) <= tol) {
      // the same point again (the second click of a double-click): nothing to add
    } else {
      this.points.push(px, py);
    }
    this.app.requestRender();
    this.app.updateHint();
    return true;
  }
  move(x, y) {
    this.cursor = [x, y];
    if (this.points.length) this.app.requestRender();
  }
  /** Close the current part; `more`: keep the object open for another part. */
  close(more) {
    if (this.points.length < 6) {
      this.app.flash("A polygon part needs at least 3 points.");
      return;
    }
    const part = this.points;
    this.points = [];
    const target = this.target && this.editor.get(this.target);
    if (target) {
      this.editor.change(() => {
        target.geometry = { polygons: [...target.geometry.polygons, part] };
      });
      this.editor.select(target.uid);
    } else {
      const shape = this.newShape("polygon", { polygons: [part] });
      this.editor.change(() => this.editor.add(shape));
      this.editor.select(shape.uid);
      this.target = shape.uid;
      this.app.drew?.(shape);
    }
    if (!more) this.target = null;
    this.app.updateHint();
    this.app.requestRender();
  }
  /** A double-click closes the part (its first click placed the last point). */
  dblclick() {
    if (this.points.length < 6) return false;
    this.close(false);
    return true;
  }
  key(e) {
    if (e.key === "Enter" && !e.ctrlKey && !e.metaKey) {
      if (this.points.length) this.close(e.shiftKey);
      else if (this.target) this.target = null;
      else return false;
      return true;
    }
    if (e.key === "Backspace" && this.points.length) {
      this.points.splice(-2, 2);
      this.app.requestRender();
      this.app.updateHint();
      return true;
    }
    if (e.key === "Escape" && (this.points.length || this.target)) {
      this.cancel();
      return true;
    }
    return false;
  }
  cancel() {
    this.points = [];
    this.target = null;
    this.app.updateHint();
    this.app.requestRender();
  }
  overlay(ctx) {
    const p = this.points;
    if (!p.length) return;
    const s = 1 / this.stage.scale;
    const color = this.editor.currentLabel?.color || "#fff";
    ctx.lineWidth = 1.5 * s;
    ctx.strokeStyle = color;
    ctx.beginPath();
    ctx.moveTo(p[0], p[1]);
    for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
    if (this.cursor) ctx.lineTo(this.cursor[0], this.cursor[1]);
    ctx.stroke();
    ctx.fillStyle = color;
    for (let i = 0; i < p.length; i += 2) ctx.fillRect(p[i] - 3 * s, p[i + 1] - 3 * s, 6 * s, 6 * s);
  }
}

export class KeypointsTool extends Tool {
  constructor(app) {
    super(app);
    this.reset();
  }
  reset() {
    this.points = null;
    this.index = 0;
    this.hiddenNext = false;
  }
  names() {
    return this.editor.currentLabel?.keypoint_names || [];
  }
  start() {
    const names = this.names();
    this.points = names.map(() => [0, 0, 0]);
    this.index = 0;
  }
  hint() {
    const names = this.names();
    if (!names.length) return "Pick a keypoint label (one with named points) to place keypoints.";
    const name = names[this.points ? this.index : 0];
    const mode = this.hiddenNext ? "hidden" : "visible";
    return `Next point: ${name} (${mode}). Click to place · N skips it (not labelled) · V toggles hidden · Backspace goes back · Enter finishes.`;
  }
  nextName() {
    const names = this.names();
    return names[this.points ? this.index : 0] || "";
  }
  down(x, y) {
    if (!this.names().length) {
      this.app.flash("The current label has no keypoint names.");
      return true;
    }
    if (!this.points) this.start();
    const [px, py] = clampPoint(x, y, this.editor.width, this.editor.height);
    this.points[this.index] = [px, py, this.hiddenNext ? 1 : 2];
    this.advance();
    return true;
  }
  advance() {
    this.index++;
    this.hiddenNext = false;
    if (this.index >= this.points.length) this.finish();
    this.app.updateHint();
    this.app.requestRender();
  }
  finish() {
    const points = this.points;
    this.reset();
    if (!points || !points.some((p) => p[2] > 0)) return;
    const shape = this.newShape("keypoints", { points });
    this.editor.change(() => this.editor.add(shape));
    this.editor.select(shape.uid);
    this.app.drew?.(shape); // may offer to attach them to the box drawn just before
  }
  key(e) {
    if (!this.names().length) return false;
    const k = e.key.toLowerCase();
    if (k === "n" && !e.ctrlKey && !e.metaKey) {
      if (!this.points) this.start();
      this.points[this.index] = [0, 0, 0];
      this.advance();
      return true;
    }
    if (k === "v" && !e.ctrlKey && !e.metaKey) {
      this.hiddenNext = !this.hiddenNext;
      this.app.updateHint();
      return true;
    }
    if (e.key === "Enter" && this.points) {
      this.finish();
      this.app.updateHint();
      this.app.requestRender();
      return true;
    }
    if (e.key === "Backspace" && this.points && this.index > 0) {
      this.index--;
      this.points[this.index] = [0, 0, 0];
      this.app.updateHint();
      this.app.requestRender();
      return true;
    }
    if (e.key === "Escape" && this.points) {
      this.cancel();
      return true;
    }
    return false;
  }
  cancel() {
    this.reset();
    this.app.updateHint();
    this.app.requestRender();
  }
  overlay(ctx) {
    if (!this.points) return;
    drawKeypoints(ctx, { geometry: { points: this.points } }, this.editor.currentLabel, 1 / this.stage.scale, true);
  }
}

export class BrushTool extends Tool {
  constructor(app, erase) {
    super(app);
    this.erase = erase;
    this.cursor = null;
  }
  hint() {
    const r = this.app.brushRadius;
    if (this.erase) return `Eraser r=${r}px: erases the selected mask (or every mask when none is selected). [ and ] change the size.`;
    const sel = this.editor.selectedShape();
    const into = sel && sel.kind === "mask" ? "the selected mask" : `a new ${this.editor.currentLabel?.name || ""} mask`;
    return `Brush r=${r}px: paints into ${into}. Esc deselects to start a new mask. [ and ] change the size.`;
  }
  down(x, y) {
    const ed = this.editor;
    const { width, height } = ed;
    const sel = ed.selectedShape();
    ed.begin();
    this.stroke = { last: [x, y], changed: false, targets: [] };
    if (this.erase) {
      const masks = sel && sel.kind === "mask" ? [sel] : ed.shapes.filter((s) => s.kind === "mask" && !s.locked && !s.hidden);
      for (const s of masks) {
        s.mask = copyMask(s.mask); // the previous pixels stay with the undo history
        this.stroke.targets.push(s);
      }
    } else if (sel && sel.kind === "mask" && !sel.locked) {
      sel.mask = copyMask(sel.mask);
      this.stroke.targets.push(sel);
    } else {
      const shape = this.newShape("mask", {});
      shape.mask = makeMask(new Uint8Array(width * height), width, height);
      ed.add(shape);
      ed.select(shape.uid);
      this.stroke.created = shape;
      this.stroke.targets.push(shape);
    }
    this.paint(x, y, x, y);
    return true;
  }
  paint(ax, ay, bx, by) {
    const { width, height } = this.editor;
    const r = this.app.brushRadius;
    for (const s of this.stroke.targets) {
      const changed = ax === bx && ay === by
        ? paintDisc(s.mask, bx, by, r, this.erase ? 0 : 1, width, height)
        : paintSegment(s.mask, ax, ay, bx, by, r, this.erase ? 0 : 1, width, height);
      this.stroke.changed = this.stroke.changed || changed;
    }
    this.editor.moved();
  }
  move(x, y) {
    this.cursor = [x, y];
    if (!this.stroke) {
      this.app.requestRender();
      return;
    }
    const [ax, ay] = this.stroke.last;
    this.paint(ax, ay, x, y);
    this.stroke.last = [x, y];
  }
  up() {
    if (!this.stroke) return;
    const ed = this.editor;
    const { width, height } = ed;
    if (this.erase) {
      for (const s of this.stroke.targets) {
        s.mask.bbox = maskBBox(s.mask.data, width, height);
        if (!s.mask.bbox) ed.remove(s.uid);
      }
    }
    const created = this.stroke.created;
    if (created && !created.mask.bbox) ed.remove(created.uid);
    ed.end(this.stroke.changed);
    this.stroke = null;
    if (created && created.mask.bbox) this.app.drew?.(created);
    this.app.updateHint();
  }
  cancel() {
    if (this.stroke) this.up();
  }
  key(e) {
    if (e.key === "Escape" && this.editor.selected != null) {
      this.editor.select(null);
      this.app.updateHint();
      this.app.requestRender();
      return true;
    }
    return false;
  }
  overlay(ctx) {
    if (!this.cursor) return;
    ctx.lineWidth = 1 / this.stage.scale;
    ctx.strokeStyle = this.erase ? "#ffffff" : rgba(this.editor.currentLabel?.color, 0.9);
    ctx.beginPath();
    ctx.arc(this.cursor[0], this.cursor[1], this.app.brushRadius, 0, Math.PI * 2);
    ctx.stroke();
  }
}

export function makeTools(app) {
  return {
    select: new SelectTool(app),
    box: new BoxTool(app),
    polygon: new PolygonTool(app),
    keypoints: new KeypointsTool(app),
    brush: new BrushTool(app, false),
    eraser: new BrushTool(app, true),
  };
}

export { bbox };
