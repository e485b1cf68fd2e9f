// The playground at `/`: pick a language, policy and limits, write code, run it once (output
// streamed) or as cells of a session. Everything goes through the public REST API with the key.
import { ApiError, call, describe, getKey } from "./api.js";
import { CodeEditor } from "./editor.js";
import { follow } from "./follow.js";
import { keyForm, notice } from "./keyform.js";
import { BlobUrls, appendOutput, clearOutput, el, flushOutput, showArtifacts, showPending, showStatus } from "./result.js";
import { SAMPLES, untouched } from "./samples.js";
import { SessionCells } from "./session.js";

const $ = (id) => document.getElementById(id);
const ui = {
  language: $("language"),
  policy: $("policy"),
  run: $("run"),
  cancel: $("cancel"),
  status: $("status"),
  output: $("output"),
  findings: $("findings"),
  findingsList: $("findings-list"),
  artifacts: $("artifacts"),
  artifactsList: $("artifacts-list"),
};
const urls = new BlobUrls();
let running = null; // {id} of the one-shot run in flight
let mainFile = "main.py";
let languages = [];

const editor = new CodeEditor($("editor"), { doc: SAMPLES.python, onRun: () => run() });
editor.setLanguage("python");
const cells = new SessionCells({ editor, request: () => request(), showFindings, clearFindings, setBusy });

function mode() {
  return document.querySelector('input[name="mode"]:checked').value;
}

/** Limits from the form: only the fields that were filled in (the rest is the server's default). */
function limits() {
  const picked = {};
  const fields = [
    ["limit-wall", "wall_time_s", Number.parseFloat],
    ["limit-cpu", "cpu_time_s", Number.parseInt],
    ["limit-memory", "memory_mb", Number.parseInt],
    ["limit-processes", "processes", Number.parseInt],
  ];
  for (const [id, name, parse] of fields) {
    const raw = $(id).value.trim();
    if (!raw) continue;
    const value = parse(raw, 10);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${$(id).labels[0].textContent.trim()}: enter a number above 0, or leave it empty`);
    picked[name] = value;
  }
  return picked;
}

/** What both modes send: language, policy and limits from the controls. */
function request() {
  const body = { language: ui.language.value, limits: limits() };
  if (ui.policy.value) body.policy = ui.policy.value;
  return body;
}

function clearFindings() {
  editor.showFindings([]);
  ui.findings.hidden = true;
  ui.findingsList.replaceChildren();
}

/** Findings in the editor (at their line) and listed under it; a click on one goes to its line. */
function showFindings(findings) {
  const own = findings.filter((f) => !f.file || f.file === mainFile);
  editor.showFindings(own);
  ui.findingsList.replaceChildren();
  for (const finding of findings) {
    const item = el("li", `finding ${finding.action === "warn" ? "warn" : "deny"}`);
    const where = finding.file && finding.file !== mainFile ? `${finding.file}:${finding.line}` : `line ${finding.line}`;
    const jump = el("button", "link", where);
    jump.type = "button";
    jump.addEventListener("click", () => editor.goToLine(finding.line));
    item.append(jump, " ", el("code", "rule", finding.rule_id), " ", el("span", "", finding.message));
    item.dataset.line = String(finding.line);
    ui.findingsList.append(item);
  }
  ui.findings.hidden = findings.length === 0;
}

function setBusy(busy) {
  ui.run.disabled = busy || !getKey();
  ui.run.textContent = busy ? "Running…" : mode() === "session" ? "Run cell" : "Run";
}

async function run() {
  if (ui.run.disabled) return;
  if (mode() === "session") return cells.runCell();
  notice("");
  let body;
  try {
    body = { ...request(), code: editor.text };
  } catch (error) {
    notice(error.message);
    return;
  }
  urls.revoke();
  clearFindings();
  clearOutput(ui.output);
  ui.output.classList.remove("finished");
  ui.artifactsList.replaceChildren();
  ui.artifacts.hidden = true;
  showPending(ui.status, "Submitting…");
  setBusy(true);
  try {
    let started;
    try {
      started = await call("v1/executions?wait=false", { method: "POST", body });
    } catch (error) {
      if (error instanceof ApiError && error.findings.length) {
        showFindings(error.findings);
        showStatus(ui.status, { status: error.problem.code, message: error.message });
      } else {
        showStatus(ui.status, { status: error.problem?.code || "error", message: describe(error) });
        notice(describe(error));
      }
      return;
    }
    running = { id: started.id };
    ui.cancel.disabled = false;
    showPending(ui.status, `Running (execution ${started.id})…`);
    const record = await follow(started.id, { onOutput: (kind, text) => appendOutput(ui.output, kind, text) });
    flushOutput(ui.output);
    if (!ui.output.childElementCount && (record.stdout || record.stderr)) {
      appendOutput(ui.output, "stdout", record.stdout);
      appendOutput(ui.output, "stderr", record.stderr);
    }
    showStatus(ui.status, record);
    if (record.findings?.length) showFindings(record.findings);
    await showArtifacts(ui.artifacts, ui.artifactsList, record.id, record.artifacts, urls);
  } catch (error) {
    showStatus(ui.status, { status: "error", message: describe(error) });
    notice(describe(error));
  } finally {
    running = null;
    flushOutput(ui.output);
    ui.output.classList.add("finished");
    ui.cancel.disabled = true;
    setBusy(false);
  }
}

async function cancel() {
  if (!running) return;
  ui.cancel.disabled = true;
  try {
    await call(`v1/executions/${encodeURIComponent(running.id)}/cancel`, { method: "POST" });
  } catch (error) {
    notice(describe(error));
  }
}

function fill(select, items, value, label) {
  const previous = select.value;
  select.replaceChildren(...items.map((item) => {
    const option = el("option", "", label(item));
    option.value = value(item);
    return option;
  }));
  if ([...select.options].some((o) => o.value === previous)) select.value = previous;
}

function chooseLanguage() {
  const name = ui.language.value;
  const info = languages.find((l) => l.name === name);
  mainFile = info?.main_file || mainFile;
  editor.setLanguage(name);
  if (untouched(editor.text) && SAMPLES[name]) editor.text = SAMPLES[name];
  clearFindings();
}

/** With a key: the languages and policies this server has; a refused key says so. */
async function load(key) {
  setBusy(false);
  cells.keyChanged(key);
  if (!key) return;
  try {
    const [langs, policies] = await Promise.all([call("v1/languages"), call("v1/policies")]);
    languages = langs;
    fill(ui.language, langs, (l) => l.name, (l) => `${l.name}${l.version ? ` (${l.version.split("\n")[0].slice(0, 40)})` : ""}${l.built ? "" : " – image not built yet"}`);
    if (!langs.some((l) => l.name === ui.language.value) && langs.some((l) => l.name === "python")) ui.language.value = "python";
    const policyOptions = [{ name: "", description: "" }, ...policies];
    fill(ui.policy, policyOptions, (p) => p.name, (p) => (p.name ? `${p.name}${p.enforce ? "" : " (report only)"}` : "server default"));
    ui.language.disabled = cells.isOpen;
    ui.policy.disabled = cells.isOpen;
    chooseLanguage();
    notice("");
  } catch (error) {
    notice(describe(error));
  }
}

function switchMode() {
  const session = mode() === "session";
  $("session-bar").hidden = !session;
  $("cells-view").hidden = !session;
  $("run-view").hidden = session;
  ui.cancel.hidden = session;
  setBusy(false);
}

ui.run.addEventListener("click", () => run());
ui.cancel.addEventListener("click", () => cancel());
ui.language.addEventListener("change", chooseLanguage);
for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", switchMode);
keyForm(load);
switchMode();
