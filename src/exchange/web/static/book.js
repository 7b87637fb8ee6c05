// The order book as the page keeps it: a snapshot plus sequenced updates of absolute level
// quantities. Pure logic, no DOM, so it can be reasoned about (and driven from a test).

function canonical(price) {
  // "100.50" and "100.5" are the same level; the server sends the short form, but a key
  // must never depend on that.
  const text = String(price);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

class Side {
  constructor(descending) {
    this.descending = descending;
    this.levels = new Map();  // canonical price -> {price, px, qty, q}
    this.sorted = null;       // cache of the levels best first, dropped on change
  }

  clear() { this.levels.clear(); this.sorted = null; }

  set(price, qty) {
    const key = canonical(price);
    const q = Number(qty);
    if (!(q > 0)) this.levels.delete(key);
    else this.levels.set(key, { price: key, px: Number(key), qty: String(qty), q });
    this.sorted = null;
  }

  best(n = Infinity) {
    if (this.sorted === null) {
      const sign = this.descending ? -1 : 1;
      this.sorted = [...this.levels.values()].sort((a, b) => sign * (a.px - b.px));
    }
    return n >= this.sorted.length ? this.sorted : this.sorted.slice(0, n);
  }
}

export class OrderBook {
  constructor() {
    this.bids = new Side(true);
    this.asks = new Side(false);
    this.reset();
  }

  /** Forgets everything: the book is unknown until the next snapshot. */
  reset() {
    this.bids.clear();
    this.asks.clear();
    this.sequence = null;
    this.synced = false;
    this.version = 0;  // rises with every change, for renderers to notice one
  }

  /** Replaces the book; `bids`/`asks` are [[price, quantity, ...], ...]. */
  snapshot(sequence, bids, asks) {
    this.bids.clear();
    this.asks.clear();
    for (const [price, qty] of bids) this.bids.set(price, qty);
    for (const [price, qty] of asks) this.asks.set(price, qty);
    this.sequence = sequence;
    this.synced = true;
    this.version += 1;
  }

  /**
   * Applies an update covering sequences [first, last]. Returns "applied", or "gap" when
   * `first` does not follow the book's sequence (the book is then unsynced and ignores
   * updates until the next snapshot), or "ignored" while unsynced.
   */
  update(first, last, bids, asks) {
    if (!this.synced) return "ignored";
    if (first !== this.sequence + 1) {
      this.synced = false;
      return "gap";
    }
    for (const [price, qty] of bids) this.bids.set(price, qty);
    for (const [price, qty] of asks) this.asks.set(price, qty);
    this.sequence = last;
    this.version += 1;
    return "applied";
  }

  bestBid() { const [level] = this.bids.best(1); return level || null; }
  bestAsk() { const [level] = this.asks.best(1); return level || null; }
}
