// The version page: the image grid of each split with the frozen annotations drawn over each
// image, the download buttons (formats the API says this version cannot be written in are
// disabled with its reason; large exports follow their job, then download the same URL) and
// the training runs of the version. Everything comes from the API.
import { apiCall, apiFetch } from "../common/http.js";
import { drawKeypoints, hexToRgb, polygonPath, strokeBox } from "../common/draw.js";
import { decodeMask } from "../common/rle.js";
import { followJob } from "../common/jobs.js";

const root = document.getElementById("version-page");
const versionId = root.dataset.versionId;
const grid = root.querySelector("[data-testid=version-grid]");
const gridError = root.querySelector("[data-testid=grid-error]");
const pageInfo = root.querySelector("[data-testid=page-info]");
const prev = root.querySelector("[data-page=prev]");
const next = root.querySelector("[data-page=next]");
let labels = new Map();
let pageUrls = { prev: null, next: null };

// --- the grid -------------------------------------------------------------------------------
function drawAnnotations(canvas, image) {
  const ctx = canvas.getContext("2d");
  const lineWidth = Math.max(1, Math.round(Math.max(image.width, image.height) / 160));
  let drawn = 0;
  const tags = [];
  for (const a of image.annotations || []) {
    const label = labels.get(a.label) || { color: "#888888", skeleton: [] };
    const color = label.color || "#888888";
    const g = a.geometry || {};
    ctx.lineWidth = lineWidth;
    ctx.strokeStyle = color;
    if (a.kind === "box") {
      strokeBox(ctx, g);
    } else if (a.kind === "polygon") {
      ctx.beginPath();
      polygonPath(ctx, g.polygons || []);
      ctx.stroke();
    } else if (a.kind === "mask" && g.rle) {
      const [h, w] = g.rle.size;
      const mask = decodeMask(g.rle, w, h);
      const pixels = ctx.getImageData(0, 0, w, h);
      const [r, gg, b] = hexToRgb(color);
      for (let i = 0; i < mask.length; i++) {
        if (mask[i]) {
          const k = i * 4;
          pixels.data[k] = r; pixels.data[k + 1] = gg; pixels.data[k + 2] = b; pixels.data[k + 3] = 110;
        }
      }
      ctx.putImageData(pixels, 0, 0);
    } else if (a.kind === "keypoints") {
      drawKeypoints(ctx, g.points || [], label.skeleton || [], { color, lineWidth, radius: lineWidth * 2 });
    } else if (a.kind === "tag") {
      tags.push(a.label);
    } else {
      continue;
    }
    drawn += 1;
  }
  canvas.dataset.drawn = String(drawn);
  return tags;
}

function cell(image) {
  const figure = document.createElement("figure");
  figure.className = "version-cell";
  figure.dataset.testid = "grid-item";
  figure.setAttribute("data-testid", "grid-item");
  figure.dataset.index = image.index;
  figure.dataset.split = image.split;
  figure.dataset.annotations = String((image.annotations || []).length);
  const frame = document.createElement("div");
  frame.className = "version-thumb";
  const img = document.createElement("img");
  img.loading = "lazy";
  img.alt = image.file_name;
  img.src = `/api/versions/${versionId}/images/${image.index}/file`;
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  canvas.setAttribute("data-testid", "grid-overlay");
  frame.style.aspectRatio = `${image.width} / ${image.height}`;
  frame.append(img, canvas);
  const tags = drawAnnotations(canvas, image);
  const caption = document.createElement("figcaption");
  caption.textContent = `${image.file_name} · ${image.split} · ${image.source}${tags.length ? ` · ${tags.join(", ")}` : ""}`;
  figure.append(frame, caption);
  return figure;
}

async function loadPage(url) {
  gridError.textContent = "";
  grid.dataset.loading = "1";
  try {
    const body = await apiFetch(url);
    grid.replaceChildren(...body.results.map(cell));
    pageUrls = { prev: body.previous, next: body.next };
    prev.disabled = !body.previous;
    next.disabled = !body.next;
    pageInfo.textContent = `${body.count} image${body.count === 1 ? "" : "s"}`;
    grid.dataset.count = String(body.count);
  } catch (error) {
    gridError.textContent = error.message;
  } finally {
    delete grid.dataset.loading;
    grid.dataset.ready = "1";
  }
}

function showSplit(split) {
  root.querySelectorAll("[data-split]").forEach((b) => b.classList.toggle("active", b.dataset.split === split));
  grid.dataset.split = split;
  const url = new URL(root.dataset.imagesApi, location.origin);
  if (split) url.searchParams.set("split", split);
  loadPage(url.pathname + url.search);
}

root.querySelectorAll("[data-split]").forEach((b) => b.addEventListener("click", () => showSplit(b.dataset.split)));
prev.addEventListener("click", () => pageUrls.prev && loadPage(pageUrls.prev));
next.addEventListener("click", () => pageUrls.next && loadPage(pageUrls.next));

// --- downloads -----------------------------------------------------------------------------
let asJob = false;

function saveFrom(url) {
  const a = document.createElement("a");
  a.href = url;
  a.download = "";
  document.body.append(a);
  a.click();
  a.remove();
}

async function download(button) {
  const fmt = button.dataset.download;
  const state = root.querySelector(`[data-testid=download-state-${fmt}]`);
  const url = `${root.dataset.exportApi}?format=${encodeURIComponent(fmt)}&images=${button.dataset.images}`;
  state.dataset.state = "";
  if (!asJob) {
    saveFrom(url);
    state.textContent = "Downloading…";
    state.dataset.state = "downloading";
    return;
  }
  button.disabled = true;
  const abort = new AbortController();
  try {
    state.textContent = "Preparing…";
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: abort.signal });
    if (response.status === 200) {  // prepared already: let the browser fetch it to disk
      abort.abort();
    } else {
      const body = await response.json().catch(() => ({ detail: `The server answered ${response.status}.` }));
      const job = response.status === 202 ? body : response.status === 409 ? body.job : null;
      if (!job) throw new Error(body.detail || body.format || `The server answered ${response.status}.`);
      state.dataset.state = "job";
      state.dataset.jobId = job.id;
      const done = await followJob(job.id, (j) => {
        state.textContent = `Preparing… ${Math.round((j.progress || 0) * 100)}%${j.message ? ` — ${j.message}` : ""}`;
      });
      if (done.status !== "succeeded") throw new Error(`The export ${done.status}: ${done.error || done.message || ""}`);
    }
    saveFrom(url);
    state.textContent = "Downloading…";
    state.dataset.state = "downloading";
  } catch (error) {
    state.textContent = error.message;
    state.dataset.state = "error";
  } finally {
    button.disabled = false;
  }
}

async function loadFormats() {
  const note = root.querySelector("[data-testid=export-note]");
  try {
    const body = await apiFetch(root.dataset.formatsApi);
    asJob = body.as_job;
    note.textContent = asJob
      ? `Versions of ${body.job_min_images} images or more are prepared by a job first; the download starts when it is done.`
      : "";
    for (const f of body.formats) {
      const state = root.querySelector(`[data-testid=download-state-${f.format}]`);
      root.querySelectorAll(`[data-download="${f.format}"]`).forEach((b) => {
        b.disabled = !f.available;
        b.title = f.available ? "" : f.reason;
      });
      if (state && !f.available) {
        state.textContent = f.reason;
        state.dataset.state = "unavailable";
      }
    }
  } catch (error) {
    note.textContent = error.message;
  }
}

root.querySelectorAll("[data-download]").forEach((b) => b.addEventListener("click", () => download(b)));

// --- training runs -------------------------------------------------------------------------
async function loadRuns() {
  const list = root.querySelector("[data-testid=runs]");
  try {
    const body = await apiFetch(root.dataset.runsApi);
    const runs = body.results || body;
    list.replaceChildren(...runs.map((run) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = run.url;
      a.textContent = `Run ${run.id}: ${run.architecture} (${run.task})`;
      li.append(a, ` — ${run.status}${run.headline_metric ? `, ${run.headline_metric}` : ""}`);
      return li;
    }));
    if (!runs.length) list.innerHTML = '<li class="muted">No training runs of this version yet.</li>';
  } catch (error) {
    list.textContent = error.message;
  }
}

async function start() {
  const version = await apiFetch(`/api/versions/${versionId}/`);
  labels = new Map((version.labels || []).map((l) => [l.name, l]));
  await Promise.all([loadFormats(), loadRuns()]);
  if (version.status === "ready") showSplit("train");
  else grid.dataset.ready = "1";
  root.dataset.ready = "1";
}

start().catch((error) => { gridError.textContent = error.message; root.dataset.ready = "1"; });
