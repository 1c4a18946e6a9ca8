// A thin client of the public /v1 API. The console never talks to anything else, so it can
// show nothing the API would not show to the same member.

/** An error answer, kept exactly as the API worded it (RFC 9457 problem+json). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  /** The detail, then each `field: reason` the API listed, one per line. */
  describe() {
    const lines = [this.problem.detail || this.problem.title || `HTTP ${this.status}`];
    for (const error of this.problem.errors || []) {
      const line = `${error.field}: ${error.reason}`;
      if (!lines.includes(line) && lines[0] !== error.reason) lines.push(line);
    }
    return lines.join("\n");
  }
}

/** Any error as text for the user: API errors as the API worded them, others plainly. */
export function describeError(error) {
  if (error instanceof ApiError) return error.describe();
  if (error instanceof TypeError) return `The service could not be reached (${error.message}).`;
  return error.message;
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request(method, path, body) {
    const init = { method, headers: this.headers() };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    const type = response.headers.get("content-type") || "";
    const parsed = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const problem = typeof parsed === "object" ? parsed : { detail: `HTTP ${response.status}: ${parsed}` };
      throw new ApiError(response.status, problem);
    }
    return parsed;
  }

  get(path) { return this.request("GET", path); }
  post(path, body) { return this.request("POST", path, body); }

  /** Every page of a list or FeatureCollection (`next_cursor` paging), up to `maxPages`. */
  async all(path, key, maxPages = 20) {
    const items = [];
    let cursor = null;
    for (let page = 0; page < maxPages; page += 1) {
      const sep = path.includes("?") ? "&" : "?";
      const answer = await this.get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
      items.push(...answer[key]);
      cursor = answer.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  /**
   * Like get(), but null when the route does not exist on this server (a deployment
   * without the channel or incidents API): the console then leaves that part out.
   */
  async optional(path) {
    try {
      return await this.get(path);
    } catch (error) {
      // FastAPI answers an unknown route with exactly this detail; a 404 about an object
      // the caller may not see words itself differently ("no incident …").
      if (error instanceof ApiError && error.status === 404 && error.problem.detail === "Not Found") return null;
      throw error;
    }
  }
}
