// The keypoint editor of a label class: the ordered names (add, remove, reorder) and the skeleton,
// drawn as points on a circle: click two points to join them, click a line to remove it.
// It only edits {keypoint_names, skeleton}; saving (and every rule about them) is the API's.

const SVG = "http://www.w3.org/2000/svg";
const SIZE = { width: 320, height: 260, cx: 160, cy: 130, r: 85, labelR: 104 };

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Where point ``i`` of ``n`` sits on the circle (the first at the top, clockwise). */
export function pointPosition(i, n, radius = SIZE.r) {
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(n, 1);
  return { x: SIZE.cx + radius * Math.cos(angle), y: SIZE.cy + radius * Math.sin(angle), cos: Math.cos(angle) };
}

/** The skeleton after removing keypoint ``k``: its edges go, later indexes shift down. */
export function skeletonWithout(skeleton, k) {
  return skeleton.filter((edge) => !edge.includes(k)).map((edge) => edge.map((i) => (i > k ? i - 1 : i)));
}

/** The skeleton after keypoints ``a`` and ``b`` trade places in the order. */
export function skeletonSwapped(skeleton, a, b) {
  return skeleton.map((edge) => edge.map((i) => (i === a ? b : i === b ? a : i)));
}

const sameEdge = (e, a, b) => (e[0] === a && e[1] === b) || (e[0] === b && e[1] === a);

/**
 * An editor in ``container`` for ``names`` and ``skeleton``; ``readOnly`` draws without controls.
 * ``onChange()`` is called after every edit. Returns {value(), set(names, skeleton)}.
 */
export function keypointEditor(container, { names, skeleton, readOnly = false, onChange = () => {} }) {
  let state = { names: [...names], skeleton: skeleton.map((e) => [...e]) };
  let selected = null;

  const list = el("ol", { class: "kp-names", "data-testid": "kp-names" });
  const addRow = el("div", { class: "kp-add" });
  const input = el("input", { placeholder: "keypoint name, e.g. left_eye", "data-testid": "kp-new-name", "aria-label": "New keypoint name" });
  const addButton = el("button", { type: "button", "data-testid": "kp-add" }, "Add keypoint");
  addRow.append(input, addButton);
  const hint = el("p", { class: "muted" }, readOnly ? "Skeleton" : "Click two points to join them; click a line to remove it.");
  const diagram = svg("svg", {
    class: "kp-diagram", "data-testid": "kp-diagram", viewBox: `0 0 ${SIZE.width} ${SIZE.height}`,
    width: SIZE.width, height: SIZE.height, role: "img", "aria-label": "Skeleton diagram",
  });
  const edgeList = el("ul", { class: "kp-edge-list muted", "data-testid": "kp-edge-list" });
  const columns = el("div", { class: "kp-columns" });
  const left = el("div");
  left.append(list);
  if (!readOnly) left.append(addRow);
  const right = el("div");
  right.append(hint, diagram, edgeList);
  columns.append(left, right);
  container.replaceChildren(columns);

  const changed = () => { render(); onChange(); };

  function addName() {
    const name = input.value.trim();
    if (!name) return;
    state.names.push(name);
    input.value = "";
    input.focus();
    changed();
  }
  addButton.addEventListener("click", addName);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); addName(); }
  });

  function move(i, j) {
    if (j < 0 || j >= state.names.length) return;
    [state.names[i], state.names[j]] = [state.names[j], state.names[i]];
    state.skeleton = skeletonSwapped(state.skeleton, i, j);
    selected = null;
    changed();
  }

  function remove(i) {
    state.names.splice(i, 1);
    state.skeleton = skeletonWithout(state.skeleton, i);
    selected = null;
    changed();
  }

  function clickPoint(i) {
    if (readOnly) return;
    if (selected === null) { selected = i; render(); return; }
    if (selected === i) { selected = null; render(); return; }
    const a = selected;
    selected = null;
    if (!state.skeleton.some((e) => sameEdge(e, a, i))) state.skeleton.push([a, i]);
    changed();
  }

  function removeEdge(k) {
    if (readOnly) return;
    state.skeleton.splice(k, 1);
    changed();
  }

  function renderList() {
    list.replaceChildren(...state.names.map((name, i) => {
      const li = el("li", { "data-testid": "kp-name", "data-index": i });
      li.append(el("span", { class: "kp-label" }, name));
      if (!readOnly) {
        const up = el("button", { type: "button", class: "small", "data-testid": "kp-up", title: "Move up", "aria-label": `Move ${name} up` }, "↑");
        const down = el("button", { type: "button", class: "small", "data-testid": "kp-down", title: "Move down", "aria-label": `Move ${name} down` }, "↓");
        const drop = el("button", { type: "button", class: "small danger", "data-testid": "kp-remove", title: "Remove", "aria-label": `Remove ${name}` }, "×");
        up.disabled = i === 0;
        down.disabled = i === state.names.length - 1;
        up.addEventListener("click", () => move(i, i - 1));
        down.addEventListener("click", () => move(i, i + 1));
        drop.addEventListener("click", () => remove(i));
        li.append(" ", up, down, drop);
      }
      return li;
    }));
  }

  function renderDiagram() {
    const n = state.names.length;
    const nodes = [svg("circle", { cx: SIZE.cx, cy: SIZE.cy, r: SIZE.r, class: "kp-ring" })];
    state.skeleton.forEach(([a, b], k) => {
      if (a >= n || b >= n) return;
      const p = pointPosition(a, n);
      const q = pointPosition(b, n);
      const group = svg("g", { class: "kp-edge", "data-testid": "kp-edge", "data-edge": `${a}-${b}` });
      group.append(
        svg("line", { x1: p.x, y1: p.y, x2: q.x, y2: q.y, class: "kp-edge-hit" }),
        svg("line", { x1: p.x, y1: p.y, x2: q.x, y2: q.y, class: "kp-edge-line" }),
        svg("title", {}, `${state.names[a]} — ${state.names[b]}${readOnly ? "" : " (click to remove)"}`),
      );
      group.addEventListener("click", () => removeEdge(k));
      nodes.push(group);
    });
    state.names.forEach((name, i) => {
      const p = pointPosition(i, n);
      const t = pointPosition(i, n, SIZE.labelR);
      const anchor = Math.abs(t.cos) < 0.2 ? "middle" : t.cos > 0 ? "start" : "end";
      const group = svg("g", {
        class: `kp-point${selected === i ? " selected" : ""}`, "data-testid": "kp-point", "data-index": i,
      });
      group.append(
        svg("circle", { cx: p.x, cy: p.y, r: 9 }),
        svg("text", { x: p.x, y: p.y + 4, "text-anchor": "middle", class: "kp-index" }, i + 1),
        svg("text", { x: t.x, y: t.y + 4, "text-anchor": anchor, class: "kp-text" }, name),
      );
      group.addEventListener("click", () => clickPoint(i));
      nodes.push(group);
    });
    diagram.replaceChildren(...nodes);
    edgeList.replaceChildren(...state.skeleton.map(([a, b]) => el("li", {}, `${state.names[a]} — ${state.names[b]}`)));
    if (!state.skeleton.length) edgeList.append(el("li", {}, "No skeleton lines yet."));
  }

  function render() {
    renderList();
    renderDiagram();
  }

  render();
  return {
    value: () => ({ keypoint_names: [...state.names], skeleton: state.skeleton.map((e) => [...e]) }),
    set(newNames, newSkeleton) {
      state = { names: [...newNames], skeleton: newSkeleton.map((e) => [...e]) };
      selected = null;
      render();
    },
  };
}
