// The case the clinician holds: patient, who answered for whom, the answers, the automatic
// assessment with the rules that fired, photos, follow-up answers, the region's journal, and the
// steps that end it: close with a journal note, book a time, transfer, or release it.
// https://hl7.org/fhir/R4/task.html , https://hl7.org/fhir/R4/questionnaireresponse.html

import { FHIR_BASE, displayName, refId } from "/web/static/api.js";
import { Conversation } from "/web/clinician/conversation.js";

const $ = (id) => document.getElementById(id);
const OPEN = new Set(["waiting", "transferred", "in-progress"]);

function codeOf(concept) {
  const coding = ((concept || {}).coding || [])[0] || {};
  return coding.code || "";
}

function answerText(answer) {
  if ("valueCoding" in answer) return answer.valueCoding.display || answer.valueCoding.code;
  if ("valueBoolean" in answer) return answer.valueBoolean;
  if ("valueQuantity" in answer) return `${answer.valueQuantity.value} ${answer.valueQuantity.unit || ""}`.trim();
  const key = Object.keys(answer).find((k) => k.startsWith("value"));
  return key ? String(answer[key]) : "";
}

function fill(dl, pairs) {
  dl.replaceChildren();
  for (const [term, value] of pairs) {
    if (value === undefined || value === null || value === "") continue;
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = String(value);
    dl.append(dt, dd);
  }
}

export class CaseView {
  constructor(app) {
    this.app = app;
    this.taskId = null;
    this.data = null;
    this.conversation = new Conversation(app, { onCaseChanged: () => this.refresh().catch((err) => app.fail(err)) });
    $("close-form").addEventListener("submit", (event) => { event.preventDefault(); this.close(); });
    $("book-form").addEventListener("submit", (event) => { event.preventDefault(); this.book(); });
    $("transfer-form").addEventListener("submit", (event) => { event.preventDefault(); this.transfer(); });
    $("release").addEventListener("click", () => this.step("release"));
    $("journal-load").addEventListener("click", () => this.loadJournal());
  }

  t(key, vars) { return this.app.t(key, vars); }

  /** Open the case whose Encounter the EHR launched us with. */
  async openEncounter(encounterId) {
    const tasks = await this.app.api.resources("Task", { encounter: `Encounter/${encounterId}` });
    if (!tasks.length) throw new Error(this.t("error.noCase"));
    await this.open(tasks[0].id);
  }

  async open(taskId) {
    const first = this.taskId !== taskId;
    this.taskId = taskId;
    await this.refresh();
    if (first) {
      this.conversation.open(this.data.encounter.id);
      $("journal").replaceChildren();
      await Promise.all([this.loadPhotos(), this.loadSlots(), this.loadUnits()]).catch((err) => this.app.fail(err));
      $("case").hidden = false;
      $("view-work").classList.add("with-case");
      $("case-heading").focus();
    }
    this.app.room.render();
  }

  stop() {
    this.conversation.stop();
    this.taskId = null;
    this.data = null;
    $("case").hidden = true;
    $("view-work").classList.remove("with-case");
  }

  /** Read the case's resources again (after a step, or when the socket says it changed). */
  async refresh() {
    if (!this.taskId) return;
    const api = this.app.api;
    const task = await api.read("Task", this.taskId);
    const [encounter, patient, response] = await Promise.all([
      api.read("Encounter", refId(task.encounter)), api.read("Patient", refId(task.for)),
      task.focus ? api.read("QuestionnaireResponse", refId(task.focus)) : Promise.resolve(null)]);
    const author = response && response.author && response.author.reference || "";
    const answerer = author.startsWith("RelatedPerson/") ? await api.read("RelatedPerson", refId(author)).catch(() => null) : null;
    const followups = (await api.resources("QuestionnaireResponse", { encounter: `Encounter/${encounter.id}` }))
      .filter((qr) => !response || qr.id !== response.id);
    this.data = { task, encounter, patient, response, answerer, followups };
    this.render();
  }

  get state() { return this.data ? codeOf(this.data.task.businessStatus) : ""; }

  render() {
    if (!this.data) return;
    const { task, encounter, patient, response, answerer, followups } = this.data;
    const state = this.state;
    const badge = $("case-state");
    badge.textContent = this.t(`state.${state}`) === `state.${state}` ? state : this.t(`state.${state}`);
    badge.dataset.state = state;
    const personnummer = ((patient.identifier || [])[0] || {}).value;
    const guardian = answerer && (displayName(answerer) || ((answerer.identifier || [])[0] || {}).value || "");
    const answeredBy = answerer ? this.t("case.byGuardian", { name: guardian })
      : this.t("case.byPatient");
    fill($("case-facts"), [
      [this.t("case.patient"), displayName(patient)], [this.t("case.personnummer"), personnummer],
      [this.t("case.born"), patient.birthDate], [this.t("case.answeredBy"), answeredBy],
      [this.t("case.complaint"), this.complaintText(codeOf((encounter.reasonCode || [])[0]), response)],
      [this.t("case.opened"), task.authoredOn && new Date(task.authoredOn).toLocaleString(this.locale())],
    ]);
    const outputs = Object.fromEntries((task.output || []).map((o) => [codeOf(o.type), o.valueCodeableConcept ? codeOf(o.valueCodeableConcept) : o.valueString]));
    fill($("assessment"), [
      [this.t("assessment.disposition"), outputs.disposition && this.label("disposition", outputs.disposition)],
      [this.t("assessment.priority"), task.priority && this.label("priority", task.priority)],
      [this.t("assessment.competence"), outputs.competence && this.label("competence", outputs.competence)],
      [this.t("assessment.rationale"), outputs.rationale],
      [this.t("assessment.rules"), outputs["rules-fired"]],
      [this.t("assessment.outcome"), outputs.outcome],
    ]);
    fill($("answers"), response ? this.answerPairs(response) : []);
    const box = $("followups");
    box.replaceChildren();
    for (const qr of followups) {
      const h = document.createElement("h4");
      h.textContent = this.t("answers.followup", { when: qr.authored ? new Date(qr.authored).toLocaleString(this.locale()) : "" });
      const dl = document.createElement("dl");
      dl.className = "facts";
      fill(dl, this.answerPairs(qr));
      box.append(h, dl);
    }
    const mine = state === "in-progress";
    $("actions").hidden = !OPEN.has(state);
    $("close-form").hidden = !mine;
    $("release").hidden = !mine;
  }

  /** Return the complaint as the citizen chose it (the answer's display), or its code. */
  complaintText(code, response) {
    const found = [];
    const walk = (items) => { for (const item of items || []) { found.push(...(item.answer || [])); walk(item.item); } };
    walk(response && response.item);
    const chosen = found.find((a) => a.valueCoding && a.valueCoding.code === code);
    return (chosen && chosen.valueCoding.display) || code;
  }

  locale() { return this.app.strings.lang === "en" ? "en-GB" : "sv-SE"; }

  label(kind, code) {
    const text = this.t(`${kind}.${code}`);
    return text === `${kind}.${code}` ? code : text;
  }

  /** Return [question, answer] pairs; the question texts are in the contained Questionnaire. */
  answerPairs(qr) {
    const texts = new Map();
    const walkQ = (items) => { for (const item of items || []) { texts.set(item.linkId, item.text); walkQ(item.item); } };
    for (const contained of qr.contained || []) walkQ(contained.item);
    const pairs = [];
    const walk = (items) => {
      for (const item of items || []) {
        if (item.answer && item.answer.length) {
          const answers = item.answer.map(answerText).map((a) => (a === true ? this.t("yes") : a === false ? this.t("no") : a));
          pairs.push([item.text || texts.get(item.linkId) || item.linkId, answers.join(", ")]);
        }
        walk(item.item);
      }
    };
    walk(qr.item);
    return pairs;
  }

  async loadPhotos() {
    const box = $("photos");
    box.replaceChildren();
    const media = await this.app.api.resources("Media", { encounter: `Encounter/${this.data.encounter.id}` });
    for (const item of media) {
      const url = item.content && item.content.url;
      if (!url) continue;
      // The hub serves a Binary as FHIR JSON (base64 data), never as raw bytes: shown as a data URL.
      const binary = await this.app.api.get(url.startsWith("http") ? url : `${FHIR_BASE}/${url}`).catch(() => null);
      if (!binary || !binary.data || !/^image\//.test(binary.contentType || "")) continue;
      const img = document.createElement("img");
      img.src = `data:${binary.contentType};base64,${binary.data}`;
      img.alt = this.t("photos.alt", { when: item.createdDateTime || item.issued || "" });
      box.append(img);
    }
    $("photos-card").hidden = box.children.length === 0;
  }

  async loadJournal() {
    const box = $("journal");
    box.replaceChildren();
    try {
      const bundle = await this.app.api.get(`${FHIR_BASE}/Patient/${encodeURIComponent(this.data.patient.id)}/$journal`);
      const list = document.createElement("ul");
      for (const { resource } of bundle.entry || []) {
        const item = document.createElement("li");
        if (resource.resourceType === "OperationOutcome") {
          item.className = "notice warn";
          item.textContent = (resource.issue || []).map((i) => i.diagnostics || (i.details || {}).text).join(" ");
        } else if (resource.resourceType === "DocumentReference") {
          item.textContent = [resource.date, (resource.type || {}).text || codeOf(resource.type), resource.description].filter(Boolean).join(" – ");
        } else {
          item.textContent = [(resource.period || {}).start, ((resource.type || [])[0] || {}).text, resource.status].filter(Boolean).join(" – ");
        }
        list.append(item);
      }
      if (!list.children.length) box.textContent = this.t("journal.empty");
      else box.append(list);
    } catch (err) {
      box.textContent = `${this.t("error.prefix")} ${err.message}`;
    }
  }

  async loadSlots() {
    const select = $("book-slot");
    select.replaceChildren();
    const slots = await this.app.api.resources("Slot", { status: "free", start: `ge${new Date().toISOString().slice(0, 19)}`, _count: "20" })
      .catch(() => []);
    for (const slot of slots) {
      const option = document.createElement("option");
      option.value = slot.id;
      option.textContent = new Date(slot.start).toLocaleString(this.locale(), { dateStyle: "medium", timeStyle: "short" });
      select.append(option);
    }
    $("book-form").hidden = slots.length === 0;
  }

  async loadUnits() {
    const select = $("transfer-unit");
    select.replaceChildren();
    const orgs = await this.app.api.resources("Organization", { _count: "200" }).catch(() => []);
    const own = this.app.unit && this.app.unit.id;
    for (const org of orgs.filter((o) => o.partOf && o.id !== own)) {
      const option = document.createElement("option");
      option.value = org.id;
      option.textContent = org.name || org.id;
      select.append(option);
    }
    $("transfer-form").hidden = select.children.length === 0;
  }

  /** Take a step on the case's Task; say what happened, or the hub's reason for refusing. */
  async step(name, parameter = []) {
    this.app.clearError();
    try {
      await this.app.api.operation("Task", this.taskId, name, { resourceType: "Parameters", parameter });
      $("action-result").textContent = this.t(`done.${name}`);
      this.app.announce(this.t(`done.${name}`));
      if (name === "release" || name === "transfer") {
        this.stop();
      } else {
        await this.refresh();
      }
      await this.app.room.reload();
      return true;
    } catch (err) {
      this.app.fail(err);
      return false;
    }
  }

  async close() {
    const note = $("close-note").value.trim();
    if (!note) {
      this.app.fail(new Error(this.t("close.noteMissing")));
      $("close-note").focus();
      return;
    }
    if (await this.step("close", [{ name: "outcome", valueCode: $("close-outcome").value }, { name: "note", valueString: note }])) {
      $("close-note").value = "";
      this.conversation.stop();
    }
  }

  async transfer() {
    const reason = $("transfer-reason").value.trim();
    if (!reason) {
      this.app.fail(new Error(this.t("transfer.reasonMissing")));
      $("transfer-reason").focus();
      return;
    }
    await this.step("transfer", [{ name: "unit", valueReference: { reference: `Organization/${$("transfer-unit").value}` } },
                                 { name: "reason", valueString: reason }]);
  }

  async book() {
    const slot = $("book-slot").value;
    if (!slot) return;
    this.app.clearError();
    try {
      // With close-case the booking also ends the case (state booked); without it the case stays open.
      await this.app.api.operation("Slot", slot, "book", { resourceType: "Parameters", parameter: [
        { name: "encounter", valueReference: { reference: `Encounter/${this.data.encounter.id}` } },
        { name: "close-case", valueBoolean: $("book-close").checked }] });
      $("action-result").textContent = this.t("done.book");
      this.app.announce(this.t("done.book"));
      await this.refresh();
      await this.loadSlots();
    } catch (err) {
      this.app.fail(err);
    }
  }
}
