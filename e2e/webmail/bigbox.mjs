// Times the webmail on a large mailbox in headless chromium: sign-in to
// the first rendered page of the list, and opening a message, 10 times
// each (a fresh page each sign-in); then scrolls to the middle of the list
// and counts the rows in the DOM, which virtualisation keeps small.
// With CASELLA_THREADS=on in the environment, the list is by conversation.
// Usage: node bigbox.mjs BASEURL USER PASSWORD
import { newPage, run } from "./lib.mjs";

const [base, user, password] = process.argv.slice(2);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2; };

await run(async (browser, out) => {
  out.loginMs = [];
  out.openMs = [];
  let page;
  for (let i = 0; i < 10; i++) {
    if (page) await page.context().close();
    page = await newPage(browser, out);
    if (process.env.CASELLA_THREADS === "on") await page.addInitScript(() => localStorage.setItem("threads", "on"));
    await page.goto(base + "/");
    await page.fill("#user", user);
    await page.fill("#password", password);
    const t0 = Date.now();
    await page.click(".login button[type=submit]");
    await page.locator(".row:not(.placeholder)").first().waitFor({ timeout: 60000 });
    out.loginMs.push(Date.now() - t0);
  }
  out.total = await page.locator(".boxes li.sel").textContent();
  for (let i = 0; i < 10; i++) {
    const r = page.locator(".row:not(.placeholder)").nth(i + 1);
    const subject = await r.locator(".s").textContent();
    const t0 = Date.now();
    await r.click();
    await page.locator(".msg h2", { hasText: subject }).waitFor({ timeout: 60000 });
    out.openMs.push(Date.now() - t0);
  }
  // The middle of the list: its rows are fetched by position.
  await page.keyboard.press("Escape");
  // The rows render after the scroll event: wait for the top's to go,
  // not only for no placeholder, which the top's rows also satisfy.
  const top = await page.locator(".list .row:not(.placeholder) .s").first().textContent();
  const t0 = Date.now();
  await page.locator(".list").evaluate((el) => { el.scrollTop = el.scrollHeight / 2; });
  await page.waitForFunction((top) => {
    const rows = [...document.querySelectorAll(".list .row:not(.placeholder) .s")].map((e) => e.textContent);
    return rows.length > 5 && !rows.includes(top) && !document.querySelector(".list .row.placeholder");
  }, top, { timeout: 60000 });
  out.scrollMiddleMs = Date.now() - t0;
  out.middleSubject = await page.locator(".row:not(.placeholder) .s").nth(10).textContent();
  out.rowsInDOM = await page.locator(".list .row").count();
  out.loginMedianMs = median(out.loginMs);
  out.openMedianMs = median(out.openMs);
});
