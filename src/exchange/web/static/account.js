// The account's side of the page: open orders (cancel, amend), fills, balances and
// positions. REST
// loads them; the private WebSocket channels keep them current; every action answers in
// the notice above the tables.

import { ApiError } from "./api.js";
import { $, $$, decimalsOf, el, fmtDec, fmtStamp, setText } from "./util.js";

const OPEN = new Set(["new", "partially_filled", "pending"]);
const FILL_ROWS = 100;

/** Shows a result or an `ApiError` (code, message, one line per bad field) in `node`. */
export function notify(node, what) {
  node.replaceChildren();
  if (what instanceof Error) {
    node.className = "notice error";
    const code = what instanceof ApiError ? what.code : "error";
    node.append(el("strong", {}, code), " ", what.message);
    // A detail that only repeats the message (a whole-body check, path "$") adds nothing.
    const details = (what instanceof ApiError ? what.details : [])
      .filter((d) => d.message && !(d.message === what.message && (!d.path || d.path === "$")));
    if (details.length) {
      node.append(el("ul", {}, ...details.map((d) => el("li", {}, d.path ? `${d.path.replace(/^\$\.?/, "") || "body"}: ` : "", d.message))));
    }
  } else if (what) {
    node.className = "notice ok";
    node.append(what);
  } else {
    node.className = "notice";
  }
}

export class Account {
  /** `instrument(symbol)` gives {tick_size, lot_size} for formatting. */
  constructor(rest, { instrument, onChange }) {
    this.rest = rest;
    this.instrument = instrument;
    this.onChange = onChange;  // (part) => void: "orders" | "fills" | "balances"
    this.info = null;
    this.orders = new Map();   // order_id -> Order, the open and pending ones
    this.finished = new Set(); // order ids seen finished: a late REST list must not revive them
    this.fills = [];
    this.fillIds = new Set();
    this.balances = [];
    this.positions = [];
    this.rows = new Map();     // order_id -> {tr, cells, editing}
    this.filterSymbol = null;
    this.notice = $("#orders-result");
    this.balanceTimer = null;
    this.refreshing = null;
  }

  get signedIn() { return this.info !== null; }

  clear() {
    this.info = null;
    this.orders.clear();
    this.finished.clear();
    this.fills = [];
    this.fillIds.clear();
    this.balances = [];
    this.positions = [];
    for (const row of this.rows.values()) row.tr.remove();
    this.rows.clear();
    notify(this.notice, null);
    this.onChange("orders"); this.onChange("fills"); this.onChange("balances");
  }

  /** Loads the account, its open orders and recent fills; rejects on a bad key. */
  async refresh() {
    if (!this.rest.key) return;
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const [info, orders, fills, positions] = await Promise.all([
        this.rest.private("GET", "/v1/account"),
        this.rest.private("GET", "/v1/orders", { params: { status: "open", limit: 1000 } }),
        this.rest.private("GET", "/v1/fills", { params: { limit: FILL_ROWS } }),
        this.rest.private("GET", "/v1/positions"),
      ]);
      this.info = info;
      this.balances = info.balances;
      this.positions = positions;
      const open = new Map();
      for (const order of orders) {
        const known = this.orders.get(order.order_id);
        if (this.finished.has(order.order_id)) continue;
        open.set(order.order_id, known && known.updated_at > order.updated_at ? known : order);
      }
      this.orders = open;
      this.addFills(fills);
      this.onChange("orders"); this.onChange("fills"); this.onChange("balances");
    })();
    try { await this.refreshing; } finally { this.refreshing = null; }
  }

  async refreshBalances() {
    if (!this.rest.key) return;
    try {
      const [info, positions] = await Promise.all([
        this.rest.private("GET", "/v1/account"),
        this.rest.private("GET", "/v1/positions"),
      ]);
      this.info = info;
      this.balances = info.balances;
      this.positions = positions;
      this.onChange("balances");
    } catch (exc) { /* the next refresh tries again */ }
  }

  /** Balances follow orders and fills; there is no balance channel, so ask soon after. */
  balancesSoon() {
    clearTimeout(this.balanceTimer);
    this.balanceTimer = setTimeout(() => this.refreshBalances(), 250);
  }

  /** An order from a REST answer or the `orders` channel. */
  upsert(order) {
    if (OPEN.has(order.status)) {
      if (this.finished.has(order.order_id)) return;
      const known = this.orders.get(order.order_id);
      if (known && known.updated_at > order.updated_at) return;
      this.orders.set(order.order_id, order);
    } else {
      this.finished.add(order.order_id);
      this.orders.delete(order.order_id);
    }
    this.onChange("orders");
    this.balancesSoon();
  }

  addFills(fills) {
    let added = false;
    for (const fill of fills) {
      const key = `${fill.trade_id}:${fill.order_id}`;
      if (this.fillIds.has(key)) continue;
      this.fillIds.add(key);
      this.fills.push(fill);
      added = true;
    }
    if (!added) return;
    this.fills.sort((a, b) => b.trade_id - a.trade_id || b.order_id - a.order_id);
    for (const old of this.fills.splice(FILL_ROWS)) this.fillIds.delete(`${old.trade_id}:${old.order_id}`);
    this.onChange("fills");
    this.balancesSoon();
  }

  /** Prices (canonical strings) where the account rests orders on `symbol`'s book. */
  ownPrices(symbol) {
    const own = { bids: new Set(), asks: new Set() };
    for (const order of this.orders.values()) {
      if (order.symbol !== symbol || order.status === "pending" || order.price === null) continue;
      (order.side === "buy" ? own.bids : own.asks).add(order.price);
    }
    return own;
  }

  // -- ACTIONS --

  /** Cancels one order; resolves to whether it was cancelled. */
  async cancel(orderId) {
    try {
      const order = await this.rest.private("DELETE", `/v1/orders/${orderId}`);
      this.upsert(order);
      notify(this.notice, `Order #${orderId} cancelled`);
      return true;
    } catch (exc) {
      notify(this.notice, exc);
      if (exc.code === "order_not_open") this.refresh().catch(() => {});
      return false;
    }
  }

  async cancelAll(symbol) {
    try {
      const result = await this.rest.private("DELETE", "/v1/orders", { params: { symbol } });
      for (const id of result.cancelled) {
        this.finished.add(id);
        this.orders.delete(id);
      }
      this.onChange("orders");
      this.balancesSoon();
      notify(this.notice, `${result.cancelled.length} order(s) cancelled`);
    } catch (exc) {
      notify(this.notice, exc);
    }
  }

  async amend(orderId, changes) {
    const order = await this.rest.private("PATCH", `/v1/orders/${orderId}`, { body: changes });
    this.upsert(order);
    notify(this.notice, `Order #${orderId} amended`);
  }

  // -- RENDERING --

  decimals(symbol) {
    const inst = this.instrument(symbol);
    return inst ? [decimalsOf(inst.tick_size), decimalsOf(inst.lot_size)] : [2, 4];
  }

  renderOrders() {
    const body = $("#open-orders");
    const wanted = [...this.orders.values()]
      .filter((o) => this.filterSymbol === null || o.symbol === this.filterSymbol)
      .sort((a, b) => b.order_id - a.order_id);
    const keep = new Set(wanted.map((o) => o.order_id));
    for (const [id, row] of this.rows) {
      if (!keep.has(id)) { row.tr.remove(); this.rows.delete(id); }
    }
    let previous = null;
    for (const order of wanted) {
      let row = this.rows.get(order.order_id);
      if (!row) {
        row = this.orderRow(order);
        this.rows.set(order.order_id, row);
      }
      this.fillOrderRow(row, order);
      // Keep DOM order = newest first, moving a node only when it is out of place.
      const expected = previous ? previous.nextSibling : body.firstChild;
      if (expected !== row.tr) body.insertBefore(row.tr, expected);
      previous = row.tr;
    }
    if (!wanted.length) {
      if (!body.querySelector("tr.empty")) {
        body.append(el("tr", { class: "empty" }, el("td", { colspan: 11 }, this.signedIn ? "No open orders" : "Enter an API key to see your orders")));
      }
    } else {
      for (const empty of $$("tr.empty", body)) empty.remove();
    }
    setText($("#open-count"), String(this.orders.size));
  }

  orderRow(order) {
    const cells = {};
    const tr = el("tr", { dataset: { orderId: order.order_id } });
    for (const name of ["time", "symbol", "side", "type", "price", "stop", "quantity", "filled", "tif", "status"]) {
      cells[name] = el("td", { class: ["price", "stop", "quantity", "filled"].includes(name) ? "num" : name });
      tr.append(cells[name]);
    }
    cells.actions = el("td", { class: "actions" });
    tr.append(cells.actions);
    const row = { tr, cells, editing: false, order };
    this.showActions(row);
    return row;
  }

  showActions(row) {
    row.cells.actions.replaceChildren(
      el("button", { type: "button", class: "btn tiny ghost amend", title: "Change quantity or price", onclick: () => this.startEdit(row) }, "Amend"),
      el("button", { type: "button", class: "btn tiny danger cancel", title: "Cancel this order", onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        if (!(await this.cancel(row.order.order_id))) button.disabled = false;
      } }, "Cancel"),
    );
  }

  fillOrderRow(row, order) {
    row.order = order;
    const [pd, qd] = this.decimals(order.symbol);
    const c = row.cells;
    setText(c.time, fmtStamp(order.created_at));
    setText(c.symbol, order.symbol);
    setText(c.side, order.side);
    c.side.className = `side-cell ${order.side}`;
    setText(c.type, order.type.replace("_", " "));
    setText(c.stop, fmtDec(order.stop_price, pd));
    setText(c.filled, fmtDec(order.filled_quantity, qd));
    setText(c.tif, order.time_in_force.toUpperCase() + (order.post_only ? " · PO" : ""));
    setText(c.status, order.status.replace("_", " "));
    if (!row.editing) {
      setText(c.price, order.type === "market" || order.type === "stop_market" || order.type === "take_profit_market" ? "market" : fmtDec(order.price, pd));
      setText(c.quantity, fmtDec(order.quantity, qd));
    }
  }

  startEdit(row) {
    const order = row.order;
    row.editing = true;
    const priced = order.price !== null;
    const qty = el("input", { class: "amend-qty", value: order.quantity, inputmode: "decimal", "aria-label": "New quantity" });
    const price = priced ? el("input", { class: "amend-price", value: order.price, inputmode: "decimal", "aria-label": "New price" }) : null;
    const save = async () => {
      const changes = {};
      if (qty.value.trim() !== order.quantity) changes.quantity = qty.value.trim();
      if (price && price.value.trim() !== order.price) changes.price = price.value.trim();
      if (!Object.keys(changes).length) { this.stopEdit(row); return; }
      saveButton.disabled = true;
      try {
        await this.amend(order.order_id, changes);
        this.stopEdit(row);
      } catch (exc) {
        notify(this.notice, exc);
        saveButton.disabled = false;
      }
    };
    const keys = (e) => {
      if (e.key === "Enter") { e.preventDefault(); save(); }
      if (e.key === "Escape") this.stopEdit(row);
    };
    qty.addEventListener("keydown", keys);
    if (price) { price.addEventListener("keydown", keys); row.cells.price.replaceChildren(price); }
    row.cells.quantity.replaceChildren(qty);
    const saveButton = el("button", { type: "button", class: "btn tiny save", onclick: save }, "Save");
    row.cells.actions.replaceChildren(saveButton,
      el("button", { type: "button", class: "btn tiny ghost", title: "Keep the order as it is", onclick: () => this.stopEdit(row) }, "Back"));
    (price || qty).focus();
  }

  stopEdit(row) {
    row.editing = false;
    row.cells.price.replaceChildren();
    row.cells.quantity.replaceChildren();
    this.showActions(row);
    this.fillOrderRow(row, this.orders.get(row.order.order_id) || row.order);
  }

  renderFills() {
    const body = $("#fills");
    const fills = this.fills.filter((f) => this.filterSymbol === null || f.symbol === this.filterSymbol);
    if (!fills.length) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 8 }, this.signedIn ? "No fills yet" : "Enter an API key to see your fills")));
      return;
    }
    body.replaceChildren(...fills.map((f) => {
      const [pd, qd] = this.decimals(f.symbol);
      return el("tr", { dataset: { tradeId: f.trade_id } },
        el("td", {}, fmtStamp(f.ts)), el("td", {}, f.symbol),
        el("td", { class: `side-cell ${f.side}` }, f.side),
        el("td", { class: "num" }, fmtDec(f.price, pd)), el("td", { class: "num" }, fmtDec(f.quantity, qd)),
        el("td", { class: "num" }, `${f.fee} ${f.fee_asset}`), el("td", {}, f.liquidity),
        el("td", { class: "num muted" }, `#${f.order_id}`));
    }));
  }

  renderBalances() {
    const body = $("#balances");
    if (!this.signedIn) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 4 }, "Enter an API key to trade")));
      return;
    }
    if (!this.balances.length) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 4 }, "No balances")));
      return;
    }
    // Balances carry 12 decimals; a column this narrow shows what matters at each size.
    const short = (value) => {
      const abs = Math.abs(Number(value));
      const places = abs >= 1e4 ? 2 : abs >= 1 ? 5 : 8;
      const [, frac = ""] = String(value).split(".");
      const text = fmtDec(value, Math.min(frac.length, places));
      return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
    };
    body.replaceChildren(...this.balances.map((b) => el("tr", { dataset: { asset: b.asset } },
      el("td", { class: "asset" }, b.asset), el("td", { class: "num" }, short(b.total)),
      el("td", { class: "num" }, short(b.available)), el("td", { class: "num muted" }, short(b.held)))));
  }

  renderPositions() {
    const body = $("#positions");
    const positions = this.positions.filter((p) => this.filterSymbol === null || p.symbol === this.filterSymbol);
    if (!positions.length) {
      body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 6 }, this.signedIn ? "No positions" : "Enter an API key to see your positions")));
      return;
    }
    const pnl = (value, pd) => {
      const n = Number(value);
      return el("td", { class: `num ${n > 0 ? "up" : n < 0 ? "down" : ""}` }, fmtDec(value, pd));
    };
    body.replaceChildren(...positions.map((p) => {
      const [pd, qd] = this.decimals(p.symbol);
      return el("tr", { dataset: { symbol: p.symbol } },
        el("td", {}, p.symbol), el("td", { class: "num" }, fmtDec(p.quantity, qd)),
        el("td", { class: "num" }, fmtDec(p.average_price, pd)), el("td", { class: "num" }, fmtDec(p.mark_price, pd)),
        pnl(p.unrealized_pnl, pd), pnl(p.realized_pnl, pd));
    }));
  }
}
