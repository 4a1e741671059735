// The "Splits and health" page: the split dialog (a dry run of POST /split shows the resulting
// counts before the user confirms) and the health report of GET /health, drawn as a table, lists
// linked to the labeling page and split-leak pairs as thumbnails with a one-click split move.
// Every rule and message comes from the API.
import { apiCall, describeErrors } from "../common/http.js";

const config = JSON.parse(document.getElementById("health-config").textContent);
const SPLITS = ["train", "val", "test", "unassigned"];
const url = (template, id) => template.replace("{id}", String(id));
const status = document.getElementById("health-status");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key === "href" || key === "src" || key === "alt" || key === "type") node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

const badge = (split) => el("span", { className: `badge split-${split}`, text: split });
const imageLink = (id, text) => el("a", { href: url(config.labelUrl, id), text: text || `#${id}`, "data-image": id });

// --- the report --------------------------------------------------------------------------------
function renderTable(report) {
  const table = document.querySelector("[data-testid=health-table]");
  const head = el("tr", {}, el("th", { text: "Class" }), ...SPLITS.map((s) => el("th", {}, badge(s))));
  const rows = [el("tr", { "data-row": "images" }, el("th", { text: "Images" }),
    ...SPLITS.map((s) => el("td", { "data-split": s, text: String(report.splits[s].images) })))];
  for (const name of report.classes) {
    rows.push(el("tr", { "data-class": name }, el("th", { text: name }), ...SPLITS.map((s) => {
      const objects = report.splits[s].objects[name] || 0;
      const images = report.splits[s].images_per_class[name] || 0;
      return el("td", { "data-split": s, text: objects ? `${objects} (${images})` : "0" });
    })));
  }
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
}

function leakImage(id, split, otherSplit) {
  const figure = el("figure", { className: "leak-image", "data-image": id, "data-split": split },
    el("a", { href: url(config.labelUrl, id) },
      el("img", { src: `${url(config.api.thumbnail, id)}?size=256`, alt: `Image #${id}`, loading: "lazy" })),
    el("figcaption", {}, imageLink(id), " ", badge(split)));
  if (config.canMove) {
    const move = el("button", { type: "button", className: "move", "data-testid": `move-${id}`,
      text: `Move to ${otherSplit}` });
    move.addEventListener("click", () => moveImage(id, otherSplit, move));
    figure.querySelector("figcaption").append(" ", move);
  }
  return figure;
}

function renderLeaks(report) {
  const leaks = report.split_leaks;
  document.querySelector("[data-testid=leak-count]").textContent = String(leaks.count);
  document.getElementById("leak-note").textContent =
    `Near-duplicates (at most ${leaks.max_distance} perceptual-hash bits apart) in different splits: the model ` +
    "trains on (almost) the image it is tested on. Move one image of each pair into the other's split." +
    (leaks.count > leaks.pairs.length ? ` The first ${leaks.pairs.length} of ${leaks.count} are shown.` : "");
  const box = document.querySelector("[data-testid=leaks]");
  box.replaceChildren(...leaks.pairs.map((pair) => el("div", {
    className: "leak-pair", "data-testid": "leak-pair", "data-images": pair.images.join(","),
  },
  leakImage(pair.images[0], pair.splits[0], pair.splits[1]),
  el("div", { className: "leak-distance", text: `distance ${pair.distance}`, "data-distance": pair.distance }),
  leakImage(pair.images[1], pair.splits[1], pair.splits[0]))));
  if (!leaks.pairs.length) box.append(el("p", { className: "muted", text: "No split leaks." }));
}

function renderLists(report) {
  const invalid = report.invalid_annotations;
  document.querySelector("[data-testid=invalid-count]").textContent = String(invalid.count);
  const list = document.querySelector("[data-testid=invalid-list]");
  list.replaceChildren(...invalid.items.map((item) => el("li", { "data-annotation": item.annotation },
    imageLink(item.image, `Image #${item.image}`), ` · annotation #${item.annotation}: `,
    el("span", { className: "error", text: item.problem }))));
  if (!invalid.items.length) list.append(el("li", { className: "muted", text: "None." }));
  if (invalid.count > invalid.items.length) list.append(el("li", { className: "muted", text: `… ${invalid.count - invalid.items.length} more` }));

  const unannotated = report.unannotated;
  document.querySelector("[data-testid=unannotated-count]").textContent = String(unannotated.count);
  const ul = document.querySelector("[data-testid=unannotated-list]");
  ul.replaceChildren(...unannotated.images.map((id) => el("li", {}, imageLink(id))));
  if (!unannotated.images.length) ul.append(el("li", { className: "muted", text: "None." }));
  if (unannotated.count > unannotated.images.length) ul.append(el("li", { className: "muted", text: `… ${unannotated.count - unannotated.images.length} more` }));
}

async function refresh(message = "") {
  const { ok, body } = await apiCall(config.api.health);
  if (!ok) {
    status.textContent = describeErrors(body);
    status.classList.add("error");
    return;
  }
  status.classList.remove("error");
  status.textContent = `${message ? `${message} ` : ""}${body.images} image${body.images === 1 ? "" : "s"}.`;
  renderTable(body);
  renderLeaks(body);
  renderLists(body);
  document.getElementById("health").dataset.ready = "1";
}

async function moveImage(id, split, button) {
  button.disabled = true;
  const { ok, body } = await apiCall(url(config.api.image, id), { method: "PATCH", body: { split } });
  if (!ok) {
    button.disabled = false;
    button.after(el("span", { className: "error", text: ` ${describeErrors(body)}` }));
    return;
  }
  await refresh(`Image #${id} moved to ${split}.`);
}

// --- the split dialog ---------------------------------------------------------------------------
function splitDialog() {
  const dialog = document.getElementById("split-dialog");
  const form = document.getElementById("split-form");
  const preview = form.querySelector("[data-testid=split-preview]");
  const error = form.querySelector("[data-testid=split-error]");
  const apply = document.getElementById("split-apply");
  let asked = 0;
  let timer = null;

  const params = () => {
    const data = new FormData(form);
    const number = (name) => (data.get(name) === "" ? null : Number(data.get(name)));
    return {
      train: number("train"), val: number("val"), test: number("test"), seed: number("seed"),
      stratify: data.get("stratify") !== null, reset: data.get("reset") !== null,
    };
  };

  const showCounts = (result, verb) => {
    preview.replaceChildren(
      el("p", { text: `${verb} ${result.changed} image${result.changed === 1 ? "" : "s"}; afterwards:` }),
      el("ul", { className: "counts" }, ...SPLITS.map((s) => el("li", { "data-split": s }, badge(s), ` ${result.counts[s]}`))));
  };

  async function dryRun() {
    const mine = ++asked;
    apply.disabled = true;
    const { ok, body } = await apiCall(config.api.split, { method: "POST", body: { ...params(), dry_run: true } });
    if (mine !== asked) return; // a newer question is on its way
    if (!ok) {
      preview.replaceChildren();
      error.textContent = describeErrors(body);
      return;
    }
    error.textContent = "";
    showCounts(body, "This moves");
    preview.dataset.state = "dry-run";
    apply.disabled = false;
  }

  const later = () => {
    clearTimeout(timer);
    apply.disabled = true;
    timer = setTimeout(dryRun, 250);
  };

  form.addEventListener("input", later); // (not "change": leaving a field for Apply must not disable it)
  const open = document.getElementById("split-open");
  open.addEventListener("click", () => {
    dialog.showModal();
    dryRun();
  });
  open.disabled = false; // rendered disabled: a click before this module ran would do nothing
  document.getElementById("split-cancel").addEventListener("click", () => dialog.close());
  apply.addEventListener("click", async () => {
    apply.disabled = true;
    const { ok, body } = await apiCall(config.api.split, { method: "POST", body: { ...params(), dry_run: false } });
    if (!ok) {
      error.textContent = describeErrors(body);
      apply.disabled = false;
      return;
    }
    dialog.close();
    await refresh(`Split applied: ${body.changed} image${body.changed === 1 ? "" : "s"} moved.`);
  });
}

if (config.canSplit) splitDialog();
refresh();
