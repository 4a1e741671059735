// The recipe editor: transforms from the catalogue (GET /api/augment/transforms/) with a field of
// the right type per parameter, OneOf / SomeOf groups, a probability per transform, reordering.
// Every change is validated by the API (debounced POST .../recipes/validate) and its messages are
// shown next to the field they name ("transforms[2].params.limit"); a valid spec is previewed at
// once (POST /api/recipes/{id}/preview with the unsaved spec). Save is a PUT of the recipe.
import { apiCall, describeErrors } from "../common/http.js";
import { sampleFigure } from "./preview.js";

const config = JSON.parse(document.getElementById("editor-config").textContent);
const labels = JSON.parse(document.getElementById("preview-labels").textContent);
const GROUPS = ["OneOf", "SomeOf"];
const HIDDEN_PARAMS = new Set(["p", "strict"]);
const VALIDATE_DELAY = 350;
const PREVIEW_MAX_SIDE = 640;

const state = JSON.parse(JSON.stringify(config.recipe));
if (!state.spec || typeof state.spec !== "object") state.spec = { transforms: [] };
if (!Array.isArray(state.spec.transforms)) state.spec.transforms = [];
let catalog = {};
let timer = null;
let asked = 0;

const editorState = document.getElementById("editor-state");
const list = document.getElementById("transform-list");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key === "className") node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

const errorSlot = (path) => el("span", { className: "field-error", "data-error-for": path });

// --- parameter fields -------------------------------------------------------------------------------
function boundsText(desc) {
  const low = desc.min !== undefined ? `${desc.min_exclusive ? "(" : "["}${desc.min}` : "(-∞";
  const high = desc.max !== undefined ? `${desc.max}${desc.max_exclusive ? ")" : "]"}` : "∞)";
  return desc.min !== undefined || desc.max !== undefined ? `${low}, ${high}` : "";
}

function numberInput(desc, item, value, onValue, path, extra = {}) {
  const input = el("input", {
    type: "number", step: item === "integer" ? "1" : "any", min: desc.min, max: desc.max, "data-path": path, ...extra,
  });
  input.value = value === undefined || value === null ? "" : String(value);
  input.addEventListener("input", () => onValue(input.value === "" ? null : Number(input.value)));
  return input;
}

function paramField(item, name, desc, path) {
  const params = item.params || (item.params = {});
  const has = Object.prototype.hasOwnProperty.call(params, name);
  const value = has ? params[name] : desc.default;
  const set = (v) => {
    params[name] = v;
    changed();
  };
  const unset = () => {
    delete params[name];
    if (!Object.keys(params).length) delete item.params;
    changed();
  };
  const fieldPath = `${path}.params.${name}`;
  const row = el("div", { className: `param param-${desc.type}`, "data-param": name });
  const label = el("label", { className: "param-name", text: name });
  let control;
  if (desc.type === "boolean") {
    control = el("input", { type: "checkbox", "data-path": fieldPath });
    control.checked = Boolean(value);
    control.addEventListener("change", () => set(control.checked));
  } else if (desc.type === "integer" || desc.type === "number") {
    control = numberInput(desc, desc.type, value, (v) => (v === null ? unset() : set(v)), fieldPath);
  } else if (desc.type === "choice") {
    control = el("select", { "data-path": fieldPath });
    const choices = desc.nullable ? [null, ...desc.choices] : desc.choices;
    for (const choice of choices) {
      const option = el("option", { value: JSON.stringify(choice), text: choice === null ? "none" : String(choice) });
      if (JSON.stringify(choice) === JSON.stringify(value)) option.selected = true;
      control.append(option);
    }
    control.addEventListener("change", () => set(JSON.parse(control.value)));
  } else if (desc.type === "range") {
    const pair = Array.isArray(value) ? [...value] : value === undefined || value === null ? [null, null] : [value, value];
    const update = (i) => (v) => {
      pair[i] = v;
      if (pair[0] === null && pair[1] === null) unset();
      else set([...pair]);
    };
    control = el("span", { className: "range", "data-path": fieldPath },
      numberInput(desc, desc.item, pair[0], update(0), `${fieldPath}[0]`, { "aria-label": `${name} low` }),
      el("span", { text: "to" }),
      numberInput(desc, desc.item, pair[1], update(1), `${fieldPath}[1]`, { "aria-label": `${name} high` }));
  } else {
    control = el("input", { type: "text", "data-path": fieldPath, className: "json" });
    control.value = value === undefined ? "" : JSON.stringify(value);
    control.addEventListener("input", () => {
      if (control.value.trim() === "") return unset();
      let parsed;
      try {
        parsed = JSON.parse(control.value);
      } catch {
        parsed = control.value; // not JSON: the API says what it expects
      }
      set(parsed);
    });
  }
  const hint = [desc.type === "range" ? `pair of ${desc.item === "integer" ? "integers" : "numbers"}` : desc.type === "json" ? "JSON" : "",
    boundsText(desc), desc.required ? "required" : ""].filter(Boolean).join(" · ");
  row.append(label, control, el("span", { className: "muted param-hint", text: hint }), errorSlot(fieldPath));
  return row;
}

// --- transforms and groups --------------------------------------------------------------------------
function addControls(target, testid) {
  const select = el("select", { className: "add-select", "aria-label": "Transform to add" });
  fillAddSelect(select);
  const button = el("button", { type: "button", className: "add-button", text: "Add", "data-testid": testid });
  button.addEventListener("click", () => addTransform(target, select.value));
  return el("div", { className: "add-transform" }, select, button);
}

function fillAddSelect(select) {
  select.replaceChildren(
    el("optgroup", { label: "Groups" }, ...GROUPS.map((g) => el("option", { value: g, text: `${g} (group)` }))),
    el("optgroup", { label: "Transforms" }, ...Object.keys(catalog).sort().map((name) =>
      el("option", { value: name, text: `${name} (${catalog[name].kind})` }))));
}

function addTransform(target, name) {
  if (!name) return;
  target.push(GROUPS.includes(name) ? { name, p: 1, transforms: [] } : { name, p: 0.5 });
  render();
  changed();
}

function move(siblings, index, delta) {
  const to = index + delta;
  if (to < 0 || to >= siblings.length) return;
  [siblings[index], siblings[to]] = [siblings[to], siblings[index]];
  render();
  changed();
}

function itemNode(item, siblings, index, path) {
  const isGroup = GROUPS.includes(item.name) || Array.isArray(item.transforms);
  const node = el("li", { className: `transform${isGroup ? " group" : ""}`, "data-path": path, "data-name": item.name });
  const p = numberInput({ min: 0, max: 1 }, "number", item.p ?? (isGroup ? undefined : catalog[item.name]?.params?.p?.default),
    (v) => {
      if (v === null) delete item.p;
      else item.p = v;
      changed();
    }, `${path}.p`, { step: "0.05", "aria-label": "probability" });
  const buttons = el("span", { className: "transform-buttons" });
  for (const [text, title, action] of [["↑", "Move up", () => move(siblings, index, -1)],
    ["↓", "Move down", () => move(siblings, index, 1)],
    ["✕", "Remove", () => { siblings.splice(index, 1); render(); changed(); }]]) {
    const button = el("button", { type: "button", className: "small", title, "aria-label": title, text,
      "data-action": title.split(" ").pop().toLowerCase() });
    button.addEventListener("click", action);
    buttons.append(button);
  }
  const info = catalog[item.name];
  const head = el("div", { className: "transform-head" },
    el("strong", { className: "transform-name", text: item.name }),
    el("span", { className: "muted", text: isGroup ? (item.name === "OneOf" ? "applies one of" : "applies n of") : info ? info.kind : "" }),
    el("label", { className: "probability" }, "p ", p), buttons);
  node.append(head, errorSlot(path), errorSlot(`${path}.name`), errorSlot(`${path}.p`));
  if (isGroup) {
    if (item.name === "SomeOf") {
      const n = numberInput({ min: 1 }, "integer", item.n ?? 1, (v) => {
        if (v === null) delete item.n;
        else item.n = v;
        changed();
      }, `${path}.n`, { "aria-label": "n" });
      const replace = el("input", { type: "checkbox", "data-path": `${path}.replace` });
      replace.checked = Boolean(item.replace);
      replace.addEventListener("change", () => {
        item.replace = replace.checked;
        changed();
      });
      node.append(el("div", { className: "param" }, el("label", { className: "param-name", text: "n" }), n, errorSlot(`${path}.n`)),
        el("div", { className: "param" }, el("label", { className: "param-name", text: "replace" }), replace, errorSlot(`${path}.replace`)));
    }
    if (!Array.isArray(item.transforms)) item.transforms = [];
    const children = el("ol", { className: "transform-list nested" });
    item.transforms.forEach((child, i) => children.append(itemNode(child, item.transforms, i, `${path}.transforms[${i}]`)));
    node.append(children, errorSlot(`${path}.transforms`), addControls(item.transforms, "add-button-group"));
  } else if (info) {
    const params = el("div", { className: "params" });
    for (const [name, desc] of Object.entries(info.params)) {
      if (!HIDDEN_PARAMS.has(name)) params.append(paramField(item, name, desc, path));
    }
    // Parameters the catalogue does not list (a misspelling in a stored spec): shown so the API's message has a place.
    for (const name of Object.keys(item.params || {})) {
      if (!(name in info.params)) params.append(paramField(item, name, { type: "json" }, path));
    }
    node.append(params, errorSlot(`${path}.params`));
  }
  return node;
}

function render() {
  list.replaceChildren(...state.spec.transforms.map((item, i) => itemNode(item, state.spec.transforms, i, `transforms[${i}]`)));
  if (!state.spec.transforms.length) list.append(el("li", { className: "muted empty", text: "No transforms yet: add one below." }));
}

// --- errors next to their fields ----------------------------------------------------------------------
function clearErrors() {
  document.querySelectorAll("#recipe-editor [data-error-for]").forEach((slot) => { slot.textContent = ""; });
  document.querySelectorAll("#recipe-editor [aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
}

function slotFor(key) {
  let path = key;
  while (path) {
    const slot = document.querySelector(`#recipe-editor [data-error-for="${CSS.escape(path)}"]`);
    if (slot) return { slot, path };
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    path = cut > 0 ? path.slice(0, cut) : "";
  }
  return { slot: document.querySelector('#recipe-editor [data-error-for="transforms"]'), path: "transforms" };
}

function showErrors(body) {
  clearErrors();
  const entries = body && typeof body === "object" && !Array.isArray(body) ? Object.entries(body) : [["detail", describeErrors(body)]];
  for (const [key, value] of entries) {
    const fieldKey = key.startsWith("spec.") ? key.slice(5) : key; // a spec error nested under "spec"
    const messages = Array.isArray(value) ? value.flat().map(String) : typeof value === "object" ? [describeErrors(value)] : [String(value)];
    const { slot, path } = slotFor(fieldKey);
    slot.textContent = [slot.textContent, ...messages].filter(Boolean).join(" ");
    document.querySelectorAll(`#recipe-editor [data-path="${CSS.escape(path)}"], #recipe-editor [data-path^="${CSS.escape(path)}["]`)
      .forEach((field) => field.setAttribute("aria-invalid", "true"));
  }
}

// --- validate as you type, then preview -------------------------------------------------------------
function changed() {
  clearTimeout(timer);
  editorState.textContent = "Checking…";
  editorState.dataset.state = "checking";
  timer = setTimeout(validate, VALIDATE_DELAY);
}

async function validate() {
  const mine = ++asked;
  const { ok, body } = await apiCall(config.api.validate, { method: "POST", body: { spec: state.spec } });
  if (mine !== asked) return;
  if (!ok) {
    showErrors(body);
    editorState.textContent = "The API rejects this recipe: see the messages next to the fields.";
    editorState.dataset.state = "invalid";
    return;
  }
  clearErrors();
  editorState.textContent = "Valid (not saved yet).";
  editorState.dataset.state = "valid";
  preview(mine);
}

const previewForm = document.getElementById("editor-preview-form");
const previewGrid = document.getElementById("editor-preview-grid");
const previewStatus = document.getElementById("editor-preview-status");

async function preview(mine = asked) {
  const data = new FormData(previewForm);
  if (!data.get("image")) return;
  previewStatus.textContent = "Augmenting…";
  const body = {
    image: Number(data.get("image")), count: Number(data.get("count")), seed: Number(data.get("seed")),
    max_side: PREVIEW_MAX_SIDE, spec: state.spec,
  };
  const { ok, body: payload } = await apiCall(config.api.preview, { method: "POST", body });
  if (mine !== asked) return;
  previewGrid.replaceChildren();
  if (!ok) {
    previewStatus.textContent = describeErrors(payload);
    previewStatus.classList.add("error");
    return;
  }
  previewStatus.classList.remove("error");
  previewStatus.textContent = `${payload.samples.length} samples of image #${payload.image} (seed ${payload.seed}).`;
  for (const sample of payload.samples) previewGrid.append(sampleFigure(sample, labels, true));
}

previewForm.addEventListener("change", () => preview());
previewForm.addEventListener("submit", (event) => {
  event.preventDefault();
  preview();
});

// --- name, description, save ----------------------------------------------------------------------
const nameInput = document.getElementById("recipe-name");
const descriptionInput = document.getElementById("recipe-description");
nameInput.value = state.name;
descriptionInput.value = state.description || "";
nameInput.addEventListener("input", () => { state.name = nameInput.value; });
descriptionInput.addEventListener("input", () => { state.description = descriptionInput.value; });

const save = document.getElementById("recipe-save");
if (save) {
  save.addEventListener("click", async () => {
    save.disabled = true;
    clearTimeout(timer);
    asked++;
    const { ok, body } = await apiCall(config.api.recipe, {
      method: "PUT", body: { name: state.name, description: state.description || "", spec: state.spec },
    });
    save.disabled = false;
    if (!ok) {
      showErrors(body);
      editorState.textContent = "Not saved: see the messages next to the fields.";
      editorState.dataset.state = "invalid";
      return;
    }
    clearErrors();
    editorState.textContent = "Saved.";
    editorState.dataset.state = "saved";
    document.title = `Edit ${body.name} · Lensforge`;
  });
}

// --- start ----------------------------------------------------------------------------------------------
async function start() {
  const { ok, body } = await apiCall(config.api.transforms);
  if (!ok) {
    editorState.textContent = describeErrors(body);
    return;
  }
  catalog = Object.fromEntries(body.map((t) => [t.name, t]));
  const top = document.querySelector("[data-testid=add-top]");
  fillAddSelect(top.querySelector(".add-select"));
  top.querySelector(".add-button").addEventListener("click", () =>
    addTransform(state.spec.transforms, top.querySelector(".add-select").value));
  render();
  document.getElementById("recipe-editor").dataset.ready = "1";
  await validate();
}

start();
