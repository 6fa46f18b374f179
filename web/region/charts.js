// Draw the region's figures as inline SVG bar charts, each paired with a table of the same
// numbers: the table is what screen readers and keyboard users read, the chart is for the eye.
// https://www.w3.org/WAI/tutorials/images/complex/

const SVG = "http://www.w3.org/2000/svg";
// Colours a colour-blind reader can tell apart (Okabe–Ito), each dark enough against white.
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#999999"];

function svg(name, attrs = {}) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  return el;
}

function el(name, text = "", attrs = {}) {
  const node = document.createElement(name);
  if (text !== "") node.textContent = text;
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** Return a table: `columns` are [heading, isNumber]; `rows` lists of cell values. */
export function table(caption, columns, rows, emptyText = "") {
  const t = el("table");
  t.append(el("caption", caption));
  const head = el("tr");
  for (const [heading, numeric] of columns) head.append(el("th", heading, numeric ? { scope: "col", class: "number" } : { scope: "col" }));
  const thead = el("thead");
  thead.append(head);
  t.append(thead);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    row.forEach((cell, i) => tr.append(el(i === 0 ? "th" : "td", cell ?? "–", i === 0 ? { scope: "row" } : (columns[i][1] ? { class: "number" } : {}))));
    body.append(tr);
  }
  if (!rows.length && emptyText) {
    const tr = el("tr");
    tr.append(el("td", emptyText, { colspan: columns.length }));
    body.append(tr);
  }
  t.append(body);
  return t;
}

/**
 * Return a stacked bar chart: one bar per group (`groups`), stacked by series (`series`),
 * `value(group, series)` the number. The SVG is hidden from screen readers: the table says it all.
 */
export function stackedBars(groups, series, value, { labels = (s) => s } = {}) {
  const wrap = el("div", "", { class: "chart" });
  // Each bar has its label on a line of its own above it, so long unit names are never cut.
  const label = 18, barHeight = 20, gap = 10, width = 640, room = 48;
  const totals = groups.map((g) => series.reduce((sum, s) => sum + (value(g, s) || 0), 0));
  const max = Math.max(1, ...totals);
  const step = label + barHeight + gap;
  const chart = svg("svg", { viewBox: `0 0 ${width + room} ${groups.length * step + gap}`, "aria-hidden": "true",
                             focusable: "false" });
  groups.forEach((group, row) => {
    const y = gap + row * step;
    const name = svg("text", { x: 0, y: y + 13, class: "bar-label" });
    name.textContent = group;
    chart.append(name);
    let x = 0;
    series.forEach((s, i) => {
      const n = value(group, s) || 0;
      if (!n) return;
      const w = (n / max) * width;
      chart.append(svg("rect", { x, y: y + label, width: w, height: barHeight, fill: PALETTE[i % PALETTE.length] }));
      x += w;
    });
    const total = svg("text", { x: x + 4, y: y + label + 15, class: "bar-label" });
    total.textContent = String(totals[row]);
    chart.append(total);
  });
  wrap.append(chart);
  if (series.length > 1) {
    const legend = el("ul", "", { class: "legend", "aria-hidden": "true" });
    series.forEach((s, i) => {
      const item = el("li");
      const swatch = svg("svg", { width: 14, height: 14, viewBox: "0 0 14 14", focusable: "false", "aria-hidden": "true" });
      swatch.append(svg("rect", { x: 0, y: 0, width: 14, height: 14, fill: PALETTE[i % PALETTE.length] }));
      item.append(swatch, document.createTextNode(` ${labels(s)}`));
      legend.append(item);
    });
    wrap.append(legend);
  }
  return wrap;
}

/** Put a chart and its table side by side in `container`. */
export function pair(container, chart, tableEl) {
  const box = el("div", "", { class: "figure-pair" });
  box.append(chart, tableEl);
  container.replaceChildren(box);
}
