// The upload page: drop (or pick) images and zips; every file gets a row with its progress and
// the server's verdict. Images go one per request to the image upload API; a zip goes to the zip
// upload API, and the job it starts is followed to its result.

import { el, config, followJob, percent, postWithProgress, refusal } from "./common.js";

const rows = document.getElementById("upload-rows");
const dropzone = document.getElementById("dropzone");
const picker = document.getElementById("file-picker");
const skipBroken = document.getElementById("skip-broken");
const queue = [];
let busy = false;

const isZip = (file) => /\.zip$/i.test(file.name) || /zip/.test(file.type);
const labelUrl = (image) => `/projects/${config.projectId}/images/${image.id}/label`;

function addRow(file) {
  const progress = el("progress", { max: 1, value: 0, dataset: { testid: "upload-progress" } });
  const verdict = el("td", { class: "verdict", dataset: { testid: "verdict", state: "waiting" } }, "waiting");
  const row = el(
    "tr", { dataset: { testid: "upload-row", name: file.name } },
    el("td", {}, file.name, isZip(file) ? el("span", { class: "badge" }, "zip") : null),
    el("td", {}, progress),
    verdict,
  );
  rows.append(row);
  return { row, progress, verdict };
}

function setVerdict(view, state, ...content) {
  view.verdict.dataset.state = state;
  view.verdict.replaceChildren(...content);
}

async function uploadImage(file, view) {
  const form = new FormData();
  form.append("files", file, file.name);
  setVerdict(view, "uploading", "uploading…");
  const { ok, body } = await postWithProgress(config.api.images, form, (f) => { view.progress.value = f; });
  if (!ok) {
    const files = body && Array.isArray(body.files) ? body.files.join(" ") : refusal(body);
    setVerdict(view, "refused", el("span", { class: "error" }, `refused: ${files}`));
    return;
  }
  const parts = [];
  let state = "stored";
  if (body.created.length) {
    parts.push(el("span", { class: "badge ok" }, "stored"), " ",
      el("a", { href: labelUrl(body.created[0]) }, `image #${body.created[0].id}`));
  } else if (body.duplicates.length) {
    state = "duplicate";
    const dup = body.duplicates[0];
    parts.push(el("span", { class: "badge" }, "duplicate"), " of ",
      el("a", { href: labelUrl(dup), dataset: { testid: "duplicate-of" } }, `${dup.original_name || "image"} (#${dup.id})`),
      " — nothing added");
  }
  if (body.repaired.includes(file.name)) {
    if (state === "stored") state = "repaired";
    parts.push(" · ", el("span", { class: "badge warn" }, "repaired"), " end-of-image marker added");
  }
  setVerdict(view, state, ...parts);
}

function zipResult(job) {
  const r = job.result || {};
  const summary = el("div", { dataset: { testid: "zip-summary" } },
    `${r.created ?? 0} stored, ${r.duplicates ?? 0} duplicate(s) of images already here, `
    + `${r.skipped_count ?? 0} skipped, ${r.repaired_count ?? 0} repaired`);
  const items = [];
  for (const s of r.skipped || []) {
    items.push(el("li", { dataset: { testid: "zip-skipped", file: s.file } }, el("b", {}, s.file), ": skipped — ", s.reason));
  }
  for (const name of r.repaired || []) {
    items.push(el("li", { dataset: { testid: "zip-repaired", file: name } }, el("b", {}, name),
      ": stored repaired (end-of-image marker added)"));
  }
  if ((r.skipped_count ?? 0) > (r.skipped || []).length) {
    items.push(el("li", { class: "muted" }, `… and ${r.skipped_count - r.skipped.length} more skipped`));
  }
  return items.length ? [summary, el("ul", { class: "per-file" }, items)] : [summary];
}

async function uploadZip(file, view) {
  const form = new FormData();
  form.append("file", file, file.name);
  if (skipBroken.checked) form.append("skip_broken", "true");
  setVerdict(view, "uploading", "uploading…");
  const { ok, body } = await postWithProgress(config.api.zip, form, (f) => { view.progress.value = f; });
  if (!ok) {
    setVerdict(view, "refused", el("span", { class: "error" }, `refused: ${refusal(body)}`));
    return;
  }
  view.progress.value = 0;
  const job = await followJob(body, (j) => {
    view.progress.value = j.progress;
    if (j.status === "queued" || j.status === "running") {
      setVerdict(view, j.status, `job #${j.id} ${j.status} ${percent(j.progress)}`, j.message ? ` — ${j.message}` : "");
    }
  });
  if (job.status === "succeeded") {
    view.progress.value = 1;
    setVerdict(view, "done", ...zipResult(job));
  } else if (job.status === "failed") {
    setVerdict(view, "failed", el("span", { class: "error", dataset: { testid: "zip-error" } }, `job #${job.id} failed: ${job.error}`));
  } else {
    setVerdict(view, "cancelled", `job #${job.id} was cancelled`);
  }
}

async function drain() {
  if (busy) return;
  busy = true;
  try {
    while (queue.length) {
      const { file, view } = queue.shift();
      try {
        await (isZip(file) ? uploadZip(file, view) : uploadImage(file, view));
      } catch (error) {
        setVerdict(view, "error", el("span", { class: "error" }, error.message));
      }
    }
  } finally {
    busy = false;
  }
}

function enqueue(files) {
  for (const file of files) queue.push({ file, view: addRow(file) });
  drain();
}

dropzone.addEventListener("dragenter", (e) => { e.preventDefault(); dropzone.classList.add("over"); });
dropzone.addEventListener("dragover", (e) => { e.preventDefault(); dropzone.classList.add("over"); });
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropzone.classList.remove("over");
  if (e.dataTransfer && e.dataTransfer.files.length) enqueue([...e.dataTransfer.files]);
});
// A file dropped beside the zone must not make the browser leave the page to show it.
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());
picker.addEventListener("change", () => {
  enqueue([...picker.files]);
  picker.value = "";
});
document.body.dataset.ready = "1";
