// Live updates. The event stream (GET /v1/events/stream) needs the bearer token, which an
// EventSource cannot send, so it is read with fetch() and a streaming reader, and parsed as
// server-sent events here. The console treats each event as "something you may see changed"
// and refreshes; when the server has no stream, or it keeps failing, it polls instead.

const POLL_MS = 4000;
const RETRY_MS = 3000;

export class Live {
  /** onChange(event|null) is called for each event (null when polling); onState(state) with "live" | "polling" | "off". */
  constructor(api, onChange, onState) {
    this.api = api;
    this.onChange = onChange;
    this.onState = onState;
    this.controller = null;
    this.pollTimer = null;
    this.lastId = null;
    this.failures = 0;
    this.stopped = false;
  }

  async start() {
    this.lastId = await this.head();
    this.connect();
  }

  stop() {
    this.stopped = true;
    this.controller?.abort();
    clearInterval(this.pollTimer);
    this.onState("off");
  }

  /**
   * Where to start: the size of the log from the latest signed checkpoint (its second
   * line), so the stream does not replay history the console has just loaded. A checkpoint
   * that lags only means a few events arrive again, which just refreshes the view.
   */
  async head() {
    try {
      const response = await fetch("/v1/record/checkpoint");
      if (!response.ok) return null;
      const size = Number((await response.text()).split("\n")[1]);
      return Number.isInteger(size) ? String(size) : null;
    } catch {
      return null;
    }
  }

  async connect() {
    if (this.stopped) return;
    this.controller = new AbortController();
    const query = this.lastId ? `?after=${encodeURIComponent(this.lastId)}` : "";
    let response;
    try {
      response = await fetch(`/v1/events/stream${query}`, {
        headers: this.api.headers({ Accept: "text/event-stream" }),
        signal: this.controller.signal,
        cache: "no-store",
      });
    } catch {
      this.retry();
      return;
    }
    if (response.status === 404 || response.status === 405) {
      this.poll(); // no stream on this server
      return;
    }
    if (!response.ok || !response.body) {
      this.retry();
      return;
    }
    this.failures = 0;
    this.onState("live");
    try {
      await this.read(response.body.getReader());
    } catch {
      /* dropped: reconnect below */
    }
    this.retry();
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // Frames end with a blank line (RFC: "\n\n", tolerate "\r\n\r\n").
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        this.frame(frame);
      }
    }
  }

  frame(text) {
    let id = null;
    let kind = "message";
    const data = [];
    for (const line of text.split(/\r?\n/)) {
      if (line.startsWith(":")) continue; // keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") kind = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    if (id) this.lastId = id;
    let parsed = null;
    try { parsed = JSON.parse(data.join("\n")); } catch { /* not JSON: still a change */ }
    this.onChange({ id, kind, data: parsed });
  }

  retry() {
    if (this.stopped) return;
    this.failures += 1;
    if (this.failures >= 3) {
      this.poll();
      return;
    }
    this.onState("polling");
    setTimeout(() => this.connect(), RETRY_MS);
  }

  poll() {
    if (this.pollTimer || this.stopped) return;
    this.onState("polling");
    this.pollTimer = setInterval(() => this.onChange(null), POLL_MS);
  }
}
