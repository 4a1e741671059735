// Undo/redo over whole snapshots of the shape list. Snapshots are cheap: geometry is copied,
// mask pixels are shared (painting always starts on a fresh copy of a mask).
const LIMIT = 200;

export class History {
  constructor() {
    this.undoStack = [];
    this.redoStack = [];
  }

  /** Remember `before` (the state just before a change). */
  push(before) {
    this.undoStack.push(before);
    if (this.undoStack.length > LIMIT) this.undoStack.shift();
    this.redoStack = [];
  }

  /** Step back: returns the state to restore, given the current one, or null. */
  undo(current) {
    if (!this.undoStack.length) return null;
    this.redoStack.push(current);
    return this.undoStack.pop();
  }

  redo(current) {
    if (!this.redoStack.length) return null;
    this.undoStack.push(current);
    return this.redoStack.pop();
  }
}
