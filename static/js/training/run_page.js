// The run page: follow a training run through the API (poll while it runs) — progress, the
// per-epoch table, test metrics, plots and the variant table — and cancel it (owners) through the
// jobs API. Everything comes from GET /api/training-runs/{id}/ with the session cookie.
import { apiCall, describeErrors } from "../common/http.js";

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const POLL_MS = 2000;

const root = document.getElementById("training-run");
if (root) start(root);

function shown(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number" && !Number.isInteger(value)) return Number(value.toPrecision(4)).toString();
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function size(bytes) {
  if (bytes === null || bytes === undefined) return "";
  const units = ["bytes", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function columns(history, headline) {
  const keys = [];
  history.forEach((entry) => Object.keys(entry).forEach((k) => { if (!keys.includes(k)) keys.push(k); }));
  const first = ["epoch", "loss", "val_loss", `val_${headline}`];
  const last = ["lr", "seconds"];
  const middle = keys.filter((k) => !first.includes(k) && !last.includes(k)).sort();
  return [...first.filter((k) => keys.includes(k)), ...middle, ...last.filter((k) => keys.includes(k))];
}

function start(root) {
  const headline = root.dataset.headline;
  const status = root.querySelector(".status");
  const progress = root.querySelector("progress");
  const epochs = root.querySelector(".epochs");
  const message = root.querySelector(".message");
  const error = root.querySelector(".run-error");
  const cancel = root.querySelector("button.cancel");
  let shownPlots = "";

  function renderHistory(run) {
    const table = root.querySelector('[data-testid="epochs"]');
    const history = run.history || [];
    if (!history.length) return;
    const cols = columns(history, headline);
    const head = table.querySelector("thead tr");
    head.replaceChildren(...cols.map((c) => { const th = document.createElement("th"); th.textContent = c; return th; }));
    const body = table.querySelector("tbody");
    body.replaceChildren(...history.map((entry) => {
      const row = document.createElement("tr");
      if (entry.epoch === run.best_epoch) row.className = "best";
      cols.forEach((c) => cell(row, shown(entry[c])));
      return row;
    }));
  }

  function renderMetrics(run) {
    const list = root.querySelector('[data-testid="metrics"]');
    const metrics = run.metrics || {};
    const warnings = root.querySelector('[data-testid="warnings"]');
    warnings.replaceChildren(...(Array.isArray(metrics.warnings) ? metrics.warnings : []).map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    // Plain values only: nested tables (per class, confusion matrix, PR curve) are the plots' business.
    const entries = Object.entries(metrics).filter(([, v]) => ["number", "string", "boolean"].includes(typeof v));
    if (!entries.length) return;
    list.replaceChildren(...entries.flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = shown(v);
      return [dt, dd];
    }));
  }

  function renderPlots(run) {
    const plots = run.plots || {};
    const key = `${JSON.stringify(plots)}|${run.epochs_done}|${run.status}`;
    if (key === shownPlots || !Object.keys(plots).length) return;
    shownPlots = key;
    const box = root.querySelector('[data-testid="plots"]');
    box.replaceChildren(...Object.entries(plots).map(([name, url]) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = `${url}?v=${run.epochs_done}-${run.status}`;  // redrawn figures keep their names
      img.alt = name;
      const caption = document.createElement("figcaption");
      caption.textContent = name;
      figure.append(img, caption);
      return figure;
    }));
  }

  function renderVariants(run) {
    const artifacts = run.artifacts || [];
    if (!artifacts.length) return;
    const body = root.querySelector('[data-testid="variants"] tbody');
    body.replaceChildren(...artifacts.map((a) => {
      const row = document.createElement("tr");
      row.dataset.artifact = a.id;
      cell(row, a.format);
      cell(row, a.variant);
      cell(row, a.status + (a.error ? ` ${a.error.slice(0, 120)}` : ""));
      cell(row, size(a.size_bytes));
      const lat = a.latency_ms || {};
      cell(row, `${shown(lat["1"])} / ${shown(lat["2"])} ms`);
      cell(row, shown((a.metrics || {})[headline]));
      cell(row, (a.sha256 || "").slice(0, 12));
      const td = cell(row, "");
      if (a.download) {
        const link = document.createElement("a");
        link.href = a.download;
        link.textContent = "zip";
        td.appendChild(link);
      }
      return row;
    }));
  }

  function render(run) {
    root.dataset.status = run.status;
    status.textContent = run.status;
    progress.value = run.progress;
    epochs.textContent = `${run.epochs_done}/${run.epochs} epochs`;
    message.textContent = run.message || "";
    error.hidden = !run.error;
    error.textContent = run.error || "";
    if (cancel && TERMINAL.has(run.status)) cancel.remove();
    renderHistory(run);
    renderMetrics(run);
    renderPlots(run);
    renderVariants(run);
  }

  async function poll() {
    const { ok, body } = await apiCall(root.dataset.api).catch(() => ({ ok: false }));
    if (ok) render(body);
    if (!ok || !TERMINAL.has(root.dataset.status)) setTimeout(poll, POLL_MS);
  }

  if (cancel) {
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      const { ok, body } = await apiCall(root.dataset.cancelApi, { method: "POST" });
      if (!ok) {
        error.hidden = false;
        error.textContent = describeErrors(body);
        cancel.disabled = false;
      }
    });
  }
  if (!TERMINAL.has(root.dataset.status)) poll();
}
