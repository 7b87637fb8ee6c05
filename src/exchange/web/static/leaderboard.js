// The leaderboard tab: the latest round's standings from `GET /v1/leaderboard`, then live
// from the `leaderboard.<round>` channel (at most one message a second, on change).

import { $, el, setText } from "./util.js";

export class LeaderboardView {
  constructor(body, label) {
    this.body = body;
    this.label = label;
    this.round = null;  // the round shown
  }

  /** Shows "no round yet" (no round has started). */
  clear() {
    this.round = null;
    setText(this.label, "");
    this.body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 7 }, "No round yet")));
  }

  /** Renders a leaderboard answer or channel message. */
  render(board) {
    this.round = board.round_id;
    setText(this.label, `${board.name} · ${board.asset}`);
    const marks = Object.entries(board.marks || {})
      .map(([asset, mark]) => `${asset} ${mark.price ?? "—"} (${mark.source})`).join(", ");
    this.label.title = marks ? `marks: ${marks}` : "";
    if (!board.accounts.length) {
      this.body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 7 }, "No accounts in this round")));
      return;
    }
    this.body.replaceChildren(...board.accounts.map((entry) => el(
      "tr", { class: "lb-row", dataset: { accountId: entry.account_id, rank: entry.rank } },
      el("td", { class: "num" }, entry.rank),
      el("td", {}, entry.name ? `${entry.name} · #${entry.account_id}` : `#${entry.account_id}`),
      el("td", { class: "num" }, entry.equity),
      el("td", { class: `num ${entry.pnl.startsWith("-") ? "down" : entry.pnl === "0" ? "" : "up"}` }, entry.pnl),
      el("td", { class: "num" }, Object.entries(entry.fees_paid).map(([a, v]) => `${v} ${a}`).join(", ") || "0"),
      el("td", { class: "num" }, entry.trades),
      el("td", { class: "num" }, entry.max_drawdown ?? "—"),
    )));
  }
}

export function leaderboardView() {
  return new LeaderboardView($("#leaderboard"), $("#lb-round"));
}
