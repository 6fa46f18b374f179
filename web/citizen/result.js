// Say what the triage concluded, in the words of the engine's assessment extension: for an
// emergency exactly what to do now (call 112, or go to the emergency department), for
// self-care the advice and when to seek care after all.
// https://hl7.org/fhir/R4/extensibility.html#complex

import { translated } from "/web/citizen/questions.js";

const ASSESSMENT = "https://ingang.example/fhir/StructureDefinition/triage-assessment";
const $ = (id) => document.getElementById(id);

function textOf(ext) {
  return ext ? { sv: ext.valueString, translation: ext._valueString } : null;
}

/** Read the assessment extension of a completed QuestionnaireResponse into a plain object. */
export function readAssessment(response) {
  const root = (response.extension || []).find((e) => e.url === ASSESSMENT) || { extension: [] };
  const part = (name) => root.extension.find((e) => e.url === name);
  const advice = part("advice");
  const adviceParts = advice ? Object.fromEntries(advice.extension.map((e) => [e.url, textOf(e)])) : null;
  return {
    disposition: ((part("disposition") || {}).valueCoding || {}).code || "",
    instruction: textOf(part("instruction")),
    rationale: textOf(part("rationale")),
    advice: adviceParts,
  };
}

function say(text, lang) {
  return text ? translated(text.sv, text.translation, lang) : "";
}

/** Fill the emergency screen: 112 for the most urgent, the emergency department otherwise. */
export function showEmergency(app, assessment) {
  const call112 = assessment.disposition === "emergency-112";
  $("emergency-heading").textContent = app.t(call112 ? "result.emergency.heading" : "result.ed.heading");
  $("emergency-lead").textContent = app.t(call112 ? "result.emergency.lead" : "result.ed.lead");
  $("emergency-instruction").textContent = say(assessment.instruction, app.strings.lang);
  $("emergency-worse").hidden = call112;
}

/** Fill the self-care screen: what to do, what to watch for, when to seek care after all. */
export function showSelfCare(app, assessment) {
  const lang = app.strings.lang;
  $("selfcare-instruction").textContent = say(assessment.instruction, lang);
  const box = $("selfcare-advice");
  box.replaceChildren();
  const advice = assessment.advice || {};
  for (const [key, title] of [["do", "result.selfcare.do"], ["watch-for", "result.selfcare.watch"],
                              ["seek-care-if", "result.selfcare.seek"]]) {
    if (!advice[key]) continue;
    const heading = document.createElement("h2");
    heading.textContent = app.t(title);
    const text = document.createElement("p");
    text.textContent = say(advice[key], lang);
    box.append(heading, text);
  }
  if (assessment.rationale) {
    const heading = document.createElement("h2");
    heading.textContent = app.t("result.why");
    const text = document.createElement("p");
    text.textContent = say(assessment.rationale, lang);
    box.append(heading, text);
  }
}
