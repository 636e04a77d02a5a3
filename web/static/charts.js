// Inline SVG charts for the aquifer web UI: no library, no build step. Every function returns an <svg> element.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs, text) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function fmtNum(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, "");
}

function niceTicks(lo, hi, n) {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= step0);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12 * Math.abs(hi); t += step) out.push(+t.toPrecision(12));
  return out;
}

// A small histogram: bars from counts, hover titles with the bin range.
function histogramChart(hist, width = 160, height = 48) {
  const svg = svgEl("svg", {width, height, class: "hist", viewBox: `0 0 ${width} ${height}`});
  const n = hist.counts.length, max = Math.max(1, ...hist.counts), bw = width / n;
  hist.counts.forEach((c, i) => {
    const h = c / max * (height - 2);
    const bar = svgEl("rect", {x: i * bw + 0.5, y: height - h, width: Math.max(1, bw - 1), height: h, class: "bar"});
    bar.appendChild(svgEl("title", {}, `[${fmtNum(hist.breaks[i])}, ${fmtNum(hist.breaks[i + 1])}): ${c}`));
    svg.appendChild(bar);
  });
  return svg;
}

// Horizontal bar chart (variable importances): labels left, bars scaled to the largest value.
function barChart(labels, values, {width = 560, barHeight = 18} = {}) {
  const left = 180, height = labels.length * barHeight + 20, max = Math.max(1e-300, ...values);
  const svg = svgEl("svg", {width, height, class: "barchart", viewBox: `0 0 ${width} ${height}`});
  labels.forEach((label, i) => {
    const y = 10 + i * barHeight, w = values[i] / max * (width - left - 60);
    const g = svgEl("g", {class: "bar-row", "data-label": label});
    g.appendChild(svgEl("text", {x: left - 6, y: y + barHeight * 0.7, "text-anchor": "end", class: "label"},
                        label.length > 28 ? label.slice(0, 27) + "…" : label));
    g.appendChild(svgEl("rect", {x: left, y: y + 2, width: Math.max(0.5, w), height: barHeight - 4, class: "bar"}));
    g.appendChild(svgEl("text", {x: left + w + 4, y: y + barHeight * 0.7, class: "value"}, fmtNum(values[i])));
    svg.appendChild(g);
  });
  return svg;
}

// Line chart with points: series = [{name, cls, xs, ys}] (null ys skipped); one circle per point.
function lineChart(series, {width = 640, height = 300, xlabel = "", ylabel = ""} = {}) {
  const m = {l: 64, r: 16, t: 16, b: 44};
  const pts = series.flatMap(s => s.xs.map((x, i) => [x, s.ys[i]])).filter(([x, y]) => x !== null && y !== null);
  const svg = svgEl("svg", {width, height, class: "linechart", viewBox: `0 0 ${width} ${height}`});
  if (!pts.length) { svg.appendChild(svgEl("text", {x: 20, y: 30}, "no points")); return svg; }
  let [x0, x1] = [Math.min(...pts.map(p => p[0])), Math.max(...pts.map(p => p[0]))];
  let [y0, y1] = [Math.min(...pts.map(p => p[1])), Math.max(...pts.map(p => p[1]))];
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 || 0.5; y1 += Math.abs(y1) * 0.1 || 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const sx = x => m.l + (x - x0) / (x1 - x0) * (width - m.l - m.r);
  const sy = y => height - m.b - (y - y0) / (y1 - y0) * (height - m.t - m.b);
  const axes = svgEl("g", {class: "axes"});
  for (const t of niceTicks(y0, y1, 5)) {
    axes.appendChild(svgEl("line", {x1: m.l, x2: width - m.r, y1: sy(t), y2: sy(t), class: "grid"}));
    axes.appendChild(svgEl("text", {x: m.l - 6, y: sy(t) + 4, "text-anchor": "end"}, fmtNum(t)));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    axes.appendChild(svgEl("text", {x: sx(t), y: height - m.b + 16, "text-anchor": "middle"}, fmtNum(t)));
  }
  axes.appendChild(svgEl("line", {x1: m.l, x2: m.l, y1: m.t, y2: height - m.b, class: "axis"}));
  axes.appendChild(svgEl("line", {x1: m.l, x2: width - m.r, y1: height - m.b, y2: height - m.b, class: "axis"}));
  axes.appendChild(svgEl("text", {x: (width + m.l) / 2, y: height - 6, "text-anchor": "middle"}, xlabel));
  axes.appendChild(svgEl("text", {x: 14, y: (height - m.b) / 2, "text-anchor": "middle",
                                  transform: `rotate(-90 14 ${(height - m.b) / 2})`}, ylabel));
  svg.appendChild(axes);
  series.forEach((s, k) => {
    const p = s.xs.map((x, i) => [x, s.ys[i]]).filter(([x, y]) => x !== null && y !== null);
    const g = svgEl("g", {class: `series ${s.cls}`, "data-series": s.name});
    g.appendChild(svgEl("polyline", {points: p.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" "), class: "line"}));
    for (const [x, y] of p) {
      const c = svgEl("circle", {cx: sx(x), cy: sy(y), r: 3.5, class: "pt"});
      c.appendChild(svgEl("title", {}, `${s.name}: ${fmtNum(y)} at ${fmtNum(x)}`));
      g.appendChild(c);
    }
    g.appendChild(svgEl("text", {x: width - m.r - 4, y: m.t + 14 + 16 * k, "text-anchor": "end", class: "legend"},
                        s.name));
    svg.appendChild(g);
  });
  return svg;
}
