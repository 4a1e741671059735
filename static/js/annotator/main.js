// The labeling page: loads the image's labels and annotations through the REST API, wires the
// stage, tools, panel and autosave together, and handles the keyboard.
import { request } from "./api.js";
import { Editor } from "./editor.js";
import { canonicalGroups, groupProblem, groupSizes, isGrouped, nextGroupId, objectName, partsOf } from "./groups.js";
import { Panel } from "./panel.js";
import { Saver } from "./saver.js";
import { cloneShape, fromAnnotation, nearKeypoint, newUid, toAnnotation, translate } from "./shapes.js";
import { Stage, drawShapes } from "./stage.js";
import { makeTools } from "./tools.js";

const TOOL_KEYS = { s: "select", b: "box", p: "polygon", k: "keypoints", m: "brush", e: "eraser" };

class App {
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.brushRadius = 8;
    this.spaceDown = false;
    this.pan = null;
    this.clipboard = null;
    this.theirs = null;
    this.lastDrawn = null; // uid of the shape drawn last (keypoints right after a box may join it)
    this.offer = null; // {target, keypoints}: the attach prompt is showing
    // uid of a shape a drawing tool just finished: it stays selected (the brush paints on into it,
    // the polygon tool adds parts) but a number key does not relabel it; choosing it with the
    // Select tool (or in the object list) makes it the target of relabelling again
    this.fresh = null;
    this.hover = null; // {uid, index}: the keypoint under the pointer, its name shown on the canvas
  }

  async start() {
    const { config } = this;
    const [labels, annotations, image] = await Promise.all([
      request("GET", config.api.labels),
      request("GET", config.api.annotations),
      request("GET", config.api.image),
    ]);
    this.image = image;
    const editor = (this.editor = new Editor({
      width: config.width, height: config.height, labels: Array.isArray(labels) ? labels : labels.results,
      readOnly: !config.canAnnotate,
    }));
    editor.shapes = annotations.annotations.map((a) => fromAnnotation(a, config.width, config.height));
    const stageEl = this.q("[data-testid=annotator-stage]");
    this.stage = new Stage(stageEl, this.q("[data-testid=annotator-image]"), this.q(".ann-canvas"), config.width, config.height);
    this.stage.scene = () => {
      const related = this.related();
      return { shapes: editor.shapes, selected: editor.selected, related: related.size ? related : null, labels: editor.labelsById };
    };
    this.stage.painters.push((ctx) => this.tool?.overlay(ctx));
    this.stage.painters.push((ctx, stage) => this.paintKeypointNames(ctx, stage));
    this.stage.painters.push((ctx, stage) => {
      if (this.theirs && this.q("[data-testid=conflict-preview]").checked) {
        drawShapes(ctx, stage, { shapes: this.theirs.shapes, selected: null, labels: editor.labelsById, ghost: true });
      }
    });
    this.panel = new Panel(this.root, this);
    this.tools = makeTools(this);
    this.saver = new Saver({
      url: config.api.annotations, revision: annotations.revision, editor,
      serialize: () => {
        const groups = canonicalGroups(editor.shapes);
        return editor.shapes.map((s, i) => ({ ...toAnnotation(s, config.width, config.height), group: groups[i] }));
      },
      onState: (state, message) => this.showSaveState(state, message),
      onConflict: (theirs) => this.showConflict(theirs),
      onSaved: () => {
        // the server moves a new image to "in progress" on its first save
        if (this.image.status === "new") this.showImage({ ...this.image, status: "in_progress" });
      },
    });
    editor.addEventListener("change", (e) => {
      if (this.offer && e.detail.structural) this.dismissOffer();
      this.stage.render();
      if (e.detail.structural) {
        this.panel.scheduleObjects();
        this.panel.renderTags();
        this.saver.schedule();
      }
    });
    editor.addEventListener("select", () => {
      if (this.offer) this.dismissOffer();
      this.panel.markSelected();
      this.stage.render();
      this.updateHint();
    });
    this.panel.renderLabels();
    this.panel.renderTags();
    this.panel.renderObjects();
    this.panel.renderHelp();
    this.bindPointer(stageEl);
    this.bindKeys();
    this.bindButtons();
    this.showReview(image);
    this.setTool("select");
    window.addEventListener("beforeunload", (e) => {
      if (this.saver.dirty || this.saver.inFlight) {
        e.preventDefault();
        e.returnValue = "";
      }
    });
    this.root.dataset.ready = "1";
  }

  q(selector) {
    return this.root.querySelector(selector);
  }

  requestRender() {
    this.stage.render();
  }

  /** Draw now if a frame is pending (used by the benchmark to time whole interactions). */
  flush() {
    if (this.stage.pending) this.stage.renderNow();
  }

  // --- tools and labels ------------------------------------------------------------------
  setTool(name) {
    if (this.editor.readOnly) name = "select";
    if (this.offer) this.dismissOffer();
    if (this.tool) this.tool.cancel();
    if (name === "keypoints" && !this.editor.currentLabel?.keypoint_names?.length) {
      const kp = this.editor.labels.find((l) => l.keypoint_names?.length);
      if (kp) this.pickLabel(kp, { relabel: false });
    }
    this.toolName = name;
    this.tool = this.tools[name];
    // a message belongs to what was being done: the new tool starts with its own hint
    this.flashText = "";
    clearTimeout(this.flashTimer);
    for (const b of this.root.querySelectorAll("[data-tool]")) b.classList.toggle("active", b.dataset.tool === name);
    this.stage.element.dataset.tool = name;
    this.updateHint();
    this.stage.render();
  }

  /** Whether a label picked now relabels the selected shape: only a shape chosen with the Select
   * tool is relabelled; while drawing, a label is the one for the next shape. */
  relabelTarget() {
    const sel = this.editor.selectedShape();
    if (!sel || this.toolName !== "select" || sel.uid === this.fresh) return null;
    return sel;
  }

  pickLabel(label, { relabel = true } = {}) {
    const ed = this.editor;
    if (this.toolName === "keypoints") this.tool.cancel();
    ed.setLabel(label);
    const sel = relabel ? this.relabelTarget() : null;
    const current = ed.selectedShape();
    if (relabel && !sel && current && current.label !== label.id && ["brush", "polygon"].includes(this.toolName)) {
      // the next stroke or polygon is a new shape of the new label, not more of the last one
      if (this.toolName === "polygon") this.tool.target = null;
      ed.select(null);
    }
    if (sel && !sel.locked && !ed.readOnly && sel.label !== label.id) {
      // an object has one label: relabelling one part relabels the whole object
      const parts = partsOf(ed.shapes, sel);
      const kp = parts.find((s) => s.kind === "keypoints");
      const old = kp && ed.labelsById.get(kp.label);
      const fits = !kp || (label.keypoint_names || []).length === (old?.keypoint_names || []).length;
      if (fits) ed.change(() => { for (const s of parts) s.label = label.id; });
      else this.flash(`${label.name} has a different number of keypoints.`);
    }
    this.panel.renderLabels();
    this.updateHint();
  }

  toggleTag(label) {
    const ed = this.editor;
    if (ed.readOnly) return;
    const tag = ed.shapes.find((s) => s.kind === "tag" && s.label === label.id);
    ed.change(() => {
      if (tag) ed.remove(tag.uid);
      else ed.add({ uid: newUid(), label: label.id, kind: "tag", geometry: {}, attributes: {}, source: "manual", score: null, group: null, hidden: false, locked: false });
    });
  }

  selectShape(uid) {
    this.fresh = null;
    this.editor.select(uid);
  }

  toggleFlag(uid, flag) {
    const shape = this.editor.get(uid);
    if (!shape) return;
    shape[flag] = !shape[flag];
    if (flag === "hidden" && shape.hidden) this.editor.deselect(uid);
    this.panel.scheduleObjects();
    this.stage.render();
  }

  /** Hide every one of `uids` (an object's parts), or show them all if all are hidden. */
  toggleHidden(uids) {
    const shapes = uids.map((uid) => this.editor.get(uid)).filter(Boolean);
    const hide = shapes.some((s) => !s.hidden);
    for (const s of shapes) {
      s.hidden = hide;
      if (hide) this.editor.deselect(s.uid);
    }
    this.panel.scheduleObjects();
    this.stage.render();
  }

  /** A click on an object's row selects all its parts (Shift: adds them, or takes them out). */
  selectObject(uids, extend = false) {
    const ed = this.editor;
    this.fresh = null;
    if (!extend) return ed.selectMany(uids, uids[0]);
    const selection = new Set(ed.selection);
    const all = uids.every((uid) => selection.has(uid));
    for (const uid of uids) {
      if (all) selection.delete(uid);
      else selection.add(uid);
    }
    const primary = all ? (selection.has(ed.selected) ? ed.selected : [...selection].pop() ?? null) : uids[0];
    ed.selectMany([...selection], primary);
  }

  deleteShape(uid) {
    const shape = this.editor.get(uid);
    if (!shape || shape.locked) return;
    this.editor.change(() => this.editor.remove(uid));
  }

  /** Delete the selected shapes (every one of a multi-selection), locked ones excepted. */
  deleteSelected() {
    const ed = this.editor;
    if (ed.selection.size <= 1) return this.deleteShape(ed.selected);
    const doomed = ed.selectedShapes().filter((s) => !s.locked);
    if (doomed.length) ed.change(() => { for (const s of doomed) ed.remove(s.uid); });
  }

  // --- instance groups (one object = its box, mask or polygon and keypoints) --------------
  /** Shapes drawn besides the primary selection: the rest of the selection, the other parts
   * of selected objects, and the box the attach prompt offers. */
  related() {
    const ed = this.editor;
    const out = new Set();
    for (const uid of ed.selection) if (uid !== ed.selected) out.add(uid);
    for (const s of ed.selectedShapes()) {
      if (s.group == null) continue;
      for (const part of partsOf(ed.shapes, s)) if (part.uid !== ed.selected) out.add(part.uid);
    }
    if (this.offer) out.add(this.offer.target);
    return out;
  }

  /** For tests: the uids highlighted as related to the selection, sorted. */
  highlighted() {
    return [...this.related()].sort((a, b) => a - b);
  }

  /** Every part of the objects the selected shapes belong to (each once). */
  selectedObjects() {
    const ed = this.editor;
    const parts = new Map();
    for (const s of ed.selectedShapes()) for (const part of partsOf(ed.shapes, s)) parts.set(part.uid, part);
    return [...parts.values()];
  }

  /** G: the selected shapes (and the objects they are parts of) become one object. */
  groupSelected() {
    const ed = this.editor;
    if (ed.selection.size < 2) {
      this.flash("Select two or more shapes (Shift+click) to group them into one object.");
      return;
    }
    const parts = this.selectedObjects();
    const problem = groupProblem(parts, ed.labelsById);
    if (problem) {
      this.flash(`Cannot group: ${problem}.`);
      return;
    }
    const sizes = groupSizes(ed.shapes);
    const grouped = parts.filter((s) => isGrouped(s, sizes));
    if (grouped.length === parts.length && new Set(grouped.map((s) => s.group)).size === 1) {
      this.flash("These are already one object (Shift+G ungroups).");
      return;
    }
    const group = grouped.length ? grouped[0].group : nextGroupId(ed.shapes);
    ed.change(() => { for (const s of parts) s.group = group; });
    this.flash(`Grouped: ${objectName(ed.shapes, parts[0], ed.labelsById)} has ${parts.length} parts.`);
    this.panel.markSelected({ scroll: false });
  }

  /** Shift+G: the objects of the selected shapes fall apart into separate shapes. */
  ungroupSelected() {
    const parts = this.selectedObjects();
    if (parts.length < 2) {
      this.flash(this.editor.selection.size ? "The selected shape is not part of a group." : "Select a part of a group to ungroup it.");
      return;
    }
    this.ungroup(parts.map((s) => s.uid));
  }

  ungroup(uids) {
    const ed = this.editor;
    const sizes = groupSizes(ed.shapes);
    const groups = new Set(uids.map((uid) => ed.get(uid)).filter((s) => s && isGrouped(s, sizes)).map((s) => s.group));
    if (!groups.size) return;
    const parts = ed.shapes.filter((s) => groups.has(s.group));
    ed.change(() => { for (const s of parts) s.group = null; });
    this.flash(`Ungrouped: ${parts.length} separate shapes.`);
    this.panel.markSelected({ scroll: false });
  }

  /** A tool finished a new shape. Keypoints right after a box (or mask, polygon) of their label
   * that has no keypoints yet: offer to attach them to it. */
  drew(shape) {
    const ed = this.editor;
    const previous = this.lastDrawn == null ? null : ed.get(this.lastDrawn);
    this.lastDrawn = shape.uid;
    this.fresh = shape.uid;
    if (shape.kind !== "keypoints" || !previous || previous.label !== shape.label) return;
    if (!["box", "polygon", "mask"].includes(previous.kind)) return;
    const parts = partsOf(ed.shapes, previous);
    if (parts.some((s) => s.kind === "keypoints") || groupProblem([...parts, shape], ed.labelsById)) return;
    this.offer = { target: previous.uid, keypoints: shape.uid };
    const prompt = this.q("[data-testid=attach-prompt]");
    prompt.querySelector("[data-testid=attach-text]").textContent = `Attach to ${objectName(ed.shapes, previous, ed.labelsById)}?`;
    prompt.hidden = false;
    this.panel.markSelected({ scroll: false });
    this.stage.render();
  }

  dismissOffer() {
    this.offer = null;
    this.q("[data-testid=attach-prompt]").hidden = true;
    this.panel.markSelected({ scroll: false });
    this.stage.render();
  }

  /** Enter / A (or the button) on the attach prompt: the keypoints join the box's object. */
  attach() {
    const offer = this.offer;
    if (!offer) return;
    this.dismissOffer();
    const ed = this.editor;
    const target = ed.get(offer.target), keypoints = ed.get(offer.keypoints);
    if (!target || !keypoints) return;
    const parts = [...partsOf(ed.shapes, target), keypoints];
    const problem = groupProblem(parts, ed.labelsById);
    if (problem) {
      this.flash(`Cannot attach: ${problem}.`);
      return;
    }
    const group = isGrouped(target, groupSizes(ed.shapes)) ? target.group : nextGroupId(ed.shapes);
    ed.change(() => {
      target.group = group;
      keypoints.group = group;
    });
    this.flash(`Attached: ${objectName(ed.shapes, target, ed.labelsById)} has ${parts.length} parts.`);
    this.panel.markSelected({ scroll: false });
  }

  copy() {
    const sel = this.editor.selectedShape();
    if (sel) {
      this.clipboard = cloneShape(sel);
      this.flash("Copied.");
    }
  }

  paste() {
    const ed = this.editor;
    if (!this.clipboard || ed.readOnly) return;
    const copy = cloneShape(this.clipboard, { newId: true });
    copy.hidden = false;
    copy.locked = false;
    copy.group = null; // a copy is an object of its own
    if (copy.kind !== "mask") translate(copy, this.clipboard, 10, 10, ed.width, ed.height);
    ed.change(() => ed.add(copy));
    this.fresh = null;
    ed.select(copy.uid);
    this.clipboard = cloneShape(copy); // pasting again steps further
  }

  nudge(dx, dy) {
    const ed = this.editor;
    const sel = ed.selectedShape();
    if (!sel || sel.locked || sel.kind === "mask" || sel.kind === "tag") return;
    const origin = cloneShape(sel);
    ed.change(() => translate(sel, origin, dx, dy, ed.width, ed.height));
  }

  // --- pointer -----------------------------------------------------------------------------
  bindPointer(el) {
    el.addEventListener("pointerdown", (e) => {
      if (e.target.closest?.(".ann-prompt")) return; // its buttons are clicked, not drawn on
      if (this.offer) this.dismissOffer();
      el.focus({ preventScroll: true });
      if (e.button === 2) return;
      try {
        el.setPointerCapture(e.pointerId);
      } catch {
        // synthetic events (tests, benchmarks) have no capturable pointer
      }
      const [x, y] = this.stage.toImage(e.clientX, e.clientY);
      const drawing = this.toolName !== "select";
      if (drawing && !this.editor.currentLabel && e.button === 0 && !this.spaceDown) {
        this.flash("This project has no labels yet: an owner adds them (API or admin) before anything can be drawn.");
      }
      if (!drawing) this.fresh = null; // whatever the Select tool picks is picked on purpose
      const cannot = drawing && !this.editor.currentLabel;
      if (e.button === 1 || this.spaceDown || this.editor.readOnly || cannot || !this.tool.down(x, y, e)) {
        this.pan = { x: e.clientX, y: e.clientY };
        el.classList.add("panning");
      }
      e.preventDefault();
    });
    el.addEventListener("pointermove", (e) => {
      if (this.pan) {
        this.stage.panBy(e.clientX - this.pan.x, e.clientY - this.pan.y);
        this.pan = { x: e.clientX, y: e.clientY };
        return;
      }
      const [x, y] = this.stage.toImage(e.clientX, e.clientY);
      this.tool.move(x, y, e);
      if (!e.buttons) this.hoverAt(x, y);
    });
    el.addEventListener("pointerleave", () => this.setHover(null));
    el.addEventListener("dblclick", (e) => {
      if (e.target.closest?.(".ann-prompt") || this.editor.readOnly) return;
      if (this.tool.dblclick?.()) e.preventDefault();
    });
    const up = (e) => {
      if (e.target.closest?.(".ann-prompt")) return;
      if (this.pan) {
        this.pan = null;
        el.classList.remove("panning");
        return;
      }
      const [x, y] = this.stage.toImage(e.clientX, e.clientY);
      this.tool.up(x, y, e);
    };
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
    el.addEventListener("wheel", (e) => {
      e.preventDefault();
      const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
      this.stage.zoomAt(Math.exp(-delta * 0.0015), e.clientX, e.clientY);
    }, { passive: false });
    el.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  // --- keypoint names on the canvas ---------------------------------------------------------
  /** The keypoint under (x, y) (image pixels) becomes the hovered one: its name is drawn. */
  hoverAt(x, y) {
    const tol = 7 / this.stage.scale;
    const shapes = this.editor.shapes;
    let found = null;
    for (let i = shapes.length - 1; i >= 0 && !found; i--) {
      const s = shapes[i];
      if (s.kind !== "keypoints" || s.hidden) continue;
      const index = nearKeypoint(s, x, y, tol);
      if (index >= 0) found = { uid: s.uid, index };
    }
    this.setHover(found);
  }

  setHover(hover) {
    const old = this.hover;
    if (old === hover || (old && hover && old.uid === hover.uid && old.index === hover.index)) return;
    this.hover = hover;
    this.stage.render();
  }

  /** Names of the selected keypoint set's points, and of the keypoint under the pointer. */
  keypointNames() {
    const ed = this.editor;
    const out = [];
    const add = (shape, indices) => {
      const names = ed.labelsById.get(shape.label)?.keypoint_names || [];
      for (const i of indices) {
        const p = shape.geometry.points[i];
        if (p && p[2] > 0 && names[i]) out.push({ name: names[i], x: p[0], y: p[1] });
      }
    };
    const sel = ed.selectedShape();
    if (sel && sel.kind === "keypoints" && !sel.hidden) add(sel, sel.geometry.points.map((_, i) => i));
    const hovered = this.hover && ed.get(this.hover.uid);
    if (hovered && !hovered.hidden && hovered !== sel) add(hovered, [this.hover.index]);
    return out;
  }

  paintKeypointNames(ctx, stage) {
    const names = this.keypointNames();
    stage.shownNames = names.map((n) => n.name); // for tests: what the canvas says now
    if (!names.length) return;
    const px = 1 / stage.scale;
    ctx.font = `${12 * px}px system-ui, sans-serif`;
    ctx.textBaseline = "bottom";
    ctx.lineJoin = "round";
    ctx.lineWidth = 3 * px;
    ctx.strokeStyle = "#1d2330";
    ctx.fillStyle = "#ffffff";
    for (const { name, x, y } of names) {
      ctx.strokeText(name, x + 6 * px, y - 4 * px);
      ctx.fillText(name, x + 6 * px, y - 4 * px);
    }
  }

  // --- keyboard ----------------------------------------------------------------------------
  bindKeys() {
    document.addEventListener("keyup", (e) => {
      if (e.key === " ") this.spaceDown = false;
    });
    document.addEventListener("keydown", (e) => this.onKey(e));
  }

  onKey(e) {
    const help = this.q("[data-testid=help-overlay]");
    const typing = e.target.closest && e.target.closest("input:not([type=checkbox]), textarea, select");
    if (typing && e.key !== "Escape") return;
    if (!help.hidden) {
      if (e.key === "?" || e.key === "Escape") help.hidden = true;
      e.preventDefault();
      return;
    }
    if (e.key === "?") {
      help.hidden = false;
      e.preventDefault();
      return;
    }
    const ed = this.editor;
    const ctrl = e.ctrlKey || e.metaKey;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (this.offer && !["Shift", "Control", "Alt", "Meta"].includes(e.key)) {
      if (!ctrl && !e.altKey && (e.key === "Enter" || key === "a")) return this.done(e, () => this.attach());
      if (e.key === "Escape") return this.done(e, () => this.dismissOffer());
      this.dismissOffer(); // any other key keeps them separate, then does what it always does
    }
    if (key === " ") {
      this.spaceDown = true;
      e.preventDefault();
      return;
    }
    // view and navigation work for everyone
    if (!ctrl && key === "f") return this.done(e, () => this.stage.fit());
    if (!ctrl && (key === "+" || key === "=")) return this.done(e, () => this.zoomCentre(1.25));
    if (!ctrl && key === "-") return this.done(e, () => this.zoomCentre(0.8));
    if (!ctrl && key === "d") return this.done(e, () => this.go(this.config.nextUrl));
    if (!ctrl && key === "a") return this.done(e, () => this.go(this.config.previousUrl));
    if (ed.readOnly) return;
    if (!e.altKey && this.tool.key(e)) return this.done(e);
    if (ctrl && key === "z") return this.done(e, () => (e.shiftKey ? ed.redo() : ed.undo()));
    if (ctrl && key === "y") return this.done(e, () => ed.redo());
    if (ctrl && key === "c") return this.done(e, () => this.copy());
    if (ctrl && key === "v") return this.done(e, () => this.paste());
    if (ctrl && e.key === "Enter") return this.done(e, () => this.markDone());
    if (ctrl || e.altKey) return;
    if (key === "g") return this.done(e, () => (e.shiftKey ? this.ungroupSelected() : this.groupSelected()));
    if (TOOL_KEYS[key]) return this.done(e, () => this.setTool(TOOL_KEYS[key]));
    if (key === "Escape") {
      return this.done(e, () => {
        this.tool.cancel();
        if (this.toolName === "select") ed.select(null);
        this.setTool("select");
      });
    }
    if (/^[1-9]$/.test(key)) {
      const label = ed.labels[Number(key) - 1];
      if (label) this.done(e, () => this.pickLabel(label));
      return;
    }
    if (key === "[" || key === "]") {
      return this.done(e, () => {
        const r = this.brushRadius;
        const step = Math.max(1, Math.round(r * 0.2));
        this.brushRadius = Math.min(200, Math.max(1, key === "]" ? r + step : r - step));
        this.q("[data-testid=brush-size] b").textContent = String(this.brushRadius);
        this.updateHint();
        this.stage.render();
      });
    }
    if (key === "t" && ed.currentLabel) return this.done(e, () => this.toggleTag(ed.currentLabel));
    if (key === "h" && ed.selected != null) return this.done(e, () => this.toggleFlag(ed.selected, "hidden"));
    if (key === "l" && ed.selected != null) return this.done(e, () => this.toggleFlag(ed.selected, "locked"));
    if ((key === "Delete" || key === "Backspace") && ed.selected != null) return this.done(e, () => this.deleteSelected());
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (arrows[key] && ed.selected != null) {
      const step = e.shiftKey ? 10 : 1;
      return this.done(e, () => this.nudge(arrows[key][0] * step, arrows[key][1] * step));
    }
  }

  done(e, action) {
    e.preventDefault();
    if (action) action();
  }

  zoomCentre(factor) {
    const r = this.stage.element.getBoundingClientRect();
    this.stage.zoomAt(factor, r.left + this.stage.w / 2, r.top + this.stage.h / 2);
  }

  // --- flow: navigation, status, split, review --------------------------------------------------
  async go(url) {
    if (!url) {
      this.flash("No more images in this filter.");
      return;
    }
    if (this.config.canAnnotate && !(await this.saver.flush())) {
      this.flash("Not saved yet; staying on this image.");
      return;
    }
    window.location.href = url;
  }

  /** Mark the image done; `next` (the Mark done button): then go on to the next image of the
   * filter, as D does. */
  async markDone({ next = false } = {}) {
    if (!(await this.saver.flush())) {
      this.flash("Save the annotations first.");
      return;
    }
    try {
      this.showImage(await request("PATCH", this.config.api.image, { body: { status: "done" } }));
    } catch (error) {
      this.flash(error.message);
      return;
    }
    if (next && this.config.nextUrl) {
      window.location.href = this.config.nextUrl;
      return;
    }
    this.flash(next ? "Marked done. No more images in this filter." : "Marked done.");
  }

  async setSplit(split) {
    try {
      this.showImage(await request("PATCH", this.config.api.image, { body: { split } }));
    } catch (error) {
      this.flash(error.message);
    }
  }

  async review(decision) {
    const comment = this.q("[data-testid=review-comment]").value;
    if (decision === "accept" && !(await this.saver.flush())) return;
    try {
      this.showImage(await request("POST", this.config.api.review, { body: { decision, comment } }));
      this.flash(decision === "accept" ? "Accepted." : "Rejected; the annotators will see your comment.");
    } catch (error) {
      this.flash(error.message);
    }
  }

  showImage(image) {
    this.image = image;
    const split = this.q("[data-testid=split-badge]");
    split.textContent = image.split;
    split.className = `badge split-${image.split}`;
    this.q("[data-testid=split-select]").value = image.split;
    this.q("[data-testid=status-badge]").textContent = image.status;
    this.showReview(image);
  }

  showReview(image) {
    const banner = this.q("[data-testid=review-banner]");
    if (image.meta?.rejected && image.review_comment) {
      banner.textContent = `Rejected by a reviewer: ${image.review_comment}`;
      banner.className = "ann-banner rejected";
      banner.hidden = false;
    } else if (image.status === "reviewed") {
      banner.textContent = "Reviewed and accepted.";
      banner.className = "ann-banner accepted";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  bindButtons() {
    this.root.addEventListener("click", (e) => {
      // keep the keyboard on the stage: a focused button would eat Space and Enter
      if (e.target.closest("button, input[type=checkbox]") && !e.target.closest(".ann-overlay, .ann-review")) {
        this.stage.element.focus({ preventScroll: true });
      }
      const button = e.target.closest("button");
      if (!button) return;
      if (button.dataset.tool) this.setTool(button.dataset.tool);
      const action = button.dataset.action;
      const actions = {
        undo: () => this.editor.undo(), redo: () => this.editor.redo(), fit: () => this.stage.fit(),
        help: () => { this.q("[data-testid=help-overlay]").hidden = false; },
        "mark-done": () => this.markDone({ next: true }), accept: () => this.review("accept"), reject: () => this.review("reject"),
        "keep-mine": () => this.resolve("mine"), "take-theirs": () => this.resolve("theirs"),
        attach: () => this.attach(), "keep-separate": () => this.dismissOffer(),
      };
      if (actions[action]) actions[action]();
    });
    this.q("[data-testid=split-select]").addEventListener("change", (e) => this.setSplit(e.target.value));
    this.q("[data-testid=conflict-preview]").addEventListener("change", () => this.stage.render());
    this.q("[data-testid=help-overlay]").addEventListener("click", (e) => {
      if (e.target === e.currentTarget) e.currentTarget.hidden = true;
    });
  }

  // --- saving and conflicts ------------------------------------------------------------------
  showSaveState(state, message) {
    const el = this.q("[data-testid=save-state]");
    const shown = state === "unsaved" ? "saving" : state;
    el.dataset.state = shown;
    el.textContent = state === "error" ? `error: ${message}` : shown;
    el.title = message || "";
  }

  showConflict(theirs) {
    const { width, height } = this.config;
    this.theirs = { revision: theirs.revision, shapes: theirs.annotations.map((a) => fromAnnotation(a, width, height)) };
    this.panel.renderConflict(this.editor.shapes, this.theirs.shapes, theirs.revision);
    this.q("[data-testid=conflict-dialog]").hidden = false;
  }

  resolve(choice) {
    const theirs = this.theirs;
    if (!theirs) return;
    this.theirs = null;
    this.q("[data-testid=conflict-dialog]").hidden = true;
    this.q("[data-testid=conflict-preview]").checked = false;
    if (choice === "mine") {
      this.saver.keepMine(theirs.revision);
    } else {
      this.editor.replaceAll(theirs.shapes);
      this.saver.tookTheirs(theirs.revision);
    }
    this.stage.render();
  }

  // --- hints -------------------------------------------------------------------------------------
  updateHint() {
    if (!this.tool) return;
    const el = this.q("[data-testid=hint]");
    el.textContent = this.flashText || (this.editor.readOnly ? "Read only: you can look, zoom and pan." : this.tool.hint());
  }

  flash(text) {
    this.flashText = text;
    this.updateHint();
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => {
      this.flashText = "";
      this.updateHint();
    }, 2500);
  }
}

const root = document.getElementById("annotator");
const config = JSON.parse(document.getElementById("annotator-config").textContent);
const app = new App(root, config);
window.annotator = app;
app.start().catch((error) => {
  root.dataset.ready = "error";
  const hint = root.querySelector("[data-testid=hint]");
  hint.textContent = `Could not load this image's annotations: ${error.message}`;
  console.error(error);
});
