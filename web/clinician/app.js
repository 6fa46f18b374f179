// The clinician's workspace: SITHS login under one commission, the unit's waiting room live,
// and the open case beside it. Standalone, or launched from the EHR as a SMART app: with
// `?launch=…&iss=…` the page logs in with that launch and opens the encounter it names.
// https://hl7.org/fhir/smart-app-launch/app-launch.html#launch-app-ehr-launch

import { HubClient } from "/web/static/api.js";
import { SessionEnded, SmartSession, claimsOf, discover } from "/web/static/auth.js";
import { loadStrings } from "/web/static/i18n.js";
import { WaitingRoom } from "/web/clinician/waiting-room.js";
import { CaseView } from "/web/clinician/case.js";

const CLIENT_ID = "ingang-clinician";
const SCOPE = "openid fhirUser user/*.cruds offline_access";
const LAUNCH_SCOPE = "openid fhirUser launch user/*.cruds offline_access";
const HSA = "urn:oid:1.2.752.29.4.19";

const $ = (id) => document.getElementById(id);

export class ClinicianApp {
  constructor(strings) {
    this.strings = strings;
    this.session = new SmartSession({ clientId: CLIENT_ID, scope: SCOPE, redirectPath: "/web/clinician/",
                                      onEnded: (ended) => this.loggedOut(ended) });
    // Each request asks for a fresh token: a shift in the waiting room outlasts many access tokens.
    this.api = new HubClient(() => this.session.freshToken(), {
      refresh: (stale) => this.session.renew(stale),
      onUnauthorized: () => this.loggedOut(new SessionEnded()),
    });
    this.ended = null;
    this.principal = null;
    this.unit = null;
    this.room = new WaitingRoom(this);
    this.caseView = new CaseView(this);
  }

  t(key, vars) { return this.strings.t(key, vars); }

  fail(err) {
    // Once the login has ended, what its last requests say adds nothing to "log in again".
    if (this.ended && !this.session.token && !(err instanceof SessionEnded)) return;
    const box = $("error");
    box.textContent = err instanceof SessionEnded ? err.message : `${this.t("error.prefix")} ${err && err.message ? err.message : err}`;
    box.hidden = false;
    box.focus();
  }

  clearError() { $("error").hidden = true; }

  /** Tell screen-reader users what just happened, without moving their focus. */
  announce(text) { $("announce").textContent = text; }

  show(name) {
    $("view-login").hidden = name !== "login";
    $("view-work").hidden = name !== "work";
    $("logout").hidden = !this.session.token;
  }

  /** Forget the login and show the login view; `ended` (a SessionEnded) says why, when the hub ended it. */
  loggedOut(ended = null) {
    this.room.stop();
    this.caseView.stop();
    this.session.logout();
    this.ended = ended;
    $("who-am-i").textContent = "";
    this.show("login");
    if (ended) this.fail(ended);
    else this.clearError();
  }

  async start() {
    this.strings.switcher($("lang"));
    this.strings.onChange(() => {
      this.room.render();
      this.caseView.render();
      this.caseView.conversation.renderChat();
      this.whoAmI();
    });
    $("login").addEventListener("click", () => this.login());
    $("logout").addEventListener("click", () => this.loggedOut());
    const query = new URLSearchParams(location.search);
    if (query.has("launch")) {
      await this.ehrLaunch(query.get("launch"), query.get("iss"));
      return;
    }
    try {
      await this.session.completeLogin();
    } catch (err) {
      this.fail(err);
    }
    // After a reload the access token may have expired while the login still holds: refresh it.
    if (!(await this.session.freshToken())) {
      this.show("login");
      return;
    }
    await this.enter();
  }

  login(extra = {}) {
    this.ended = null;
    const commission = $("commission").value.trim();
    return this.session.login(commission ? { commission, ...extra } : extra);
  }

  /** An EHR launch: check that `iss` is this hub, then log in with the launch id it gave. */
  async ehrLaunch(launch, iss) {
    try {
      const config = await discover();
      const ours = `${config.issuer.replace(/\/$/, "")}/fhir`;
      if (!iss || iss.replace(/\/$/, "") !== ours) {
        throw new Error(this.t("launch.foreign", { iss: iss || "–" }));
      }
      this.session.scope = LAUNCH_SCOPE;
      await this.session.login({ launch });
    } catch (err) {
      this.show("login");
      this.fail(err);
    }
  }

  whoAmI() {
    const p = this.principal;
    if (!p) return;
    const name = [p.given_name, p.family_name].filter(Boolean).join(" ") || p.employee_hsa_id;
    const unit = (p.commission || {}).care_unit_name || (p.commission || {}).care_unit_hsa_id || "";
    $("who-am-i").textContent = this.t("whoami", { name, unit });
  }

  /** After login: find the commission's unit, follow its waiting room, open a launched case. */
  async enter() {
    const token = this.session.token;
    this.principal = claimsOf(token.access_token).ingang_principal || null;
    if (!this.principal || this.principal.kind !== "clinician") {
      this.show("login");
      this.fail(this.t("error.notClinician"));
      return;
    }
    this.whoAmI();
    this.show("work");
    try {
      const hsa = this.principal.commission.care_unit_hsa_id;
      const units = await this.api.resources("Organization", { identifier: `${HSA}|${hsa}` });
      this.unit = units[0] || null;
      if (!this.unit) throw new Error(this.t("error.noUnit", { hsa }));
      $("room-unit").textContent = this.unit.name || hsa;
      await this.room.start(this.unit.id);
      if (token.encounter) await this.caseView.openEncounter(token.encounter);
    } catch (err) {
      this.fail(err);
    }
  }
}

const strings = await loadStrings("/web/clinician/strings.json");
const app = new ClinicianApp(strings);
window.ingangClinician = app;
app.start();
