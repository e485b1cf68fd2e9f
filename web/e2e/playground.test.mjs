// The playground at `/` against a real `sandbox serve`: a run with streamed output and its status,
// a figure shown inline, a validation denial at its line, a session whose cells share state, limits
// that reach the server, and a wrong key explained.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { KEY, URL_, enterKey, newPage, openBrowser, screenshot, setCode } from "./browser.mjs";

const TIMEOUT = 60_000;
let browser;

before(async () => {
  browser = await openBrowser();
});
after(async () => {
  await browser?.close();
});

async function playground(options) {
  const { page, guards } = await newPage(browser.context, options);
  await page.goto(`${URL_}/`);
  await enterKey(page, KEY);
  // The pickers fill from /v1/languages and /v1/policies once the key is in.
  await page.locator("#language option[value=python]").waitFor({ state: "attached" });
  await assert.doesNotReject(page.locator("#run:not([disabled])").waitFor());
  return { page, guards };
}

async function finalStatus(page, box = page.locator("#status")) {
  await box.locator("[data-testid=status-word]").waitFor({ timeout: TIMEOUT });
  return box.getAttribute("data-status");
}

describe("playground", { timeout: 5 * TIMEOUT }, () => {
  test("a run shows its output as it arrives, then its status and usage", async () => {
    const { page, guards } = await playground();
    await setCode(page, 'import time\nfor i in range(4):\n    print("tick", i, flush=True)\n    time.sleep(0.4)\nprint("done")\n');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    // Streamed: the first line is on the page while the program still runs.
    await page.locator("#output").getByText("tick 0").waitFor({ timeout: TIMEOUT });
    assert.equal(await page.locator("#status").getAttribute("data-status"), "pending", "output came only with the result");
    assert.equal(await finalStatus(page), "ok");
    assert.match(await page.locator("#output").innerText(), /tick 0\ntick 1\ntick 2\ntick 3\ndone/);
    const facts = await page.locator("#status .facts-line").innerText();
    assert.match(facts, /exit code 0/);
    assert.match(facts, /wall \d+ ms/);
    assert.match(facts, /CPU \d+ ms/);
    assert.match(facts, /peak memory [\d.]+ (KiB|MiB)/);
    const wall = Number(facts.match(/wall (\d+) ms/)[1]);
    assert.ok(wall >= 1500, `wall ${wall} ms for a program that sleeps 1.6 s`);
    await screenshot(page, "playground-run");
    await guards.check();
    await page.close();
  });

  test("Ctrl+Enter runs, and stderr and a non-zero exit are shown as such", async () => {
    const { page, guards } = await playground();
    await setCode(page, 'import sys\nprint("to stdout")\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n');
    await page.keyboard.press("Control+Enter");
    assert.equal(await finalStatus(page), "runtime_error");
    await page.locator("#output .stderr").getByText("to stderr").waitFor();
    assert.match(await page.locator("#status .facts-line").innerText(), /exit code 3/);
    await guards.check();
    await page.close();
  });

  test("a matplotlib figure is listed as an artifact and shown inline", async () => {
    const { page, guards } = await playground();
    await setCode(page, "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2, 3], [0, 1, 4, 9], marker='o')\nplt.title('squares')\nplt.show()\n");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    assert.equal(await finalStatus(page), "ok");
    const artifact = page.locator("#artifacts-list li", { hasText: "out/figure-1.png" });
    await artifact.waitFor();
    const image = artifact.locator("img");
    await image.waitFor();
    const size = await image.evaluate(async (img) => {
      await img.decode();
      return { width: img.naturalWidth, height: img.naturalHeight, src: img.src };
    });
    assert.ok(size.width > 100 && size.height > 100, `a real picture: ${JSON.stringify(size)}`);
    assert.match(size.src, /^blob:/);
    const link = artifact.getByRole("link", { name: "Download" });
    assert.equal(await link.getAttribute("download"), "figure-1.png");
    await image.scrollIntoViewIfNeeded();
    await screenshot(page, "playground-figure");
    await guards.check();
    await page.close();
  });

  test("a validation denial is marked at its line in the editor and listed", async () => {
    const { page, guards } = await playground({ allowConsoleErrors: [/status of 422/] });
    await setCode(page, 'print("fine")\nimport os\nos.system("ls")\n');
    await page.getByRole("button", { name: "Run", exact: true }).click();
    assert.equal(await finalStatus(page), "validation_rejected");
    const finding = page.locator("#findings-list li", { hasText: "os.system" }).first();
    await finding.waitFor();
    assert.equal(await finding.getAttribute("data-line"), "3");
    assert.match(await finding.innerText(), /line 3/);
    // In the editor: an error underline on line 3's text and a marker in the lint gutter.
    const marked = page.locator("#editor .cm-lintRange-error").first();
    await marked.waitFor();
    assert.match(await marked.innerText(), /os\.system/);
    await page.locator("#editor .cm-lint-marker-error").first().waitFor();
    assert.equal(await page.locator("#output").innerText(), "", "nothing ran");
    await screenshot(page, "playground-denied");
    await guards.check();
    await page.close();
  });

  test("a session runs cells one after another that share their variables", async () => {
    const { page, guards } = await playground();
    await page.getByLabel("Session (cells)").check();
    await page.getByRole("button", { name: "Open session" }).click();
    await page.locator("#session-state[data-state=open]").waitFor({ timeout: TIMEOUT });
    assert.ok(await page.locator("#language").isDisabled(), "the language is fixed while the session is open");

    await setCode(page, "answer = 41\nprint('set')\n");
    await page.getByRole("button", { name: "Run cell" }).click();
    const first = page.locator('#cells li[data-cell="1"]');
    assert.equal(await finalStatus(page, first.locator(".status")), "ok");
    await first.locator(".output").getByText("set").waitFor();

    await setCode(page, "print('the answer is', answer + 1)\n");
    await page.keyboard.press("Control+Enter");
    const second = page.locator('#cells li[data-cell="2"]');
    assert.equal(await finalStatus(page, second.locator(".status")), "ok");
    await second.locator(".output").getByText("the answer is 42").waitFor();
    assert.match(await second.locator(".cell-code").innerText(), /answer \+ 1/);
    await screenshot(page, "playground-session");

    await page.getByRole("button", { name: "Close session" }).click();
    await page.locator("#session-state[data-state=closed]").waitFor();
    assert.ok(await page.locator("#language").isEnabled());
    await guards.check();
    await page.close();
  });

  test("leaving the page closes its open session", async () => {
    const { page, guards } = await playground();
    await page.getByLabel("Session (cells)").check();
    await page.getByRole("button", { name: "Open session" }).click();
    await page.locator("#session-state[data-state=open]").waitFor({ timeout: TIMEOUT });
    const open = async () => {
      const response = await fetch(`${URL_}/v1/sessions`, { headers: { Authorization: `Bearer ${KEY}` } });
      return (await response.json()).items.length;
    };
    assert.equal(await open(), 1);
    await guards.check();
    await page.goto("about:blank"); // pagehide: the page sends DELETE with keepalive
    const deadline = Date.now() + 15_000;
    while ((await open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await open(), 0, "the session is still open after the page was left");
    await page.close();
  });

  test("limits from the form reach the server: a busy loop stops at the wall time asked", async () => {
    const { page, guards } = await playground();
    await page.getByLabel("Wall time (s)").fill("1");
    await setCode(page, "while True:\n    pass\n");
    await page.getByRole("button", { name: "Run", exact: true }).click();
    const status = await finalStatus(page);
    assert.ok(["timeout", "cpu_time_exceeded"].includes(status), status);
    const wall = Number((await page.locator("#status .facts-line").innerText()).match(/wall (\d+) ms/)[1]);
    assert.ok(wall < 5000, `stopped near 1 s, not the default 10 s: ${wall} ms`);
    await guards.check();
    await page.close();
  });

  test("a wrong key is explained, and the key is kept for the tab only", async () => {
    const { page, guards } = await newPage(browser.context, { allowConsoleErrors: [/status of 401/] });
    await page.goto(`${URL_}/`);
    assert.ok(await page.locator("#run").isDisabled(), "no key: nothing to run with");
    await enterKey(page, "sbx_not-a-real-key");
    const notice = page.locator("#notice");
    await notice.getByText("did not accept the API key (401)").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("sandbox.apiKey")), "sbx_not-a-real-key");
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
    await screenshot(page, "playground-bad-key");
    await page.getByRole("button", { name: "Forget key" }).click();
    assert.equal(await page.evaluate(() => sessionStorage.getItem("sandbox.apiKey")), null);
    await guards.check();
    await page.close();
  });
});
