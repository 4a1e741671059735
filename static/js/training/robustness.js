// The run page's robustness section: start a report (POST /api/training-runs/{id}/robustness),
// follow its job with the shared follower, and redraw the reports from the API when it ends.
// Reports still queued or running when the page opens are followed too.
import { apiCall, describeErrors } from "../common/http.js";
import { TERMINAL, followJob } from "../common/jobs.js";

const root = document.getElementById("robustness");
if (root) start(root);

function shown(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value)) return Number(value.toPrecision(4)).toString();
  return String(value);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  });
  children.forEach((child) => node.append(child));
  return node;
}

function reportCard(report) {
  const card = el("article", { class: "card robustness-report", "data-report": report.id, "data-status": report.status });
  card.append(el("h3", {}, `${report.variant} · seed ${report.seed} · `,
    el("span", { class: "badge report-status", text: report.status }), " ",
    el("span", { class: "muted", text: (report.created_at || "").slice(0, 16).replace("T", " ") })));
  if (report.table && report.table.length) {
    const overall = (report.summary || {}).overall || {};
    const worst = (report.summary || {}).worst_profile;
    card.append(el("p", {}, `clean ${report.metric} `, el("strong", { text: shown(report.clean) }),
      " · relative corruption error ", el("strong", { text: shown(overall.relative_corruption_error) }),
      el("span", { class: "muted", text: ` (the share of the clean score lost, averaged over profiles and severities${worst ? `; worst: ${worst}` : ""})` })));
    const head = el("tr", {}, el("th", { text: "profile" }),
      ...report.severities.map((s) => el("th", { text: `severity ${s}` })),
      el("th", { text: "mean" }), el("th", { text: "relative error" }));
    const body = el("tbody", {}, ...report.table.map((row) => el("tr", { "data-profile": row.profile },
      el("td", { title: row.name, text: row.profile }),
      ...report.severities.map((s) => el("td", { text: shown(row.metrics[s - 1]) })),
      el("td", { text: shown(row.mean_metric) }), el("td", { text: shown(row.relative_corruption_error) }))));
    card.append(el("table", { class: "list" }, el("thead", {}, head), body));
    if (report.plot) card.append(el("figure", {}, el("img", { src: `${report.plot}?v=${report.id}`, alt: `${report.metric} vs severity, ${report.variant}` })));
  } else if (report.status === "failed" || report.status === "cancelled") {
    card.append(el("p", { class: "error", text: report.error || report.status }));
  } else {
    card.append(el("p", {}, el("progress", { max: "1", value: String(report.progress || 0) }), " ",
      el("span", { class: "muted", text: report.message || "" })));
  }
  return card;
}

function start(root) {
  const list = root.querySelector(".robustness-reports");
  const form = root.querySelector("form.robustness-form");
  let polling = false;

  async function refresh() {
    const { ok, body } = await apiCall(root.dataset.api).catch(() => ({ ok: false }));
    if (!ok || !Array.isArray(body)) return null;
    list.replaceChildren(...(body.length ? body.map(reportCard) : [el("p", { class: "muted empty", text: "No robustness report yet." })]));
    return body;
  }

  // Reports someone else started (or this page before a reload): redraw until they have all ended.
  async function pollUnfinished() {
    if (polling) return;
    polling = true;
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const reports = await refresh();
      if (reports && reports.every((r) => TERMINAL.has(r.status))) break;
    }
    polling = false;
  }

  if (form) {
    const button = form.querySelector("button[type=submit]");
    const progress = form.querySelector("progress");
    const message = form.querySelector(".robustness-message");
    const error = form.querySelector(".robustness-error");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      button.disabled = true;
      const data = new FormData(form);
      const { ok, body } = await apiCall(root.dataset.api, {
        method: "POST", body: { variant: data.get("variant"), seed: Number(data.get("seed") || 0) },
      }).catch(() => ({ ok: false, body: "The request failed." }));
      if (!ok) {
        error.textContent = describeErrors(body);
        error.hidden = false;
        button.disabled = false;
        return;
      }
      await refresh();
      progress.hidden = false;
      try {
        const job = await followJob(body.job, (j) => {
          progress.value = j.progress;
          message.textContent = j.message || j.status;
        });
        message.textContent = job.status === "succeeded" ? "Done." : job.error || job.status;
      } catch (failure) {
        message.textContent = failure.message;
      }
      progress.hidden = true;
      button.disabled = false;
      await refresh();
    });
  }
  if ([...list.querySelectorAll("[data-status]")].some((card) => !TERMINAL.has(card.dataset.status))) pollUnfinished();
}
