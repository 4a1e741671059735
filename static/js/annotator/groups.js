// Instance groups: the parts of one object (its box, its mask or polygon, its keypoints set, all
// of one label) share `shape.group`, a number that is the page's own: the server checks the same
// rules and renumbers canonically, so what is sent is worked out from scratch on every save
// (canonicalGroups). A group with a single part is no group (it is shown and sent as none).
import { describe } from "./shapes.js";

/** The slot each groupable kind fills in its object: a group holds at most one of each. */
export const SLOTS = { box: "box", polygon: "outline", mask: "outline", keypoints: "keypoints" };
const SLOT_ORDER = { box: 0, outline: 1, keypoints: 2 };
const TWO = {
  box: "two boxes: an object has at most one box",
  outline: "two masks or polygons: an object has at most one mask or polygon",
  keypoints: "two keypoint sets: an object has at most one",
};

/** group number → how many non-tag shapes carry it. */
export function groupSizes(shapes) {
  const sizes = new Map();
  for (const s of shapes) {
    if (s.group != null && s.kind !== "tag") sizes.set(s.group, (sizes.get(s.group) || 0) + 1);
  }
  return sizes;
}

export const isGrouped = (shape, sizes) => shape.group != null && shape.kind !== "tag" && sizes.get(shape.group) > 1;

/** Every part of `shape`'s object (just [shape] when it is not grouped), box first. */
export function partsOf(shapes, shape) {
  if (shape.group == null || shape.kind === "tag") return [shape];
  const parts = shapes.filter((s) => s.group === shape.group && s.kind !== "tag");
  return parts.length > 1 ? sortParts(parts) : [shape];
}

export const sortParts = (parts) => parts.sort((a, b) => SLOT_ORDER[SLOTS[a.kind]] - SLOT_ORDER[SLOTS[b.kind]]);

/** Why `parts` cannot be one object, in words (null: they can). */
export function groupProblem(parts, labelsById) {
  if (parts.some((s) => s.kind === "tag")) return "a tag labels the whole image and is never part of an object";
  const labels = [...new Set(parts.map((s) => s.label))];
  if (labels.length > 1) {
    const names = labels.map((id) => labelsById.get(id)?.name || `label ${id}`).join(", ");
    return `different labels (${names}): an object has one label`;
  }
  const seen = new Set();
  for (const s of parts) {
    const slot = SLOTS[s.kind];
    if (!slot) return `a ${s.kind} cannot be part of an object`;
    if (seen.has(slot)) return TWO[slot];
    seen.add(slot);
  }
  return null;
}

/** A group number no shape uses (stale numbers of one-part groups included). */
export function nextGroupId(shapes) {
  let max = 0;
  for (const s of shapes) if (s.group != null && s.group > max) max = s.group;
  return max + 1;
}

/**
 * The group value to send for each shape, in order: 1..n in order of first appearance, null
 * for a group of one part and for tags, as the server stores them. A part that would break a
 * rule (the page should never let that happen) is sent ungrouped rather than as an invalid group.
 */
export function canonicalGroups(shapes) {
  const label = new Map();
  const slots = new Set();
  const kept = shapes.map((s) => {
    if (s.group == null || s.kind === "tag" || !SLOTS[s.kind]) return null;
    if (!label.has(s.group)) label.set(s.group, s.label);
    const slot = `${s.group}:${SLOTS[s.kind]}`;
    if (label.get(s.group) !== s.label || slots.has(slot)) return null;
    slots.add(slot);
    return s.group;
  });
  const sizes = new Map();
  for (const g of kept) if (g != null) sizes.set(g, (sizes.get(g) || 0) + 1);
  const numbers = new Map();
  return kept.map((g) => {
    if (g == null || sizes.get(g) < 2) return null;
    if (!numbers.has(g)) numbers.set(g, numbers.size + 1);
    return numbers.get(g);
  });
}

/**
 * The object list's rows, in order of first appearance: {group, number, parts} where `group` is
 * the local group (null for a shape on its own) and `number` its canonical number (#n).
 */
export function objectsOf(shapes) {
  const sizes = groupSizes(shapes);
  const rows = [];
  const byGroup = new Map();
  for (const s of shapes) {
    if (s.kind === "tag") continue;
    if (!isGrouped(s, sizes)) {
      rows.push({ group: null, number: null, parts: [s] });
      continue;
    }
    let row = byGroup.get(s.group);
    if (!row) {
      row = { group: s.group, number: byGroup.size + 1, parts: [] };
      byGroup.set(s.group, row);
      rows.push(row);
    }
    row.parts.push(s);
  }
  for (const row of byGroup.values()) sortParts(row.parts);
  return rows;
}

/** "face #2" for a grouped shape, its description otherwise. */
export function objectName(shapes, shape, labelsById) {
  const name = labelsById.get(shape.label)?.name || `label ${shape.label}`;
  if (partsOf(shapes, shape).length < 2) return describe(shape, labelsById);
  const row = objectsOf(shapes).find((r) => r.group === shape.group);
  return `${name} #${row.number}`;
}
