// Following one execution: its server-sent events through fetch, resumed with Last-Event-ID if the
// connection drops, and its record fetched when no result event came at all.
import { call, events } from "./api.js";

/**
 * Stream execution `id`: `onOutput(kind, text)` for each stdout/stderr chunk as it arrives;
 * resolves to the final record (the `result` event's data).
 */
export async function follow(id, { onOutput, signal }) {
  const path = `v1/executions/${encodeURIComponent(id)}/events`;
  let last = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      for await (const event of events(path, { signal, lastEventId: last })) {
        if (event.id) last = event.id;
        if (event.event === "stdout" || event.event === "stderr") onOutput(event.event, String(event.data));
        else if (event.event === "result") return event.data;
      }
    } catch (error) {
      if (error?.name === "AbortError" || error?.status) throw error;
      // The connection broke mid-stream: come back after the last event seen.
    }
    if (signal?.aborted) break;
  }
  return call(`v1/executions/${encodeURIComponent(id)}`, { signal });
}
