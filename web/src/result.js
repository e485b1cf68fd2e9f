// How an execution is shown: its output as it streams, then the status and usage in plain words,
// and its artifacts (images inline, every file with a download link), fetched with the key.
import { blob, describe } from "./api.js";

const SIGNALS = { 1: "SIGHUP", 2: "SIGINT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ" };

/** A new element with a class and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function formatBytes(bytes) {
  if (bytes == null) return "–";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Output received but not drawn yet, by its <pre>: drawn once per frame (see `appendOutput`). */
const pending = new Map();

/**
 * Append a chunk of stdout or stderr to an output <pre>, keeping the view at the end.
 *
 * Chunks are queued and drawn once per animation frame, each stream's run of chunks as one text
 * node: drawing every chunk as it came (`textContent +=` and a scroll, each a copy and a layout of
 * all the output so far) froze the page for minutes on a program printing 150 000 short lines.
 */
export function appendOutput(pre, kind, text) {
  if (!text) return;
  let queue = pending.get(pre);
  if (!queue) {
    queue = [];
    pending.set(pre, queue);
    requestAnimationFrame(() => flushOutput(pre));
  }
  const last = queue[queue.length - 1];
  if (last && last.kind === kind) last.parts.push(text);
  else queue.push({ kind, parts: [text] });
}

/** Draw what `appendOutput` queued for `pre` now (a finished run's output is complete at once). */
export function flushOutput(pre) {
  const queue = pending.get(pre);
  if (!queue) return;
  pending.delete(pre);
  for (const { kind, parts } of queue) {
    const text = parts.join("");
    const last = pre.lastElementChild;
    if (last && last.dataset.stream === kind) last.append(text);
    else {
      const span = el("span", kind, text);
      span.dataset.stream = kind;
      pre.append(span);
    }
  }
  pre.scrollTop = pre.scrollHeight;
}

/** Empty `pre`, dropping output queued for it and not drawn yet. */
export function clearOutput(pre) {
  pending.delete(pre);
  pre.replaceChildren();
}

/** Fill `box` with the status line of a finished execution (or a refusal's problem). */
export function showStatus(box, record) {
  box.replaceChildren();
  const status = record.status || "unknown";
  box.dataset.status = status;
  const word = el("strong", `badge ${status === "ok" ? "good" : "bad"}`, status);
  word.dataset.testid = "status-word";
  box.append(word);
  const facts = el("span", "facts-line");
  const parts = [];
  if (record.signal != null) parts.push(`signal ${record.signal}${SIGNALS[record.signal] ? ` (${SIGNALS[record.signal]})` : ""}`);
  else if (record.exit_code != null) parts.push(`exit code ${record.exit_code}`);
  if (record.wall_ms != null) parts.push(`wall ${record.wall_ms} ms`);
  if (record.cpu_ms != null) parts.push(`CPU ${record.cpu_ms} ms`);
  if (record.peak_memory_bytes) parts.push(`peak memory ${formatBytes(record.peak_memory_bytes)}`);
  facts.textContent = parts.join(" · ");
  box.append(facts);
  if (record.message) box.append(el("span", "message", record.message));
  const cut = [record.stdout_truncated && "stdout", record.stderr_truncated && "stderr"].filter(Boolean);
  if (cut.length) box.append(el("span", "message", `${cut.join(" and ")} cut at the limit`));
  if (record.compile && record.compile.status !== "ok" && record.compile.output) {
    box.append(el("pre", "compile-output", record.compile.output));
  }
}

/** A plain status message (before a result exists). */
export function showPending(box, text) {
  box.replaceChildren(el("span", "pending", text));
  box.dataset.status = "pending";
}

/** Pictures a page may show inline: raster formats, which can hold no script (SVG can). */
export const INLINE_IMAGES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/**
 * The type a blob: URL of a program's file gets: its own for a raster picture, else bytes to save.
 * A blob: URL is a document of this page's origin when opened in a tab ("Open image in new tab", a
 * copied link), with none of the headers the API sends with the same file (attachment, CSP sandbox):
 * an SVG or HTML file typed as such would run the program's script here.
 */
export function safeType(type) {
  const bare = String(type || "").split(";")[0].trim().toLowerCase();
  return INLINE_IMAGES.has(bare) ? bare : "application/octet-stream";
}

/** Artifact URLs made for the last result; revoked when the next one replaces them. */
export class BlobUrls {
  constructor() {
    this.urls = [];
  }
  /** A blob: URL of `data` (a Blob), retyped by `safeType`: never a page with the program's script. */
  make(data) {
    const url = URL.createObjectURL(new Blob([data], { type: safeType(data.type) }));
    this.urls.push(url);
    return url;
  }
  revoke() {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }
}

function artifactPath(executionId, name) {
  return `v1/executions/${encodeURIComponent(executionId)}/artifacts/${name.split("/").map(encodeURIComponent).join("/")}`;
}

/**
 * List `artifacts` of execution `executionId` in `list` (a <ul>): each kept file fetched with the
 * key into a blob: URL, a download link for all, the picture itself for images.
 */
export async function showArtifacts(section, list, executionId, artifacts, urls) {
  list.replaceChildren();
  section.hidden = !artifacts?.length;
  for (const artifact of artifacts || []) {
    const item = el("li", "artifact");
    const head = el("div", "artifact-head");
    head.append(el("code", "name", artifact.name), el("span", "hint", ` ${formatBytes(artifact.size)} · ${artifact.media_type}`));
    item.append(head);
    list.append(item);
    if (artifact.skipped) {
      item.append(el("span", "message", `not collected: ${artifact.skipped}`));
      continue;
    }
    try {
      const data = await blob(artifactPath(executionId, artifact.name));
      const url = urls.make(data);
      const link = el("a", "download", "Download");
      link.href = url;
      link.download = artifact.name.split("/").pop();
      head.append(" ", link);
      if (INLINE_IMAGES.has(safeType(data.type)) && INLINE_IMAGES.has(safeType(artifact.media_type))) {
        const img = el("img", "artifact-image");
        img.src = url;
        img.alt = `${artifact.name} (an image the program made)`;
        item.append(img);
      }
    } catch (error) {
      item.append(el("span", "message bad-text", describe(error)));
    }
  }
}
