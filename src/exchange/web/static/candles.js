// Candles as the page keeps them: loaded from GET /v1/instruments/{s}/candles, then moved
// by live trades exactly as the server's read model builds them (buckets aligned to the
// epoch, empty intervals omitted).

export const INTERVALS = { "1m": 60e3, "5m": 300e3, "15m": 900e3, "1h": 3600e3, "1d": 86400e3 };
const MAX_CANDLES = 1000;

/** A candle of the REST answer as numbers: {t (ms), o, h, l, c, v, n}. */
export function candleOf(raw) {
  return { t: Date.parse(raw.start), o: +raw.open, h: +raw.high, l: +raw.low, c: +raw.close, v: +raw.volume, n: raw.trades };
}

/** Folds trades (oldest first) into `candles` of `size` ms; a trade older than the newest
 * candle is ignored (the REST load already counted it). */
export function foldTrades(candles, trades, size) {
  for (const trade of trades) {
    const start = Math.floor(Date.parse(trade.ts) / size) * size;
    const p = Number(trade.price);
    const q = Number(trade.quantity);
    const last = candles[candles.length - 1];
    if (last && last.t === start) {
      last.h = Math.max(last.h, p);
      last.l = Math.min(last.l, p);
      last.c = p;
      last.v += q;
      last.n += 1;
    } else if (!last || start > last.t) {
      candles.push({ t: start, o: p, h: p, l: p, c: p, v: q, n: 1 });
      if (candles.length > MAX_CANDLES) candles.splice(0, candles.length - MAX_CANDLES);
    }
  }
}
