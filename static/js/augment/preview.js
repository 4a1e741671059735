// Recipe preview: asks the preview API for samples and draws each with its annotations on a canvas.
// Boxes and polygons as outlines, masks as a translucent fill (COCO compressed RLE), keypoints as
// dots (hollow when hidden) joined by the label's skeleton: the shared primitives of common/draw.js.
import { dashedRect, drawKeypoints, drawMaskOverlay, polygonPath, strokeBox } from "../common/draw.js";
import { apiCall } from "../common/http.js";

const PREVIEW_MAX_SIDE = 1600;
const DEFAULT_COLOR = "#e6194b";

function drawAnnotations(ctx, annotations, labels, scale) {
  const lineWidth = Math.max(1.5, 2 / scale);
  ctx.lineWidth = lineWidth;
  for (const ann of annotations) {
    const label = labels[String(ann.label)] || {};
    if (ann.kind === "mask") drawMaskOverlay(ctx, ann.geometry.rle, label.color || DEFAULT_COLOR);
  }
  for (const ann of annotations) {
    const label = labels[String(ann.label)] || {};
    const color = label.color || DEFAULT_COLOR;
    const geo = ann.geometry;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    if (ann.kind === "box") {
      strokeBox(ctx, geo);
    } else if (ann.kind === "polygon") {
      for (const part of geo.polygons) {
        ctx.beginPath();
        polygonPath(ctx, [part]);
        ctx.stroke();
      }
    } else if (ann.kind === "keypoints") {
      drawKeypoints(ctx, geo.points, label.skeleton, {
        color, lineWidth, radius: Math.max(3, 3 / scale),
        visibleFill: color, visibleStroke: null, hiddenFill: null, hiddenStroke: color,
        names: label.keypoint_names,
      });
    }
    if (ann.kind !== "mask" && ann.bbox && ann.kind !== "box" && ann.kind !== "keypoints") {
      dashedRect(ctx, ann.bbox[0], ann.bbox[1], ann.bbox[2], ann.bbox[3], [4, 3]);
    }
  }
}

/** One sample as a <figure> with a canvas: the JPEG, then its annotations (shared with the recipe editor). */
export function sampleFigure(sample, labels, show) {
  const figure = document.createElement("figure");
  figure.dataset.seed = sample.seed;
  const canvas = document.createElement("canvas");
  canvas.width = sample.width;
  canvas.height = sample.height;
  const caption = document.createElement("figcaption");
  caption.textContent = `#${sample.index} · seed ${sample.seed} · ${sample.width}×${sample.height} · ` +
    `${sample.annotations.length} annotation${sample.annotations.length === 1 ? "" : "s"}`;
  figure.append(canvas, caption);
  const img = new Image();
  img.onload = () => {
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height); // a shrunk JPEG fills the full-size canvas
    if (show) drawAnnotations(ctx, sample.annotations, labels, canvas.clientWidth / sample.width || 1);
    figure.dataset.drawn = "1";
  };
  img.src = sample.image;
  return figure;
}

function start(form) {
  const grid = document.getElementById("preview-grid");
  const status = document.getElementById("preview-status");
  const labels = JSON.parse(document.getElementById("preview-labels").textContent);

  async function run(event) {
    if (event) event.preventDefault();
    const data = new FormData(form);
    if (!data.get("image")) return;
    // Samples are drawn as thumbnails: ask for JPEGs no larger than a wide screen shows them.
    const body = {
      image: Number(data.get("image")), count: Number(data.get("count")), seed: Number(data.get("seed")),
      max_side: PREVIEW_MAX_SIDE,
    };
    status.textContent = "Augmenting…";
    const { ok, body: payload } = await apiCall(form.dataset.api, { method: "POST", body });
    grid.replaceChildren();
    if (!ok) {
      status.textContent = Object.values(payload || {}).flat().join(" ") || "The preview failed.";
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    status.textContent = `${payload.samples.length} samples of image #${payload.image} (seed ${payload.seed}).`;
    for (const sample of payload.samples) grid.append(sampleFigure(sample, labels, data.get("show") !== null));
  }

  form.addEventListener("submit", run);
  run();
}

const form = document.getElementById("preview-form");
if (form) start(form);
