// The Declare panel: draw a site, an area or a movement, time it, choose who sees it and how
// precisely, see the advisories it would raise (POST /v1/declarations/check, stores nothing),
// then declare it (POST /v1/declarations).

import { describeError } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { Drawer, formatPoints, parsePoints } from "./drawing.js";
import { distanceM, formatMetres, formatUtc, fromInputUtc, toInputUtc } from "./geo.js";

const SHAPES = {
  "site-point": { kind: "site", mode: "point" },
  "site-polygon": { kind: "site", mode: "polygon" },
  area: { kind: "area", mode: "polygon" },
  movement: { kind: "movement", mode: "line" },
};

const $ = (id) => document.getElementById(id);

export class DeclarePanel {
  /** ctx: {api, consoleMap, me, parties, now(), onDeclared()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.form = $("declare-form");
    this.drawer = new Drawer(ctx.consoleMap.map, (points) => this.pointsChanged(points));
    this.wire();
    if (ctx.me.member.role !== "operator") {
      // Said up front; the API still decides, and its refusal is shown if they try.
      this.form.querySelector("h2").after(h("p", { class: "note", role: "note" },
        `Declaring is for your party's operators; as ${ctx.me.member.role} you can draw and read, and the service will refuse the check and the declaration.`));
    }
    this.renderShare();
    this.resetTimes();
    this.shapeChanged();
  }

  wire() {
    for (const radio of this.form.elements.shape) radio.addEventListener("change", () => this.shapeChanged());
    for (const radio of this.form.elements.timing) radio.addEventListener("change", () => this.timingChanged());
    $("draw-start").addEventListener("click", () => {
      this.drawer.start();
      this.ctx.consoleMap.map.getContainer().focus();
      toast("Click the map to place points; Enter finishes.");
    });
    $("draw-undo").addEventListener("click", () => this.drawer.undo());
    $("draw-finish").addEventListener("click", () => this.drawer.finish());
    $("draw-clear").addEventListener("click", () => this.drawer.clear());
    $("coords").addEventListener("change", () => this.coordsTyped());
    for (const id of ["departure", "speed-kmh", "tolerance"]) $(id).addEventListener("input", () => this.showSchedule());
    $("share-all").addEventListener("change", () => {
      for (const box of this.form.querySelectorAll(".share input[type=checkbox]")) box.disabled = $("share-all").checked;
    });
    $("check").addEventListener("click", () => this.send(true));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send(false);
    });
  }

  shape() {
    return SHAPES[this.form.elements.shape.value];
  }

  shapeChanged() {
    const { kind, mode } = this.shape();
    this.drawer.setMode(mode);
    $("when-window").hidden = kind === "movement";
    $("when-movement").hidden = kind !== "movement";
    $("end").closest("fieldset").querySelector("label[for=end]").textContent =
      kind === "site" ? "End (empty: open-ended site)" : "End";
    this.pointsChanged(this.drawer.points);
  }

  timingChanged() {
    const perWaypoint = this.form.elements.timing.value === "waypoints";
    // Switching to per-waypoint starts from the times departure and speed give.
    if (perWaypoint) this.renderWaypoints(this.speedTimes());
    $("timing-speed").hidden = perWaypoint;
    $("timing-waypoints").hidden = !perWaypoint;
    this.showSchedule();
  }

  resetTimes() {
    // Next quarter hour of the service clock (the demo's clock is not the wall clock).
    const quarter = 15 * 60 * 1000;
    const start = Math.ceil(this.ctx.now() / quarter) * quarter;
    $("start").value = toInputUtc(start);
    $("end").value = toInputUtc(start + 4 * 3600 * 1000);
    $("departure").value = toInputUtc(start);
  }

  /** Share-with choices: every other party, each with an optional precision. */
  renderShare() {
    const holder = clear($("share-parties"));
    for (const party of this.ctx.parties) {
      if (party.id === this.ctx.me.party.id) continue;
      const boxId = `share-${party.id}`;
      const precisionId = `precision-${party.id}`;
      holder.append(h("div", { class: "party" },
        h("label", {}, h("input", { type: "checkbox", id: boxId, value: party.id }), ` ${party.name}`),
        h("div", {},
          h("label", { for: precisionId, class: "note" }, "precision (m, empty: exact)"),
          h("input", { type: "number", id: precisionId, min: "1", step: "any", "data-party": party.id })),
      ));
    }
  }

  pointsChanged(points) {
    $("coords").value = formatPoints(points);
    if (this.form.elements.timing.value === "waypoints") this.renderWaypoints(this.speedTimes());
    this.showSchedule();
  }

  coordsTyped() {
    try {
      this.drawer.set(parsePoints($("coords").value));
      $("declare-error").textContent = "";
      this.pointsChanged(this.drawer.points);
    } catch (error) {
      $("declare-error").textContent = error.message;
    }
  }

  /** Times per vertex from departure and speed (great-circle legs), as RFC 3339 strings. */
  speedTimes() {
    const departure = fromInputUtc($("departure").value);
    const speed = Number($("speed-kmh").value);
    const points = this.drawer.points;
    if (!departure || !(speed > 0) || !points.length) return [];
    let t = Date.parse(departure);
    return points.map((point, i) => {
      if (i > 0) t += (distanceM(points[i - 1], point) / (speed / 3.6)) * 1000;
      return new Date(Math.round(t / 1000) * 1000).toISOString().replace(".000Z", "Z");
    });
  }

  renderWaypoints(times) {
    const holder = clear($("timing-waypoints"));
    this.drawer.points.forEach((_point, i) => {
      const id = `waypoint-${i}`;
      holder.append(
        h("label", { for: id }, `Waypoint ${i + 1}${i === 0 ? " (departure)" : ""}`),
        h("input", { type: "datetime-local", id, step: "60", value: times[i] ? toInputUtc(Date.parse(times[i])) : "" }),
      );
    });
    holder.oninput = () => this.showSchedule();
  }

  movementTimes() {
    if (this.form.elements.timing.value === "speed") return this.speedTimes();
    return this.drawer.points.map((_p, i) => fromInputUtc($(`waypoint-${i}`)?.value));
  }

  showSchedule() {
    if (this.shape().kind !== "movement") return;
    const times = this.movementTimes();
    $("schedule").textContent = times.length >= 2 && times.every(Boolean)
      ? `Departs ${formatUtc(times[0])}, arrives ${formatUtc(times[times.length - 1])}.`
      : "Draw the route to see its schedule.";
  }

  /** The GeoJSON Feature the form describes; throws with a message for the user. */
  feature() {
    const { kind } = this.shape();
    const geometry = this.drawer.geometry();
    if (!geometry) {
      throw new Error(kind === "movement" ? "Draw the route first: at least two points."
        : this.shape().mode === "polygon" ? "Draw the shape first: at least three points." : "Place the site on the map first.");
    }
    const properties = { kind };
    if (kind === "movement") {
      properties.times = this.movementTimes();
      properties.schedule_tolerance_s = Math.round(Number($("tolerance").value || 0) * 60);
    } else {
      properties.start = fromInputUtc($("start").value);
      const end = fromInputUtc($("end").value);
      if (end) properties.end = end;
    }
    const label = $("label").value.trim();
    const category = $("category").value.trim();
    if (label) properties.label = label;
    if (category) properties.category = category;
    properties.buffer_m = Number($("buffer").value || 0);
    const chosen = [...this.form.querySelectorAll(".share input[type=checkbox]:checked")].map((b) => b.value);
    properties.share_with = $("share-all").checked ? "all" : chosen;
    const precision = {};
    for (const input of this.form.querySelectorAll(".share input[type=number]")) {
      if (input.value) precision[input.dataset.party] = Number(input.value);
    }
    if (Object.keys(precision).length) properties.precision_m = precision;
    properties.disclose_conflicts = $("disclose").checked;
    return { type: "Feature", geometry, properties };
  }

  async send(dryRun) {
    const errorBox = $("declare-error");
    const result = clear($("declare-result"));
    errorBox.textContent = "";
    let feature;
    try {
      feature = this.feature();
    } catch (error) {
      errorBox.textContent = error.message;
      return;
    }
    const buttons = [$("check"), $("submit")];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      if (dryRun) {
        const advisories = await this.ctx.api.post("/v1/declarations/check", feature);
        this.ctx.consoleMap.showPreview(advisories);
        result.append(this.advisoryList("Dry run: nothing was stored.", advisories, "would raise"));
      } else {
        const outcome = await this.ctx.api.post("/v1/declarations", feature);
        this.ctx.consoleMap.showPreview([]);
        this.drawer.clear();
        result.append(this.advisoryList(
          `Declared ${outcome.declaration.properties.label || outcome.declaration.id} (version ${outcome.declaration.properties.version}).`,
          outcome.advisories, "raised"));
        toast("Declared.");
        await this.ctx.onDeclared(outcome);
      }
    } catch (error) {
      errorBox.textContent = describeError(error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
      (errorBox.textContent ? errorBox : result).scrollIntoView({ block: "nearest" });
    }
  }

  advisoryList(title, advisories, verb) {
    const names = (id) => this.ctx.consoleMap.partyName(id);
    return h("div", { class: "check-result", "data-count": advisories.length },
      h("p", {}, title),
      h("p", { class: advisories.length ? "error" : "" }, advisories.length
        ? `It ${verb} ${advisories.length} ${advisories.length === 1 ? "advisory" : "advisories"}:`
        : `It ${verb} no advisory: nothing of another party you may see comes closer than the separation.`),
      h("ul", { class: "advisory-results" }, advisories.map((a) => h("li", {},
        `${names(a.other.party_id)}: `,
        a.disclosure === "full"
          ? `${formatMetres(a.closest_approach.distance_m)} apart (separation ${formatMetres(a.closest_approach.separation_m)}) at ${formatUtc(a.closest_approach.instant_own)}`
          : `an undisclosed activity around ${formatUtc(a.closest_approach.instant_own)}`))),
    );
  }
}
