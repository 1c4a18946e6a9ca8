// The console's entry point: log in with a member token, then load what the API shows this
// member and keep it fresh. Plain ES modules, served as they are written: no build step to
// install or to get wrong, and what runs in the browser is what is in the repository.

import { Api, describeError } from "./api.js";
import { addBasemap } from "./basemap.js";
import { DeclarePanel } from "./declare.js";
import { clear, h, toast } from "./dom.js";
import { formatUtc, ms } from "./geo.js";
import { Inbox } from "./inbox.js";
import { IncidentsPanel } from "./incidents.js";
import { Live } from "./live.js";
import { ConsoleMap } from "./map.js";
import { Timebar } from "./timebar.js";

const TOKEN_KEY = "deconflict.token";
const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  clockOffset: 0, // service clock minus browser clock, in ms
  api: null,
  me: null,
  parties: [],
};

/** The service's clock, which for the demo is not the wall clock. */
const now = () => Date.now() + state.clockOffset;

async function loadConfig() {
  const config = await (await fetch("/console/config.json", { cache: "no-store" })).json();
  state.clockOffset = ms(config.now) - Date.now();
  return config;
}

function askForToken(message = "") {
  $("workspace").hidden = true;
  $("logout").hidden = true;
  $("login-error").textContent = message;
  const dialog = $("login");
  if (!dialog.open) dialog.showModal();
  $("token").focus();
}

async function logIn(token) {
  const api = new Api(token);
  const me = await api.get("/v1/me");
  if (!me.party) {
    throw new Error("This token belongs to the host administrator, who sees no declarations. Log in as a member of a party.");
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  state.api = api;
  state.me = me;
  return me;
}

function logOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  window.location.reload(); // drops every piece of the previous member's data with the page
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}

/** Tabs as the ARIA pattern has them: click, or arrow keys between tabs. */
function wireTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => showTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      showTab(next.id.slice(4));
      next.focus();
    });
  });
}

async function start(config) {
  const { me } = state;
  $("whoami").textContent = `${me.member.name} · ${me.member.role} · ${me.party.name} (${me.party.id})`;
  $("logout").hidden = false;
  $("workspace").hidden = false;
  state.parties = await state.api.get("/v1/parties");

  const handlers = {
    openAdvisory: (id) => inbox.reveal(id),
    openIncident: (id) => incidents.open(id),
  };
  const consoleMap = new ConsoleMap($("map"), handlers);
  consoleMap.setParties(state.parties, me.party.id);
  window.deconflictConsole = { map: consoleMap.map, consoleMap, state }; // for tests and the curious
  const basemap = addBasemap(consoleMap.map, config).catch((error) => {
    $("basemap-note").textContent = `The basemap could not be drawn: ${error.message}`;
    return { toggles: [], note: "" };
  });

  const ctx = { api: state.api, consoleMap, me, parties: state.parties, now, showTab };
  const inbox = new Inbox({ ...ctx, onChanged: () => refresh() });
  const incidents = new IncidentsPanel({ ...ctx, onChanged: () => refresh() });
  const timebar = new Timebar({ consoleMap, now });
  new DeclarePanel({ ...ctx, onDeclared: () => refresh() });

  let first = true;
  let running = null;
  let again = false;
  /** Reloads everything from the API; calls that arrive meanwhile coalesce into one more. */
  async function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await load();
      } while (again);
    })().finally(() => { running = null; });
    return running;
  }

  async function load() {
    try {
      // config.json again: it re-reads the service clock, which a test or demo may move.
      const [, declarations, advisories, pending, incidentPage] = await Promise.all([
        loadConfig(),
        state.api.all("/v1/map/declarations?limit=500", "features"),
        state.api.all("/v1/map/advisories?limit=500", "features"),
        state.api.optional("/v1/channel/pending"),
        state.api.optional("/v1/incidents?limit=500"),
      ]);
      consoleMap.setDeclarations(declarations);
      consoleMap.setAdvisories(advisories);
      consoleMap.setIncidents(incidentPage ? incidentPage.items : []);
      await inbox.update(advisories, pending);
      await incidents.update(incidentPage ? incidentPage.items : null);
      timebar.dataChanged();
      if (first) {
        first = false;
        consoleMap.fitToData();
      }
      document.body.dataset.loaded = String(Date.now());
    } catch (error) {
      if (error.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        askForToken(describeError(error));
        return;
      }
      toast(describeError(error));
    }
  }

  await refresh();
  renderLayers(consoleMap, await basemap);
  const live = new Live(state.api, () => refresh(), (liveState) => {
    const node = $("live");
    node.dataset.state = liveState;
    node.textContent = { live: "live", polling: "polling", off: "offline" }[liveState];
  });
  live.start();
  setInterval(() => { $("clock").textContent = formatUtc(now()); }, 1000);
  $("clock").textContent = formatUtc(now());
}

function renderLayers(consoleMap, basemap) {
  const holder = $("layer-toggles");
  for (const [name, layer] of [...basemap.toggles, ...consoleMap.toggles()]) {
    const id = `layer-${name.toLowerCase().replace(/[^a-z]+/g, "-")}`;
    const box = h("input", { type: "checkbox", id, checked: consoleMap.map.hasLayer(layer) });
    box.addEventListener("change", () => (box.checked ? layer.addTo(consoleMap.map) : layer.remove()));
    holder.append(h("label", { for: id }, box, ` ${name}`));
  }
  $("basemap-note").textContent = basemap.note;
  const legend = clear($("legend"));
  for (const party of state.parties) {
    const color = consoleMap.color(party.id);
    legend.append(h("li", {},
      h("span", { class: "swatch", style: `border-color:${color};background:${color}33` }),
      `${party.name}${party.id === state.me.party.id ? " (you)" : ""}`));
  }
  legend.append(h("li", {}, h("span", { class: "swatch coarse", style: "border-color:#555" }),
    "Dashed: coarsened to the precision you were granted; the real one lies inside"));
  legend.append(h("li", {}, h("span", { class: "swatch", style: "border-color:#fff;background:#b3261e;border-radius:50%" }),
    "Advisory awaiting your acknowledgement (orange once acknowledged)"));
}

async function main() {
  wireTabs();
  $("logout").addEventListener("click", logOut);
  let config;
  try {
    config = await loadConfig();
    state.config = config;
  } catch (error) {
    document.body.prepend(h("p", { class: "error", role: "alert" }, `The console could not load its settings: ${error.message}`));
    return;
  }
  if (typeof window.L === "undefined") {
    document.body.prepend(h("p", { class: "error", role: "alert" },
      "The map library is missing from this installation. Run `make install` (it copies Leaflet from npm into the package)."));
  }
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = $("token").value.trim();
    try {
      await logIn(token);
      $("login").close();
      $("token").value = "";
      await start(config);
    } catch (error) {
      $("login-error").textContent = describeError(error);
    }
  });
  // The login dialog cannot be dismissed with Escape: nothing else works without a token.
  $("login").addEventListener("cancel", (event) => event.preventDefault());
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) {
    askForToken();
    return;
  }
  try {
    await logIn(saved);
    await start(config);
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken(describeError(error));
  }
}

main();
