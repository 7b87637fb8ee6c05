// The page's two ways to the server: `Rest` (fetch, with the API key as a Bearer token) and
// `Feed` (one WebSocket for market data and the account's private channels, reconnecting by
// itself with exponential backoff).

/** A refusal from the server, decoded from the contract's error envelope. */
export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

export class Rest {
  constructor() {
    this.key = null;
  }

  /** Sends one request; resolves to the decoded JSON or rejects with an `ApiError`. */
  async request(method, path, { body, params, auth = false } = {}) {
    let url = path;
    if (params) {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(params)) {
        if (value !== null && value !== undefined && value !== "") query.set(name, value);
      }
      const text = query.toString();
      if (text) url += "?" + text;
    }
    const headers = { Accept: "application/json" };
    if (auth) {
      if (!this.key) throw new ApiError(401, "unauthorized", "enter an API key first");
      headers.Authorization = `Bearer ${this.key}`;
    }
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (exc) {
      throw new ApiError(0, "network_error", "the server cannot be reached");
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.startsWith("application/json")) {
      try { data = await response.json(); } catch (exc) { data = null; }
    }
    if (!response.ok) {
      const error = data && data.error;
      if (error && error.code) {
        throw new ApiError(response.status, error.code, error.message || error.code, error.details);
      }
      throw new ApiError(response.status, `http_${response.status}`, response.statusText || "request failed");
    }
    return data;
  }

  get(path, params) { return this.request("GET", path, { params }); }
  private(method, path, options = {}) { return this.request(method, path, { ...options, auth: true }); }
}

const BACKOFF_START = 500;     // ms before the first reconnect
const BACKOFF_MAX = 15000;     // ms, the longest wait between attempts
const SILENCE_LIMIT = 16000;   // ms without any frame (the server beats every 5 s of silence)

/**
 * One WebSocket to `/v1/ws`. It keeps the wanted public channels and, with a key, the
 * private `orders` and `fills` channels subscribed across reconnects. Callbacks:
 * `onMessage(message)` for every server message (frames holding an array are split),
 * `onState(state)` with "connecting" | "live" | "reconnecting", `onOpen()` after each
 * (re)subscription was sent, `onAuth(ok, detail)` after an auth attempt.
 */
export class Feed {
  constructor({ onMessage, onState, onOpen, onAuth }) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.onOpen = onOpen || (() => {});
    this.onAuth = onAuth || (() => {});
    this.channels = new Set();
    this.key = null;
    this.ws = null;
    this.state = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();  // id -> what it was for ("auth", "subscribe", ...)
    this.lastFrame = 0;
    this.timer = null;
    this.stats = { frames: 0, messages: 0, reconnects: 0, resubscribes: 0 };
    setInterval(() => this.watchdog(), 2000);
    window.addEventListener("online", () => { if (this.state !== "live") this.reconnectNow(); });
  }

  start() {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}/v1/ws`);
    } catch (exc) {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.lastFrame = Date.now();
      this.pending.clear();
      if (this.key) this.sendAuth();
      if (this.channels.size) this.send({ op: "subscribe", channels: [...this.channels] }, "subscribe");
      this.onOpen();
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastFrame = Date.now();
      this.handleFrame(event.data);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
    ws.onerror = () => {};  // a close event always follows
  }

  /** Decodes one frame: a JSON object or an array of them. */
  handleFrame(data) {
    let parsed;
    try { parsed = JSON.parse(data); } catch (exc) { return; }
    this.stats.frames += 1;
    const messages = Array.isArray(parsed) ? parsed : [parsed];
    for (const message of messages) {
      if (!message || typeof message !== "object") continue;
      this.stats.messages += 1;
      if (this.state !== "live") {
        this.attempt = 0;
        this.setState("live");
      }
      const purpose = message.id !== undefined ? this.pending.get(message.id) : undefined;
      if (purpose !== undefined) this.pending.delete(message.id);
      if (message.type === "authenticated") {
        this.send({ op: "subscribe", channels: ["orders", "fills"] }, "subscribe");
        this.onAuth(true, message);
      } else if (message.type === "error" && purpose === "auth") {
        this.onAuth(false, message.error || {});
      }
      this.onMessage(message);
    }
  }

  scheduleReconnect() {
    clearTimeout(this.timer);
    this.setState("reconnecting");
    const wait = Math.min(BACKOFF_MAX, BACKOFF_START * 2 ** this.attempt);
    this.attempt += 1;
    this.stats.reconnects += 1;
    // Jitter, so that many pages do not come back at the same instant after a restart.
    this.timer = setTimeout(() => this.start(), wait * (0.75 + Math.random() * 0.5));
  }

  reconnectNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    if (this.ws) this.ws.close();
    else this.start();
  }

  watchdog() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && Date.now() - this.lastFrame > SILENCE_LIMIT) {
      this.ws.close(4000, "silent");  // the close handler reconnects
    }
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  get open() { return this.ws !== null && this.ws.readyState === WebSocket.OPEN; }

  send(message, purpose) {
    if (!this.open) return false;
    const id = this.nextId++;
    if (purpose) this.pending.set(id, purpose);
    this.ws.send(JSON.stringify({ id, ...message }));
    return true;
  }

  sendAuth() { this.send({ op: "auth", api_key: this.key }, "auth"); }

  /** Replaces the public channels, subscribing and unsubscribing only the difference. */
  setChannels(channels) {
    const wanted = new Set(channels);
    const gone = [...this.channels].filter((c) => !wanted.has(c));
    const added = [...wanted].filter((c) => !this.channels.has(c));
    this.channels = wanted;
    if (gone.length) this.send({ op: "unsubscribe", channels: gone }, "unsubscribe");
    if (added.length) this.send({ op: "subscribe", channels: added }, "subscribe");
  }

  /** Unsubscribes and subscribes again: the server answers with a fresh snapshot. */
  resubscribe(channel) {
    this.stats.resubscribes += 1;
    this.send({ op: "unsubscribe", channels: [channel] }, "unsubscribe");
    this.send({ op: "subscribe", channels: [channel] }, "subscribe");
  }

  /** A new key (or null): authenticate on the open connection, or drop the old session. */
  setKey(key) {
    const had = this.key;
    this.key = key;
    if (!this.open) return;
    // A new session is the only sure way to leave (or switch) an authenticated one.
    if (had) this.reconnectNow();
    else if (key) this.sendAuth();
  }
}
