// A project's labels page: the classes from GET /api/projects/{id}/labels/; owners create (POST),
// rename and recolour (PATCH), edit keypoint names and skeleton (PATCH) and delete (DELETE, after
// a confirmation that says how many annotations go with it). Every rule and message is the API's;
// the left/right pairs shown are the API's `mirror_pairs` of the saved names.
import { apiCall, describeErrors } from "../common/http.js";
import { keypointEditor } from "./keypoint_editor.js";

const config = JSON.parse(document.getElementById("page-config").textContent);
const root = document.getElementById("labels-page");
const listBox = root.querySelector("[data-testid=label-list]");
const empty = root.querySelector("[data-testid=labels-empty]");
const pageError = root.querySelector("[data-testid=labels-error]");
const form = document.getElementById("label-create-form");
const manage = config.canManage;

const labelUrl = (id) => `${config.api.labels}${id}/`;
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One API call; the answer's body, or null after writing the API's message into ``errorBox``. */
async function call(url, options, errorBox) {
  errorBox.textContent = "";
  try {
    const answer = await apiCall(url, options);
    if (!answer.ok) {
      errorBox.textContent = describeErrors(answer.body);
      return null;
    }
    return answer.body ?? {};
  } catch (exc) {
    errorBox.textContent = `The server could not be reached: ${exc.message}`;
    return null;
  }
}

function mirrorList(label) {
  const box = el("div", { class: "kp-mirror" });
  box.append(el("h4", {}, "Left/right pairs when an image is mirrored"));
  const list = el("ul", { "data-testid": "mirror-pairs" });
  if (label.mirror_pairs.length) {
    label.mirror_pairs.forEach(([a, b]) => {
      list.append(el("li", { "data-testid": "mirror-pair" }, `${label.keypoint_names[a]} ↔ ${label.keypoint_names[b]}`));
    });
  } else {
    list.append(el("li", { class: "muted" }, label.keypoint_names.length
      ? "No left/right pairs: no keypoint trades places in a mirrored image."
      : "No keypoints."));
  }
  box.append(list, el("p", { class: "muted" },
    "Names that say their side (left_/right_, l_/r_, .L/.R) pair up; augmentation swaps each pair on a horizontal flip."));
  return box;
}

function card(label) {
  const article = el("article", { class: "card label-card", "data-testid": "label-card", "data-label-id": label.id, "data-name": label.name });
  const head = el("div", { class: "label-head" });
  const error = el("p", { class: "error", role: "alert", "data-testid": "label-error" });
  const count = el("span", { class: "muted", "data-testid": "label-count" }, plural(label.annotation_count, "annotation"));

  if (manage) {
    const color = el("input", { type: "color", value: label.color, "data-testid": "label-color", "aria-label": `Colour of ${label.name}` });
    color.addEventListener("change", async () => {
      const body = await call(labelUrl(label.id), { method: "PATCH", body: { color: color.value } }, error);
      if (body) label.color = body.color;
      else color.value = label.color;
    });
    const name = el("input", { value: label.name, maxlength: 100, "data-testid": "label-name", "aria-label": "Label name" });
    const rename = el("button", { type: "button", "data-testid": "label-rename" }, "Rename");
    const doRename = async () => {
      const body = await call(labelUrl(label.id), { method: "PATCH", body: { name: name.value.trim() } }, error);
      if (body) { label.name = body.name; article.dataset.name = body.name; name.value = body.name; }
    };
    rename.addEventListener("click", doRename);
    name.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); doRename(); } });
    const remove = el("button", { type: "button", class: "danger", "data-testid": "label-delete" }, "Delete…");
    head.append(color, name, rename, count, remove);

    const confirmBox = el("div", { class: "confirm", "data-testid": "label-delete-confirm", hidden: "" });
    remove.addEventListener("click", async () => {
      const fresh = await call(labelUrl(label.id), {}, error);  // the count as it is now
      if (!fresh) return;
      const n = fresh.annotation_count;
      const text = el("p", { "data-testid": "label-delete-message" },
        `Delete the label “${fresh.name}”? ` + (n
          ? `This also removes its ${plural(n, "annotation")}, on every image of the project.`
          : "No annotation uses it.") + " This cannot be undone.");
      const yes = el("button", { type: "button", class: "danger", "data-testid": "label-delete-yes" }, "Delete label");
      const no = el("button", { type: "button", "data-testid": "label-delete-no" }, "Cancel");
      no.addEventListener("click", () => { confirmBox.hidden = true; });
      yes.addEventListener("click", async () => {
        yes.disabled = true;
        const body = await call(labelUrl(label.id), { method: "DELETE" }, error);
        if (body) await load();
        else yes.disabled = false;
      });
      confirmBox.replaceChildren(text, yes, no);
      confirmBox.hidden = false;
    });
    article.append(head, confirmBox);
  } else {
    head.append(el("span", { class: "swatch", style: `background:${label.color}`, title: label.color }),
      el("strong", { "data-testid": "label-title" }, label.name), count);
    article.append(head);
  }
  article.append(error);

  const keypointBox = el("div", { class: "kp-editor", "data-testid": "keypoint-editor" });
  const isKeypoint = label.keypoint_names.length > 0;
  if (isKeypoint || manage) {
    const section = el("section", { class: "kp-section" });
    const open = el("button", { type: "button", "data-testid": "label-keypoints-open" }, "Add keypoints…");
    const show = () => {
      open.remove();
      section.append(el("h3", {}, `Keypoints (${label.keypoint_names.length})`), keypointBox);
      buildEditor(label, section, keypointBox, error);
    };
    if (isKeypoint || label.openEditor) show();
    else { open.addEventListener("click", show); section.append(open); }
    article.append(section);
  }
  return article;
}

function buildEditor(label, section, box, error) {
  const state = el("span", { class: "muted", "data-testid": "kp-state" });
  let mirror = mirrorList(label);
  const editor = keypointEditor(box, {
    names: label.keypoint_names, skeleton: label.skeleton, readOnly: !manage,
    onChange: () => { state.textContent = "Unsaved changes (left/right pairs update when saved)."; },
  });
  section.append(mirror);
  if (!manage) return;
  const save = el("button", { type: "button", "data-testid": "kp-save" }, "Save keypoints");
  const reset = el("button", { type: "button", "data-testid": "kp-reset" }, "Undo changes");
  save.addEventListener("click", async () => {
    save.disabled = true;
    const body = await call(labelUrl(label.id), { method: "PATCH", body: editor.value() }, error);
    save.disabled = false;
    if (!body) { state.textContent = "Not saved."; return; }
    Object.assign(label, body);
    editor.set(body.keypoint_names, body.skeleton);
    section.querySelector("h3").textContent = `Keypoints (${body.keypoint_names.length})`;
    const fresh = mirrorList(label);
    mirror.replaceWith(fresh);
    mirror = fresh;
    state.textContent = "Saved.";
  });
  reset.addEventListener("click", () => {
    editor.set(label.keypoint_names, label.skeleton);
    error.textContent = "";
    state.textContent = "";
  });
  const actions = el("div", { class: "kp-actions" });
  actions.append(save, reset, state);
  section.append(actions);
}

let openAfterLoad = null;

async function load() {
  const labels = await call(config.api.labels, {}, pageError);
  if (!labels) return;
  labels.forEach((label) => { label.openEditor = label.id === openAfterLoad; });
  openAfterLoad = null;
  listBox.replaceChildren(...labels.map(card));
  empty.hidden = labels.length > 0;
}

if (form) {
  const error = form.querySelector("[data-testid=label-create-error]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: form.elements.name.value.trim(), color: form.elements.color.value };
    const created = await call(config.api.labels, { method: "POST", body }, error);
    if (!created) return;
    if (form.elements.keypoints.checked) openAfterLoad = created.id;
    form.reset();
    await load();
  });
}

await load();
root.dataset.ready = "1";
