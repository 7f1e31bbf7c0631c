// kdemo attention views, drawn in the browser from the model's own numbers (kdemo/attention_html.py).
//
// Head view: tokens in two columns, one line per (query, key) pair, opacity = attention weight, one colour per head
// (after bertviz's head view, https://github.com/jessevig/bertviz). Model view: every layer x head as a heatmap
// thumbnail; click one to open it large. With a base model, thumbnails show |fine-tuned - base|.
// Self-contained: no libraries and no network. Mounted by gr.HTML(js_on_load=...): `element` is the component's
// root and `watch('value', fn)` re-runs fn after each new value.

const KD_ROW = 20; // px per token row in the head view
const KD_LINES_WIDTH = 240; // px between the two token columns
const KD_MIN_WEIGHT = 1 / 255; // lines fainter than one colour step are invisible; they are skipped
const KD_HEAD_COLORS = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
];
// matplotlib's viridis at 11 evenly spaced stops (the colour map of kdemo's figures).
const KD_VIRIDIS = [
  [68, 1, 84], [72, 36, 117], [65, 68, 135], [53, 95, 141], [42, 120, 142], [33, 145, 140],
  [34, 168, 132], [68, 191, 112], [122, 209, 81], [189, 223, 38], [253, 231, 37],
];

function kdHeadColor(h) {
  return KD_HEAD_COLORS[h % KD_HEAD_COLORS.length];
}

function kdViridis(v) {
  const t = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (KD_VIRIDIS.length - 1);
  const i = Math.min(KD_VIRIDIS.length - 2, Math.floor(t));
  const f = t - i;
  const a = KD_VIRIDIS[i], b = KD_VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => Math.round(a[k] + f * (b[k] - a[k])));
}

function kdDecode(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true); // little-endian, as sent
  return out;
}

function kdEl(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const child of children || []) node.append(child);
  return node;
}

function kdFmt(v) {
  return Number(v).toFixed(6);
}

// Accessor for one head of a (L, H, R, C) float array.
function kdAt(P, data, l, h) {
  const [, H, R, C] = P.shape;
  const offset = (l * H + h) * R * C;
  return (i, j) => data[offset + i * C + j];
}

function kdCanvas(cssWidth, cssHeight) {
  const dpr = window.devicePixelRatio || 1;
  const canvas = kdEl("canvas", {
    width: String(Math.max(1, Math.round(cssWidth * dpr))),
    height: String(Math.max(1, Math.round(cssHeight * dpr))),
  });
  canvas.style.width = cssWidth + "px";
  canvas.style.height = cssHeight + "px";
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return [canvas, ctx];
}

// ------------------------------------------------------------------------------------------------ head view
function kdHeadView(P, opts) {
  const [L, H, R, C] = P.shape;
  const data = opts.data || P.att;
  const state = {
    layer: opts.layer || 0,
    heads: new Set(opts.heads || [...Array(H).keys()]),
    focus: null, // {side: "row" | "col", index}
    pinned: false,
  };
  const root = kdEl("div", { class: "kd-headview" });
  let sync = () => draw();
  const status = kdEl("div", { class: "kd-status", text: "Hover a token to see only its lines; click it to keep them." });

  // with opts.selected the page's one layer/head control (the sliders above) chooses what this view draws
  const chosen = opts.selected ? kdEl("div", { class: "kd-selection" }) : null;
  const label = () => { if (chosen) chosen.textContent = "Layer " + (state.layer + 1) + ", head " + ([...state.heads][0] + 1) + " (chosen with the Layer and Head sliders above)"; };
  if (chosen) { label(); root.append(chosen); }
  if (!opts.fixed && !opts.selected) {
    const controls = kdEl("div", { class: "kd-controls" });
    const select = kdEl("select", { class: "kd-layer", "aria-label": "Layer" });
    for (let l = 0; l < L; l++) select.append(kdEl("option", { value: String(l), text: "Layer " + (l + 1) }));
    select.value = String(state.layer);
    select.addEventListener("change", () => { state.layer = Number(select.value); draw(); });
    controls.append(kdEl("label", { text: "Layer " }), select, kdEl("span", { class: "kd-sep", text: "Heads:" }));
    const swatches = [];
    for (let h = 0; h < H; h++) {
      const sw = kdEl("button", { class: "kd-swatch", type: "button", title: "Head " + (h + 1) + " (click: show or hide; double-click: only this head)", text: String(h + 1) });
      sw.style.setProperty("--kd-head", kdHeadColor(h));
      sw.addEventListener("click", () => { state.heads.has(h) ? state.heads.delete(h) : state.heads.add(h); sync(); });
      sw.addEventListener("dblclick", () => { state.heads = new Set([h]); sync(); });
      swatches.push(sw);
      controls.append(sw);
    }
    const all = kdEl("button", { class: "kd-small", type: "button", text: "all" });
    const none = kdEl("button", { class: "kd-small", type: "button", text: "none" });
    all.addEventListener("click", () => { state.heads = new Set([...Array(H).keys()]); sync(); });
    none.addEventListener("click", () => { state.heads = new Set(); sync(); });
    controls.append(all, none);
    root.append(controls);
    sync = () => { swatches.forEach((sw, h) => sw.classList.toggle("kd-off", !state.heads.has(h))); draw(); };
  }

  const height = Math.max(R, C) * KD_ROW;
  const [canvas, ctx] = kdCanvas(KD_LINES_WIDTH, height);
  canvas.className = "kd-lines";
  const column = (labels, special, side) => {
    const col = kdEl("div", { class: "kd-col kd-col-" + side });
    labels.forEach((t, i) => {
      const tok = kdEl("div", { class: "kd-tok" + (special[i] ? " kd-special" : ""), "data-side": side, "data-index": String(i), text: t });
      tok.addEventListener("mouseenter", () => { if (!state.pinned) { state.focus = { side, index: i }; draw(); } });
      tok.addEventListener("mouseleave", () => { if (!state.pinned) { state.focus = null; draw(); } });
      tok.addEventListener("click", () => {
        const same = state.focus && state.focus.side === side && state.focus.index === i;
        state.pinned = !(state.pinned && same);
        state.focus = state.pinned ? { side, index: i } : null;
        draw();
      });
      col.append(tok);
    });
    return col;
  };
  const left = column(P.rows, P.rowSpecial, "row");
  const right = column(P.cols, P.colSpecial, "col");
  root.append(kdEl("div", { class: "kd-hv-body" }, [left, canvas, right]), status);

  function draw() {
    const heads = [...state.heads].sort((a, b) => a - b);
    ctx.clearRect(0, 0, KD_LINES_WIDTH, height);
    ctx.lineWidth = heads.length > 4 ? 1.5 : 2;
    const f = state.focus;
    for (const h of heads) {
      const at = kdAt(P, data, state.layer, h);
      ctx.strokeStyle = kdHeadColor(h);
      for (let i = 0; i < R; i++) {
        if (f && f.side === "row" && f.index !== i) continue;
        for (let j = 0; j < C; j++) {
          if (f && f.side === "col" && f.index !== j) continue;
          const w = at(i, j);
          if (w < KD_MIN_WEIGHT) continue;
          ctx.globalAlpha = Math.min(1, w);
          ctx.beginPath();
          ctx.moveTo(0, (i + 0.5) * KD_ROW);
          ctx.lineTo(KD_LINES_WIDTH, (j + 0.5) * KD_ROW);
          ctx.stroke();
        }
      }
    }
    ctx.globalAlpha = 1;
    highlight(heads);
  }

  function highlight(heads) {
    const f = state.focus;
    root.querySelectorAll(".kd-tok").forEach((t) => { t.style.background = ""; t.classList.remove("kd-focus"); t.removeAttribute("title"); });
    if (!f) { status.textContent = "Hover a token to see only its lines; click it to keep them."; return; }
    const own = (f.side === "row" ? left : right).children[f.index];
    own.classList.add("kd-focus");
    const others = (f.side === "row" ? right : left).children;
    const parts = [];
    for (let k = 0; k < others.length; k++) {
      let best = 0;
      const lines = [];
      for (const h of heads) {
        const at = kdAt(P, data, state.layer, h);
        const w = f.side === "row" ? at(f.index, k) : at(k, f.index);
        best = Math.max(best, w);
        lines.push("head " + (h + 1) + ": " + kdFmt(w));
      }
      others[k].style.background = "rgba(255, 140, 0, " + best.toFixed(3) + ")";
      others[k].title = lines.join("\n");
    }
    for (const h of heads.slice(0, 6)) {
      const at = kdAt(P, data, state.layer, h);
      let bestK = 0;
      for (let k = 1; k < others.length; k++) {
        const w = f.side === "row" ? at(f.index, k) : at(k, f.index);
        const wb = f.side === "row" ? at(f.index, bestK) : at(bestK, f.index);
        if (w > wb) bestK = k;
      }
      const w = f.side === "row" ? at(f.index, bestK) : at(bestK, f.index);
      parts.push("head " + (h + 1) + " → " + others[bestK].textContent + " " + w.toFixed(3));
    }
    const who = (f.side === "row" ? "“" + own.textContent + "” attends most to: " : "attends most to “" + own.textContent + "”: ");
    status.textContent = "Layer " + (state.layer + 1) + " · " + who + (parts.join(" · ") || "no head selected") + (state.pinned ? "  (kept; click again to release)" : "");
  }

  draw();
  root.kdSetLayer = (l) => { state.layer = l; draw(); };
  root.kdSelect = (l, h) => { state.layer = l; state.heads = new Set([h]); label(); draw(); };
  return root;
}

// ------------------------------------------------------------------------------------------------ heatmaps
function kdHeatmap(P, at, title, vmax, target) {
  const [, , R, C] = P.shape;
  const cell = Math.max(5, Math.min(26, Math.floor((target || 480) / Math.max(R, C))));
  const probe = document.createElement("canvas").getContext("2d");
  probe.font = "11px sans-serif";
  const textWidth = (labels) => Math.min(140, Math.max(...labels.map((t) => probe.measureText(t).width), 10));
  const left = textWidth(P.rows) + 8, top = textWidth(P.cols) + 8;
  const width = left + C * cell + 2, height = top + R * cell + 2;
  const [canvas, ctx] = kdCanvas(width, height);
  canvas.className = "kd-heatmap";
  ctx.font = "11px sans-serif";
  ctx.fillStyle = getComputedStyle(document.body).color || "#222";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  P.rows.forEach((t, i) => ctx.fillText(t, left - 4, top + (i + 0.5) * cell, left - 6));
  ctx.save();
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "left";
  P.cols.forEach((t, j) => ctx.fillText(t, -(top - 4), left + (j + 0.5) * cell, top - 6));
  ctx.restore();
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const [r, g, b] = kdViridis(at(i, j) / vmax);
      ctx.fillStyle = "rgb(" + r + "," + g + "," + b + ")";
      ctx.fillRect(left + j * cell, top + i * cell, cell, cell);
    }
  }
  const readout = kdEl("div", { class: "kd-readout", text: "Hover a cell for its exact value. Colour scale 0 – " + vmax.toFixed(3) + "." });
  canvas.addEventListener("mousemove", (ev) => {
    const box = canvas.getBoundingClientRect();
    const j = Math.floor((ev.clientX - box.left - left) / cell), i = Math.floor((ev.clientY - box.top - top) / cell);
    if (i >= 0 && i < R && j >= 0 && j < C) readout.textContent = "“" + P.rows[i] + "” → “" + P.cols[j] + "”: " + kdFmt(at(i, j));
  });
  return kdEl("figure", { class: "kd-figure" }, [kdEl("figcaption", { text: title }), canvas, readout]);
}

function kdThumb(P, at, size, vmax) {
  const [, , R, C] = P.shape;
  const canvas = kdEl("canvas", { width: String(C), height: String(R) });
  canvas.style.width = size + "px";
  canvas.style.height = Math.max(8, Math.round((size * R) / C)) + "px";
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(C, R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < C; j++) {
      const [r, g, b] = kdViridis(at(i, j) / vmax);
      const k = 4 * (i * C + j);
      img.data[k] = r; img.data[k + 1] = g; img.data[k + 2] = b; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

// ------------------------------------------------------------------------------------------------ model view
function kdModelView(P, large) {
  const [L, H] = P.shape;
  const delta = P.base ? P.att.map((v, k) => Math.abs(v - P.base[k])) : null;
  const shown = delta || P.att;
  const vmax = delta ? Math.max(1e-6, kdMax(delta)) : 1;
  const size = Math.max(40, Math.min(96, Math.floor(720 / H)));
  const root = kdEl("div", { class: "kd-modelview" });
  root.append(kdEl("div", { class: "kd-hint", text: delta
    ? "Each thumbnail is |fine-tuned − base| of one head (colour scale 0 – " + vmax.toFixed(3) + "; the number is the mean total-variation distance, 0–1). Click one to open it large."
    : "Each thumbnail is one head's attention map (rows attend to columns, colour scale 0–1). Click one to open it large." }));
  const grid = kdEl("div", { class: "kd-grid" });
  grid.style.gridTemplateColumns = "2.6em repeat(" + H + ", " + size + "px)";
  grid.append(kdEl("div"));
  for (let h = 0; h < H; h++) grid.append(kdEl("div", { class: "kd-axis", text: "H" + (h + 1) }));
  for (let l = 0; l < L; l++) {
    grid.append(kdEl("div", { class: "kd-axis", text: "L" + (l + 1) }));
    for (let h = 0; h < H; h++) {
      const thumb = kdEl("div", { class: "kd-thumb", role: "button", tabindex: "0", "data-layer": String(l), "data-head": String(h), title: "Layer " + (l + 1) + ", head " + (h + 1) + ": click to open it large" });
      thumb.append(kdThumb(P, kdAt(P, shown, l, h), size, vmax));
      if (P.headChange) thumb.append(kdEl("div", { class: "kd-score", text: P.headChange[l][h].toFixed(2) }));
      const open = () => kdOpenLarge(P, large, l, h, grid, thumb);
      thumb.addEventListener("click", open);
      thumb.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      grid.append(thumb);
    }
  }
  root.append(grid);
  return root;
}

function kdMax(values) {
  let m = 0;
  for (let k = 0; k < values.length; k++) if (values[k] > m) m = values[k];
  return m;
}

function kdOpenLarge(P, large, l, h, grid, thumb) {
  grid.querySelectorAll(".kd-thumb").forEach((t) => t.classList.remove("kd-selected"));
  thumb.classList.add("kd-selected");
  const close = kdEl("button", { class: "kd-close", type: "button", title: "Close", text: "×" });
  close.addEventListener("click", () => { large.hidden = true; thumb.classList.remove("kd-selected"); });
  const body = kdEl("div", { class: "kd-large-body" });
  if (P.base) {
    const aAt = kdAt(P, P.att, l, h), bAt = kdAt(P, P.base, l, h);
    const dAt = (i, j) => Math.abs(aAt(i, j) - bAt(i, j));
    let dmax = 1e-6;
    for (let i = 0; i < P.shape[2]; i++) for (let j = 0; j < P.shape[3]; j++) dmax = Math.max(dmax, dAt(i, j));
    body.append(
      kdHeatmap(P, bAt, "Base checkpoint", 1, 300),
      kdHeatmap(P, aAt, "Fine-tuned", 1, 300),
      kdHeatmap(P, dAt, "|fine-tuned − base|", dmax, 300),
    );
  } else {
    body.append(kdHeadView(P, { layer: l, heads: [h], fixed: true }), kdHeatmap(P, kdAt(P, P.att, l, h), "Heatmap (rows attend to columns)", 1));
  }
  const change = P.headChange ? " · change " + P.headChange[l][h].toFixed(3) : "";
  large.replaceChildren(kdEl("div", { class: "kd-large-head" }, [kdEl("strong", { text: "Layer " + (l + 1) + ", head " + (h + 1) + change }), close]), body);
  large.hidden = false;
  large.scrollIntoView({ block: "nearest", behavior: "instant" });
}

// ------------------------------------------------------------------------------------------------ mount
function kdBuild(host) {
  const P = JSON.parse(host.getAttribute("data-kdemo-attention"));
  P.att = kdDecode(P.att);
  if (P.base) P.base = kdDecode(P.base);
  const parts = [kdEl("div", { class: "kd-title", text: P.title })];
  if (P.caption) parts.push(kdEl("div", { class: "kd-caption", text: P.caption }));
  const sections = [];
  const large = kdEl("div", { class: "kd-large" }); // a clicked thumbnail opens here, full width under the views
  large.hidden = true;
  const sel = P.selected;
  const headView = P.views.includes("head") ? kdHeadView(P, sel ? { layer: sel[0], heads: [sel[1]], selected: true } : { layer: 0 }) : null;
  if (headView) sections.push(kdEl("section", { class: "kd-section" }, [kdEl("h4", { text: "Head view" }), headView]));
  if (P.views.includes("model")) sections.push(kdEl("section", { class: "kd-section" }, [kdEl("h4", { text: P.base ? "Change per head" : "Model view" }), kdModelView(P, large)]));
  parts.push(kdEl("div", { class: "kd-views" }, sections), large);
  host.replaceChildren(...parts);
  host.kdPayload = P; // the decoded numbers, for tests and the browser console
  host.kdSelect = (l, h) => { // the page's layer/head control moved (1 ≤ l+1 ≤ layers, 1 ≤ h+1 ≤ heads)
    if (!headView || !sel) return;
    sel[0] = Math.min(Math.max(0, l), P.shape[0] - 1);
    sel[1] = Math.min(Math.max(0, h), P.shape[1] - 1);
    headView.kdSelect(sel[0], sel[1]);
  };
  host.setAttribute("data-kd-ready", "1");
}

function kdMount(element, watch) {
  const draw = () => {
    const host = element.querySelector("[data-kdemo-attention]");
    if (!host) return;
    try {
      kdBuild(host);
    } catch (err) {
      console.error("kdemo attention view:", err);
      host.textContent = "Could not draw the attention views: " + err;
    }
  };
  draw();
  if (watch) watch("value", draw);
}
