// The project page's image grid: each thumbnail gets its annotations drawn over it (a canvas
// over the <img>, image pixels scaled to the tile as the thumbnail's object-fit: cover shows
// them) and its file name; both can be turned off with the checkboxes above the grid, and the
// choice is remembered (localStorage). The image list API carries no annotations, so each tile
// loads its own (GET /api/images/{id}/annotations) once it scrolls into view.
import { apiFetch } from "../common/http.js";
import { hexToRgb, drawKeypoints, polygonPath, rgba } from "../common/draw.js";
import { decodeMask } from "../common/rle.js";

const STORE = "lensforge.grid.";
const grid = document.querySelector("[data-testid=image-grid]");
if (grid) start(grid);

function option(name) {
  try {
    return localStorage.getItem(STORE + name) !== "0";
  } catch {
    return true;
  }
}

function remember(name, on) {
  try {
    localStorage.setItem(STORE + name, on ? "1" : "0");
  } catch {
    // private windows may refuse: the choice then lasts for this page only
  }
}

function start(grid) {
  const boxes = [...document.querySelectorAll("[data-grid-option]")];
  const apply = () => {
    for (const box of boxes) grid.classList.toggle(`hide-${box.dataset.gridOption}`, !box.checked);
  };
  for (const box of boxes) {
    box.checked = option(box.dataset.gridOption);
    box.addEventListener("change", () => {
      remember(box.dataset.gridOption, box.checked);
      apply();
      if (box.dataset.gridOption === "annotations" && box.checked) observeAll();
    });
  }
  apply();

  let labels = null; // Promise of Map id -> label
  const labelsOf = () => {
    if (!labels) {
      labels = apiFetch(`/api/projects/${grid.dataset.projectId}/labels/`)
        .then((body) => new Map((Array.isArray(body) ? body : body.results || []).map((l) => [l.id, l])))
        .catch(() => new Map());
    }
    return labels;
  };

  const loaded = new WeakSet();
  const load = async (tile) => {
    if (loaded.has(tile)) return;
    loaded.add(tile);
    const canvas = tile.querySelector("canvas.tile-overlay");
    if (!canvas) return;
    try {
      const [byId, body] = await Promise.all([labelsOf(), apiFetch(`/api/images/${tile.dataset.imageId}/annotations`)]);
      tile.annotations = body.annotations || [];
      draw(tile, byId);
    } catch (error) {
      canvas.dataset.error = error.message;
      loaded.delete(tile); // tried again when it comes back into view
    }
  };

  const observer = "IntersectionObserver" in window
    ? new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        load(entry.target);
      }
    }, { rootMargin: "200px" })
    : null;

  function observeAll() {
    if (grid.classList.contains("hide-annotations")) return; // nothing is fetched while hidden
    for (const tile of grid.querySelectorAll("figure.tile[data-image-id]")) {
      if (loaded.has(tile)) continue;
      if (observer) observer.observe(tile);
      else load(tile);
    }
  }
  observeAll();

  // a tile's size follows the grid's columns: redraw at the new size
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(async () => {
      const byId = await labelsOf();
      for (const tile of grid.querySelectorAll("figure.tile")) if (tile.annotations) draw(tile, byId);
    }, 150);
  });
}

/** The tile's annotations on its canvas, mapped as object-fit: cover maps the image. */
function draw(tile, labelsById) {
  const canvas = tile.querySelector("canvas.tile-overlay");
  const img = tile.querySelector("img");
  const width = Number(tile.dataset.width), height = Number(tile.dataset.height);
  const w = img.clientWidth || canvas.clientWidth, h = img.clientHeight || canvas.clientHeight;
  if (!w || !h || !width || !height) return;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d");
  const s = Math.max(w / width, h / height); // cover: the image fills the tile, centred
  const ox = (w - width * s) / 2, oy = (h - height * s) / 2;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  let shapes = 0;
  const px = 1 / s;
  for (const a of tile.annotations) {
    if (a.kind === "tag") continue;
    const label = labelsById.get(a.label);
    const color = /^#[0-9a-fA-F]{6}$/.test(label?.color || "") ? label.color : "#888888";
    const g = a.geometry || {};
    shapes++;
    if (a.kind === "mask") {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      maskOnto(ctx, g, color, width, height, s * dpr, ox * dpr, oy * dpr);
      continue;
    }
    ctx.setTransform(dpr * s, 0, 0, dpr * s, dpr * ox, dpr * oy);
    ctx.lineWidth = 1.5 * px;
    ctx.strokeStyle = color;
    if (a.kind === "box") {
      ctx.fillStyle = rgba(color, 0.12);
      ctx.fillRect(g.x, g.y, g.w, g.h);
      ctx.strokeRect(g.x, g.y, g.w, g.h);
    } else if (a.kind === "polygon") {
      ctx.beginPath();
      polygonPath(ctx, g.polygons || []);
      ctx.fillStyle = rgba(color, 0.25);
      ctx.fill("evenodd");
      ctx.stroke();
    } else if (a.kind === "keypoints") {
      drawKeypoints(ctx, g.points || [], label?.skeleton, {
        color, lineWidth: 1.2 * px, radius: 2.5 * px, pointLineWidth: 1 * px,
        visibleFill: color, visibleStroke: "#ffffff", hiddenFill: "#ffffff", hiddenStroke: color,
      });
    }
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  canvas.dataset.shapes = String(shapes);
  canvas.dataset.drawn = "1";
}

/** A COCO RLE mask sampled down to the canvas: device pixel (cx, cy) shows image pixel
 * ((cx - ox) / k, (cy - oy) / k), in the label's colour, translucent over the thumbnail. */
function maskOnto(ctx, rle, color, width, height, k, ox, oy) {
  let mask;
  try {
    mask = decodeMask(rle, width, height);
  } catch {
    return;
  }
  const cw = ctx.canvas.width, ch = ctx.canvas.height;
  const out = ctx.getImageData(0, 0, cw, ch);
  const d = out.data;
  const [r, g, b] = hexToRgb(color);
  for (let cy = 0; cy < ch; cy++) {
    const y = Math.floor((cy + 0.5 - oy) / k);
    if (y < 0 || y >= height) continue;
    const row = y * width;
    for (let cx = 0; cx < cw; cx++) {
      const x = Math.floor((cx + 0.5 - ox) / k);
      if (x < 0 || x >= width || !mask[row + x]) continue;
      const i = (cy * cw + cx) * 4;
      d[i] = r;
      d[i + 1] = g;
      d[i + 2] = b;
      d[i + 3] = Math.max(d[i + 3], 110);
    }
  }
  ctx.putImageData(out, 0, 0);
}
