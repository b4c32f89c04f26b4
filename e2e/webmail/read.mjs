// Drives Debian's chromium through the webmail: signs in, opens the message
// with the given subject and prints, as JSON, what the page showed and every
// request that left the page for another origin.
// With TRACKER, it then shows the message's images and reports what
// reached the tracker before and after.
// Usage: node read.mjs BASEURL USER PASSWORD SUBJECT [TRACKER]
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, user, password, subject, tracker] = process.argv.slice(2);
const profile = mkdtempSync(join(tmpdir(), "casella-chromium-"));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const out = { foreign: [], consoleErrors: [] };
try {
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const origin = new URL(base).origin;
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("data:") && !u.startsWith("about:")) out.foreign.push(u + " from " + r.frame().url() + " " + r.resourceType() + " after " + (out.step ?? "start"));
  });
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  await page.goto(base + "/");
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.click("button[type=submit]");
  const item = page.locator(".row", { hasText: subject });
  await item.waitFor({ timeout: 30000 });
  out.unreadBefore = await item.evaluate((el) => el.classList.contains("unread"));
  out.inboxCount = await page.locator(".boxes li.sel .n").textContent();
  out.step = "click";
  await item.click();
  const frame = page.frameLocator(".msg iframe");
  await frame.locator("body").waitFor({ state: "attached", timeout: 30000 });
  out.text = await frame.locator("body").innerText();
  out.sandbox = await page.locator(".msg iframe").getAttribute("sandbox");
  out.linkTarget = await frame.locator("a").first().getAttribute("target");
  out.linkRel = await frame.locator("a").first().getAttribute("rel");
  out.hrefs = await frame.locator("a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  // Marked seen: the item loses its unread style once Email/set answered.
  await page.locator(".row.unread", { hasText: subject }).waitFor({ state: "detached", timeout: 30000 });
  // The frame's load event comes after its images were fetched or refused.
  const mail = await (await page.locator(".msg iframe").elementHandle())?.contentFrame();
  if (!mail) throw new Error("no srcdoc frame");
  await mail.waitForLoadState("load");
  out.title = await page.title();
  if (tracker) {
    // Images allowed: only the pictures may come, never a script.
    const hits = async () => (await fetch(tracker + "/__hits")).json();
    out.hitsBeforeImages = await hits();
    out.step = "images";
    await page.click(".show-images");
    const shown = await (await page.locator(".msg iframe").elementHandle())?.contentFrame();
    await shown?.waitForLoadState("load");
    await new Promise((r) => setTimeout(r, 1000));
    out.hitsAfterImages = await hits();
    out.titleAfterImages = await page.title();
  }
  out.step = "k";
  await page.keyboard.press("k");
  out.selected = await page.locator(".row.sel .s").textContent();
  // Write to the account itself and send through EmailSubmission.
  out.step = "c";
  await page.keyboard.press("c");
  await page.fill("#to", user);
  await page.fill("#subject", "sent from webmail");
  await page.fill("#body", "Written in the browser.");
  await page.click(".compose button[type=submit]");
  await page.locator(".toast span, .app > .err").first().waitFor({ timeout: 30000 });
  out.afterSend = await page.locator(".toast span, .app > .err").first().textContent();
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(out));
