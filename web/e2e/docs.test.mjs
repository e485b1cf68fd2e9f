// /docs (Swagger UI) and /redoc render the API's operations with no internet: every request the
// pages make stays on loopback (the server's own copies of Swagger UI and ReDoc).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { URL_, newPage, openBrowser, screenshot } from "./browser.mjs";

let browser;
before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

describe("API documentation", { timeout: 60_000 }, () => {
  test("/docs lists the operations, from this server alone", async () => {
    const { page, guards } = await newPage(browser.context);
    await page.goto(`${URL_}/docs`);
    await page.locator(".opblock").first().waitFor({ timeout: 30_000 });
    const paths = await page.locator(".opblock-summary-path").allInnerTexts();
    const flat = paths.map((p) => p.replace(/\u200b/g, ""));
    assert.ok(flat.includes("/v1/executions"), flat.join(", "));
    assert.ok(flat.some((p) => p.startsWith("/v1/sessions")), flat.join(", "));
    assert.ok(flat.length >= 15, `${flat.length} operations`);
    await screenshot(page, "docs");
    assert.ok(guards.requests.some((url) => url.includes("/openapi.json")), "the document came from the server");
    await guards.check();
    await page.close();
  });

  test("/redoc renders too; its hard-coded logo from Redocly's CDN is stopped by the page's CSP", async () => {
    const { page, guards } = await newPage(browser.context, {
      allowViolations: [/^img-src blocked https:\/\/cdn\.redoc\.ly\//],
      allowConsoleErrors: [/cdn\.redoc\.ly.*Content Security Policy|Content Security Policy.*cdn\.redoc\.ly/],
    });
    await page.goto(`${URL_}/redoc`);
    await page.getByText("/v1/executions").first().waitFor({ timeout: 30_000 });
    await guards.check();
    await page.close();
  });
});
