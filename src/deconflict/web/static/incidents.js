// Incidents: the list, one incident with every party's account side by side (latest first,
// earlier versions folded away, never overwritten), and a form to file this party's account.

import { describeError } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { formatMetres, formatUtc } from "./geo.js";

const $ = (id) => document.getElementById(id);
const words = (value) => value.replaceAll("_", " ");

export class IncidentsPanel {
  /** ctx: {api, consoleMap, me, onChanged(), showTab(name)} */
  constructor(ctx) {
    this.ctx = ctx;
    this.items = null; // null: this server has no incidents API
    this.openId = null;
  }

  async update(items) {
    this.items = items;
    this.renderList();
    if (this.openId) await this.open(this.openId, { quiet: true });
  }

  renderList() {
    const list = clear($("incident-list"));
    if (this.items === null) {
      list.append(h("p", { class: "empty" }, "This server has no incidents API (GET /v1/incidents answers 404), so there is nothing to show here."));
      return;
    }
    if (!this.items.length) {
      list.append(h("p", { class: "empty" }, "No incident your party may see."));
      return;
    }
    for (const incident of this.items) {
      list.append(h("article", { class: "card", "data-incident": incident.id },
        h("h3", {}, `${words(incident.type)}${incident.place_name ? ` · ${incident.place_name}` : ""}`),
        h("p", {}, h("span", { class: "tag" }, words(incident.status)), formatUtc(incident.occurred_at)),
        h("p", { class: "meta" }, `Involved: ${incident.involved.map((p) => this.ctx.consoleMap.partyName(p)).join(", ")}`),
        h("div", { class: "buttons" },
          h("button", { type: "button", onclick: () => this.open(incident.id) }, "Open"),
          h("button", { type: "button", onclick: () => this.ctx.consoleMap.focusIncident(incident) }, "Show on map")),
      ));
    }
  }

  async open(id, { quiet = false } = {}) {
    this.openId = id;
    const holder = $("incident-detail");
    if (!quiet) this.ctx.showTab("incidents");
    let incident;
    try {
      incident = await this.ctx.api.get(`/v1/incidents/${encodeURIComponent(id)}`);
    } catch (error) {
      clear(holder).append(h("p", { class: "error", role: "alert" }, describeError(error)));
      return;
    }
    // Keep a half-written account if a live update re-renders the incident.
    const draft = $("account-text")?.value || "";
    clear(holder).append(this.detail(incident));
    if (draft) $("account-text").value = draft;
    if (!quiet) $("incident-title").focus();
  }

  detail(incident) {
    const party = (id) => this.ctx.consoleMap.partyName(id);
    const c = incident.casualties;
    return h("section", { class: "incident", "aria-labelledby": "incident-title" },
      h("h2", { id: "incident-title", tabindex: "-1" }, `${words(incident.type)} — ${words(incident.status)}`),
      h("p", {}, `${formatUtc(incident.occurred_at)}${incident.time_precision_s ? ` ±${Math.round(incident.time_precision_s / 60)} min` : ""}`,
        ` · ${incident.place_name || incident.place.map((v) => v.toFixed(3)).join(", ")}`,
        incident.place_precision_m ? ` ±${formatMetres(incident.place_precision_m)}` : ""),
      h("p", {}, incident.summary),
      h("p", { class: "meta" }, `Reported by ${party(incident.reported_by)} at ${formatUtc(incident.reported_at)}`,
        c && (c.killed !== null || c.injured !== null) ? ` · casualties as reported: ${c.killed ?? "?"} killed, ${c.injured ?? "?"} injured` : ""),
      h("h3", {}, "Accounts"),
      h("div", { class: "accounts" }, incident.accounts.map((side) => this.account(side))),
      incident.settlement && h("div", { class: "card" },
        h("h3", {}, `Settlement (version ${incident.settlement.version})`),
        h("p", { class: "text" }, incident.settlement.text),
        h("p", { class: "meta" }, `Proposed by ${party(incident.settlement.proposed_by)}; accepted by ${incident.settlement.accepted_by.map(party).join(", ") || "nobody yet"}`)),
      this.accountForm(incident),
    );
  }

  account(side) {
    const party = this.ctx.consoleMap.partyName(side.party_id);
    const latest = side.latest;
    return h("article", { class: "account", "data-party": side.party_id },
      h("h4", {}, `${party} (${side.role})`),
      latest
        ? [h("p", { class: "text" }, latest.text),
          latest.casualties && h("p", { class: "meta" }, `Casualties: ${latest.casualties.killed ?? "?"} killed, ${latest.casualties.injured ?? "?"} injured${latest.casualties.note ? ` — ${latest.casualties.note}` : ""}`),
          h("p", { class: "meta" }, `Version ${latest.version}, ${formatUtc(latest.filed_at)}`)]
        : h("p", { class: "empty" }, "No account filed."),
      side.versions.length > 1 && h("details", {},
        h("summary", {}, `Earlier versions (${side.versions.length - 1})`),
        side.versions.filter((v) => v.version !== latest?.version).map((v) => h("div", {},
          h("p", { class: "meta" }, `Version ${v.version}, ${formatUtc(v.filed_at)}`), h("p", { class: "text" }, v.text)))),
    );
  }

  accountForm(incident) {
    const mine = this.ctx.me.party.id;
    const side = incident.accounts.find((a) => a.party_id === mine);
    if (!side || side.role === "shared") {
      return h("p", { class: "note" }, "Your party was shown this incident; only involved parties and observers file accounts.");
    }
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "account-form" },
      h("h3", {}, side.latest ? "File a new version of your party's account" : "File your party's account"),
      h("label", { for: "account-text" }, "Account"),
      h("textarea", { id: "account-text", rows: "5", required: true, maxlength: "50000" }),
      h("label", { for: "account-killed" }, "Killed (as your party reports; empty: unknown)"),
      h("input", { id: "account-killed", type: "number", min: "0", step: "1" }),
      h("label", { for: "account-injured" }, "Injured (empty: unknown)"),
      h("input", { id: "account-injured", type: "number", min: "0", step: "1" }),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "File account")),
      error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = { text: $("account-text").value };
      const killed = $("account-killed").value;
      const injured = $("account-injured").value;
      if (killed || injured) {
        body.casualties = {};
        if (killed) body.casualties.killed = Number(killed);
        if (injured) body.casualties.injured = Number(injured);
      }
      try {
        await this.ctx.api.post(`/v1/incidents/${encodeURIComponent(incident.id)}/accounts`, body);
        $("account-text").value = "";
        toast("Account filed.");
        await this.ctx.onChanged();
        await this.open(incident.id, { quiet: true });
      } catch (e) {
        error.textContent = describeError(e);
      }
    });
    return form;
  }
}
