// The trading page: wires the REST client, the WebSocket feed, the book, the charts and the
// account views. Messages only change state and mark what is dirty; one requestAnimationFrame
// callback then renders each dirty part once, so a busy market costs one render per frame.

import { Account, notify } from "./account.js";
import { leaderboardView } from "./leaderboard.js";
import { Feed, Rest } from "./api.js";
import { OrderBook } from "./book.js";
import { candleOf, foldTrades, INTERVALS } from "./candles.js";
import { DepthChart, PriceChart } from "./charts.js";
import { OrderForm } from "./orderform.js";
import { $, $$, decimalsOf, setText } from "./util.js";
import { Ladder, Tape, TickerView } from "./views.js";

const POLL_MS = 2000;          // REST polling of market data while the feed is down
const ACCOUNT_POLL_MS = 16000; // the balances' safety refresh while the feed is live
const LEADERBOARD_POLL_MS = 30000; // looks for a new round (the shown one is live)
const KEY_STORAGE = "exchange.apiKey";

const rest = new Rest();
const book = new OrderBook();
const state = {
  instruments: new Map(),
  symbol: null,
  interval: "1m",
  candles: [],
  ticker: null,
  lastPrice: null,
  direction: 0,
  candleInfo: "",
  tradesLoaded: false,  // the first REST page of trades is in (see onTrades)
};

// -- FRAME LOOP --

const dirty = new Set();
let frameRequested = false;

// Canvas redraws need not follow every message: at most one per this many ms.
const THROTTLE_MS = { depth: 100, candles: 50 };
const lastDrawn = {};
const redrawTimers = {};

function mark(...parts) {
  for (const part of parts) {
    dirty.add(part);
    if (part === "book") dirty.add("depth");
  }
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(frame);
  }
}

// What rendering costs (ms in all, per part, the worst frame), for the handle below.
const renderStats = { frames: 0, ms: 0, worst: 0, parts: {} };

function frame() {
  frameRequested = false;
  const started = performance.now();
  const parts = new Set(dirty);
  dirty.clear();
  const inst = current();
  const pd = inst ? decimalsOf(inst.tick_size) : 2;
  const qd = inst ? decimalsOf(inst.lot_size) : 4;
  const run = (part, render) => {
    if (!parts.has(part)) return;
    const begun = performance.now();
    const wait = (lastDrawn[part] || 0) + (THROTTLE_MS[part] || 0) - begun;
    if (wait > 0) {
      if (!redrawTimers[part]) {
        redrawTimers[part] = setTimeout(() => { redrawTimers[part] = null; mark(part); }, wait);
      }
      return;
    }
    lastDrawn[part] = begun;
    try {
      render();
    } catch (exc) {
      console.error(`rendering ${part} failed`, exc);
    }
    renderStats.parts[part] = (renderStats.parts[part] || 0) + performance.now() - begun;
  };
  run("book", () => ladder.render(book, account.ownPrices(state.symbol), pd, qd, state.direction));
  run("depth", () => {
    depth.bids = book.bids.best(200);
    depth.asks = book.asks.best(200);
    depth.decimals = pd;
    depth.draw();
  });
  run("trades", () => tape.render());
  run("candles", () => {
    price.candles = state.candles;
    price.decimals = pd;
    price.intervalMs = INTERVALS[state.interval];
    price.draw();
    renderCandleInfo(pd, qd);
  });
  run("ticker", () => tickerView.render(tickerFigures(), pd, state.direction, state.symbol || ""));
  run("orders", () => account.renderOrders());
  run("fills", () => account.renderFills());
  run("balances", () => {
    account.renderBalances();
    account.renderPositions();
  });
  const spent = performance.now() - started;
  renderStats.frames += 1;
  renderStats.ms += spent;
  renderStats.worst = Math.max(renderStats.worst, spent);
}

// -- MARKET STATE --

function current() { return state.instruments.get(state.symbol) || null; }

function tickerFigures() {
  // The book is fresher than the ticker (at most ten a second), so the best prices come from it.
  const figures = { ...(state.ticker || {}) };
  if (book.synced) {
    const bid = book.bestBid();
    const ask = book.bestAsk();
    figures.best_bid = bid ? bid.price : null;
    figures.best_ask = ask ? ask.price : null;
  }
  if (state.lastPrice !== null) figures.last_price = state.lastPrice;
  return figures;
}

/** Folds live trades (oldest first) into the candles of the chosen interval. */
function addToCandles(trades) {
  foldTrades(state.candles, trades, INTERVALS[state.interval]);
}

/** Trades from the feed or from REST (newest first), in any mix and with repeats. */
function onTrades(trades) {
  const before = tape.trades.length ? tape.trades[0].trade_id : null;
  const added = tape.add(trades);
  if (!added.length) return;
  // Trades newer than the tape's newest move the candles (REST ones too, while polling);
  // not before the first REST load: the candles from REST already hold those trades.
  if (state.tradesLoaded) {
    const floor = before ?? 0;
    addToCandles(added.filter((t) => t.trade_id > floor).sort((a, b) => a.trade_id - b.trade_id));
  }
  const newest = tape.trades[0];
  if (state.lastPrice !== null && newest.price !== state.lastPrice) {
    state.direction = Number(newest.price) > Number(state.lastPrice) ? 1 : -1;
  }
  state.lastPrice = newest.price;
  mark("trades", "ticker", "candles", "book");
}

function renderCandleInfo(pd, qd) {
  const c = price.hovered || state.candles[state.candles.length - 1];
  const text = c
    ? `O ${c.o.toFixed(pd)}  H ${c.h.toFixed(pd)}  L ${c.l.toFixed(pd)}  C ${c.c.toFixed(pd)}  V ${c.v.toFixed(Math.min(qd, 4))}`
    : "";
  setText($("#candle-info"), text);
}

// -- LOADING --

let loadToken = 0;

async function loadCandles() {
  const token = loadToken;
  const interval = state.interval;
  try {
    const raw = await rest.get(`/v1/instruments/${encodeURIComponent(state.symbol)}/candles`, { interval, limit: 500 });
    if (token !== loadToken || interval !== state.interval) return;
    // Trades that arrived while the request was out are in both; the candles' closes are
    // right either way, the volume of that instant may count twice until the next reload.
    state.candles = raw.map(candleOf);
    mark("candles");
  } catch (exc) {
    console.warn("candles", exc.message);
  }
}

async function loadTrades() {
  const token = loadToken;
  try {
    const trades = await rest.get(`/v1/instruments/${encodeURIComponent(state.symbol)}/trades`, { limit: 60 });
    if (token !== loadToken) return;
    onTrades(trades);
    state.tradesLoaded = true;
  } catch (exc) {
    console.warn("trades", exc.message);
  }
}

async function loadTicker() {
  const token = loadToken;
  try {
    const ticker = await rest.get(`/v1/instruments/${encodeURIComponent(state.symbol)}/ticker`);
    if (token !== loadToken) return;
    state.ticker = ticker;
    if (ticker.last_price !== null && state.lastPrice === null) state.lastPrice = ticker.last_price;
    mark("ticker");
  } catch (exc) {
    console.warn("ticker", exc.message);
  }
}

/** The REST book, used only while the WebSocket is down (it has no updates to follow). */
async function loadBook() {
  const token = loadToken;
  try {
    const snap = await rest.get(`/v1/instruments/${encodeURIComponent(state.symbol)}/book`, { depth: 200 });
    if (token !== loadToken || feed.state === "live") return;
    if (book.synced && book.sequence !== null && book.sequence >= snap.sequence) return;
    book.snapshot(snap.sequence, snap.bids, snap.asks);
    mark("book", "ticker");
  } catch (exc) {
    console.warn("book", exc.message);
  }
}

function channelsOf(symbol) {
  const channels = [`book.${symbol}`, `trades.${symbol}`, `ticker.${symbol}`];
  if (leaderboard.round !== null) channels.push(`leaderboard.${leaderboard.round}`);
  return channels;
}

// -- LEADERBOARD --

async function loadLeaderboard() {
  const shown = leaderboard.round;
  try {
    leaderboard.render(await rest.get("/v1/leaderboard"));
  } catch (exc) {
    if (exc.status === 404) leaderboard.clear();
    else console.warn("leaderboard", exc.message);
  }
  if (leaderboard.round !== shown && state.symbol) feed.setChannels(channelsOf(state.symbol));
}

function selectSymbol(symbol) {
  if (!state.instruments.has(symbol)) return;
  loadToken += 1;
  state.symbol = symbol;
  state.ticker = null;
  state.lastPrice = null;
  state.direction = 0;
  state.candles = [];
  state.tradesLoaded = false;
  book.reset();
  const inst = current();
  tape.reset(decimalsOf(inst.tick_size), decimalsOf(inst.lot_size));
  $("#symbol").value = symbol;
  localStorage.setItem("exchange.symbol", symbol);
  if (location.hash !== `#${symbol}`) history.replaceState(null, "", `#${symbol}`);
  form.setInstrument(inst);
  if ($("#only-symbol").checked) account.filterSymbol = symbol;
  feed.setChannels(channelsOf(symbol));
  loadTrades();
  loadCandles();
  loadTicker();
  if (feed.state !== "live") loadBook();
  mark("book", "trades", "candles", "ticker", "orders", "fills");
}

async function loadInstruments() {
  for (let wait = 500; ; wait = Math.min(wait * 2, 10000)) {
    try {
      const list = await rest.get("/v1/instruments");
      state.instruments = new Map(list.map((inst) => [inst.symbol, inst]));
      const select = $("#symbol");
      select.replaceChildren(...list.map((inst) => {
        const option = document.createElement("option");
        option.value = inst.symbol;
        option.textContent = inst.status === "halted" ? `${inst.symbol} (halted)` : inst.symbol;
        return option;
      }));
      return list;
    } catch (exc) {
      setText($("#conn-text"), "server unreachable");
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

// -- FEED --

function onMessage(message) {
  const channel = message.channel || "";
  switch (message.type) {
    case "snapshot":
      if (channel !== `book.${state.symbol}`) return;
      book.snapshot(message.sequence, message.bids, message.asks);
      mark("book", "ticker");
      return;
    case "update": {
      if (channel !== `book.${state.symbol}`) return;
      const outcome = book.update(message.first_sequence, message.sequence, message.bids, message.asks);
      if (outcome === "gap") {
        console.warn(`book gap at ${channel}: have ${book.sequence}, got ${message.first_sequence}; resubscribing`);
        feed.resubscribe(channel);
      }
      mark("book", "ticker");
      return;
    }
    case "trade":
      if (channel === `trades.${state.symbol}`) onTrades([message]);
      return;
    case "leaderboard":
      if (channel === `leaderboard.${leaderboard.round}`) leaderboard.render(message);
      return;
    case "ticker":
      if (channel !== `ticker.${state.symbol}`) return;
      state.ticker = message;
      mark("ticker");
      return;
    case "order":
      if (message.order) account.upsert(message.order);
      return;
    case "fill":
      account.addFills([message]);
      return;
    case "error":
      console.warn("feed error", message.error);
      return;
    default:
      return;  // subscribed, unsubscribed, authenticated, heartbeat, pong
  }
}

function onState(connection) {
  const node = $("#conn");
  node.dataset.state = connection;
  setText($("#conn-text"), connection);
  if (connection !== "live") mark("book");
}

function onOpen() {
  // Whatever happened while the connection was down: trades and candles from REST (the
  // book comes as a snapshot with the subscription), and the account's state.
  loadLeaderboard();
  if (!state.symbol) return;
  loadTrades();
  loadCandles();
  if (rest.key) account.refresh().catch(() => {});
}

const feed = new Feed({
  onMessage,
  onState,
  onOpen,
  onAuth: (ok, detail) => { if (!ok) console.warn("feed auth refused", detail); },
});

// -- VIEWS --

const ladder = new Ladder((p) => form.pickPrice(p), () => mark("book"));
const tape = new Tape();
const leaderboard = leaderboardView();
const tickerView = new TickerView();
const price = new PriceChart($("#price-chart"), () => mark("candles"));
const depth = new DepthChart($("#depth-chart"), () => mark("depth"));
const account = new Account(rest, {
  instrument: (symbol) => state.instruments.get(symbol),
  onChange: (part) => mark(part, "book"),
});
const form = new OrderForm({
  symbol: () => state.symbol,
  instrument: current,
  place: async (body) => {
    const order = await rest.private("POST", "/v1/orders", { body });
    account.upsert(order);
    if (order.fills && order.fills.length) {
      account.addFills(order.fills.map((f) => ({ symbol: order.symbol, side: order.side, order_id: order.order_id, ...f })));
    }
    return order;
  },
});

// -- API KEY --

async function useKey(key) {
  const box = $("#keybox");
  rest.key = key;
  box.classList.remove("bad");
  try {
    await account.refresh();
  } catch (exc) {
    if (exc.code === "unauthorized") {
      rest.key = null;
      localStorage.removeItem(KEY_STORAGE);
      box.classList.add("bad");
      notify($("#f-result"), exc);
      showKey();
      return;
    }
    // The server is unreachable: keep the key and try again with the next refresh.
  }
  localStorage.setItem(KEY_STORAGE, key);
  feed.setKey(key);
  showKey();
}

function showKey() {
  const signedIn = rest.key !== null;
  $("#api-key").hidden = signedIn;
  $("#key-save").hidden = signedIn;
  $("#key-forget").hidden = !signedIn;
  const info = account.info;
  setText($("#account-name"), signedIn ? (info ? `${info.name} · #${info.account_id}` : "account") : "");
  mark("orders", "fills", "balances");
}

$("#keybox").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("#api-key").value.trim();
  if (key) useKey(key).then(() => { $("#api-key").value = ""; });
});
$("#key-forget").addEventListener("click", () => {
  rest.key = null;
  localStorage.removeItem(KEY_STORAGE);
  feed.setKey(null);
  account.clear();
  showKey();
});

// -- CONTROLS --

$("#symbol").addEventListener("change", (event) => selectSymbol(event.target.value));
window.addEventListener("hashchange", () => {
  const symbol = decodeURIComponent(location.hash.slice(1));
  if (symbol && symbol !== state.symbol) selectSymbol(symbol);
});
for (const button of $$("#intervals button")) {
  button.addEventListener("click", () => {
    state.interval = button.dataset.interval;
    for (const other of $$("#intervals button")) other.classList.toggle("on", other === button);
    state.candles = [];
    mark("candles");
    loadCandles();
  });
}
for (const tab of $$(".tabs .tab")) {
  tab.addEventListener("click", () => {
    for (const other of $$(".tabs .tab")) other.classList.toggle("on", other === tab);
    for (const body of $$(".tab-body")) body.hidden = body.dataset.body !== tab.dataset.tab;
  });
}
$("#only-symbol").addEventListener("change", (event) => {
  account.filterSymbol = event.target.checked ? state.symbol : null;
  mark("orders", "fills", "balances");
});
let confirmTimer = null;
$("#cancel-all").addEventListener("click", (event) => {
  // Two clicks: the first arms the button for three seconds.
  const button = event.currentTarget;
  if (!button.classList.contains("armed")) {
    button.classList.add("armed");
    button.textContent = "Confirm cancel all";
    confirmTimer = setTimeout(() => { button.classList.remove("armed"); button.textContent = "Cancel all"; }, 3000);
    return;
  }
  clearTimeout(confirmTimer);
  button.classList.remove("armed");
  button.textContent = "Cancel all";
  account.cancelAll($("#only-symbol").checked ? state.symbol : undefined);
});

// -- START --

setInterval(() => {
  if (!state.symbol || feed.state === "live") return;
  loadBook();
  loadTrades();
  loadTicker();
}, POLL_MS);
let accountTicks = 0;
setInterval(() => {
  // Live, the channels keep orders and fills current and balances are asked for after
  // each change; a slow refresh covers the rest. Without the feed, poll it all.
  accountTicks += 1;
  if (!rest.key) return;
  if (feed.state !== "live") account.refresh().catch(() => {});
  else if (accountTicks % (ACCOUNT_POLL_MS / POLL_MS) === 0) account.refreshBalances();
}, POLL_MS);

// A new round shows up within the slow poll (the channel covers the round already shown).
setInterval(loadLeaderboard, LEADERBOARD_POLL_MS);

// A handle for debugging from the console (and for the browser tests).
window.exchangePage = { state, book, feed, account, rest, mark, renderStats, leaderboard };

async function main() {
  feed.start();
  const list = await loadInstruments();
  loadLeaderboard();
  const wanted = decodeURIComponent(location.hash.slice(1)) || localStorage.getItem("exchange.symbol");
  const symbol = state.instruments.has(wanted) ? wanted : list.length ? list[0].symbol : null;
  if (symbol) selectSymbol(symbol);
  const key = localStorage.getItem(KEY_STORAGE);
  if (key) await useKey(key);
  else showKey();
}

main();
