// The region's statistics page: log in with SITHS under a commission with the statistics right, choose the
// days, and read the figures as charts and tables, or take them away as CSV. Uses only
// /api/regions/{region}/statistics (see hub/statistics); the hub decides who may see them.

import { HubClient } from "/web/static/api.js";
import { SmartSession, claimsOf } from "/web/static/auth.js";
import { loadStrings } from "/web/static/i18n.js";
import { pair, stackedBars, table } from "/web/region/charts.js";

const CLIENT_ID = "ingang-region";
// The page reads only the statistics API, never patient data, so it asks for no FHIR scopes.
const SCOPE = "openid fhirUser offline_access";
const $ = (id) => document.getElementById(id);

function isoDay(d) { return d.toISOString().slice(0, 10); }

class RegionPage {
  constructor(strings) {
    this.strings = strings;
    this.session = new SmartSession({ clientId: CLIENT_ID, scope: SCOPE, redirectPath: "/web/region/" });
    // Each request asks for a fresh token, so an administrator who leaves the page open can go on.
    this.api = new HubClient(() => this.session.freshToken(), {
      refresh: (stale) => this.session.renew(stale),
      onUnauthorized: () => this.loggedOut(),
    });
    this.figures = null;
  }

  t(key, vars) { return this.strings.t(key, vars); }

  async start() {
    this.strings.switcher($("lang"));
    this.strings.onChange(() => this.figures && this.render(this.figures));
    $("login").addEventListener("click", () => this.session.login());
    $("logout").addEventListener("click", () => this.loggedOut());
    $("period").addEventListener("submit", (event) => { event.preventDefault(); this.load(); });
    $("csv").addEventListener("click", (event) => { event.preventDefault(); this.download(); });
    try {
      await this.session.completeLogin();
    } catch (err) {
      this.fail(err);
    }
    // After a reload the access token may have expired while the login still holds: refresh it.
    const token = await this.session.freshToken();
    if (!token) {
      this.show("login");
      return;
    }
    this.show("figures");
    const principal = claimsOf(token).ingang_principal || {};
    const query = new URLSearchParams(location.search);
    const today = new Date();
    $("region").value = query.get("region") || (principal.commission || {}).care_provider_hsa_id || principal.region || "";
    $("to").value = query.get("to") || isoDay(today);
    $("from").value = query.get("from") || isoDay(new Date(today.getTime() - 29 * 86400000));
    if ($("region").value) await this.load();
  }

  show(name) {
    $("view-login").hidden = name !== "login";
    $("view-figures").hidden = name !== "figures";
    $("logout").hidden = !this.session.token;
  }

  fail(err) {
    const box = $("error");
    box.textContent = `${this.t("error.prefix")} ${err && err.message ? err.message : err}`;
    box.hidden = false;
  }

  loggedOut() {
    this.session.logout();
    this.show("login");
  }

  url(suffix = "") {
    const params = new URLSearchParams({ from: $("from").value, to: $("to").value });
    return `/api/regions/${encodeURIComponent($("region").value.trim())}/statistics${suffix}?${params}`;
  }

  async load() {
    $("error").hidden = true;
    $("status").textContent = this.t("status.loading");
    try {
      this.figures = await this.api.get(this.url());
      this.render(this.figures);
      $("status").textContent = this.t("status.loaded", { cases: this.figures.cases });
    } catch (err) {
      $("status").textContent = "";
      this.fail(err);
    }
  }

  /** Fetch the CSV with the token (a plain link could not send it) and save it as a file. */
  async download() {
    try {
      const response = await this.api.request("GET", this.url(".csv"), { raw: true });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const blob = await response.blob();
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `statistics-${$("region").value.trim()}-${$("from").value}-${$("to").value}.csv`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } catch (err) {
      this.fail(err);
    }
  }

  render(f) {
    const t = (k, v) => this.t(k, v);
    const share = f.selfCare.share === null ? "–" : `${Math.round(f.selfCare.share * 1000) / 10} %`;
    const summary = $("summary");
    summary.hidden = false;
    summary.replaceChildren();
    const heading = document.createElement("h2");
    heading.textContent = t("summary.heading", { region: f.regionName, from: f.from, to: f.to });
    const facts = document.createElement("p");
    facts.textContent = t("summary.text", { cases: f.cases, selfcare: f.selfCare.cases, share });
    summary.append(heading, facts);

    const days = [...new Set(f.casesPerDay.map((r) => r.date))];
    const dispositions = Object.keys(f.dispositions);
    const perDay = new Map(f.casesPerDay.map((r) => [`${r.date}|${r.disposition}`, r.count]));
    const label = (code) => t(`disposition.${code}`) === `disposition.${code}` ? code : t(`disposition.${code}`);
    pair($("per-day"), stackedBars(days, dispositions, (d, s) => perDay.get(`${d}|${s}`), { labels: label }),
         table(t("perDay.caption"), [[t("col.date"), false], ...dispositions.map((d) => [label(d), true])],
               days.map((d) => [d, ...dispositions.map((s) => String(perDay.get(`${d}|${s}`) || 0))]), t("empty")));

    const lang = this.strings.lang;
    const complaintName = (code) => ((f.complaintNames || {})[code] || {})[lang] || code;
    const complaints = Object.entries(f.complaints).sort((a, b) => b[1] - a[1]);
    const byName = new Map(complaints.map(([code, n]) => [complaintName(code), n]));
    pair($("complaints"), stackedBars([...byName.keys()], ["n"], (g) => byName.get(g)),
         table(t("complaints.caption"), [[t("col.complaint"), false], [t("col.cases"), true]],
               complaints.map(([c, n]) => [complaintName(c), String(n)]), t("empty")));

    const minutes = (v) => (v === null ? "–" : String(v));
    pair($("waits"), stackedBars(f.waitingTimes.map((w) => w.unitName), ["median", "p90"],
                                 (g, s) => { const w = f.waitingTimes.find((x) => x.unitName === g);
                                             return s === "median" ? w.medianMinutes : Math.max(0, (w.p90Minutes || 0) - (w.medianMinutes || 0)); },
                                 { labels: (s) => t(`col.${s}`) }),
         table(t("waits.caption"), [[t("col.unit"), false], [t("col.claimed"), true], [t("col.median"), true],
                                    [t("col.p90"), true], [t("col.waitingNow"), true]],
               f.waitingTimes.map((w) => [w.unitName, String(w.claimed), minutes(w.medianMinutes),
                                          minutes(w.p90Minutes), String(w.waitingNow)]), t("empty")));

    pair($("claims"), stackedBars(f.claims.map((c) => c.name), ["n"], (g) => f.claims.filter((c) => c.name === g).reduce((s, c) => s + c.claims, 0)),
         table(t("claims.caption"), [[t("col.clinician"), false], [t("col.unit"), false], [t("col.claims"), true]],
               f.claims.map((c) => [c.name, c.unitName, String(c.claims)]), t("empty")));
  }
}

const strings = await loadStrings("/web/region/strings.json");
new RegionPage(strings).start();
