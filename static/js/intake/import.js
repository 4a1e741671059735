// The import page: send a dataset zip to the import API, follow the job, and show either the
// summary of what was added or the problem report (file, object, what is wrong) and its hints.

import { el, config, followJob, percent, postWithProgress, refusal } from "./common.js";

const form = document.getElementById("import-form");
const jobBox = document.getElementById("import-job");
const statusBadge = jobBox.querySelector("[data-testid=import-status]");
const message = jobBox.querySelector("[data-testid=import-message]");
const bar = jobBox.querySelector("progress");
const errorBox = document.getElementById("import-error");
const problems = document.getElementById("import-problems");
const summary = document.getElementById("import-summary");
const submit = form.querySelector("button[type=submit]");

function reset() {
  for (const node of [errorBox, problems, summary]) node.hidden = true;
  problems.querySelector("tbody").replaceChildren();
  problems.querySelector("[data-testid=import-hints]").replaceChildren();
  summary.querySelector("tbody").replaceChildren();
  summary.querySelector(".skipped").replaceChildren();
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
}

function showJob(job, phase) {
  jobBox.hidden = false;
  statusBadge.textContent = phase || job.status;
  statusBadge.dataset.status = phase || job.status;
  message.textContent = phase ? "" : `job #${job.id} ${percent(job.progress)}${job.message ? ` — ${job.message}` : ""}`;
  bar.value = phase ? 0 : job.progress;
}

function showProblems(job) {
  const result = job.result || {};
  const list = result.problems || [];
  if (!list.length) {
    showError(job.error || "The import failed.");
    return;
  }
  const count = result.problem_count ?? list.length;
  problems.querySelector("[data-testid=import-problem-count]").textContent =
    `The dataset has ${count} problem(s), so nothing was imported.`
    + (count > list.length ? ` The first ${list.length} are listed.` : "");
  problems.querySelector("tbody").replaceChildren(...list.map((p) => el(
    "tr", { dataset: { testid: "problem-row" } },
    el("td", { dataset: { testid: "problem-file" } }, p.file || "—"),
    el("td", { dataset: { testid: "problem-object" } }, p.object || ""),
    el("td", { dataset: { testid: "problem-message" } }, p.message),
  )));
  problems.querySelector("[data-testid=import-hints]").replaceChildren(
    ...(result.hints || []).map((h) => el("li", { dataset: { testid: "import-hint" } }, h)),
  );
  problems.hidden = false;
}

function showSummary(job) {
  const r = job.result || {};
  const byKind = Object.entries(r.annotations_by_kind || {}).map(([k, n]) => `${n} ${k}`).join(", ") || "none";
  const splits = Object.entries(r.splits || {}).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ");
  const line = (name, key, value) => el("tr", { dataset: { testid: `summary-${key}` } }, el("th", {}, name), el("td", {}, value));
  const rowsOut = [
    line("Images added", "images", r.images_created ?? 0),
    line("Images already in the project", "existing", r.images_existing ?? 0),
    line("Annotations added", "annotations", `${r.annotations_created ?? 0} (${byKind})`),
    line("Labels created", "labels", (r.labels_created || []).join(", ") || "none"),
    line("Labels matched", "labels-matched", (r.labels_matched || []).join(", ") || "none"),
    line("Repaired images", "repaired", r.repaired_count ?? 0),
    line("Skipped broken images", "skipped", r.skipped_count ?? 0),
  ];
  if (r.clipped) rowsOut.push(line("Shapes clipped to the image", "clipped", r.clipped));
  if (r.turned_upright) rowsOut.push(line("Images turned upright (EXIF)", "upright", r.turned_upright));
  if (r.duplicate_files) rowsOut.push(line("Byte-identical image entries", "duplicates", r.duplicate_files));
  if (splits) rowsOut.push(line("Splits", "splits", splits));
  summary.querySelector("tbody").replaceChildren(...rowsOut);
  const skipped = r.skipped || [];
  if (skipped.length) {
    summary.querySelector(".skipped").replaceChildren(el("h3", {}, "Skipped"), el("ul", {},
      skipped.map((s) => el("li", { dataset: { testid: "summary-skipped-file" } }, el("b", {}, s.file), `: ${s.reason}`))));
  }
  summary.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  reset();
  submit.disabled = true;
  try {
    const data = new FormData(form);
    showJob({ progress: 0 }, "uploading");
    const { ok, body } = await postWithProgress(config.api.import, data, (f) => { bar.value = f; });
    if (!ok) {
      jobBox.hidden = true;
      showError(refusal(body));
      return;
    }
    const job = await followJob(body, (j) => showJob(j));
    if (job.status === "succeeded") showSummary(job);
    else if (job.status === "failed") showProblems(job);
    else showError(`Job #${job.id} was cancelled; nothing was imported.`);
  } catch (error) {
    showError(error.message);
  } finally {
    submit.disabled = false;
  }
});
document.body.dataset.ready = "1";
