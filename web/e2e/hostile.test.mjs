// A hostile program against the playground and the operations page: markup in its output, its
// files' names and contents (an SVG and an HTML file with script), and what /ops shows of its
// failure. Nothing of it may become markup or script in this origin: not in the page, and not in a
// tab opened on an artifact's blob: URL ("Open image in new tab", a copied link), which is a document
// of this origin with none of the API's headers for the file (attachment, CSP sandbox).
// And the key typed before a page's script runs (slow link, build being replaced) stays out of URLs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KEY, OPS_KEY, URL_, enterKey, newPage, openBrowser, screenshot, setCode } from "./browser.mjs";

const TIMEOUT = 60_000;
const MARK = "PWNED";
// Every way the program's bytes could run: each sets the title (so a tab's title says whether it ran).
const SCRIPT = `document.title='${MARK}:'+sessionStorage.getItem('sandbox.apiKey')`;
const SVG = `<svg xmlns="http://www.w3.org/2000/svg" onload="${SCRIPT}"><script>${SCRIPT}</script><rect width="9" height="9"/></svg>`;
const HTML = `<script>${SCRIPT}</script><img src=x onerror="${SCRIPT}">`;
const py = (text) => JSON.stringify(text); // a JSON string is a Python string literal
const PROGRAM = `
import os, pathlib, sys
os.makedirs("out", exist_ok=True)
print(${py('<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>')})
print(${py('<svg onload="window.__pwned=3">')}, file=sys.stderr)
pathlib.Path(${py('out/<img src=x onerror="window.__pwned=4">.txt')}).write_text("name")
pathlib.Path("out/evil.svg").write_text(${py(SVG)})
pathlib.Path("out/evil.html").write_text(${py(HTML)})
pathlib.Path("out/fake.png").write_text(${py(HTML)})
sys.exit(7)
`;
let browser;
before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

/** What a tab opened on `url` became: its title once loaded, or "download" when it was saved. */
async function openedAlone(url) {
  const tab = await browser.context.newPage();
  const download = tab.waitForEvent("download", { timeout: 3000 }).then(() => "download", () => null);
  try {
    await tab.goto(url, { timeout: 5000 });
    await tab.waitForTimeout(500);
    return (await download) || (await tab.title());
  } catch (error) {
    if (/Download is starting/.test(String(error))) return "download";
    throw error;
  } finally {
    await tab.close();
  }
}

describe("hostile programs and early keys", { timeout: 4 * TIMEOUT }, () => {
  test("its output, file names and files never become markup or script in this origin", async () => {
    const { page, guards } = await newPage(browser.context, { allowConsoleErrors: [/status of 404/] });
    await page.goto(`${URL_}/`);
    await enterKey(page, KEY);
    await page.locator("#language option[value=python]").waitFor({ state: "attached" });
    await setCode(page, PROGRAM);
    await page.getByRole("button", { name: "Run", exact: true }).click();
    await page.locator("#status [data-testid=status-word]").waitFor({ timeout: TIMEOUT });
    await page.locator("#artifacts-list li", { hasText: "fake.png" }).getByRole("link", { name: "Download" }).waitFor();
    assert.equal(await page.locator("#status").getAttribute("data-status"), "runtime_error");
    assert.match(await page.locator("#output").innerText(), /<img src=x onerror="window.__pwned=1"><script>/);
    assert.match(await page.locator("#artifacts-list").innerText(), /out\/<img src=x onerror="window.__pwned=4">\.txt/);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator("img[src=x], svg[onload], script:not([src])").count(), 0);
    const urls = await page.locator("#artifacts-list a").evaluateAll((links) => links.map((a) => a.href));
    assert.equal(urls.length, 4);
    // The pictures shown: what "Open image in new tab" opens.
    urls.push(...(await page.locator("#artifacts-list img").evaluateAll((images) => images.map((i) => i.src))));
    for (const url of urls) {
      assert.match(url, /^blob:/);
      const became = await openedAlone(url);
      assert.ok(!became.startsWith(MARK), `a tab on ${url} ran the program's script: ${became}`);
    }
    // Only raster pictures are shown inline; an SVG (it can hold script) is a download like any file.
    const shown = page.locator("#artifacts-list img");
    assert.equal(await shown.count(), 1, "only the file named .png is shown (as a picture: it holds none)");
    assert.match(await shown.getAttribute("alt"), /^out\/fake\.png /);
    await screenshot(page, "hostile-program");
    await guards.check();
    await page.close();
  });

  test("the failures /ops lists (the one above among them) stay text", async () => {
    // Run by hand against a server whose keys are named with markup, this covers key names too.
    const { page, guards } = await newPage(browser.context);
    await page.goto(`${URL_}/ops`);
    await enterKey(page, OPS_KEY);
    await page.locator("#failures tbody tr").first().waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator("img[src=x], svg[onload], script:not([src])").count(), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    await guards.check();
    await page.close();
  });

  for (const [path, script] of [["/", "playground.js"], ["/ops", "ops.js"]]) {
    test(`the key typed on ${path} before its script runs never reaches a URL`, async () => {
      // A slow link, or a build being replaced: the form is there, its submit handler is not yet.
      const { page, guards } = await newPage(browser.context, { allowConsoleErrors: [/ERR_FAILED|net::/] });
      await page.route(`**/static/${script}`, (route) => route.abort());
      await page.goto(`${URL_}${path}`);
      await page.getByLabel("API key").fill(KEY);
      await page.getByLabel("API key").press("Enter");
      await page.waitForLoadState("load");
      await page.waitForTimeout(300);
      const leaked = guards.requests.filter((url) => url.includes(encodeURIComponent(KEY)) || url.includes(KEY));
      assert.deepEqual(leaked, [], "the key was sent in a URL (history, access logs, proxies)");
      assert.ok(!page.url().includes(KEY), page.url());
      await page.close();
    });
  }

  test("150 000 short lines, flushed one by one, are shown without freezing the page", async () => {
    const { page, guards } = await newPage(browser.context);
    await page.goto(`${URL_}/`);
    await enterKey(page, KEY);
    await page.locator("#language option[value=python]").waitFor({ state: "attached" });
    await setCode(page, "for i in range(150000):\n    print(i, flush=True)\n");
    const started = Date.now();
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // The run itself takes about 2 s; drawing every chunk as it came froze the page for minutes.
    await page.locator("#status [data-testid=status-word]").waitFor({ timeout: TIMEOUT });
    const seconds = (Date.now() - started) / 1000;
    assert.equal(await page.locator("#status").getAttribute("data-status"), "ok");
    const text = await page.evaluate(() => document.getElementById("output").textContent);
    assert.ok(text.startsWith("0\n1\n2\n") && text.endsWith("149998\n149999\n"), text.slice(-40));
    assert.equal(text.split("\n").length, 150001);
    assert.ok(seconds < 30, `the status came after ${seconds} s`);
    await guards.check();
    await page.close();
  });
});
