// hone ui: inline SVG charts (no library). chart(spec) returns an <svg> element.
// spec: {series: [{label, points: [[x, y], ...], line: bool, dots: bool, band: [[x, lo, hi], ...]}],
//        xLabel, yLabel, logX, marks: [{x, y, label}]}
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function extent(values) {
  let lo = Math.min(...values), hi = Math.max(...values);
  if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
  if (lo === hi) { lo -= Math.abs(lo) * 0.05 || 0.5; hi += Math.abs(hi) * 0.05 || 0.5; }
  return [lo, hi];
}

function tickText(v) {
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toPrecision(3).replace(/\.?0+$/, "") || "0";
}

function chart(spec) {
  const W = 560, H = 260, L = 56, R = 12, T = 12, B = 40;
  const tx = spec.logX ? (x) => Math.log2(Math.max(x, 1e-9)) : (x) => x;
  const xs = [], ys = [];
  for (const s of spec.series) {
    for (const p of s.points || []) { xs.push(tx(p[0])); ys.push(p[1]); }
    for (const b of s.band || []) { ys.push(b[1], b[2]); }
  }
  for (const m of spec.marks || []) { xs.push(tx(m.x)); ys.push(m.y); }
  const [x0, x1] = extent(xs), [y0, y1] = extent(ys);
  const sx = (x) => L + ((tx(x) - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  const svg = svgEl("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img"});
  svg.appendChild(svgEl("title", {}, spec.title || `${spec.yLabel || ""} by ${spec.xLabel || ""}`));
  drawAxes(svg, spec, {W, H, L, B, T, x0, x1, y0, y1, sx, sy});
  spec.series.forEach((s, i) => drawSeries(svg, s, COLOURS[i % COLOURS.length], sx, sy));
  for (const m of spec.marks || []) {
    svg.appendChild(svgEl("circle", {cx: sx(m.x), cy: sy(m.y), r: 6, fill: "none", stroke: "#111", "stroke-width": 2}));
    svg.appendChild(svgEl("text", {x: sx(m.x) + 8, y: sy(m.y) - 8, class: "mark"}, m.label));
  }
  if (spec.series.length > 1) drawLegend(svg, spec.series, W - R);
  return svg;
}

function drawAxes(svg, spec, g) {
  svg.appendChild(svgEl("line", {x1: g.L, y1: g.H - g.B, x2: g.W - 12, y2: g.H - g.B, class: "axis"}));
  svg.appendChild(svgEl("line", {x1: g.L, y1: g.T, x2: g.L, y2: g.H - g.B, class: "axis"}));
  for (let i = 0; i <= 4; i++) {
    const y = g.y0 + ((g.y1 - g.y0) * i) / 4;
    svg.appendChild(svgEl("line", {x1: g.L, y1: g.sy(y), x2: g.W - 12, y2: g.sy(y), class: "grid"}));
    svg.appendChild(svgEl("text", {x: g.L - 6, y: g.sy(y) + 4, class: "tick", "text-anchor": "end"}, tickText(y)));
    const xt = g.x0 + ((g.x1 - g.x0) * i) / 4;
    const xv = spec.logX ? Math.pow(2, xt) : xt;
    svg.appendChild(svgEl("text", {x: g.sx(xv), y: g.H - g.B + 16, class: "tick", "text-anchor": "middle"},
      tickText(xv)));
  }
  svg.appendChild(svgEl("text", {x: (g.L + g.W) / 2, y: g.H - 6, class: "label", "text-anchor": "middle"},
    spec.xLabel || ""));
  svg.appendChild(svgEl("text", {x: 12, y: g.T + 4, class: "label", transform: `rotate(-90 12 ${g.T + 4})`,
    "text-anchor": "end"}, spec.yLabel || ""));
}

function drawSeries(svg, s, colour, sx, sy) {
  if (s.band && s.band.length) {
    const top = s.band.map((b) => `${sx(b[0])},${sy(b[2])}`);
    const bottom = s.band.slice().reverse().map((b) => `${sx(b[0])},${sy(b[1])}`);
    svg.appendChild(svgEl("polygon", {points: top.concat(bottom).join(" "), fill: colour, opacity: 0.15}));
  }
  const pts = s.points || [];
  if (s.line !== false && pts.length > 1) {
    const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    svg.appendChild(svgEl("path", {d, fill: "none", stroke: colour, "stroke-width": 2, class: "series"}));
  }
  if (s.dots || pts.length === 1) {
    for (const p of pts) {
      svg.appendChild(svgEl("circle", {cx: sx(p[0]), cy: sy(p[1]), r: 3, fill: colour, class: "point",
        "data-x": p[0], "data-y": p[1]}));
    }
  }
}

function drawLegend(svg, series, right) {
  series.forEach((s, i) => {
    const y = 20 + i * 16;
    svg.appendChild(svgEl("rect", {x: right - 150, y: y - 9, width: 10, height: 10, fill: COLOURS[i % COLOURS.length]}));
    svg.appendChild(svgEl("text", {x: right - 136, y, class: "tick"}, s.label || ""));
  });
}

window.honeChart = chart;
