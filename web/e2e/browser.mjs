// What every browser test shares: Debian's Chromium through playwright-core (never a downloaded
// browser), headless, with a fresh profile and no background traffic; the server's URL and keys
// from the environment; screenshots; and guards that fail a test when the page asked anything of a
// host other than loopback, broke its Content-Security-Policy, or threw.
//
// Environment: SANDBOX_URL (required), SANDBOX_KEY, SANDBOX_OPS_KEY, SANDBOX_PLAIN_KEY (a key
// without the ops permission), CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const URL_ = process.env.SANDBOX_URL;
if (!URL_) throw new Error("set SANDBOX_URL to a running `sandbox serve` (tests/e2e/test_browser.py does)");
export const KEY = process.env.SANDBOX_KEY || "";
export const OPS_KEY = process.env.SANDBOX_OPS_KEY || "";
export const PLAIN_KEY = process.env.SANDBOX_PLAIN_KEY || KEY;
const SHOTS = resolve(process.env.SCREENSHOT_DIR || "test-artifacts/browser");

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
];
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** A browser with a fresh profile; `close()` removes the profile. */
export async function openBrowser() {
  const profile = await mkdtemp(join(tmpdir(), "sandbox-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1360, height: 900 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A new page with the guards attached. `guards.check()` asserts: every request went to loopback,
 * (or was stopped by the page's CSP before it was sent), no CSP violation, no uncaught error.
 * `allowConsoleErrors` and `allowViolations` list what a test causes or expects on purpose (a 401
 * answer logs a console error).
 */
export async function newPage(context, { allowConsoleErrors = [], allowViolations = [] } = {}) {
  const page = await context.newPage();
  const requests = [];
  const blocked = new Set(); // stopped by the page's CSP before anything was sent
  const problems = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("requestfailed", (request) => {
    if (/BLOCKED_BY_CSP|csp/i.test(request.failure()?.errorText || "")) blocked.add(request.url());
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    if (allowConsoleErrors.some((pattern) => pattern.test(text))) return;
    problems.push(`console error: ${text}`);
  });
  // CSP violations are reported as events in the page; count them there.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
    });
  });
  const guards = {
    requests,
    async check() {
      const outside = requests.filter((url) => {
        const parsed = new URL(url);
        if (parsed.protocol === "blob:" || parsed.protocol === "data:" || blocked.has(url)) return false;
        return !LOOPBACK.has(parsed.hostname);
      });
      assert.deepEqual(outside, [], "the page asked hosts other than loopback");
      const violations = await page.evaluate(() => window.__cspViolations || []).catch(() => []);
      const unexpected = violations.filter((v) => !allowViolations.some((pattern) => pattern.test(v)));
      assert.deepEqual(unexpected, [], "Content-Security-Policy violations");
      assert.deepEqual(problems, [], "errors in the page");
    },
  };
  return { page, guards };
}

/** Save a full-page screenshot as SCREENSHOT_DIR/<name>.png and print its path. */
export async function screenshot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot: ${path}`);
  return path;
}

/** Type `key` into the header's key form and use it. */
export async function enterKey(page, key) {
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Use key" }).click();
}

/** Replace the editor's text (CodeMirror: select all, then type in one insertText). */
export async function setCode(page, code) {
  const content = page.locator("#editor .cm-content");
  await content.click();
  await page.keyboard.press("ControlOrMeta+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(code);
}
