// SVG charts in plain JS: a time-series plot with lines, an optional filled area and point
// markers. No library (the dashboard package's docstring says why). Every chart is an <svg
// class="chart"> whose data-drawn attribute says how many points it drew: the browser tests
// and the first-paint benchmark wait for it.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const W = 900;
  const PAD = { left: 64, right: 12, top: 10, bottom: 22 };

  function el(name, attrs) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (lo === hi) { lo -= 1; hi += 1; }
    return [lo, hi];
  }

  function day(ms) { return new Date(ms).toISOString().slice(0, 10); }

  // plot(container, {lines: [{points: [[t, y]], cls, area}], candles: [{t, o, h, l, c}],
  // markers: [{t, y, cls, shape, title}], height, format, name}) -> the svg. Lines and
  // candles share one time and one value axis.
  function plot(container, spec) {
    const height = spec.height || 220;
    const bars = spec.candles || [];
    const all = spec.lines.flatMap((l) => l.points)
      .concat(bars.flatMap((b) => [[b.t, b.l], [b.t, b.h]]));
    const svg = el("svg", { class: `chart ${spec.name || ""}`, viewBox: `0 0 ${W} ${height}`,
      role: "img" });
    container.replaceChildren(svg);
    if (all.length === 0) {
      const t = el("text", { x: W / 2, y: height / 2, "text-anchor": "middle" });
      t.textContent = "no data";
      svg.append(t);
      svg.dataset.drawn = "0";
      return svg;
    }
    const markers = spec.markers || [];
    const [t0, t1] = extent(all.map((p) => p[0]).concat(markers.map((m) => m.t)));
    const [y0, y1] = spec.yRange || extent(all.map((p) => p[1]).concat(markers.map((m) => m.y)));
    const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
    const y = (v) => PAD.top + ((y1 - v) / (y1 - y0)) * (height - PAD.top - PAD.bottom);
    const fmt = spec.format || ((v) => v.toLocaleString(undefined, { maximumFractionDigits: 2 }));
    svg.append(el("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: height - PAD.bottom }));
    svg.append(el("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: height - PAD.bottom, y2: height - PAD.bottom }));
    for (const [v, anchor] of [[y1, PAD.top + 10], [y0, height - PAD.bottom]]) {
      const label = el("text", { x: PAD.left - 6, y: anchor, "text-anchor": "end" });
      label.textContent = fmt(v);
      svg.append(label);
    }
    for (const [t, anchor] of [[t0, "start"], [t1, "end"]]) {
      const label = el("text", { x: x(t), y: height - 6, "text-anchor": anchor });
      label.textContent = day(t);
      svg.append(label);
    }
    let drawn = drawCandles(svg, bars, x, y);
    for (const line of spec.lines) {
      if (line.points.length === 0) continue;
      const coords = line.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`);
      if (line.area) {
        const base = y(Math.max(y0, Math.min(y1, 0)));
        const first = x(line.points[0][0]).toFixed(1), last = x(line.points[line.points.length - 1][0]).toFixed(1);
        svg.append(el("polygon", { class: line.cls, points: `${first},${base} ${coords.join(" ")} ${last},${base}` }));
      } else {
        svg.append(el("polyline", { class: line.cls, points: coords.join(" ") }));
      }
      drawn += line.points.length;
    }
    for (const m of markers) {
      const cx = x(m.t), cy = y(m.y);
      const shape = m.shape === "ring"
        ? el("circle", { class: m.cls, cx, cy, r: 4 })
        : el("path", { class: m.cls, d: m.up
          ? `M${cx},${cy - 6} l5,9 h-10 z` : `M${cx},${cy + 6} l5,-9 h-10 z` });
      const title = el("title");
      title.textContent = m.title || "";
      shape.append(title);
      svg.append(shape);
    }
    svg.dataset.drawn = String(drawn);
    // the frame that shows it: bench/dashboard_screenshots.py reads this mark (first paint)
    requestAnimationFrame(() => performance.mark(`drawn:${spec.name}`));
    return svg;
  }

  // one wick (low to high) and one body (open to close) per candle, green up, red down
  function drawCandles(svg, bars, x, y) {
    if (bars.length === 0) return 0;
    const span = bars.length > 1 ? x(bars[bars.length - 1].t) - x(bars[0].t) : W;
    const width = Math.max(1, (0.7 * span) / Math.max(1, bars.length - 1));
    for (const b of bars) {
      const cx = x(b.t), cls = `candle ${b.c >= b.o ? "up" : "down"}`;
      const g = el("g", { class: cls });
      g.append(el("line", { x1: cx, x2: cx, y1: y(b.h).toFixed(1), y2: y(b.l).toFixed(1) }));
      const top = y(Math.max(b.o, b.c)), bottom = y(Math.min(b.o, b.c));
      g.append(el("rect", { x: (cx - width / 2).toFixed(1), y: top.toFixed(1),
        width: width.toFixed(1), height: Math.max(0.5, bottom - top).toFixed(1) }));
      svg.append(g);
    }
    return bars.length;
  }

  return { plot };
})();
