// A small fetch wrapper for the hub's FHIR API and /api: sends the token, turns an
// OperationOutcome into an Error a person can read, and never hides what went wrong.
// https://hl7.org/fhir/R4/http.html , https://hl7.org/fhir/R4/operationoutcome.html

export const FHIR_BASE = "/fhir";
const FHIR_JSON = "application/fhir+json";

/** An HTTP failure from the hub, with the OperationOutcome it sent (if any). */
export class HubError extends Error {
  constructor(status, message, outcome = null) {
    super(message);
    this.name = "HubError";
    this.status = status;
    this.outcome = outcome;
  }
}

/** Return the readable text of an OperationOutcome: its issues' details or diagnostics, and where. */
export function outcomeText(outcome) {
  const issues = (outcome && Array.isArray(outcome.issue)) ? outcome.issue : [];
  const lines = issues.map((issue) => {
    // details.text is written for people; diagnostics for developers, who also want the where.
    if (issue.details && issue.details.text) return issue.details.text;
    const text = issue.diagnostics || issue.code || "";
    const where = (issue.expression || issue.location || []).join(", ");
    return where ? `${text} (${where})` : text;
  }).filter(Boolean);
  return lines.join(" ");
}

/**
 * Talk to one hub as one logged-in person. `getToken` (sync or async) is asked before each
 * request, so it can hand out a refreshed token; `refresh(staleToken)` (async, true when a new
 * token came) is asked once when the hub still says 401, since the hub's clock and ours may
 * disagree about expiry; `onUnauthorized` hears a 401 that survived that.
 */
export class HubClient {
  constructor(getToken = () => null, { onUnauthorized = null, refresh = null } = {}) {
    this.getToken = getToken;
    this.onUnauthorized = onUnauthorized;
    this.refresh = refresh;
  }

  headers(extra = {}, token = null) {
    const headers = { Accept: FHIR_JSON, ...extra };
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  /** Send a request and return the parsed JSON body (or null when there is none). */
  async request(method, url, { body = undefined, headers = {}, raw = false } = {}, retried = false) {
    const token = await this.getToken();
    const init = { method, headers: this.headers(headers, token) };
    if (body instanceof FormData || body instanceof Blob) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = headers["Content-Type"] || FHIR_JSON;
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new HubError(0, `No contact with the hub: ${err.message}`);
    }
    if (response.status === 401 && token && !retried && this.refresh && await this.refresh(token)) {
      return this.request(method, url, { body, headers, raw }, true);
    }
    if (raw) return response;
    const text = await response.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (!response.ok) {
      if (response.status === 401 && this.onUnauthorized) this.onUnauthorized();
      const isOutcome = data && data.resourceType === "OperationOutcome";
      const message = (isOutcome && outcomeText(data))
        || (data && (data.error_description || data.detail)) || `${response.status} ${response.statusText}`;
      throw new HubError(response.status, message, isOutcome ? data : null);
    }
    return data;
  }

  get(url) { return this.request("GET", url); }
  post(url, body, headers) { return this.request("POST", url, { body, headers }); }

  // FHIR interactions, relative to /fhir.
  read(type, id) { return this.get(`${FHIR_BASE}/${type}/${encodeURIComponent(id)}`); }

  /** Search and return the Bundle; `params` is an object or a list of [name, value] pairs. */
  search(type, params = {}) {
    const query = new URLSearchParams(Array.isArray(params) ? params : Object.entries(params));
    return this.get(`${FHIR_BASE}/${type}?${query}`);
  }

  /** Search and return the matching resources (not the included ones). */
  async resources(type, params = {}) {
    const bundle = await this.search(type, params);
    return (bundle.entry || [])
      .filter((e) => !e.search || e.search.mode !== "include")
      .map((e) => e.resource)
      .filter((r) => r && r.resourceType === type);
  }

  create(resource) { return this.post(`${FHIR_BASE}/${resource.resourceType}`, resource); }

  update(resource) {
    return this.request("PUT", `${FHIR_BASE}/${resource.resourceType}/${encodeURIComponent(resource.id)}`, { body: resource });
  }

  /** Run an operation: `operation("Task", "abc", "claim", params)`; id null for type level. */
  operation(type, id, name, parameters = { resourceType: "Parameters" }) {
    const path = [FHIR_BASE, type, id && encodeURIComponent(id), `$${name}`].filter(Boolean).join("/");
    return this.post(path, parameters);
  }
}

/** Return a reference's id: "Patient/abc" → "abc". */
export function refId(reference) {
  const value = typeof reference === "string" ? reference : (reference && reference.reference) || "";
  return value.split("/").pop();
}

/** Return a person's display name from a FHIR HumanName list. */
export function displayName(resource) {
  const name = (resource && resource.name && resource.name[0]) || {};
  return name.text || [...(name.given || []), name.family].filter(Boolean).join(" ");
}

/** Return a Parameters value by name, for operation results. */
export function parameter(parameters, name) {
  const found = ((parameters && parameters.parameter) || []).find((p) => p.name === name);
  if (!found) return undefined;
  const key = Object.keys(found).find((k) => k.startsWith("value") || k === "resource");
  return key ? found[key] : found.part;
}

/** Return the ws:// or wss:// URL of a path on this hub. */
export function socketUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}
