// The jobs page: the project's jobs, newest first, polled while any of them is queued or
// running. Cancel is offered on the unfinished jobs this user may cancel (the API's rule: owners
// every job, other members their own); the API still decides, and a refusal is shown.

import { apiCall, describeErrors } from "../common/http.js";
import { TERMINAL, config, el, jobCancelUrl, percent } from "./common.js";

const body = document.getElementById("job-rows");
const pageError = document.getElementById("jobs-error");
const cancelErrors = new Map(); // job id -> the API's refusal, kept across refreshes
const openLogs = new Set(); // job ids whose log the user opened, kept open across refreshes
let timer = null;

/** Mirrors jobs.selectors.job_can_cancel, so nobody is shown a button the API would refuse. */
const mayCancel = (job) => config.superuser || config.role === "owner" || job.created_by === config.username;

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

async function cancel(job, button) {
  button.disabled = true;
  const { ok, body: answer } = await apiCall(jobCancelUrl(job.id), { method: "POST" });
  if (ok) cancelErrors.delete(job.id);
  else cancelErrors.set(job.id, describeErrors(answer));
  await refresh();
}

function row(job) {
  const active = !TERMINAL.has(job.status);
  const notes = [];
  if (job.message) notes.push(el("div", { dataset: { testid: "job-message" } }, job.message));
  if (job.error) notes.push(el("div", { class: "error", dataset: { testid: "job-error" } }, job.error));
  if (cancelErrors.has(job.id)) {
    notes.push(el("div", { class: "error", dataset: { testid: "job-cancel-error" } }, cancelErrors.get(job.id)));
  }
  if (job.log) {
    const details = el("details", { open: openLogs.has(job.id) }, el("summary", {}, "log"), el("pre", { class: "log" }, job.log));
    details.addEventListener("toggle", () => (details.open ? openLogs.add(job.id) : openLogs.delete(job.id)));
    notes.push(details);
  }
  const button = active && !job.cancel_requested && mayCancel(job)
    ? el("button", { type: "button", class: "small", dataset: { testid: "job-cancel" } }, "Cancel")
    : null;
  if (button) button.addEventListener("click", () => cancel(job, button));
  return el(
    "tr", { dataset: { testid: "job-row", jobId: job.id, status: job.status } },
    el("td", {}, `#${job.id}`),
    el("td", {}, job.kind),
    el("td", {}, el("span", { class: `badge job-${job.status}`, dataset: { testid: "job-status" } }, job.status),
      job.cancel_requested && active ? el("span", { class: "muted" }, " cancelling…") : null),
    el("td", {}, el("progress", { max: 1, value: job.progress }), " ",
      el("span", { dataset: { testid: "job-progress" } }, percent(job.progress))),
    el("td", {}, notes),
    el("td", {}, job.created_by || ""),
    el("td", { class: "muted" }, when(job.created_at)),
    el("td", {}, button),
  );
}

async function refresh() {
  clearTimeout(timer);
  const url = `${config.api.jobs}?project=${config.projectId}`;
  const { ok, body: answer } = await apiCall(url).catch((e) => ({ ok: false, body: { detail: e.message } }));
  if (!ok) {
    pageError.textContent = describeErrors(answer);
    pageError.hidden = false;
    timer = setTimeout(refresh, 5000);
    return;
  }
  pageError.hidden = true;
  const jobs = answer.results || answer;
  body.replaceChildren(...(jobs.length ? jobs.map(row)
    : [el("tr", {}, el("td", { colspan: 8, class: "muted", dataset: { testid: "no-jobs" } }, "No jobs yet."))]));
  if (answer.next) {
    body.append(el("tr", {}, el("td", { colspan: 8, class: "muted" }, `Showing the newest ${jobs.length} of ${answer.count}.`)));
  }
  const anyActive = jobs.some((j) => !TERMINAL.has(j.status));
  document.body.dataset.ready = "1";
  timer = setTimeout(refresh, anyActive ? 1000 : 5000);
}

refresh();
