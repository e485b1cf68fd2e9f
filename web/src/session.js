// Session mode: open a session (one interpreter kept between calls), run the editor's code as
// cells one after another, each with its own output, status and artifacts; close it.
import { ApiError, call, describe, getKey } from "./api.js";
import { follow } from "./follow.js";
import { notice } from "./keyform.js";
import { BlobUrls, appendOutput, el, flushOutput, showArtifacts, showPending, showStatus } from "./result.js";

const $ = (id) => document.getElementById(id);

export class SessionCells {
  /**
   * `request()` gives the controls' {language, policy, limits}; `showFindings`/`clearFindings`
   * mark the editor; `setBusy(flag)` greys the Run button while a cell runs.
   */
  constructor({ editor, request, showFindings, clearFindings, setBusy }) {
    Object.assign(this, { editor, request, showFindings, clearFindings, setBusy });
    this.session = null;
    this.count = 0;
    this.urls = new BlobUrls();
    this.openButton = $("session-open");
    this.closeButton = $("session-close");
    this.state = $("session-state");
    this.list = $("cells");
    this.openButton.addEventListener("click", () => this.open());
    this.closeButton.addEventListener("click", () => this.close());
    // Leaving the page closes the session rather than leaving it to its idle timeout.
    window.addEventListener("pagehide", () => {
      if (!this.session) return;
      fetch(`v1/sessions/${encodeURIComponent(this.session.id)}`, {
        method: "DELETE",
        keepalive: true,
        headers: { Authorization: `Bearer ${getKey()}` },
      }).catch(() => {});
    });
  }

  get isOpen() {
    return this.session !== null;
  }

  keyChanged(key) {
    this.openButton.disabled = !key || this.isOpen;
    if (!key && this.session) this.ended("the key was forgotten");
  }

  pickers(disabled) {
    $("language").disabled = disabled;
    $("policy").disabled = disabled;
    for (const radio of document.querySelectorAll('input[name="mode"]')) radio.disabled = disabled;
  }

  async open() {
    notice("");
    let body;
    try {
      const { language, policy, limits } = this.request();
      body = { language, limits, ...(policy ? { policy } : {}) };
    } catch (error) {
      notice(error.message);
      return;
    }
    this.openButton.disabled = true;
    this.state.textContent = "Opening a session…";
    try {
      this.session = await call("v1/sessions", { method: "POST", body });
    } catch (error) {
      this.state.textContent = "No session open.";
      this.openButton.disabled = !getKey();
      notice(describe(error));
      return;
    }
    this.count = 0;
    this.urls.revoke();
    this.list.replaceChildren();
    $("cells-empty").hidden = true;
    this.pickers(true);
    this.closeButton.disabled = false;
    this.state.textContent = `Session ${this.session.id.slice(0, 8)} open (${this.session.language}, policy ${this.session.policy}).`;
    this.state.dataset.state = "open";
  }

  async close() {
    if (!this.session) return;
    const id = this.session.id;
    this.closeButton.disabled = true;
    try {
      await call(`v1/sessions/${encodeURIComponent(id)}`, { method: "DELETE" });
      this.ended("closed");
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) this.ended("it had already ended");
      else {
        this.closeButton.disabled = false;
        notice(describe(error));
      }
    }
  }

  ended(why) {
    this.state.textContent = `Session ${this.session.id.slice(0, 8)} ended: ${why}.`;
    this.state.dataset.state = "closed";
    this.session = null;
    this.pickers(false);
    this.closeButton.disabled = true;
    this.openButton.disabled = !getKey();
  }

  /** Run the editor's code as the next cell. */
  async runCell() {
    notice("");
    if (!this.session) {
      notice("Open a session first (Open session), then run cells in it.");
      return;
    }
    let limits;
    try {
      limits = this.request().limits;
    } catch (error) {
      notice(error.message);
      return;
    }
    const code = this.editor.text;
    this.count += 1;
    const cell = el("li", "cell");
    cell.dataset.cell = String(this.count);
    const prompt = el("div", "cell-head");
    prompt.append(el("span", "prompt", `In [${this.count}]`));
    const source = el("pre", "cell-code", code);
    const status = el("div", "status");
    const output = el("pre", "output");
    output.setAttribute("aria-label", `Output of cell ${this.count}`);
    const artifacts = el("section", "artifacts");
    artifacts.hidden = true;
    const artifactList = el("ul");
    artifacts.append(el("h4", "", "Artifacts"), artifactList);
    cell.append(prompt, source, status, output, artifacts);
    this.list.append(cell);
    this.clearFindings();
    showPending(status, "Running…");
    this.setBusy(true);
    try {
      let started;
      try {
        started = await call(`v1/sessions/${encodeURIComponent(this.session.id)}/executions?wait=false`, {
          method: "POST",
          body: { code, limits },
        });
      } catch (error) {
        if (error instanceof ApiError && error.findings.length) this.showFindings(error.findings);
        showStatus(status, { status: error.problem?.code || "error", message: describe(error) });
        if (error instanceof ApiError && error.status === 404) this.ended("the server no longer has it");
        return;
      }
      const record = await follow(started.id, { onOutput: (kind, text) => appendOutput(output, kind, text) });
      flushOutput(output);
      showStatus(status, record);
      if (record.findings?.length) this.showFindings(record.findings);
      await showArtifacts(artifacts, artifactList, record.id, record.artifacts, this.urls);
      if (record.session_open === false && this.session) this.ended(record.message || "the cell ended it");
      cell.scrollIntoView({ block: "nearest" });
    } catch (error) {
      showStatus(status, { status: "error", message: describe(error) });
    } finally {
      flushOutput(output);
      output.classList.add("finished");
      this.setBusy(false);
    }
  }
}
