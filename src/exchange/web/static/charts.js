// Canvas charts: candles with volume, and the book's depth. Each keeps its canvas sized to
// its box (at the device's pixel ratio) and redraws only when asked by the frame loop.

import { fmtMinute } from "./util.js";

const COLORS = {
  up: "#0ecb81",
  down: "#f6465d",
  upFill: "rgba(14, 203, 129, 0.16)",
  downFill: "rgba(246, 70, 93, 0.16)",
  grid: "#1b222c",
  axis: "#6b7686",
  text: "#aab4c2",
  cross: "#56606e",
  label: "#2b3340",
};
const FONT = "11px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";

class CanvasChart {
  constructor(canvas, onResize) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.width = 0;
    this.height = 0;
    new ResizeObserver(() => { this.resize(); onResize(); }).observe(canvas.parentElement);
    this.resize();
  }

  resize() {
    const box = this.canvas.parentElement.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    this.width = Math.max(1, Math.floor(box.width));
    this.height = Math.max(1, Math.floor(box.height));
    this.canvas.width = Math.floor(this.width * ratio);
    this.canvas.height = Math.floor(this.height * ratio);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
    this.ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }

  clear() {
    this.ctx.clearRect(0, 0, this.width, this.height);
  }

  empty(text) {
    const ctx = this.ctx;
    ctx.fillStyle = COLORS.axis;
    ctx.font = FONT;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(text, this.width / 2, this.height / 2);
  }
}

/** "Nice" grid steps (1, 2, 5 × 10^k) covering [low, high] in about `count` lines. */
function ticks(low, high, count) {
  const span = high - low;
  if (!(span > 0)) return [low];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(v);
  return out;
}

export class PriceChart extends CanvasChart {
  constructor(canvas, onChange) {
    super(canvas, onChange);
    this.candles = [];
    this.decimals = 2;
    this.intervalMs = 60000;
    this.hover = null;  // x in css pixels, or null
    this.onChange = onChange;
    canvas.addEventListener("mousemove", (e) => {
      const box = canvas.getBoundingClientRect();
      this.hover = { x: e.clientX - box.left, y: e.clientY - box.top };
      onChange();
    });
    canvas.addEventListener("mouseleave", () => { this.hover = null; onChange(); });
    this.hovered = null;  // the candle under the pointer, for the caption
  }

  draw() {
    const ctx = this.ctx;
    this.clear();
    const axisW = 72;
    const timeH = 20;
    const plotW = this.width - axisW;
    const plotH = this.height - timeH;
    if (plotW < 40 || plotH < 40) return;
    if (!this.candles.length) {
      this.empty("No trades yet");
      return;
    }
    // Wider candles while there are few, down to 7 px each for a long history.
    const slot = Math.max(7, Math.min(14, Math.floor(plotW / Math.max(this.candles.length, 1))));
    const count = Math.max(1, Math.floor(plotW / slot));
    const shown = this.candles.slice(-count);
    // Anchor the newest candle at the right edge, like a trading terminal.
    const x0 = plotW - shown.length * slot;
    const priceH = plotH * 0.8;
    const volTop = plotH * 0.82;
    let low = Infinity;
    let high = -Infinity;
    let volMax = 0;
    for (const c of shown) {
      low = Math.min(low, c.l);
      high = Math.max(high, c.h);
      volMax = Math.max(volMax, c.v);
    }
    if (high === low) { high += high * 0.001 || 1; low -= low * 0.001 || 1; }
    const pad = (high - low) * 0.08;
    low -= pad;
    high += pad;
    const y = (p) => 6 + (priceH - 12) * (1 - (p - low) / (high - low));

    ctx.font = FONT;
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    for (const v of ticks(low, high, Math.max(2, Math.floor(priceH / 50)))) {
      const py = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath(); ctx.moveTo(0, py); ctx.lineTo(plotW, py); ctx.stroke();
      ctx.fillStyle = COLORS.axis;
      ctx.fillText(v.toFixed(this.decimals), plotW + 8, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "alphabetic";
    const every = Math.max(1, Math.ceil(80 / slot));
    shown.forEach((c, i) => {
      const index = this.candles.length - shown.length + i;
      if (index % every !== 0) return;
      const cx = x0 + i * slot + slot / 2;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath(); ctx.moveTo(Math.round(cx) + 0.5, 0); ctx.lineTo(Math.round(cx) + 0.5, plotH); ctx.stroke();
      ctx.fillStyle = COLORS.axis;
      const d = new Date(c.t);
      const label = this.intervalMs >= 86400000
        ? d.toLocaleDateString([], { month: "short", day: "numeric" })
        : fmtMinute(c.t);
      ctx.fillText(label, cx, this.height - 6);
    });

    const body = slot - 3;
    shown.forEach((c, i) => {
      const up = c.c >= c.o;
      const left = x0 + i * slot + 1;
      const mid = Math.round(left + body / 2) + 0.5;
      ctx.strokeStyle = up ? COLORS.up : COLORS.down;
      ctx.fillStyle = up ? COLORS.up : COLORS.down;
      ctx.beginPath(); ctx.moveTo(mid, y(c.h)); ctx.lineTo(mid, y(c.l)); ctx.stroke();
      const top = y(Math.max(c.o, c.c));
      const h = Math.max(1, y(Math.min(c.o, c.c)) - top);
      ctx.fillRect(left, top, body, h);
      if (volMax > 0) {
        const vh = (plotH - volTop) * (c.v / volMax);
        ctx.globalAlpha = 0.35;
        ctx.fillRect(left, plotH - vh, body, vh);
        ctx.globalAlpha = 1;
      }
    });

    // The last price: a dashed line and a tag on the axis.
    const last = shown[shown.length - 1];
    const ly = Math.round(y(last.c)) + 0.5;
    const lastColor = last.c >= last.o ? COLORS.up : COLORS.down;
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = lastColor;
    ctx.beginPath(); ctx.moveTo(0, ly); ctx.lineTo(plotW, ly); ctx.stroke();
    ctx.setLineDash([]);
    this.tag(plotW, ly, last.c.toFixed(this.decimals), lastColor, "#0b0e11");

    this.hovered = null;
    if (this.hover && this.hover.x < plotW && this.hover.y < plotH) {
      const i = Math.floor((this.hover.x - x0) / slot);
      if (i >= 0 && i < shown.length) this.hovered = shown[i];
      ctx.strokeStyle = COLORS.cross;
      ctx.setLineDash([4, 4]);
      const hx = Math.round(this.hover.x) + 0.5;
      const hy = Math.round(this.hover.y) + 0.5;
      ctx.beginPath(); ctx.moveTo(hx, 0); ctx.lineTo(hx, plotH); ctx.moveTo(0, hy); ctx.lineTo(plotW, hy); ctx.stroke();
      ctx.setLineDash([]);
      if (this.hover.y < priceH) {
        const price = low + (1 - (this.hover.y - 6) / (priceH - 12)) * (high - low);
        this.tag(plotW, hy, price.toFixed(this.decimals), COLORS.label, COLORS.text);
      }
    }
  }

  tag(x, y, text, fill, color) {
    const ctx = this.ctx;
    ctx.font = FONT;
    ctx.fillStyle = fill;
    ctx.fillRect(x + 2, y - 8, this.width - x - 2, 16);
    ctx.fillStyle = color;
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    ctx.fillText(text, x + 8, y);
  }
}

export class DepthChart extends CanvasChart {
  constructor(canvas, onChange) {
    super(canvas, onChange);
    this.bids = [];  // best first: {px, q}
    this.asks = [];
    this.decimals = 2;
  }

  draw() {
    const ctx = this.ctx;
    this.clear();
    const axisH = 18;
    const plotH = this.height - axisH;
    const w = this.width;
    if (w < 40 || plotH < 30) return;
    const bids = this.bids;
    const asks = this.asks;
    if (!bids.length && !asks.length) {
      this.empty("The book is empty");
      return;
    }
    const bestBid = bids.length ? bids[0].px : asks[0].px;
    const bestAsk = asks.length ? asks[0].px : bids[0].px;
    const mid = (bestBid + bestAsk) / 2;
    // Symmetric around the mid, as far as the shallower side reaches (so both show).
    const reachBid = bids.length ? mid - bids[bids.length - 1].px : 0;
    const reachAsk = asks.length ? asks[asks.length - 1].px - mid : 0;
    let half = reachBid && reachAsk ? Math.min(reachBid, reachAsk) : Math.max(reachBid, reachAsk);
    if (!(half > 0)) half = mid * 0.01 || 1;
    half *= 1.02;
    const lo = mid - half;
    const hi = mid + half;
    const x = (p) => ((p - lo) / (hi - lo)) * w;
    const cumulate = (levels, inside) => {
      const out = [];
      let sum = 0;
      for (const level of levels) {
        if (!inside(level.px)) break;
        sum += level.q;
        out.push([level.px, sum]);
      }
      return out;
    };
    const bidSteps = cumulate(bids, (p) => p >= lo);
    const askSteps = cumulate(asks, (p) => p <= hi);
    const maxQ = Math.max(bidSteps.length ? bidSteps[bidSteps.length - 1][1] : 0,
                          askSteps.length ? askSteps[askSteps.length - 1][1] : 0) * 1.1 || 1;
    const y = (q) => plotH - (q / maxQ) * (plotH - 8);

    ctx.lineWidth = 1;
    ctx.font = FONT;
    for (const v of ticks(lo, hi, Math.max(2, Math.floor(w / 110)))) {
      const px = Math.round(x(v)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath(); ctx.moveTo(px, 0); ctx.lineTo(px, plotH); ctx.stroke();
      ctx.fillStyle = COLORS.axis;
      ctx.textAlign = "center";
      ctx.textBaseline = "alphabetic";
      ctx.fillText(v.toFixed(this.decimals), px, this.height - 5);
    }

    const area = (steps, edge, stroke, fill) => {
      if (!steps.length) return;
      ctx.beginPath();
      ctx.moveTo(x(steps[0][0]), plotH);
      let prevY = plotH;
      for (const [price, sum] of steps) {
        const px = x(price);
        ctx.lineTo(px, prevY);
        prevY = y(sum);
        ctx.lineTo(px, prevY);
      }
      ctx.lineTo(edge, prevY);
      ctx.lineTo(edge, plotH);
      ctx.closePath();
      ctx.fillStyle = fill;
      ctx.fill();
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.lineWidth = 1;
    };
    area(bidSteps, 0, COLORS.up, COLORS.upFill);
    area(askSteps, w, COLORS.down, COLORS.downFill);

    ctx.fillStyle = COLORS.text;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(`mid ${mid.toFixed(this.decimals)}`, w / 2, 6);
  }
}
