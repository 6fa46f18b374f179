// Log a person in with SMART App Launch from the browser: a public client with PKCE (S256).
// The hub's pages are ordinary SMART apps of the hub; the token lives in sessionStorage, so it
// dies with the tab, and nothing but the authorization server ever sees who logged in.
// Access tokens are short-lived; the refresh token (offline_access) renews them shortly before
// they expire, once however many requests ask, so a long wait or chat needs no new login.
// https://hl7.org/fhir/smart-app-launch/app-launch.html
// https://hl7.org/fhir/smart-app-launch/app-launch.html#step-7-app-uses-a-refresh-token-to-obtain-a-new-access-token

const PENDING = "ingang.auth.pending";
// Refresh this long before expiry, or a fifth of the lifetime when tokens live under five minutes.
const MAX_MARGIN_MS = 60_000;
// The token endpoint's answers that mean the login is over, not that the hub was briefly away.
const REFUSALS = new Set(["invalid_grant", "invalid_client", "unauthorized_client"]);
const DENIED = {
  sv: "Inloggningen avbröts eller godkändes inte. Du kan försöka igen.",
  en: "The login was cancelled or not approved. You can try again.",
};
const ENDED = {
  sv: "Du har loggats ut eftersom inloggningen inte gäller längre. Logga in igen för att fortsätta.",
  en: "You have been logged out because your login is no longer valid. Log in again to continue.",
};
// One refresh per login at a time, however many requests and sockets ask: the hub rotates the
// refresh token, so a second request with the same one would look like theft and end the login.
const refreshing = new Map();
// When each access token this page holds expires, by this browser's clock (sockets renew by it).
const expiries = new Map();

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

/** Return the time before expiry at which a token with this lifetime is refreshed. */
function marginFor(lifetimeMs) {
  return Math.min(MAX_MARGIN_MS, lifetimeMs / 5);
}

/** Return when a stored token response expires and when it is due for refresh (this browser's clock). */
function timesOf(token) {
  return { expiresAt: token.expires_at, refreshAt: token.expires_at - marginFor((token.expires_in || 300) * 1000) };
}

function remember(token) {
  if (token && token.access_token) expiries.set(token.access_token, timesOf(token));
  return token;
}

/**
 * Return when an access token expires and when it is due for refresh, in this browser's
 * clock; the token's own claims (the hub's clock) for a token this page did not get itself.
 */
export function tokenTimes(accessToken) {
  const known = expiries.get(accessToken);
  if (known) return known;
  const { exp, iat } = claimsOf(accessToken || "");
  if (typeof exp !== "number") return null;
  const lifetime = (exp - (typeof iat === "number" ? iat : exp - 300)) * 1000;
  return { expiresAt: exp * 1000, refreshAt: exp * 1000 - marginFor(lifetime) };
}

function inPageLanguage(texts) {
  return document.documentElement.lang === "en" ? texts.en : texts.sv;
}

/** Return the "you were logged out" text in the page's language. */
export function sessionEndedText() {
  return inPageLanguage(ENDED);
}

/** The hub refused to renew the login: the person must log in again. */
export class SessionEnded extends Error {
  constructor(hubSays = "") {
    super(sessionEndedText());
    this.name = "SessionEnded";
    this.hubSays = hubSays;
  }
}

/**
 * One page's login: a client id, the scopes it asks for, and where the hub sends the browser back.
 * `onEnded(error)` hears when the hub refuses to renew the login (a SessionEnded), after the
 * token is gone, so the page can say so and offer to log in again.
 */
export class SmartSession {
  constructor({ clientId, scope, redirectPath, onEnded = null }) {
    this.clientId = clientId;
    this.scope = scope;
    this.redirectUri = new URL(redirectPath, location.origin).href;
    this.key = `ingang.auth.${clientId}`;
    this.onEnded = onEnded;
  }

  /** Return the stored token response, or null when nobody is logged in here. */
  get token() {
    const raw = sessionStorage.getItem(this.key);
    return raw ? remember(JSON.parse(raw)) : null;
  }

  /** Return the access token while it is valid. */
  accessToken() {
    const token = this.token;
    return token && token.expires_at > Date.now() ? token.access_token : null;
  }

  /** Tell whether the token is within its refresh margin of expiry (or past it). */
  needsRefresh(token = this.token) {
    return Boolean(token) && Date.now() >= timesOf(token).refreshAt;
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
    if (query.has("error")) {
      const said = query.get("error_description") || query.get("error");
      // access_denied is the person's own cancel (or the hub's no): say so in their language.
      throw new Error(query.get("error") === "access_denied" ? `${inPageLanguage(DENIED)} (${said})` : said);
    }
    if (!pending || pending.state !== query.get("state") || pending.clientId !== this.clientId) {
      throw new Error("The login answer does not belong to this page; start the login again");
    }
    const body = new URLSearchParams({ grant_type: "authorization_code", code: query.get("code"),
                                       code_verifier: pending.verifier, redirect_uri: this.redirectUri,
                                       client_id: this.clientId });
    await this.#tokenRequest(pending.tokenEndpoint, body);
    return true;
  }

  /**
   * Use the refresh token for a new access token; true when one came. Callers that ask while a
   * refresh is under way share it. When the hub refuses, the login ends (see `onEnded`); when
   * it cannot be reached, the token is kept for the next try.
   */
  refresh() {
    let running = refreshing.get(this.key);
    if (!running) {
      running = this.#refreshOnce().finally(() => refreshing.delete(this.key));
      refreshing.set(this.key, running);
    }
    return running;
  }

  /** Refresh after the hub refused `staleToken`, unless another caller already replaced it. */
  async renew(staleToken) {
    const token = this.token;
    if (!token) return false;
    if (token.access_token !== staleToken && token.expires_at > Date.now()) return true;
    return this.refresh();
  }

  /** Return a valid access token, refreshing it when it is about to expire; null if logged out. */
  async freshToken() {
    const token = this.token;
    if (!token) return null;
    if (this.needsRefresh(token)) await this.refresh();
    return this.accessToken();
  }

  logout() {
    sessionStorage.removeItem(this.key);
  }

  async #refreshOnce() {
    const token = this.token;
    if (!token || !token.refresh_token) return false;
    let endpoint = token.token_endpoint;
    try {
      endpoint = endpoint || (await discover()).token_endpoint;
    } catch {
      return false;
    }
    try {
      await this.#tokenRequest(endpoint, new URLSearchParams({
        grant_type: "refresh_token", refresh_token: token.refresh_token, client_id: this.clientId }));
      return true;
    } catch (err) {
      if (!err.refused) return false;
      // Logged out in this tab before anyone hears of it, so nobody retries with the spent token.
      this.logout();
      if (this.onEnded) this.onEnded(new SessionEnded(err.message));
      return false;
    }
  }

  async #tokenRequest(endpoint, body) {
    const response = await fetch(endpoint, {
      method: "POST", body, headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const err = new Error(data.error_description || data.error || `Token request failed (${response.status})`);
      err.refused = REFUSALS.has(data.error);
      throw err;
    }
    const previous = this.token || {};
    const token = { ...data, expires_at: Date.now() + (data.expires_in || 300) * 1000, token_endpoint: endpoint };
    // A refresh answer may leave out the launch context; keep what the first login gave.
    for (const key of ["patient", "encounter", "fhirUser", "id_token"]) {
      if (token[key] === undefined && previous[key] !== undefined) token[key] = previous[key];
    }
    sessionStorage.setItem(this.key, JSON.stringify(token));
    return remember(token);
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
