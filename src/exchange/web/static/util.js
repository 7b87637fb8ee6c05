// Small helpers shared by the page's modules: decimal-string formatting, times, DOM.

/** Number of decimals of a step such as "0.00001" (5) or "1" (0). */
export function decimalsOf(step) {
  const text = String(step);
  const dot = text.indexOf(".");
  if (dot < 0) return 0;
  return text.replace(/0+$/, "").length - dot - 1;
}

/**
 * A decimal string shown with exactly `decimals` places, without going through a float
 * (so "0.1" stays "0.10", never "0.1000000001"). Null or undefined shows as a dash.
 */
export function fmtDec(value, decimals) {
  if (value === null || value === undefined || value === "") return "—";
  let text = String(value);
  if (/e/i.test(text)) text = Number(text).toFixed(decimals);
  let sign = "";
  if (text.startsWith("-")) { sign = "-"; text = text.slice(1); }
  let [whole, frac = ""] = text.split(".");
  frac = frac.length > decimals ? frac.slice(0, decimals) : frac.padEnd(decimals, "0");
  whole = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + (decimals > 0 ? `${whole}.${frac}` : whole);
}

/** A float shown with `decimals` places and thousands separators. */
export function fmtNum(value, decimals) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return fmtDec(value.toFixed(decimals), decimals);
}

/** Compact volume: 1.23K, 4.5M. */
export function fmtCompact(value) {
  if (!Number.isFinite(value)) return "—";
  const abs = Math.abs(value);
  if (abs >= 1e9) return (value / 1e9).toFixed(2) + "B";
  if (abs >= 1e6) return (value / 1e6).toFixed(2) + "M";
  if (abs >= 1e4) return (value / 1e3).toFixed(2) + "K";
  return value.toFixed(abs >= 100 ? 1 : abs >= 1 ? 3 : 5);
}

const pad2 = (n) => (n < 10 ? "0" : "") + n;

/** HH:MM:SS of an ISO time (or ms), in local time. By hand: Intl is slow for a busy tape. */
export function fmtClock(time) {
  const date = new Date(time);
  if (Number.isNaN(date.getTime())) return "";
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;
}

/** HH:MM of a time in ms, in local time. */
export function fmtMinute(ms) {
  const date = new Date(ms);
  return `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
}

/** "Dec 1, 09:15:02" of an ISO time, in local time. */
export function fmtStamp(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const day = date.toLocaleDateString([], { month: "short", day: "numeric" });
  return `${day} ${date.toLocaleTimeString([], { hour12: false })}`;
}

/** Creates an element: el("td", {class: "num"}, "1.00"). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Sets text only when it changed (a DOM write costs more than the comparison). */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Sets the class only when it changed (the same value still costs a style pass). */
export function setClass(node, name) {
  if (node.className !== name) node.className = name;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));
