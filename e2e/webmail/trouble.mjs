// The outage scenario: with the page open on the inbox, the test's driver
// injects a store fault; the banner must appear within seconds and the
// list must never claim the folder is empty; once the fault is cleared
// the banner must go and the list come back, with no reload.
// The driver and this script take turns over stdin and stdout: the script
// prints a line "inject" or "clear" and waits for a line back.
// Usage: node trouble.mjs BASEURL USER PASSWORD
import { createInterface } from "node:readline";
import { newPage, row, run, signIn } from "./lib.mjs";

const [base, user, password] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function ask(what) {
  process.stderr.write(what + "\n");
  await lines.next();
}

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, user, password);
  await row(page, "kept 1").waitFor({ timeout: 20000 });
  out.bannerBefore = await page.locator(".banner").count();

  await ask("inject");
  let t0 = Date.now();
  await page.locator(".banner").waitFor({ timeout: 20000 });
  out.bannerMs = Date.now() - t0;
  out.banner = await page.locator(".banner").innerText();
  // Move to another mailbox and back: nothing can be read, and the app
  // must say so rather than show empty folders.
  await page.click(".boxes button:has-text('Archive')");
  await page.click(".boxes button:has-text('INBOX')");
  await page.locator(".empty.down").waitFor({ timeout: 20000 });
  out.listDuring = await page.locator(".listpane").innerText();
  out.emptyShown = await page.locator(".empty:not(.down)").count();
  out.unreadCountsDuring = await page.locator(".boxes .n").count();
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/outage.png` });

  await ask("clear");
  t0 = Date.now();
  await page.locator(".banner").waitFor({ state: "detached", timeout: 30000 });
  await row(page, "kept 1").waitFor({ timeout: 30000 });
  out.recoverMs = Date.now() - t0;
  out.rowsAfter = await page.locator(".row").count();
});
