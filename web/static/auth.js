// Log a person in with SMART App Launch from the browser: a public client with PKCE (S256).
// The hub's pages are ordinary SMART apps of the hub; the token lives in sessionStorage, so it
// dies with the tab, and nothing but the authorization server ever sees who logged in.
// https://hl7.org/fhir/smart-app-launch/app-launch.html

const PENDING = "ingang.auth.pending";

function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(bytes = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challengeFor(verifier) {
  return b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
}

/** Read the hub's SMART discovery document (where to authorize, where to get tokens). */
export async function discover() {
  const response = await fetch("/.well-known/smart-configuration", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The hub's login is not reachable (${response.status})`);
  return response.json();
}

/** One page's login: a client id, the scopes it asks for, and where the hub sends the browser back. */
export class SmartSession {
  constructor({ clientId, scope, redirectPath }) {
    this.clientId = clientId;
    this.scope = scope;
    this.redirectUri = new URL(redirectPath, location.origin).href;
    this.key = `ingang.auth.${clientId}`;
  }

  /** Return the stored token response, or null when nobody is logged in here. */
  get token() {
    const raw = sessionStorage.getItem(this.key);
    return raw ? JSON.parse(raw) : null;
  }

  /** Return the access token while it is valid. */
  accessToken() {
    const token = this.token;
    return token && token.expires_at > Date.now() ? token.access_token : null;
  }

  /** Send the browser to the hub's /authorize; `extra` adds parameters (launch, commission…). */
  async login(extra = {}) {
    const config = await discover();
    const verifier = randomString(48);
    const state = randomString(16);
    const fhirBase = `${config.issuer.replace(/\/$/, "")}/fhir`;
    sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, clientId: this.clientId, returnHash: location.hash,
                                                      tokenEndpoint: config.token_endpoint }));
    const params = new URLSearchParams({
      response_type: "code", client_id: this.clientId, redirect_uri: this.redirectUri, scope: this.scope,
      state, aud: fhirBase, code_challenge: await challengeFor(verifier), code_challenge_method: "S256",
      ...extra,
    });
    location.assign(`${config.authorization_endpoint}?${params}`);
  }

  /**
   * Finish a login if the URL carries the hub's answer; return true when a new token was stored.
   * Throws with the hub's words when the login was refused or the answer is not ours.
   */
  async completeLogin() {
    const query = new URLSearchParams(location.search);
    if (!query.has("code") && !query.has("error")) return false;
    const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
    sessionStorage.removeItem(PENDING);
    // The code is single-use: take it out of the address bar and the history at once.
    history.replaceState(null, "", location.pathname + ((pending && pending.returnHash) || ""));
    if (query.has("error")) throw new Error(query.get("error_description") || query.get("error"));
    if (!pending || pending.state !== query.get("state") || pending.clientId !== this.clientId) {
      throw new Error("The login answer does not belong to this page; start the login again");
    }
    const body = new URLSearchParams({ grant_type: "authorization_code", code: query.get("code"),
                                       code_verifier: pending.verifier, redirect_uri: this.redirectUri,
                                       client_id: this.clientId });
    await this.#tokenRequest(pending.tokenEndpoint, body);
    return true;
  }

  /** Use the refresh token for a new access token; false when there is none or it is refused. */
  async refresh() {
    const token = this.token;
    if (!token || !token.refresh_token) return false;
    const config = await discover();
    try {
      await this.#tokenRequest(config.token_endpoint, new URLSearchParams({
        grant_type: "refresh_token", refresh_token: token.refresh_token, client_id: this.clientId }));
      return true;
    } catch {
      return false;
    }
  }

  /** Return a valid access token, refreshing it when it is about to expire; null if logged out. */
  async freshToken() {
    const token = this.token;
    if (!token) return null;
    if (token.expires_at - Date.now() < 60_000 && !(await this.refresh())) {
      return this.accessToken();
    }
    return this.accessToken();
  }

  logout() {
    sessionStorage.removeItem(this.key);
  }

  async #tokenRequest(endpoint, body) {
    const response = await fetch(endpoint, {
      method: "POST", body, headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error_description || data.error || `Token request failed (${response.status})`);
    const previous = this.token || {};
    const token = { ...data, expires_at: Date.now() + (data.expires_in || 300) * 1000 };
    // A refresh answer may leave out the launch context; keep what the first login gave.
    for (const key of ["patient", "encounter", "fhirUser", "id_token"]) {
      if (token[key] === undefined && previous[key] !== undefined) token[key] = previous[key];
    }
    sessionStorage.setItem(this.key, JSON.stringify(token));
    return token;
  }
}

/** Decode a JWT's payload without checking it: for display only (the hub checks every token). */
export function claimsOf(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part))));
  } catch {
    return {};
  }
}
