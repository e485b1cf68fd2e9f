// The operations page at `/ops`: GET /v1/ops (a key with the ops permission) every 5 s, shown as
// engine and breaker state, warm pools, executions per minute, latency, and recent failures.
import { ApiError, call, describe, getKey } from "./api.js";
import { drawRate, colourOf } from "./chart.js";
import { keyForm, notice } from "./keyform.js";
import { el } from "./result.js";

const $ = (id) => document.getElementById(id);
const EVERY_MS = 5000;
let timer = null;
let inFlight = false;

function facts(list, entries) {
  list.replaceChildren();
  for (const [name, value] of entries) {
    const term = el("dt", "", name);
    const text = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    const detail = el("dd", "", text);
    detail.dataset.fact = name;
    list.append(term, detail);
  }
}

function goodBad(element, good) {
  element.classList.toggle("good-text", good);
  element.classList.toggle("bad-text", !good);
}

function showEngine(engine) {
  const { status, runtime, breaker, ready, ...rest } = engine || {};
  facts($("engine"), [
    ["status", status ?? "unknown"],
    ["breaker", breaker ?? "unknown"],
    ["ready", ready === undefined ? "unknown" : ready ? "yes" : "no"],
    ["runtime", runtime ?? "unknown"],
    ...Object.entries(rest),
  ]);
  const list = $("engine");
  goodBad(list.querySelector('[data-fact="status"]'), status === "ok");
  goodBad(list.querySelector('[data-fact="breaker"]'), breaker === "closed");
  goodBad(list.querySelector('[data-fact="ready"]'), ready === true);
}

function showPools(pools) {
  const body = $("pools").tBodies[0];
  body.replaceChildren();
  for (const pool of pools || []) {
    const row = document.createElement("tr");
    row.dataset.pool = pool.language || pool.name;
    const size = Math.max(1, pool.target);
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = size;
    meter.value = pool.ready;
    meter.low = size / 2;
    meter.optimum = size;
    meter.setAttribute("aria-label", `${pool.ready} of ${pool.target} warm containers ready (its target now)`);
    const ready = el("td", "ready");
    ready.append(meter, ` ${pool.ready} / ${pool.target}`);
    const name = el("th", "");
    name.scope = "row";
    name.append(el("span", "", pool.language || pool.name));
    if (pool.language && pool.name !== pool.language) name.append(el("span", "hint pool-name", pool.name));
    const lookups = (pool.hits || 0) + (pool.misses || 0);
    row.append(
      name,
      ready,
      el("td", "num", String(pool.hits ?? 0)),
      el("td", "num", String(pool.misses ?? 0)),
      el("td", "num", lookups ? `${Math.round((100 * pool.hits) / lookups)} %` : "–"),
      el("td", "num", pool.created == null ? "–" : String(pool.created)),
      el("td", `num${pool.failures ? " bad-text" : ""}`, pool.failures == null ? "–" : String(pool.failures)),
    );
    body.append(row);
  }
  if (!pools?.length) {
    const row = document.createElement("tr");
    const cell = el("td", "hint", "No warm pools (pool size 0, or the engine is not up).");
    cell.colSpan = 7;
    row.append(cell);
    body.append(row);
  }
}

function showRate(executions, now) {
  const windowMinutes = executions?.window_minutes || 60;
  $("rate-window").textContent = `(last ${windowMinutes} min)`;
  const statuses = drawRate($("rate-chart"), executions?.per_minute || [], windowMinutes, now);
  const legend = $("rate-legend");
  legend.replaceChildren();
  for (const status of statuses) {
    const item = el("li", "");
    const swatch = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    swatch.setAttribute("viewBox", "0 0 10 10");
    swatch.setAttribute("class", "swatch");
    const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    for (const [k, v] of Object.entries({ width: 10, height: 10, fill: colourOf(status) })) rect.setAttribute(k, v);
    swatch.append(rect);
    item.append(swatch, ` ${status}`);
    legend.append(item);
  }
  const totals = Object.entries(executions?.totals || {}).sort((a, b) => b[1] - a[1]);
  facts($("totals"), totals.length ? totals : [["executions", 0]]);
}

function ms(value) {
  return value == null ? "–" : `${Number(value).toFixed(value < 10 ? 1 : 0)} ms`;
}

function showLatency(latency) {
  $("latency-window").textContent = latency ? `(last ${latency.window_minutes} min, ${latency.count} runs)` : "";
  const body = $("latency").tBodies[0];
  body.replaceChildren();
  for (const [key, label] of [["end_to_end", "End to end"], ["program_wall", "Program wall time"]]) {
    const row = document.createElement("tr");
    const p = latency?.[key];
    const head = el("th", "", label);
    head.scope = "row";
    row.append(head, el("td", "num", ms(p?.p50)), el("td", "num", ms(p?.p90)), el("td", "num", ms(p?.p99)));
    body.append(row);
  }
}

function showFailures(failures) {
  const body = $("failures").tBodies[0];
  body.replaceChildren();
  for (const failure of failures || []) {
    const row = document.createElement("tr");
    const when = failure.created_at ? new Date(failure.created_at).toLocaleTimeString() : "–";
    const status = el("td", "");
    status.append(el("span", "badge bad", failure.status));
    row.append(
      el("td", "", when),
      status,
      el("td", "", failure.language ?? "–"),
      el("td", "", failure.key ?? "–"),
      el("td", "", (failure.id || "").slice(0, 12)),
      el("td", "message-cell", failure.message || ""),
    );
    body.append(row);
  }
  $("failures-empty").hidden = Boolean(failures?.length);
}

function render(snapshot) {
  const now = snapshot.generated_at ? new Date(snapshot.generated_at) : new Date();
  $("ops").hidden = false; // first: the chart is drawn at its container's width
  showEngine(snapshot.engine);
  showPools(snapshot.pools);
  $("running").textContent = String(snapshot.running ?? 0);
  $("sessions-open").textContent = String(snapshot.sessions?.open ?? 0);
  $("instance").textContent = [snapshot.instance && `instance ${snapshot.instance}`, snapshot.version && `version ${snapshot.version}`]
    .filter(Boolean)
    .join(" · ");
  showRate(snapshot.executions, now);
  showLatency(snapshot.latency_ms);
  showFailures(snapshot.recent_failures);
}

async function refresh() {
  if (!getKey() || inFlight) return;
  inFlight = true;
  try {
    const snapshot = await call("v1/ops");
    render(snapshot);
    notice("");
    $("updated").textContent = `Updated at ${new Date().toLocaleTimeString()}`;
    $("updated").dataset.state = "fresh";
  } catch (error) {
    $("updated").dataset.state = "stale";
    if (error instanceof ApiError && error.status === 403) {
      notice(`This key lacks the ops permission. ${error.message}`);
      $("ops").hidden = true;
      clearInterval(timer); // asking again will not change the answer: wait for another key
      timer = null;
      $("updated").textContent = "Not refreshing: this key may not read the operations snapshot.";
    } else {
      notice(describe(error));
      const shown = $("ops").hidden ? "" : "; showing the last data";
      $("updated").textContent = `Refresh failed at ${new Date().toLocaleTimeString()}${shown}.`;
    }
  } finally {
    inFlight = false;
  }
}

function schedule() {
  clearInterval(timer);
  timer = null;
  if ($("auto-refresh").checked && getKey()) timer = setInterval(refresh, EVERY_MS);
}

keyForm((key) => {
  if (!key) {
    $("ops").hidden = true;
    $("updated").textContent = "Enter a key with the ops permission.";
  }
  refresh();
  schedule();
});
$("refresh").addEventListener("click", refresh);
$("auto-refresh").addEventListener("change", schedule);
if (!getKey()) $("updated").textContent = "Enter a key with the ops permission.";
