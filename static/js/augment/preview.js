// Recipe preview: asks the preview API for samples and draws each with its annotations on a canvas.
// Boxes and polygons as outlines, masks as a translucent fill (COCO compressed RLE decoded here),
// keypoints as dots (hollow when hidden) joined by the label's skeleton.
(function () {
  "use strict";
  const PREVIEW_MAX_SIDE = 1600;
  const form = document.getElementById("preview-form");
  if (!form) return;
  const grid = document.getElementById("preview-grid");
  const status = document.getElementById("preview-status");
  const labels = JSON.parse(document.getElementById("preview-labels").textContent);

  function csrfToken() {
    const input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // COCO's compressed RLE string -> run lengths (pycocotools rleFrString).
  function rleRuns(s) {
    const runs = [];
    let p = 0;
    while (p < s.length) {
      let x = 0, k = 0, more = 1;
      while (more) {
        const c = s.charCodeAt(p) - 48;
        x |= (c & 0x1f) << (5 * k);
        more = c & 0x20;
        p++; k++;
        if (!more && (c & 0x10)) x |= -1 << (5 * k);
      }
      if (runs.length > 2) x += runs[runs.length - 2];
      runs.push(x);
    }
    return runs;
  }

  function hexToRgb(hex) {
    const v = parseInt((hex || "#e6194b").slice(1), 16);
    return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
  }

  function drawMask(ctx, rle, color) {
    const [h, w] = rle.size;
    const overlay = ctx.getImageData(0, 0, w, h);
    const [r, g, b] = hexToRgb(color);
    let idx = 0, on = false;
    for (const run of rleRuns(rle.counts)) {
      if (on) {
        for (let i = idx; i < idx + run; i++) {
          const x = Math.floor(i / h), y = i % h;  // column-major, as COCO stores masks
          const o = (y * w + x) * 4;
          overlay.data[o] = (overlay.data[o] + r) >> 1;
          overlay.data[o + 1] = (overlay.data[o + 1] + g) >> 1;
          overlay.data[o + 2] = (overlay.data[o + 2] + b) >> 1;
        }
      }
      idx += run;
      on = !on;
    }
    ctx.putImageData(overlay, 0, 0);
  }

  function drawAnnotations(ctx, annotations, scale) {
    ctx.lineWidth = Math.max(1.5, 2 / scale);
    for (const ann of annotations) {
      const label = labels[String(ann.label)] || {};
      const color = label.color || "#e6194b";
      const geo = ann.geometry;
      if (ann.kind === "mask") drawMask(ctx, geo.rle, color);
    }
    for (const ann of annotations) {
      const label = labels[String(ann.label)] || {};
      const color = label.color || "#e6194b";
      const geo = ann.geometry;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      if (ann.kind === "box") {
        ctx.strokeRect(geo.x, geo.y, geo.w, geo.h);
      } else if (ann.kind === "polygon") {
        for (const part of geo.polygons) {
          ctx.beginPath();
          for (let i = 0; i < part.length; i += 2) (i ? ctx.lineTo : ctx.moveTo).call(ctx, part[i], part[i + 1]);
          ctx.closePath();
          ctx.stroke();
        }
      } else if (ann.kind === "keypoints") {
        const pts = geo.points;
        for (const [a, b] of label.skeleton || []) {
          if (pts[a] && pts[b] && pts[a][2] > 0 && pts[b][2] > 0) {
            ctx.beginPath(); ctx.moveTo(pts[a][0], pts[a][1]); ctx.lineTo(pts[b][0], pts[b][1]); ctx.stroke();
          }
        }
        pts.forEach(([x, y, v], i) => {
          if (v === 0) return;
          ctx.beginPath();
          ctx.arc(x, y, Math.max(3, 3 / scale), 0, 2 * Math.PI);
          v === 2 ? ctx.fill() : ctx.stroke();
          const name = (label.keypoint_names || [])[i];
          if (name) ctx.fillText(name, x + 4, y - 4);
        });
      }
      if (ann.kind !== "mask" && ann.bbox && ann.kind !== "box" && ann.kind !== "keypoints") {
        ctx.setLineDash([4, 3]);
        ctx.strokeRect(ann.bbox[0], ann.bbox[1], ann.bbox[2], ann.bbox[3]);
        ctx.setLineDash([]);
      }
    }
  }

  function sampleFigure(sample, show) {
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
      if (show) drawAnnotations(ctx, sample.annotations, canvas.clientWidth / sample.width || 1);
      figure.dataset.drawn = "1";
    };
    img.src = sample.image;
    return figure;
  }

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
    const response = await fetch(form.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
    });
    const payload = await response.json();
    grid.replaceChildren();
    if (!response.ok) {
      status.textContent = Object.values(payload).flat().join(" ") || "The preview failed.";
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    status.textContent = `${payload.samples.length} samples of image #${payload.image} (seed ${payload.seed}).`;
    for (const sample of payload.samples) grid.append(sampleFigure(sample, data.get("show") !== null));
  }

  form.addEventListener("submit", run);
  run();
})();
