// The key form in the header of both pages: entered once, kept in sessionStorage, shown by its prefix.
import { getKey, setKey } from "./api.js";

/**
 * Wire the form; `onChange(key)` runs now when a key is already stored, and after each change
 * ("" when the key was forgotten).
 */
export function keyForm(onChange) {
  const form = document.getElementById("key-form");
  const input = document.getElementById("key-input");
  const forget = document.getElementById("key-forget");
  const state = document.getElementById("key-state");

  function show() {
    const key = getKey();
    forget.hidden = !key;
    state.textContent = key ? `Using key ${key.slice(0, 8)}…` : "No key yet: enter one to start.";
    state.classList.toggle("missing", !key);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      input.focus();
      return;
    }
    setKey(key);
    input.value = "";
    show();
    onChange(key);
  });
  forget.addEventListener("click", () => {
    setKey("");
    show();
    onChange("");
  });
  show();
  if (getKey()) onChange(getKey());
}

/** Show `text` in the page's notice bar (role=alert), or hide it when `text` is empty. */
export function notice(text, kind = "error") {
  const bar = document.getElementById("notice");
  bar.textContent = text || "";
  bar.hidden = !text;
  bar.dataset.kind = kind;
}
