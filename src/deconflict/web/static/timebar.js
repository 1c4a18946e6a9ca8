// The time slider: choose a moment to see what is active then (the rest is dimmed) and where
// each movement is; Play runs the clock forward so movements travel along their routes.

import { formatUtc } from "./geo.js";

const $ = (id) => document.getElementById(id);
const MINUTE = 60 * 1000;
const FRAME_MS = 200;

export class Timebar {
  /** ctx: {consoleMap, now()} */
  constructor(ctx) {
    this.ctx = ctx;
    this.slider = $("time");
    this.timer = null;
    this.followNow = true; // until the user moves the slider, it tracks the service clock
    this.slider.addEventListener("input", () => {
      this.followNow = false;
      this.show();
    });
    $("play").addEventListener("click", () => (this.timer ? this.pause() : this.play()));
    $("now").addEventListener("click", () => {
      this.pause();
      this.followNow = true;
      this.dataChanged();
    });
    setInterval(() => { if (this.followNow && !this.timer) this.dataChanged(); }, 30 * 1000);
  }

  /** The range covers what is drawn and the present, in whole minutes. */
  dataChanged() {
    const [from, to] = this.ctx.consoleMap.timeSpan();
    const now = this.ctx.now();
    const lo = Math.floor(Math.min(Number.isFinite(from) ? from : now, now - 3600 * 1000) / MINUTE);
    const hi = Math.ceil(Math.max(Number.isFinite(to) ? to : now, now + 3600 * 1000) / MINUTE);
    const current = this.followNow ? Math.round(now / MINUTE) : Number(this.slider.value);
    this.slider.min = String(lo);
    this.slider.max = String(hi);
    this.slider.value = String(Math.min(hi, Math.max(lo, current)));
    this.show();
  }

  show() {
    const t = Number(this.slider.value) * MINUTE;
    $("time-out").textContent = formatUtc(t);
    this.slider.setAttribute("aria-valuetext", formatUtc(t));
    this.ctx.consoleMap.setTime(t);
  }

  play() {
    this.followNow = false;
    $("play").textContent = "Pause";
    $("play").setAttribute("aria-pressed", "true");
    if (Number(this.slider.value) >= Number(this.slider.max)) this.slider.value = this.slider.min;
    let carry = 0;
    this.timer = setInterval(() => {
      // Speed is in simulated seconds per real second; the slider moves in whole minutes.
      carry += (Number($("speed").value) * FRAME_MS) / 1000 / 60;
      const step = Math.floor(carry);
      carry -= step;
      const next = Number(this.slider.value) + step;
      this.slider.value = String(Math.min(next, Number(this.slider.max)));
      this.show();
      if (next >= Number(this.slider.max)) this.pause();
    }, FRAME_MS);
  }

  pause() {
    clearInterval(this.timer);
    this.timer = null;
    $("play").textContent = "Play";
    $("play").setAttribute("aria-pressed", "false");
  }
}
