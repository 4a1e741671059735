// The editor's state: the shapes, the selection, the current label, history; every change
// goes through change()/begin()+end() so that it can be undone, is redrawn and is autosaved.
// The selection is `selected` (the primary shape, the one handles, keys and relabelling act on)
// plus `selection`, a Set of every selected uid (Shift+click extends it; it holds `selected`).
import { History } from "./history.js";
import { cloneShape } from "./shapes.js";

export class Editor extends EventTarget {
  constructor({ width, height, labels, readOnly }) {
    super();
    this.width = width;
    this.height = height;
    this.readOnly = readOnly;
    this.labels = labels;
    this.labelsById = new Map(labels.map((l) => [l.id, l]));
    this.currentLabel = labels.find((l) => !l.keypoint_names?.length) || labels[0] || null;
    this.shapes = [];
    this.selected = null;
    this.selection = new Set();
    this.history = new History();
    this.version = 0; // bumped on every change; the saver compares it with what it saved
    this.pendingBefore = null;
  }

  snapshot() {
    return this.shapes.map((s) => cloneShape(s));
  }

  restore(shapes) {
    this.shapes = shapes.map((s) => cloneShape(s));
    const uids = new Set(this.shapes.map((s) => s.uid));
    for (const uid of this.selection) if (!uids.has(uid)) this.selection.delete(uid);
    if (!uids.has(this.selected)) this.selected = this.selection.size ? [...this.selection].pop() : null;
  }

  /** Start a change that may or may not happen (a drag); end() records it if it did. */
  begin() {
    if (!this.pendingBefore) this.pendingBefore = this.snapshot();
  }

  end(changed = true) {
    const before = this.pendingBefore;
    this.pendingBefore = null;
    if (before && changed) {
      this.history.push(before);
      this.changed("edit");
    }
  }

  change(mutate) {
    if (this.readOnly) return;
    this.begin();
    const result = mutate();
    this.end(result !== false);
  }

  changed(reason) {
    this.version++;
    this.dispatchEvent(new CustomEvent("change", { detail: { reason, structural: true } }));
  }

  /** Geometry moved while dragging: redraw only, no list rebuild. */
  moved() {
    this.dispatchEvent(new CustomEvent("change", { detail: { reason: "move", structural: false, live: true } }));
  }

  undo() {
    if (this.readOnly || this.pendingBefore) return;
    const state = this.history.undo(this.snapshot());
    if (state) {
      this.restore(state);
      this.changed("undo");
    }
  }

  redo() {
    if (this.readOnly || this.pendingBefore) return;
    const state = this.history.redo(this.snapshot());
    if (state) {
      this.restore(state);
      this.changed("redo");
    }
  }

  /** Replace everything (taking the other version in a conflict) as one undoable step. */
  replaceAll(shapes) {
    this.history.push(this.snapshot());
    this.restore(shapes);
    this.changed("replace");
  }

  get(uid) {
    return this.shapes.find((s) => s.uid === uid) || null;
  }

  selectedShape() {
    return this.selected == null ? null : this.get(this.selected);
  }

  /** The selected shapes (the primary one last). */
  selectedShapes() {
    const out = [];
    for (const uid of this.selection) if (uid !== this.selected) out.push(this.get(uid));
    if (this.selected != null) out.push(this.get(this.selected));
    return out.filter(Boolean);
  }

  select(uid) {
    if (this.selected === uid && this.selection.size === (uid == null ? 0 : 1)) return;
    this.selected = uid;
    this.selection = new Set(uid == null ? [] : [uid]);
    this.dispatchEvent(new CustomEvent("select", { detail: { uid } }));
  }

  /** Select `uids` together, `primary` (default: the first) being the one keys act on. */
  selectMany(uids, primary = uids[0] ?? null) {
    this.selection = new Set(uids);
    this.selected = primary;
    this.dispatchEvent(new CustomEvent("select", { detail: { uid: primary } }));
  }

  /** Shift+click: add `uid` to the selection (it becomes the primary one) or take it out. */
  toggleSelect(uid) {
    if (this.selection.has(uid)) {
      this.selection.delete(uid);
      if (this.selected === uid) this.selected = this.selection.size ? [...this.selection].pop() : null;
    } else {
      this.selection.add(uid);
      this.selected = uid;
    }
    this.dispatchEvent(new CustomEvent("select", { detail: { uid: this.selected } }));
  }

  /** Take `uid` out of the selection, if it is in it. */
  deselect(uid) {
    if (this.selection.has(uid)) this.toggleSelect(uid);
  }

  setLabel(label) {
    this.currentLabel = label;
    this.dispatchEvent(new CustomEvent("label", { detail: { label } }));
  }

  add(shape) {
    this.shapes.push(shape);
  }

  remove(uid) {
    this.shapes = this.shapes.filter((s) => s.uid !== uid);
    this.selection.delete(uid);
    if (this.selected === uid) this.selected = this.selection.size ? [...this.selection].pop() : null;
  }

  /** Topmost visible shape under (x, y), in image pixels. */
  pick(x, y, tol, hit) {
    for (let i = this.shapes.length - 1; i >= 0; i--) {
      const s = this.shapes[i];
      if (!s.hidden && s.kind !== "tag" && hit(s, x, y, tol, this.width)) return s;
    }
    return null;
  }
}
