// The order-entry form: limit, market, stop-market and stop-limit orders with side,
// quantity, price, stop price, post-only and time in force (GTD with an expire time).

import { notify } from "./account.js";
import { $, $$, decimalsOf, fmtNum } from "./util.js";

const PRICED = new Set(["limit", "stop_limit"]);
const STOPS = new Set(["stop_market", "stop_limit"]);

export class OrderForm {
  /** `place(body)` sends the order and resolves to the `Order`. */
  constructor({ place, symbol, instrument }) {
    this.place = place;
    this.symbol = symbol;        // () => current symbol
    this.instrument = instrument; // () => current instrument
    this.side = "buy";
    this.form = $("#order-form");
    this.type = $("#f-type");
    this.tif = $("#f-tif");
    this.price = $("#f-price");
    this.stop = $("#f-stop");
    this.quantity = $("#f-quantity");
    this.post = $("#f-post");
    this.expire = $("#f-expire");
    this.submit = $("#f-submit");
    this.result = $("#f-result");
    this.estimate = $("#f-estimate");
    for (const button of $$(".side", this.form)) {
      button.addEventListener("click", () => this.setSide(button.dataset.side));
    }
    this.type.addEventListener("change", () => this.layout());
    this.tif.addEventListener("change", () => {
      if (this.tif.value === "gtd" && !this.expire.value) this.expire.value = localInput(Date.now() + 3600_000);
      this.layout();
    });
    for (const input of [this.price, this.quantity, this.stop]) input.addEventListener("input", () => this.updateEstimate());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.layout();
  }

  setSide(side) {
    this.side = side;
    for (const button of $$(".side", this.form)) button.classList.toggle("on", button.dataset.side === side);
    this.layout();
  }

  /** Shows the fields the chosen type uses. */
  layout() {
    const type = this.type.value;
    const show = (name, visible) => { for (const node of $$(`[data-for="${name}"]`, this.form)) node.hidden = !visible; };
    show("price", PRICED.has(type));
    show("stop", STOPS.has(type));
    show("tif", type !== "market");
    show("post", PRICED.has(type));
    show("expire", type !== "market" && this.tif.value === "gtd");
    const inst = this.instrument();
    const base = inst ? inst.base : "";
    this.submit.textContent = `${this.side === "buy" ? "Buy" : "Sell"} ${base}`.trim();
    this.submit.className = `btn submit ${this.side}`;
    this.updateEstimate();
  }

  /** A new instrument: units and placeholders follow its tick and lot. */
  setInstrument(inst) {
    for (const unit of $$("[data-unit]", this.form)) unit.textContent = inst ? inst[unit.dataset.unit] : "";
    if (inst) {
      const pd = decimalsOf(inst.tick_size);
      this.price.placeholder = this.stop.placeholder = (0).toFixed(pd);
      this.quantity.placeholder = `min ${inst.min_quantity}`;
      this.price.step = inst.tick_size;
    }
    this.price.value = "";
    this.stop.value = "";
    this.layout();
  }

  pickPrice(price) {
    if (!PRICED.has(this.type.value)) this.type.value = "limit";
    this.price.value = price;
    this.layout();
  }

  updateEstimate() {
    const inst = this.instrument();
    const qty = Number(this.quantity.value);
    const price = Number(PRICED.has(this.type.value) ? this.price.value : NaN);
    if (inst && qty > 0 && price > 0) {
      this.estimate.textContent = `${this.side === "buy" ? "Cost" : "Proceeds"} ≈ ${fmtNum(qty * price, decimalsOf(inst.tick_size))} ${inst.quote}`;
    } else {
      this.estimate.textContent = "";
    }
  }

  body() {
    const type = this.type.value;
    const body = { symbol: this.symbol(), side: this.side, type, quantity: this.quantity.value.trim() };
    if (PRICED.has(type)) body.price = this.price.value.trim();
    if (STOPS.has(type)) body.stop_price = this.stop.value.trim();
    if (type !== "market") {
      body.time_in_force = this.tif.value;
      if (this.tif.value === "gtd") {
        const when = new Date(this.expire.value);
        body.expire_time = Number.isNaN(when.getTime()) ? this.expire.value : when.toISOString();
      }
    }
    if (PRICED.has(type) && this.post.checked) body.post_only = true;
    // Leave empty fields out, so the server names what is missing.
    for (const [name, value] of Object.entries(body)) if (value === "") delete body[name];
    return body;
  }

  async send() {
    this.submit.disabled = true;
    notify(this.result, null);
    try {
      const order = await this.place(this.body());
      const inst = this.instrument();
      const pd = inst ? decimalsOf(inst.tick_size) : 2;
      let text = `#${order.order_id} ${order.side} ${order.quantity ?? ""} ${order.type.replace("_", " ")}`;
      if (order.price !== null) text += ` @ ${order.price}`;
      text += ` — ${order.status.replace("_", " ")}`;
      if (Number(order.filled_quantity) > 0) {
        text += `, filled ${order.filled_quantity} at ${fmtNum(Number(order.average_fill_price), pd)}`;
      }
      notify(this.result, text);
    } catch (exc) {
      notify(this.result, exc);
    } finally {
      this.submit.disabled = false;
    }
  }
}

/** The value a datetime-local input wants for a time in ms (local, to the second). */
function localInput(ms) {
  const date = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return date.toISOString().slice(0, 19);
}
