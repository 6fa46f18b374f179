// The citizen's path: log in, say who it is for, answer one question at a time, and land on
// what to do now, self-care advice, or the waiting room. Uses only the hub's public API.
// https://hl7.org/fhir/uv/sdc/OperationDefinition-Questionnaire-next-question.html

import { HubClient, displayName, refId } from "/web/static/api.js";
import { SessionEnded, SmartSession } from "/web/static/auth.js";
import { loadStrings } from "/web/static/i18n.js";
import { Questions } from "/web/citizen/questions.js";
import { readAssessment, showEmergency, showSelfCare } from "/web/citizen/result.js";
import { CaseView } from "/web/citizen/case.js";

const CLIENT_ID = "ingang-citizen";
const SCOPE = "openid fhirUser launch/patient patient/*.cruds offline_access";
const CHOICE_KEY = "ingang.citizen.who";
const VIEWS = ["start", "who", "question", "emergency", "selfcare", "case"];
const OPEN_STATES = new Set(["waiting", "transferred", "in-progress"]);

const $ = (id) => document.getElementById(id);

export class CitizenApp {
  constructor(strings) {
    this.strings = strings;
    this.session = new SmartSession({ clientId: CLIENT_ID, scope: SCOPE, redirectPath: "/web/citizen/",
                                      onEnded: (ended) => this.loggedOut(ended) });
    // Each request asks for a fresh token, so a citizen who waits an hour for a nurse stays logged in.
    this.api = new HubClient(() => this.session.freshToken(), {
      refresh: (stale) => this.session.renew(stale),
      onUnauthorized: () => this.loggedOut(new SessionEnded()),
    });
    this.ended = null;
    this.patient = null;
    this.questions = new Questions(this);
    this.caseView = new CaseView(this);
    this.view = "start";
    this.lastResult = null;
  }

  t(key, vars) { return this.strings.t(key, vars); }

  /** Show one view, move focus to its heading (so screen readers hear the new screen). */
  show(name) {
    const first = this.shown === undefined;
    this.shown = name;
    this.view = name;
    for (const view of VIEWS) $(`view-${view}`).hidden = view !== name;
    const heading = $(`view-${name}`).querySelector("h1, legend");
    // On first load the reader starts at the top anyway; later screens are announced by focus.
    if (heading && !first) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
    $("logout").hidden = !this.session.token;
  }

  /** Say what went wrong, in the hub's words, where everyone (and every screen reader) notices. */
  fail(err, prefix = "error.prefix") {
    // Once the login has ended, what its last requests say adds nothing to "log in again".
    if (this.ended && !this.session.token && !(err instanceof SessionEnded)) return;
    const box = $("error");
    box.textContent = err instanceof SessionEnded ? err.message : `${this.t(prefix)} ${err && err.message ? err.message : err}`;
    box.hidden = false;
    box.focus?.();
  }

  clearError() { $("error").hidden = true; }

  /** Forget the login and go back to the start; `ended` (a SessionEnded) says why, when the hub ended it. */
  loggedOut(ended = null) {
    this.session.logout();
    this.ended = ended;
    this.patient = null;
    this.caseView.stop();
    this.route();
  }

  async start() {
    this.strings.switcher($("lang"));
    this.strings.onChange(() => this.rerender());
    this.bind();
    let refused = null;
    try {
      await this.session.completeLogin();
    } catch (err) {
      refused = err;
    }
    window.addEventListener("hashchange", () => this.route());
    await this.route();
    // Said after drawing the start, which clears old errors: a cancelled login must be explained.
    if (refused) this.fail(refused, "error.login");
  }

  bind() {
    for (const radio of document.querySelectorAll("input[name=who]")) {
      radio.addEventListener("change", () => { $("child-hint").hidden = radio.value !== "child" || !radio.checked; });
    }
    $("login").addEventListener("click", () => {
      const choice = document.querySelector("input[name=who]:checked").value;
      sessionStorage.setItem(CHOICE_KEY, choice);
      this.ended = null;
      // Keep the language across the login's round trip, also when it came as ?lang= (not remembered
      // by itself), and let the hub's own login pages (BankID) speak it: hub/auth/bankid_pages.py.
      this.strings.use(this.strings.lang);
      document.cookie = `ingang_lang=${this.strings.lang}; path=/auth; SameSite=Lax`;
      this.session.login().catch((err) => this.fail(err));
    });
    $("logout").addEventListener("click", () => { location.hash = ""; this.loggedOut(); });
    $("switch").addEventListener("click", () => { this.session.logout(); location.hash = ""; this.route(); });
    $("begin").addEventListener("click", () => this.questions.begin(this.patient));
  }

  /** Draw the current route: #case/<encounter id>, or the start for whoever is logged in. */
  async route() {
    this.clearError();
    if (!this.session.token) {
      this.show("start");
      if (this.ended) this.fail(this.ended);
      return;
    }
    try {
      if (!(await this.session.freshToken())) {
        // Refused: the login has ended and the start is already shown; otherwise the hub was away.
        if (!this.session.token) return;
        throw new Error("No contact with the hub's login; try again in a moment");
      }
      await this.loadPatient();
      const match = location.hash.match(/^#case\/([A-Za-z0-9\-.]{1,64})$/);
      if (match) {
        await this.caseView.open(match[1]);
        this.show("case");
      } else {
        await this.showWho();
      }
    } catch (err) {
      this.fail(err);
    }
  }

  async loadPatient() {
    const token = this.session.token;
    if (!token.patient) throw new Error("The login gave no patient; log in again");
    if (!this.patient || this.patient.id !== token.patient) this.patient = await this.api.read("Patient", token.patient);
  }

  /** Tell whether the login is a guardian's for a child: the patient is not the person logged in. */
  get forChild() {
    const token = this.session.token;
    return Boolean(token && token.patient && token.fhirUser !== `Patient/${token.patient}`);
  }

  async showWho() {
    $("who-name").textContent = displayName(this.patient) || this.patient.id;
    $("who-relation").textContent = this.t(this.forChild ? "who.child" : "who.me");
    $("who-mismatch").hidden = !(sessionStorage.getItem(CHOICE_KEY) === "child" && !this.forChild);
    await this.listOpenCases();
    this.show("who");
  }

  /** List the patient's cases still open, so a citizen who comes back finds the waiting room. */
  async listOpenCases() {
    const tasks = await this.api.resources("Task", { patient: `Patient/${this.patient.id}`, status: "ready,in-progress" });
    const list = $("open-case-list");
    list.replaceChildren();
    for (const task of tasks) {
      const state = ((task.businessStatus || {}).coding || [{}])[0].code;
      if (!OPEN_STATES.has(state) || !task.encounter) continue;
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#case/${refId(task.encounter)}`;
      link.textContent = `${this.t("who.open")} (${(task.authoredOn || "").slice(0, 16).replace("T", " ")})`;
      item.append(link);
      list.append(item);
    }
    $("open-cases").hidden = list.children.length === 0;
  }

  /** The triage is complete: show what to do, or go to the waiting room of the case it opened. */
  async finished(response) {
    const assessment = readAssessment(response);
    this.lastResult = { response, assessment };
    const disposition = assessment.disposition;
    if (disposition === "emergency-112" || disposition === "emergency-department") {
      showEmergency(this, assessment);
      this.show("emergency");
    } else if (disposition === "self-care") {
      showSelfCare(this, assessment);
      this.show("selfcare");
    } else if (response.encounter) {
      location.hash = `#case/${refId(response.encounter)}`;
    } else {
      showSelfCare(this, assessment);
      this.show("selfcare");
    }
  }

  /** Re-draw what code drew, after a change of language. */
  rerender() {
    if (this.view === "question") this.questions.render();
    else if (this.view === "who" && this.patient) this.showWho();
    else if (this.view === "case") this.caseView.render();
    else if (this.lastResult && this.view === "emergency") showEmergency(this, this.lastResult.assessment);
    else if (this.lastResult && this.view === "selfcare") showSelfCare(this, this.lastResult.assessment);
  }
}

const strings = await loadStrings("/web/citizen/strings.json");
const app = new CitizenApp(strings);
window.ingangCitizen = app;  // for the browser tests and a curious region's console
await app.start();
