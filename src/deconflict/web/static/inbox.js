// The inbox: advisories and channel messages waiting for this party's acknowledgement, with
// their deadlines counting down and their escalation state, and every other advisory with
// who has acknowledged it. Acknowledging is for liaison officers and leadership.

import { describeError } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { formatDuration, formatMetres, formatUtc, ms } from "./geo.js";

const ACKNOWLEDGING_ROLES = new Set(["liaison", "leadership"]);
const $ = (id) => document.getElementById(id);

export class Inbox {
  /** ctx: {api, consoleMap, me, now(), onChanged(), showTab(name)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.advisories = [];
    this.pending = null; // null: this server has no channel API
    this.messages = new Map(); // id -> MessageView, fetched once each
    this.mayAcknowledge = ACKNOWLEDGING_ROLES.has(ctx.me.member.role);
    setInterval(() => this.tick(), 1000);
  }

  /** New data from the API: advisory Features and the pending list (or null). */
  async update(advisoryFeatures, pending) {
    this.advisories = advisoryFeatures;
    this.pending = pending;
    if (pending) {
      const wanted = pending.filter((p) => p.item_kind === "message" && !this.messages.has(p.item_id));
      await Promise.all(wanted.map(async (p) => {
        try {
          this.messages.set(p.item_id, await this.ctx.api.get(`/v1/messages/${encodeURIComponent(p.item_id)}`));
        } catch { /* shown without its body; the next refresh tries again */ }
      }));
    }
    this.render();
  }

  deadlineOf(kind, id) {
    return (this.pending || []).find((p) => p.item_kind === kind && p.item_id === id) || null;
  }

  render() {
    const mine = this.ctx.me.party.id;
    const needs = [];
    const rest = [];
    for (const feature of this.advisories) {
      const p = feature.properties;
      const acked = p.acknowledgements.some((a) => a.party_id === mine);
      (p.status === "open" && !acked ? needs : rest).push(this.advisoryCard(feature, !acked && p.status === "open"));
    }
    for (const item of this.pending || []) {
      if (item.item_kind === "message" && item.status !== "acknowledged" && item.status !== "closed") {
        needs.push(this.messageCard(item));
      }
    }
    // Live updates re-render the lists: keep what the user was typing and where the focus was.
    const kept = new Map([...document.querySelectorAll("#panel-inbox input")].map((i) => [i.id, i.value]));
    const focused = document.activeElement && document.activeElement.closest("#panel-inbox") ? document.activeElement.id : null;
    const byDue = (node) => Number(node.dataset.due || Infinity);
    needs.sort((a, b) => byDue(a) - byDue(b));
    const pendingBox = clear($("inbox-pending"));
    pendingBox.append(...(needs.length ? needs : [h("p", { class: "empty" }, "Nothing is waiting for your party.")]));
    const allBox = clear($("inbox-all"));
    allBox.append(...(rest.length ? rest : [h("p", { class: "empty" }, "No other advisories.")]));
    const badge = $("inbox-count");
    badge.textContent = String(needs.length);
    badge.classList.toggle("hot", needs.length > 0);
    badge.setAttribute("aria-label", `${needs.length} waiting`);
    for (const [id, value] of kept) if (value && $(id)) $(id).value = value;
    if (focused && $(focused)) $(focused).focus();
    this.tick();
  }

  label(declarationId) {
    const entry = declarationId && this.ctx.consoleMap.declarations.get(declarationId);
    return entry ? entry.feature.properties.label || entry.feature.properties.kind : declarationId || "—";
  }

  advisoryCard(feature, needsAck) {
    const p = feature.properties;
    const ca = p.closest_approach;
    const party = (id) => this.ctx.consoleMap.partyName(id);
    const deadline = this.deadlineOf("advisory", feature.id);
    const card = h("article", {
      class: `card advisory-card ${needsAck ? "needs" : "acked"}`,
      "data-advisory": feature.id,
      "aria-labelledby": `adv-${feature.id}`,
    });
    if (deadline && needsAck) card.dataset.due = String(ms(deadline.due_at));
    card.append(
      h("h3", { id: `adv-${feature.id}` }, `Advisory with ${party(p.other.party_id)}`,
        p.status === "resolved" ? ` (resolved${p.resolution ? `: ${p.resolution}` : ""})` : ""),
      h("p", {}, `${this.label(p.own.declaration_id)} × `,
        p.disclosure === "full" ? this.label(p.other.declaration_id) : "an undisclosed activity"),
      h("p", {}, ca.distance_m !== null
        ? `${formatMetres(ca.distance_m)} apart (separation ${formatMetres(ca.separation_m)}) at ${formatUtc(ca.instant_own)}`
        : `Around ${formatUtc(ca.instant_own)}, place rounded to ±${formatMetres(ca.place_precision_m)}`),
      ...(deadline && needsAck ? [this.deadlineLine(deadline)] : []),
      h("p", { class: "meta acks" }, p.acknowledgements.length
        ? p.acknowledgements.map((a) => `Acknowledged by ${party(a.party_id)} at ${formatUtc(a.at)}${a.note ? ` — “${a.note}”` : ""}`).join("; ")
        : "No party has acknowledged yet."),
      h("p", { class: "meta" }, `Raised ${formatUtc(p.raised_at)} · ${feature.id}`),
    );
    const actions = h("div", { class: "buttons" },
      h("button", { type: "button", onclick: () => this.ctx.consoleMap.focusAdvisory(feature.id) }, "Show on map"));
    const error = h("p", { class: "error", role: "alert" });
    if (needsAck) this.addAcknowledge(card, actions, error, `/v1/advisories/${encodeURIComponent(feature.id)}/acknowledge`);
    card.append(actions, error);
    return card;
  }

  messageCard(item) {
    const message = this.messages.get(item.item_id);
    const party = (id) => this.ctx.consoleMap.partyName(id);
    const card = h("article", { class: "card needs message-card", "data-message": item.item_id, "data-due": String(ms(item.due_at)) },
      h("h3", {}, `Message${message ? ` from ${party(message.party_id)}` : ""}`, item.counterpart ? ` (${party(item.counterpart)})` : ""),
      message ? h("p", { class: "text" }, message.body) : h("p", { class: "meta" }, item.item_id),
      this.deadlineLine(item),
    );
    const actions = h("div", { class: "buttons" });
    const error = h("p", { class: "error", role: "alert" });
    this.addAcknowledge(card, actions, error, `/v1/messages/${encodeURIComponent(item.item_id)}/acknowledge`);
    card.append(actions, error);
    return card;
  }

  deadlineLine(item) {
    const tags = [h("span", { class: "tag" }, item.tier)];
    if (item.escalations > 0) tags.push(h("span", { class: "tag escalated" }, `escalated ${item.escalations}×`));
    if (item.status === "on_agenda") tags.push(h("span", { class: "tag escalated" }, "on the leadership agenda"));
    return h("p", {}, ...tags,
      h("span", { class: "deadline", "data-due": String(ms(item.due_at)) }, ""),
      h("span", { class: "meta" }, ` (due ${formatUtc(item.due_at)})`));
  }

  addAcknowledge(card, actions, error, path) {
    if (!this.mayAcknowledge) {
      actions.append(h("span", { class: "note" }, "Acknowledging is for your party's liaison officers and leadership."));
      return;
    }
    const noteId = `note-${card.dataset.advisory || card.dataset.message}`;
    const note = h("input", { id: noteId, maxlength: "2000", placeholder: "optional" });
    card.append(h("label", { for: noteId }, "Note with the acknowledgement"), note);
    const button = h("button", { type: "button", class: "primary" }, "Acknowledge");
    button.addEventListener("click", async () => {
      button.disabled = true;
      error.textContent = "";
      try {
        await this.ctx.api.post(path, note.value.trim() ? { note: note.value.trim() } : {});
        toast("Acknowledged.");
        await this.ctx.onChanged();
      } catch (e) {
        error.textContent = describeError(e);
        button.disabled = false;
      }
    });
    actions.prepend(button);
  }

  /** Counts every visible deadline down against the service clock. */
  tick() {
    const now = this.ctx.now();
    for (const node of document.querySelectorAll(".deadline[data-due]")) {
      const left = Number(node.dataset.due) - now;
      node.textContent = left >= 0 ? ` ${formatDuration(left)} left` : ` overdue by ${formatDuration(left)}`;
      node.classList.toggle("overdue", left < 0);
    }
  }

  /** Opens the inbox at one advisory. */
  reveal(id) {
    this.ctx.showTab("inbox");
    const card = document.querySelector(`[data-advisory="${CSS.escape(id)}"]`);
    if (card) {
      card.scrollIntoView({ block: "center" });
      card.querySelector("button")?.focus();
    }
  }
}
