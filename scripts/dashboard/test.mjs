// Loads the dashboard of a running node in headless Chromium, waits for a new block to appear, checks what the
// page shows, fails on any console error, and saves a screenshot. Usage: node test.mjs URL SCREENSHOT.png
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
if (!url || !shot) {
  console.error("usage: node test.mjs http://127.0.0.1:PORT/ out.png");
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 820 } });
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => document.body.dataset.firstHeight !== "", null, { timeout: 20000 });
  const first = Number(await page.evaluate(() => document.body.dataset.firstHeight));
  // A new block must appear on the page (via the live event stream or the status poll).
  await page.waitForFunction((f) => Number(document.body.dataset.height) > f, first, { timeout: 30000 });
  // Wait until a block row with its signers and the validator table are filled in.
  await page.waitForFunction(() => document.querySelectorAll("#blocks tr").length >= 2, null, { timeout: 30000 });
  await page.waitForFunction(() => /#\d+/.test(document.querySelector("#validators").textContent), null,
    { timeout: 30000 });
  const seen = await page.evaluate(() => ({
    chain: document.querySelector("#chain-id").textContent,
    height: Number(document.body.dataset.height),
    validators: document.querySelectorAll("#validators tr").length,
    finality: document.querySelector("#finality").textContent,
    conn: document.querySelector("#conn").textContent,
    peerId: document.querySelector("#peer-id").textContent,
  }));
  await page.waitForTimeout(2500); // one more status poll, so CPU shows a figure in the screenshot
  await page.screenshot({ path: shot });
  const problems = [];
  if (!seen.chain || seen.chain === "–") problems.push("no chain id shown");
  if (seen.validators < 1) problems.push("no validators listed");
  if (!/^12D3Koo/.test(seen.peerId)) problems.push(`no libp2p peer id shown (${seen.peerId})`);
  if (!/ms$/.test(seen.finality)) problems.push(`no finality figure (${seen.finality})`);
  if (seen.conn !== "live") problems.push(`event stream not live (${seen.conn})`);
  if (errors.length) problems.push(`console errors: ${errors.join(" | ")}`);
  console.log(JSON.stringify({ first_height: first, ...seen, console_errors: errors.length, screenshot: shot }));
  if (problems.length) {
    console.error("dashboard test failed: " + problems.join("; "));
    process.exitCode = 1;
  }
} finally {
  await browser.close();
}
