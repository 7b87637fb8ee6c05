// Market views: the book ladder, the trades tape and the ticker figures. Each renders from
// state when the frame loop asks, touching only the DOM nodes whose text changed.

import { $, el, fmtClock, fmtCompact, fmtDec, fmtNum, setClass, setText } from "./util.js";

const ROW_HEIGHT = 20;  // px, must match .lrow in style.css

/** A fixed pool of ladder rows for one side; the pool follows the box's height. */
class LadderSide {
  constructor(root, onPick, onResize) {
    this.root = root;
    this.rows = [];
    this.onPick = onPick;
    this.size = 0;
    // Measured only when the box changes, never while rendering (no forced layouts).
    new ResizeObserver(() => { if (this.fit()) onResize(); }).observe(root);
    this.fit();
  }

  fit() {
    const size = Math.max(3, Math.min(60, Math.floor(this.root.clientHeight / ROW_HEIGHT)));
    if (size === this.size) return false;
    this.size = size;
    while (this.rows.length < size) {
      const row = {
        node: el("div", { class: "lrow empty" }),
        price: el("span", { class: "p" }),
        qty: el("span", { class: "q" }),
        total: el("span", { class: "t" }),
        bar: el("i", { class: "bar" }),
        key: null,
      };
      row.node.append(row.bar, row.price, row.qty, row.total);
      row.node.addEventListener("click", () => { if (row.key) this.onPick(row.key); });
      this.rows.push(row);
      this.root.append(row.node);
    }
    while (this.rows.length > size) this.rows.pop().node.remove();
    return true;
  }

  /** Writes `levels` (best first) into the pool; returns nothing. */
  render(levels, scale, own, pd, qd) {
    for (let i = 0; i < this.rows.length; i += 1) {
      const row = this.rows[i];
      const level = levels[i];
      if (!level) {
        if (row.key !== null) {
          row.key = null;
          row.node.className = "lrow empty";
          row.node.removeAttribute("data-price");
          setText(row.price, ""); setText(row.qty, ""); setText(row.total, "");
          row.bar.style.width = "0";
        }
        continue;
      }
      if (row.key !== level.price) {
        row.key = level.price;
        row.node.dataset.price = level.price;
        setText(row.price, fmtDec(level.price, pd));
      }
      setClass(row.node, own.has(level.price) ? "lrow own" : "lrow");
      setText(row.qty, fmtDec(level.qty, qd));
      setText(row.total, fmtNum(level.total, qd));
      const width = `${Math.min(100, (level.total / scale) * 100).toFixed(1)}%`;
      if (row.bar.style.width !== width) row.bar.style.width = width;
    }
  }
}

export class Ladder {
  constructor(onPick, onResize) {
    this.asks = new LadderSide($("#book-asks"), onPick, onResize);
    this.bids = new LadderSide($("#book-bids"), onPick, onResize);
    this.mid = $("#spread-mid");
    this.spread = $("#spread-text");
    this.seq = $("#book-seq");
  }

  /** `own` = {bids: Set, asks: Set} of prices where the account has a resting order. */
  render(book, own, pd, qd, lastDirection) {
    const cumulate = (levels) => {
      let sum = 0;
      return levels.map((level) => { sum += level.q; return { ...level, total: sum }; });
    };
    const asks = cumulate(book.asks.best(this.asks.size));
    const bids = cumulate(book.bids.best(this.bids.size));
    const scale = Math.max(asks.length ? asks[asks.length - 1].total : 0,
                           bids.length ? bids[bids.length - 1].total : 0) || 1;
    this.asks.render(asks, scale, own.asks, pd, qd);
    this.bids.render(bids, scale, own.bids, pd, qd);
    const bid = bids[0];
    const ask = asks[0];
    if (bid && ask) {
      const spread = ask.px - bid.px;
      const mid = (ask.px + bid.px) / 2;
      setText(this.mid, fmtNum(mid, pd + 1));
      setText(this.spread, `spread ${fmtNum(spread, pd)} (${((spread / mid) * 100).toFixed(3)}%)`);
    } else {
      setText(this.mid, "—");
      setText(this.spread, book.synced ? "one-sided book" : "waiting for the book…");
    }
    setClass(this.mid, lastDirection > 0 ? "up" : lastDirection < 0 ? "down" : "");
    setText(this.seq, book.sequence === null ? "" : `seq ${book.sequence}`);
  }
}

const TAPE_ROWS = 60;

/** The trades tape: newest first, at most TAPE_ROWS rows, new rows prepended. */
export class Tape {
  constructor() {
    this.root = $("#trades");
    this.trades = [];      // newest first, deduplicated by trade_id
    this.ids = new Set();
    this.shown = [];       // trade ids in DOM order
    this.pd = 2;
    this.qd = 3;
  }

  reset(pd, qd) {
    this.trades = [];
    this.ids.clear();
    this.shown = [];
    this.root.replaceChildren();
    this.pd = pd;
    this.qd = qd;
  }

  /** Adds trades (any order, duplicates ignored); returns the new ones. */
  add(trades) {
    const added = [];
    for (const trade of trades) {
      if (this.ids.has(trade.trade_id)) continue;
      this.ids.add(trade.trade_id);
      this.trades.push(trade);
      added.push(trade);
    }
    if (!added.length) return added;
    this.trades.sort((a, b) => b.trade_id - a.trade_id);
    for (const old of this.trades.splice(TAPE_ROWS * 2)) this.ids.delete(old.trade_id);
    return added;
  }

  row(trade, fresh) {
    const side = trade.taker_side === "sell" ? "down" : "up";
    return el("div", { class: fresh ? `trow ${side} fresh` : `trow ${side}`, dataset: { tradeId: trade.trade_id } },
      el("span", { class: "p" }, fmtDec(trade.price, this.pd)),
      el("span", { class: "q" }, fmtDec(trade.quantity, this.qd)),
      el("span", { class: "ts" }, fmtClock(trade.ts)));
  }

  render() {
    const wanted = this.trades.slice(0, TAPE_ROWS);
    const first = this.shown.length ? wanted.findIndex((t) => t.trade_id === this.shown[0]) : -1;
    let incremental = first >= 0;
    for (let i = 0; incremental && i < this.shown.length && first + i < wanted.length; i += 1) {
      if (wanted[first + i].trade_id !== this.shown[i]) incremental = false;
    }
    if (incremental) {
      // The usual case: only newer trades arrived. Prepend them and trim the tail.
      const fragment = document.createDocumentFragment();
      for (const trade of wanted.slice(0, first)) fragment.append(this.row(trade, true));
      this.root.prepend(fragment);
      while (this.root.childElementCount > TAPE_ROWS) this.root.lastElementChild.remove();
    } else {
      this.root.replaceChildren(...wanted.map((trade) => this.row(trade, false)));
    }
    this.shown = wanted.map((t) => t.trade_id);
  }
}

/** The ticker figures in the top bar. */
export class TickerView {
  constructor() {
    this.last = $("#t-last");
    this.change = $("#t-change");
    this.high = $("#t-high");
    this.low = $("#t-low");
    this.volume = $("#t-volume");
    this.bidask = $("#t-bidask");
    // The tab's title follows the price, but a title change costs the browser more than
    // every figure here together: once a second is enough.
    this.title = document.title;
    setInterval(() => { if (document.title !== this.title) document.title = this.title; }, 1000);
  }

  render(ticker, pd, direction, symbol) {
    const t = ticker || {};
    setText(this.last, fmtDec(t.last_price, pd));
    setClass(this.last, direction > 0 ? "value up" : direction < 0 ? "value down" : "value");
    const last = Number(t.last_price);
    const open = Number(t.open_24h);
    if (t.last_price != null && t.open_24h != null && open > 0) {
      const diff = last - open;
      const sign = diff > 0 ? "+" : "";
      setText(this.change, `${sign}${fmtNum(diff, pd)} (${sign}${((diff / open) * 100).toFixed(2)}%)`);
      setClass(this.change, diff > 0 ? "value up" : diff < 0 ? "value down" : "value");
    } else {
      setText(this.change, "—");
      setClass(this.change, "value");
    }
    setText(this.high, fmtDec(t.high_24h, pd));
    setText(this.low, fmtDec(t.low_24h, pd));
    setText(this.volume, t.volume_24h == null ? "—" : fmtCompact(Number(t.volume_24h)));
    setText(this.bidask, `${fmtDec(t.best_bid, pd)} / ${fmtDec(t.best_ask, pd)}`);
    this.title = t.last_price != null ? `${fmtDec(t.last_price, pd)} ${symbol} · exchange` : `${symbol} · exchange`;
  }
}
