// Ask the triage questions one screen at a time, from the engine's own adaptive Questionnaire.
// The hub answers `$next-question` with the response so far and its contained Questionnaire
// grown by the next question(s); each is shown alone, with back and change. Changing an earlier
// answer drops the later ones, since the engine may ask differently after it.
// https://hl7.org/fhir/uv/sdc/adaptive.html , https://hl7.org/fhir/R4/questionnaireresponse.html

const $ = (id) => document.getElementById(id);
const EXT = "http://hl7.org/fhir/StructureDefinition/";
const TYPICAL_QUESTIONS = 20;
const ANSWER_KEY = { boolean: "valueBoolean", integer: "valueInteger", decimal: "valueDecimal", choice: "valueCoding" };

/** Return a FHIR string in the page's language, from its `_x` translation extension. */
export function translated(element, primitive, lang) {
  if (lang !== "sv" && primitive) {
    for (const ext of primitive.extension || []) {
      if (ext.url !== `${EXT}translation`) continue;
      const parts = Object.fromEntries((ext.extension || []).map((p) => [p.url, p.valueCode ?? p.valueString]));
      if (parts.lang === lang && parts.content) return parts.content;
    }
  }
  return element;
}

function extensionValue(item, name) {
  const ext = (item.extension || []).find((e) => e.url === `${EXT}${name}`);
  return ext ? (ext.valueInteger ?? ext.valueDecimal ?? ext.valueCoding) : undefined;
}

function sameAnswer(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

export class Questions {
  constructor(app) {
    this.app = app;
    this.response = null;   // the QuestionnaireResponse as the hub last returned it
    this.answers = new Map();  // linkId → the answer value object, e.g. {valueBoolean: true}
    this.position = 0;
    this.busy = false;
    $("q-form").addEventListener("submit", (event) => { event.preventDefault(); this.next(); });
    $("q-back").addEventListener("click", () => this.back());
  }

  /** The questions asked so far, in order (display items are not questions). */
  get items() {
    const questionnaire = ((this.response && this.response.contained) || []).find((c) => c.resourceType === "Questionnaire");
    return ((questionnaire && questionnaire.item) || []).filter((i) => i.type !== "display");
  }

  async begin(patient) {
    this.answers.clear();
    this.position = 0;
    this.response = null;
    await this.post({ resourceType: "QuestionnaireResponse", status: "in-progress",
                      subject: { reference: `Patient/${patient.id}` } });
  }

  /** Send the response with the answers so far; show the next question or the result. */
  async post(body) {
    this.setBusy(true);
    try {
      const answered = await this.app.api.operation("Questionnaire", null, "next-question", body);
      this.response = answered;
      if (answered.status === "completed") {
        await this.app.finished(answered);
        return;
      }
      const firstOpen = this.items.findIndex((item) => !this.answers.has(item.linkId));
      this.position = firstOpen < 0 ? Math.max(this.items.length - 1, 0) : firstOpen;
      this.render();
      this.app.show("question");
    } catch (err) {
      this.showError(err.message);
    } finally {
      this.setBusy(false);
    }
  }

  setBusy(busy) {
    this.busy = busy;
    $("q-next").disabled = busy;
    $("q-next").textContent = this.app.t(busy ? "q.sending" : "q.next");
  }

  showError(text) {
    const box = $("q-error");
    box.textContent = text;
    box.hidden = !text;
  }

  /** Draw the current question as one fieldset: radio buttons, yes/no, or a number field. */
  render() {
    const item = this.items[this.position];
    if (!item) return;
    const lang = this.app.strings.lang;
    const count = this.items.length;
    $("q-progress-text").textContent = this.app.t("q.progress", { n: this.position + 1 });
    // The engine decides as it goes how many questions there are; most triages take about
    // twenty, so the bar fills towards that and never claims to be done before it is.
    const bar = $("q-progress");
    bar.max = Math.max(TYPICAL_QUESTIONS, count + 3);
    bar.value = this.position + 1;
    $("q-legend").textContent = translated(item.text, item._text, lang);
    $("q-back").hidden = this.position === 0;
    this.showError("");
    const box = $("q-input");
    box.replaceChildren();
    const current = this.answers.get(item.linkId);
    if (item.type === "choice" || item.type === "boolean") {
      const options = item.type === "boolean"
        ? [{ label: this.app.t("q.yes"), value: { valueBoolean: true } }, { label: this.app.t("q.no"), value: { valueBoolean: false } }]
        : (item.answerOption || []).map((o) => {
          const { system, code, display } = o.valueCoding;
          return { label: translated(display, o.valueCoding._display, lang) || code,
                   value: { valueCoding: { system, code, display } } };
        });
      options.forEach((option, index) => {
        const label = document.createElement("label");
        label.className = "choice";
        const input = document.createElement("input");
        input.type = "radio";
        input.name = "answer";
        input.value = String(index);
        input.checked = current !== undefined && sameAnswer(current, option.value);
        input.addEventListener("change", () => this.showError(""));
        input.answer = option.value;
        const span = document.createElement("span");
        span.textContent = option.label;
        label.append(input, span);
        box.append(label);
      });
    } else {
      const input = document.createElement("input");
      input.type = "number";
      input.id = "q-number";
      input.inputMode = item.type === "integer" ? "numeric" : "decimal";
      input.step = item.type === "integer" ? "1" : "any";
      const min = extensionValue(item, "minValue");
      const max = extensionValue(item, "maxValue");
      if (min !== undefined) input.min = String(min);
      if (max !== undefined) input.max = String(max);
      input.setAttribute("aria-labelledby", "q-legend");
      if (current !== undefined) input.value = String(Object.values(current)[0]);
      box.append(input);
    }
  }

  /** Read the answer on screen, or say (in words) why there is none. */
  readAnswer(item) {
    if (item.type === "choice" || item.type === "boolean") {
      const checked = document.querySelector("#q-input input[name=answer]:checked");
      return checked ? { value: checked.answer } : { error: this.app.t("q.required") };
    }
    const raw = $("q-number").value.trim().replace(",", ".");
    if (!raw) return { error: this.app.t("q.required") };
    const number = Number(raw);
    const min = extensionValue(item, "minValue");
    const max = extensionValue(item, "maxValue");
    if (!Number.isFinite(number) || (item.type === "integer" && !Number.isInteger(number))) {
      return { error: this.app.t("q.number") };
    }
    if ((min !== undefined && number < min) || (max !== undefined && number > max)) {
      return { error: this.app.t("q.range", { min: min ?? "", max: max ?? "" }) };
    }
    return { value: { [ANSWER_KEY[item.type]]: number } };
  }

  async next() {
    if (this.busy) return;
    const items = this.items;
    const item = items[this.position];
    const { value, error } = this.readAnswer(item);
    if (error) {
      this.showError(error);
      (document.querySelector("#q-input input") || $("q-legend")).focus();
      return;
    }
    const before = this.answers.get(item.linkId);
    this.answers.set(item.linkId, value);
    if (before !== undefined && !sameAnswer(before, value)) this.forgetAfter(this.position);
    const following = this.items[this.position + 1];
    if (following) {
      this.position += 1;
      this.render();
      this.app.show("question");
      return;
    }
    await this.post(this.body());
  }

  back() {
    if (this.position === 0) return;
    this.position -= 1;
    this.render();
    this.app.show("question");
  }

  /** Drop every question after `index` and its answer: the engine decides again what follows. */
  forgetAfter(index) {
    const questionnaire = this.response.contained.find((c) => c.resourceType === "Questionnaire");
    const kept = new Set(this.items.slice(0, index + 1).map((i) => i.linkId));
    questionnaire.item = questionnaire.item.filter((i) => i.type === "display" || kept.has(i.linkId));
    for (const linkId of [...this.answers.keys()]) if (!kept.has(linkId)) this.answers.delete(linkId);
  }

  /** The response to post: the hub's last one with the answers given, in the order asked. */
  body() {
    const items = this.items.filter((i) => this.answers.has(i.linkId))
      .map((i) => ({ linkId: i.linkId, text: i.text, answer: [this.answers.get(i.linkId)] }));
    return { ...this.response, status: "in-progress", item: items };
  }
}
