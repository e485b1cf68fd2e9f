// The operations page at `/ops` against a real `sandbox serve` and its GET /v1/ops: an ops key sees
// the engine, a warm pool, the executions of the last hour and the failures, refreshed by itself;
// a key without the permission is told so.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KEY, OPS_KEY, PLAIN_KEY, URL_, enterKey, newPage, openBrowser, screenshot } from "./browser.mjs";

let browser;
before(async () => {
  browser = await openBrowser();
  // Something for the page to show: a run that works and one that fails, under the plain key.
  for (const code of ['print("ok")', "raise SystemExit(4)"]) {
    const response = await fetch(`${URL_}/v1/executions`, {
      method: "POST",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ code }),
    });
    assert.equal(response.status, 200, await response.text());
  }
});
after(async () => {
  await browser?.close();
});

describe("operations page", { timeout: 120_000 }, () => {
  test("an ops key sees the engine, a warm pool, the executions per minute and the failures", async () => {
    assert.ok(OPS_KEY, "SANDBOX_OPS_KEY: a key created with the ops permission");
    const { page, guards } = await newPage(browser.context);
    await page.goto(`${URL_}/ops`);
    await enterKey(page, OPS_KEY);
    const pool = page.locator('#pools tr[data-pool="python"]');
    await pool.waitFor({ timeout: 30_000 });
    const [ready, size] = (await pool.locator("td.ready").innerText()).match(/(\d+) \/ (\d+)/).slice(1).map(Number);
    assert.ok(size >= 1 && ready <= size, `ready ${ready} of ${size}`);
    assert.equal(await page.locator('#engine dd[data-fact="status"]').innerText(), "ok");
    assert.equal(await page.locator('#engine dd[data-fact="breaker"]').innerText(), "closed");
    // The two runs of before(): bars in the chart, and the failure listed.
    assert.ok((await page.locator("#rate-chart rect[data-status=ok]").count()) >= 1, "a bar of ok runs");
    await page.locator("#rate-legend li", { hasText: "runtime_error" }).waitFor();
    await page.locator("#failures tbody tr", { hasText: "runtime_error" }).first().waitFor();
    assert.match(await page.locator('#latency tbody tr', { hasText: "End to end" }).innerText(), /\d+(\.\d)? ms/);
    const updated = await page.locator("#updated").innerText();
    assert.match(updated, /^Updated at /);
    await screenshot(page, "ops");
    // It refreshes by itself (every 5 s): the time changes with no click.
    await page.waitForFunction((before) => document.getElementById("updated").textContent !== before, updated, {
      timeout: 12_000,
    });
    await guards.check();
    await page.close();
  });

  test("a key without the ops permission is told it lacks it", async () => {
    const { page, guards } = await newPage(browser.context, { allowConsoleErrors: [/status of 403/] });
    await page.goto(`${URL_}/ops`);
    await enterKey(page, PLAIN_KEY);
    await page.locator("#notice").getByText("This key lacks the ops permission").waitFor();
    assert.ok(await page.locator("#ops").isHidden(), "no data shown");
    await screenshot(page, "ops-forbidden");
    await guards.check();
    await page.close();
  });
});
