// A stacked bar chart in SVG (one bar per minute, one colour per status): no chart library.

const SVG = "http://www.w3.org/2000/svg";
/** Colours by status word; anything else gets the last one. */
export const COLOURS = {
  ok: "#2e7d32",
  runtime_error: "#ef6c00",
  compile_error: "#f9a825",
  syntax_error: "#fbc02d",
  validation_rejected: "#8e24aa",
  timeout: "#c62828",
  cpu_time_exceeded: "#d84315",
  memory_exceeded: "#ad1457",
  output_limit_exceeded: "#6d4c41",
  killed: "#455a64",
  capacity_unavailable: "#1565c0",
  internal_error: "#000000",
  other: "#9e9e9e",
};

export function colourOf(status) {
  return COLOURS[status] || COLOURS.other;
}

function node(name, attributes, text) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * Draw `perMinute` ([{minute, counts: {status: n}}], oldest first, only minutes with executions)
 * over the last `windowMinutes` minutes ending at `now`, into `container`. Returns the statuses seen.
 */
export function drawRate(container, perMinute, windowMinutes, now) {
  // Drawn at the container's own width, so that text in the SVG keeps its size.
  const width = Math.max(320, Math.round(container.clientWidth || 720));
  const height = 180;
  const left = 36;
  const bottom = 22;
  const minutes = Math.max(1, windowMinutes || 60);
  const end = Math.floor(now.getTime() / 60000);
  const byMinute = new Map(perMinute.map((entry) => [Math.floor(Date.parse(entry.minute) / 60000), entry.counts]));
  const statuses = [...new Set(perMinute.flatMap((entry) => Object.keys(entry.counts)))].sort((a, b) =>
    a === "ok" ? -1 : b === "ok" ? 1 : a.localeCompare(b),
  );
  const totals = perMinute.map((entry) => Object.values(entry.counts).reduce((a, b) => a + b, 0));
  const top = Math.max(1, ...totals);
  const plotHeight = height - bottom - 8;
  const step = (width - left - 4) / minutes;
  const svg = node("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "rate-chart" });
  const total = totals.reduce((a, b) => a + b, 0);
  svg.append(node("title", {}, `Executions per minute over the last ${minutes} minutes: ${total} in all, at most ${top} in one minute`));
  // Axis: 0 and the top count, and a line at the bottom.
  svg.append(node("line", { x1: left, y1: height - bottom, x2: width - 2, y2: height - bottom, class: "axis" }));
  svg.append(node("text", { x: left - 6, y: height - bottom, "text-anchor": "end", class: "tick" }, "0"));
  svg.append(node("text", { x: left - 6, y: 8 + 10, "text-anchor": "end", class: "tick" }, String(top)));
  svg.append(node("text", { x: left, y: height - 6, class: "tick" }, `-${minutes} min`));
  svg.append(node("text", { x: width - 2, y: height - 6, "text-anchor": "end", class: "tick" }, "now"));
  for (let i = 0; i < minutes; i++) {
    const minute = end - (minutes - 1) + i;
    const counts = byMinute.get(minute);
    if (!counts) continue;
    let y = height - bottom;
    const x = left + i * step + 1;
    const group = node("g", { class: "bar" });
    const label = new Date(minute * 60000).toISOString().slice(11, 16);
    group.append(node("title", {}, `${label} UTC: ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ")}`));
    for (const status of statuses) {
      const n = counts[status] || 0;
      if (!n) continue;
      const h = (n / top) * plotHeight;
      y -= h;
      group.append(node("rect", { x, y, width: Math.max(1, step - 2), height: h, fill: colourOf(status), "data-status": status }));
    }
    svg.append(group);
  }
  container.replaceChildren(svg);
  return statuses;
}
