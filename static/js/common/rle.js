// COCO run-length encoding of masks, exactly as pycocotools writes and reads it (shared by the
// labeling page, which encodes masks, and every page that draws them).
// A mask here is a Uint8Array of width*height pixels in row-major order (index y*width + x),
// values 0/1. COCO runs go column by column (Fortran order) and start with a run of zeros;
// the compressed string is pycocotools' rleToString: each run (after the third, as a delta
// from the run two before) in 5-bit groups, 0x20 as "more follows", offset by 48.

/** Runs of alternating 0s and 1s, column-major, starting with 0s. */
export function maskToRuns(mask, width, height) {
  const runs = [];
  let current = 0;
  let length = 0;
  for (let x = 0; x < width; x++) {
    for (let i = x, end = x + width * height; i < end; i += width) {
      const v = mask[i] ? 1 : 0;
      if (v !== current) {
        runs.push(length);
        current = v;
        length = 0;
      }
      length++;
    }
  }
  runs.push(length);
  return runs;
}

/** pycocotools' rleToString. */
export function runsToString(runs) {
  let out = "";
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i];
    if (i > 2) x -= runs[i - 2];
    let more = true;
    while (more) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      out += String.fromCharCode(c + 48);
    }
  }
  return out;
}

/** pycocotools' rleFrString; throws on a malformed string. */
export function stringToRuns(counts) {
  const runs = [];
  let p = 0;
  while (p < counts.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= counts.length) throw new Error("RLE counts end in the middle of a number");
      const c = counts.charCodeAt(p) - 48;
      if (c < 0 || c >= 64) throw new Error("RLE counts contain an invalid character");
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (runs.length > 2) x += runs[runs.length - 2];
    runs.push(x);
  }
  return runs;
}

export function encodeMask(mask, width, height) {
  return { size: [height, width], counts: runsToString(maskToRuns(mask, width, height)) };
}

/** A stored {size, counts} RLE back to a row-major 0/1 mask. */
export function decodeMask(rle, width, height) {
  const [h, w] = rle.size;
  if (h !== height || w !== width) throw new Error(`mask size ${h}x${w} does not match the image`);
  const runs = typeof rle.counts === "string" ? stringToRuns(rle.counts) : rle.counts;
  const mask = new Uint8Array(width * height);
  let pos = 0;
  let value = 0;
  for (const run of runs) {
    if (value) {
      for (let j = pos; j < pos + run; j++) {
        const x = Math.floor(j / height);
        mask[(j - x * height) * width + x] = 1;
      }
    }
    pos += run;
    value ^= 1;
  }
  if (pos !== width * height) throw new Error("RLE runs do not cover the image");
  return mask;
}
