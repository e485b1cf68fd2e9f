// The REST API as the pages use it: the key from sessionStorage as a Bearer token, problem+json
// errors turned into readable messages, and the server-sent events of an execution read through
// fetch (EventSource cannot send an Authorization header).

const KEY_ITEM = "sandbox.apiKey";

/** The key entered in this tab, or "" (sessionStorage: gone when the tab closes). */
export function getKey() {
  return sessionStorage.getItem(KEY_ITEM) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

/** An answer that is not 2xx: its HTTP status and problem body (`code`, `message`, `findings`...). */
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem?.message || problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.retryAfter = retryAfter;
  }
  get findings() {
    return Array.isArray(this.problem.findings) ? this.problem.findings : [];
  }
}

function base() {
  // Relative to the page: the service may sit under a path prefix behind a proxy.
  return new URL(".", document.baseURI);
}

function url(path) {
  return new URL(path.replace(/^\//, ""), base());
}

function headers(extra = {}) {
  const key = getKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

async function failure(response) {
  let problem = null;
  const text = await response.text().catch(() => "");
  try {
    problem = JSON.parse(text);
  } catch {
    problem = { message: text.slice(0, 300) || response.statusText };
  }
  const retry = response.headers.get("Retry-After");
  return new ApiError(response.status, problem, retry ? Number(retry) : null);
}

/** JSON from one API call; throws ApiError for an error answer (and TypeError when unreachable). */
export async function call(path, { method = "GET", body, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(url(path), init);
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

/** The bytes of an API resource (an artifact) as a Blob. */
export async function blob(path, { signal } = {}) {
  const response = await fetch(url(path), { headers: headers(), signal });
  if (!response.ok) throw await failure(response);
  return response.blob();
}

/**
 * The events of `path` (text/event-stream) as they arrive: {id, event, data} with data parsed as JSON.
 * `lastEventId` resumes after that event.
 */
export async function* events(path, { signal, lastEventId } = {}) {
  const extra = { Accept: "text/event-stream" };
  if (lastEventId) extra["Last-Event-ID"] = String(lastEventId);
  const response = await fetch(url(path), { headers: headers(extra), signal, cache: "no-store" });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const parsed = parseEvent(block);
        if (parsed) yield parsed;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseEvent(block) {
  const fields = { event: "message", data: [] };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "data") fields.data.push(value);
    else if (name === "event" || name === "id") fields[name] = value;
  }
  if (!fields.data.length) return null;
  const text = fields.data.join("\n");
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { id: fields.id, event: fields.event, data };
}

/** One readable sentence for an error from `call`, `blob` or `events`. */
export function describe(error) {
  if (error?.name === "AbortError") return "Stopped.";
  if (!(error instanceof ApiError)) {
    return `Could not reach the server (${error?.message || error}). Is \`sandbox serve\` running?`;
  }
  const message = String(error.message).replace(/[.\s]+$/, "");
  const retry = error.retryAfter ? ` Retry in ${error.retryAfter} s.` : "";
  switch (error.status) {
    case 401:
      return `The server did not accept the API key (401): ${message}. Enter a valid key above.`;
    case 403:
      return `Not allowed for this key (403): ${message}.`;
    case 404:
      return `Not found (404): ${message}.`;
    case 413:
      return `Too large (413): ${message}.`;
    case 422:
      return `Refused (422): ${message}.`;
    case 429:
      return `Too many requests for this key (429): ${message}.${retry}`;
    case 503:
      return `The service cannot take this now (503): ${message}.${retry}`;
    default:
      return `${error.problem.title || "Error"} (${error.status}): ${message}.`;
  }
}
