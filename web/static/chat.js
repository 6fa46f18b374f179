// Draw a case's chat for either party: one list item per Communication, their own on one side
// and the other party's on the other, with who wrote it and when, in the reader's language.
// Citizen and clinician see the same conversation, so they draw it the same way.
// https://hl7.org/fhir/R4/communication.html

import { chatText } from "/web/static/live.js";

/**
 * Append a Communication to `log` unless `messages` (id → item) has it already; `me` is the
 * reader's sender reference and `label(mine)` names who wrote it. Returns `{ mine }` for a new
 * message, null for one already shown.
 */
export function appendChatMessage(log, messages, id, resource, { me, lang, label }) {
  if (messages.has(id)) return null;
  const { text, sender, sent } = chatText(resource);
  const mine = sender === me;
  const item = document.createElement("li");
  item.className = mine ? "mine" : "theirs";
  const meta = document.createElement("span");
  meta.className = "meta";
  const time = sent ? new Date(sent).toLocaleTimeString(lang === "en" ? "en-GB" : "sv-SE",
                                                        { hour: "2-digit", minute: "2-digit" }) : "";
  meta.textContent = `${label(mine)} ${time}`;
  const body = document.createElement("span");
  body.textContent = text;
  item.append(meta, body);
  log.append(item);
  item.scrollIntoView({ block: "nearest" });
  messages.set(id, item);
  return { mine };
}

/** Send what is typed in `box` over the encounter's socket and empty the box once the hub has it. */
export async function sendChatText(socket, box, fail) {
  const text = box.value.trim();
  if (!text || !socket) return;
  try {
    await socket.send({ type: "send", text });
    box.value = "";
  } catch (err) {
    fail(err);
  }
}
