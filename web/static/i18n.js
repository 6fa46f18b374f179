// Swedish by default, English selectable. Each page keeps its strings in one JSON file
// ({"sv": {...}, "en": {...}}) beside it; elements name their string with data-i18n
// (text), data-i18n-label (aria-label), data-i18n-placeholder or data-i18n-title.
// The chosen language is remembered on this device and set as <html lang>, for screen readers.

const STORAGE_KEY = "ingang.lang";
export const LANGUAGES = { sv: "Svenska", en: "English" };

export class Strings {
  constructor(table, lang) {
    this.table = table;
    this.lang = table[lang] ? lang : "sv";
    this.listeners = [];
  }

  /** Return the string for `key` in the current language (Swedish if missing), with {name} filled in. */
  t(key, vars = {}) {
    const text = (this.table[this.lang] || {})[key] ?? (this.table.sv || {})[key] ?? key;
    return String(text).replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? `{${name}}`));
  }

  /** Fill every data-i18n element under `root`. */
  apply(root = document) {
    document.documentElement.lang = this.lang;
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = this.t(el.dataset.i18n);
    for (const el of root.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", this.t(el.dataset.i18nLabel));
    for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = this.t(el.dataset.i18nPlaceholder);
    for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = this.t(el.dataset.i18nTitle);
  }

  /** Switch language, re-fill the page and tell the listeners (who re-render what they drew). */
  use(lang) {
    if (!this.table[lang]) return;
    this.lang = lang;
    localStorage.setItem(STORAGE_KEY, lang);
    this.apply();
    for (const listener of this.listeners) listener(lang);
  }

  onChange(listener) { this.listeners.push(listener); }

  /** Draw the language buttons into `container` (each names its language in that language). */
  switcher(container) {
    container.classList.add("lang-switch");
    container.setAttribute("role", "group");
    container.setAttribute("aria-label", "Språk / Language");
    container.replaceChildren();
    for (const [code, name] of Object.entries(LANGUAGES)) {
      if (!this.table[code]) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.lang = code;
      button.textContent = code.toUpperCase();
      button.setAttribute("aria-label", name);
      button.setAttribute("aria-pressed", String(code === this.lang));
      button.addEventListener("click", () => {
        this.use(code);
        for (const b of container.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.lang === this.lang));
      });
      container.append(button);
    }
  }
}

/** Return the language to start in: ?lang=, then the remembered choice, then Swedish. */
export function initialLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  return asked || localStorage.getItem(STORAGE_KEY) || "sv";
}

/** Load a page's strings file and fill the page; returns the Strings to use from code. */
export async function loadStrings(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`The page's texts could not be loaded (${response.status})`);
  const strings = new Strings(await response.json(), initialLanguage());
  strings.apply();
  return strings;
}
