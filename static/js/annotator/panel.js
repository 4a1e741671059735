// The side panel and dialogs: label picker, image tags, the object list, help, conflict.
import { describe } from "./shapes.js";
import { objectsOf } from "./groups.js";
import { SHORTCUTS } from "./keys.js";

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const LIST_LIMIT = 400; // beyond this the list shows a count; the canvas still has them all

export class Panel {
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.labelList = root.querySelector("[data-testid=label-picker]");
    this.tagList = root.querySelector("[data-testid=tags]");
    this.objectList = root.querySelector("[data-testid=object-list]");
    this.objectCount = root.querySelector("[data-testid=object-count]");
    this.listTimer = null;
    this.bindObjects();
  }

  renderLabels() {
    const { editor } = this.app;
    this.labelList.replaceChildren(
      ...editor.labels.map((label, i) =>
        el("li", {},
          el("button", {
            type: "button", class: label === editor.currentLabel ? "active" : "", "data-label-id": label.id,
            title: i < 9 ? `${label.name} (key ${i + 1})` : label.name, onclick: () => this.app.pickLabel(label),
          },
          el("span", { class: "swatch", style: `background:${label.color}` }),
          `${i < 9 ? `${i + 1} ` : ""}${label.name}${label.keypoint_names?.length ? " ⁘" : ""}`)),
      ),
    );
  }

  renderTags() {
    const { editor } = this.app;
    const tagged = new Set(editor.shapes.filter((s) => s.kind === "tag").map((s) => s.label));
    this.tagList.replaceChildren(
      ...editor.labels.map((label) => {
        const box = el("input", { type: "checkbox", "data-tag-label": label.id });
        box.checked = tagged.has(label.id);
        box.disabled = editor.readOnly;
        box.addEventListener("change", () => this.app.toggleTag(label));
        return el("li", {}, el("label", {}, box, el("span", { class: "swatch", style: `background:${label.color}` }), label.name));
      }),
    );
  }

  /** The object list is rebuilt after structural changes, at most every 150 ms. */
  scheduleObjects() {
    if (this.listTimer) return;
    this.listTimer = setTimeout(() => {
      this.listTimer = null;
      this.renderObjects();
    }, 150);
  }

  /** Built as one HTML string with one delegated click handler: thousands of shapes stay cheap.
   * One row per object: a shape on its own is a row; a group is a row (`li.group`, "face #2")
   * with its parts listed under it, each a row of its own (`li[data-uid]`) as before. */
  renderObjects() {
    const { editor } = this.app;
    const objects = objectsOf(editor.shapes);
    this.objectCount.textContent = String(objects.length);
    const colorOf = (shape) => {
      const label = editor.labelsById.get(shape.label);
      return /^#[0-9a-fA-F]{6}$/.test(label?.color || "") ? label.color : "#888888";
    };
    const row = (shape, part) => {
      const desc = escapeHtml(describe(shape, editor.labelsById, { withLabel: !part }));
      const full = part ? escapeHtml(describe(shape, editor.labelsById)) : desc;
      let html = `<li data-uid="${shape.uid}"${part ? ' class="part"' : ""}>`
        + (part ? "" : `<span class="swatch" style="background:${colorOf(shape)}"></span>`)
        + `<span class="desc" title="${full}">${desc}</span>`;
      if (!editor.readOnly) {
        html += `<button type="button" class="ghost icon${shape.hidden ? " on" : ""}" title="Hide (H)" data-action="hide">${shape.hidden ? "show" : "hide"}</button>`
          + `<button type="button" class="ghost icon${shape.locked ? " on" : ""}" title="Lock (L)" data-action="lock">${shape.locked ? "locked" : "lock"}</button>`
          + '<button type="button" class="ghost icon" title="Delete (Del)" data-action="delete">✕</button>';
      }
      return `${html}</li>`;
    };
    const parts = [];
    for (const object of objects.slice(0, LIST_LIMIT)) {
      if (object.group == null) {
        parts.push(row(object.parts[0], false));
        continue;
      }
      const first = object.parts[0];
      const name = editor.labelsById.get(first.label)?.name || `label ${first.label}`;
      const hidden = object.parts.every((s) => s.hidden);
      let html = `<li class="group" data-group="${object.group}" data-number="${object.number}" data-parts="${object.parts.length}">`
        + `<div class="group-row"><span class="swatch" style="background:${colorOf(first)}"></span>`
        + `<span class="desc" title="${escapeHtml(`${name} #${object.number}`)}">${escapeHtml(`${name} #${object.number}`)}</span>`
        + `<span class="muted">${object.parts.length} parts</span>`;
      if (!editor.readOnly) {
        html += `<button type="button" class="ghost icon${hidden ? " on" : ""}" title="Hide the whole object" data-action="hide-group">${hidden ? "show" : "hide"}</button>`
          + '<button type="button" class="ghost icon" title="Ungroup (Shift+G)" data-action="ungroup">ungroup</button>';
      }
      parts.push(`${html}</div><ul class="parts">${object.parts.map((s) => row(s, true)).join("")}</ul></li>`);
    }
    if (objects.length > LIST_LIMIT) parts.push(`<li class="muted">… and ${objects.length - LIST_LIMIT} more</li>`);
    this.objectList.innerHTML = parts.join("");
    this.marked = [];
    this.markSelected({ scroll: false });
  }

  bindObjects() {
    this.objectList.addEventListener("click", (e) => {
      const action = e.target.closest("button")?.dataset.action;
      const li = e.target.closest("li[data-uid]");
      if (!li) {
        const group = e.target.closest("li[data-group]");
        if (!group) return;
        const uids = [...group.querySelectorAll("li[data-uid]")].map((node) => Number(node.dataset.uid));
        if (action === "hide-group") this.app.toggleHidden(uids);
        else if (action === "ungroup") this.app.ungroup(uids);
        else this.app.selectObject(uids, e.shiftKey);
        return;
      }
      const uid = Number(li.dataset.uid);
      if (action === "hide") this.app.toggleFlag(uid, "hidden");
      else if (action === "lock") this.app.toggleFlag(uid, "locked");
      else if (action === "delete") this.app.deleteShape(uid);
      else if (e.shiftKey) this.app.editor.toggleSelect(uid);
      else this.app.selectShape(uid);
    });
  }

  /** Mark the selection (`li.selected`), the other parts of selected objects (`li.related`,
   * data-related="1") and the objects they belong to (`li.group.active`). */
  markSelected({ scroll = true } = {}) {
    const { editor } = this.app;
    for (const node of this.marked || []) {
      node.classList.remove("selected", "related", "active");
      delete node.dataset.related;
    }
    this.marked = [];
    const mark = (uid, cls) => {
      const li = this.objectList.querySelector(`li[data-uid="${uid}"]`);
      if (!li) return null;
      li.classList.add(cls);
      if (cls === "related") li.dataset.related = "1";
      this.marked.push(li);
      const group = li.closest("li.group");
      if (group && !group.classList.contains("active")) {
        group.classList.add("active");
        this.marked.push(group);
      }
      return li;
    };
    for (const uid of editor.selection) mark(uid, "selected");
    for (const uid of this.app.related()) if (!editor.selection.has(uid)) mark(uid, "related");
    const li = editor.selected == null ? null : this.objectList.querySelector(`li[data-uid="${editor.selected}"]`);
    // scrolling needs a layout of the list: do it after the stage has been drawn
    if (li && scroll) requestAnimationFrame(() => li.scrollIntoView({ block: "nearest" }));
  }

  renderHelp() {
    const table = this.root.querySelector(".ann-help");
    table.replaceChildren(...SHORTCUTS.map(([keys, what]) => el("tr", {}, el("th", {}, el("kbd", {}, keys)), el("td", {}, what))));
  }

  /** Both versions, summarised per label and kind, in the conflict dialog. */
  renderConflict(mine, theirs, revision) {
    const { editor } = this.app;
    const summary = (shapes) => {
      const counts = new Map();
      for (const s of shapes) {
        const key = `${editor.labelsById.get(s.label)?.name || s.label} · ${s.kind}`;
        counts.set(key, (counts.get(key) || 0) + 1);
      }
      const rows = [...counts].sort().map(([k, n]) => el("li", {}, `${n} × ${k}`));
      return rows.length ? rows : [el("li", { class: "muted" }, "no annotations")];
    };
    this.root.querySelector("[data-testid=conflict-mine]").replaceChildren(...summary(mine));
    this.root.querySelector("[data-testid=conflict-theirs]").replaceChildren(...summary(theirs));
    this.root.querySelector("[data-testid=conflict-revision]").textContent = String(revision);
  }
}
