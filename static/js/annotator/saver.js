// Autosave: a debounced PUT of every annotation with If-Match: <revision>. One save is in
// flight at a time; edits made meanwhile are saved right after. A 412 (someone else saved
// first) stops autosaving and hands both versions to onConflict without touching local edits.
import { ApiError, request } from "./api.js";

const DEBOUNCE_MS = 700;

export class Saver {
  constructor({ url, revision, editor, serialize, onState, onConflict, onSaved }) {
    Object.assign(this, { url, revision, editor, serialize, onState, onConflict, onSaved });
    this.savedVersion = editor.version;
    this.inFlight = null;
    this.timer = null;
    this.state = "saved";
    this.conflict = false;
  }

  get dirty() {
    return this.editor.version !== this.savedVersion;
  }

  setState(state, message = "") {
    this.state = state;
    this.onState(state, message);
  }

  schedule() {
    if (this.conflict) return;
    clearTimeout(this.timer);
    if (this.dirty && this.state !== "saving") this.setState("unsaved");
    this.timer = setTimeout(() => this.save(), DEBOUNCE_MS);
  }

  /** Save now (if there is anything to save); resolves when the page is saved or failed. */
  async flush() {
    clearTimeout(this.timer);
    while (this.inFlight) await this.inFlight;
    if (this.dirty && !this.conflict) await this.save();
    return !this.dirty && this.state === "saved";
  }

  async save() {
    clearTimeout(this.timer);
    if (this.inFlight || this.conflict) return this.inFlight;
    if (!this.dirty) {
      this.setState("saved");
      return null;
    }
    const version = this.editor.version;
    const body = { annotations: this.serialize() };
    this.setState("saving");
    this.inFlight = (async () => {
      try {
        const data = await request("PUT", this.url, { body, headers: { "If-Match": `"${this.revision}"` } });
        this.revision = data.revision;
        this.savedVersion = version;
        this.retryMs = 0;
        this.onSaved?.(data);
        this.setState(this.dirty ? "unsaved" : "saved");
      } catch (error) {
        if (error instanceof ApiError && error.status === 412) {
          this.conflict = true;
          this.setState("conflict", error.message);
          const theirs = await request("GET", this.url);
          this.onConflict(theirs);
        } else {
          this.setState("error", error.message);
          // the server or the network failing is usually brief: try again, less and less often
          if (!(error instanceof ApiError) || error.status >= 500) {
            this.retryMs = Math.min(30000, (this.retryMs || 1000) * 2);
            clearTimeout(this.timer);
            this.timer = setTimeout(() => this.save(), this.retryMs);
          }
        }
      } finally {
        this.inFlight = null;
      }
      if (this.dirty && this.state === "unsaved") this.schedule();
    })();
    return this.inFlight;
  }

  /** Conflict resolved by keeping ours: save it over `revision`. */
  async keepMine(revision) {
    this.revision = revision;
    this.conflict = false;
    this.editor.version++;
    return this.save();
  }

  /** Conflict resolved by taking theirs: the editor now holds exactly what the server has. */
  tookTheirs(revision) {
    this.revision = revision;
    this.conflict = false;
    this.savedVersion = this.editor.version;
    this.setState("saved");
  }
}
