// Search, the vacation responder round trip, Italian, and the screenshots.
// The inbox holds "invoice march" (from billing, with an attachment and
// "quarterly" in its text), "lunch" (from a friend) and "old news",
// imported here with a date in 2020.
// Usage: node prefs.mjs BASEURL USER PASSWORD SHOTSDIR
import { jmap, newPage, row, run, signIn } from "./lib.mjs";

const [base, user, password, shots] = process.argv.slice(2);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });

async function importOld() {
  const auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
  const session = await (await fetch(base + "/.well-known/jmap", { headers: { Authorization: auth } })).json();
  const acct = session.primaryAccounts["urn:ietf:params:jmap:mail"];
  const raw = "From: <archive@remote.test>\r\nTo: <" + user + ">\r\nSubject: old news\r\nDate: Wed, 15 Jan 2020 10:00:00 +0000\r\n\r\nfrom long ago\r\n";
  const up = await (await fetch(new URL(session.uploadUrl.replace("{accountId}", acct), base), {
    method: "POST", headers: { Authorization: auth, "Content-Type": "message/rfc822" }, body: raw,
  })).json();
  const boxes = await jmap(base, user, password, [["Mailbox/get", { ids: null }, "m"]]);
  const inbox = boxes[0][1].list.find((m) => m.role === "inbox").id;
  const r = await jmap(base, user, password, [["Email/import", {
    emails: { o: { blobId: up.blobId, mailboxIds: { [inbox]: true }, keywords: {}, receivedAt: "2020-01-15T10:00:00Z" } },
  }, "i"]]);
  if (!r[0][1].created?.o) throw new Error("Email/import: " + JSON.stringify(r[0][1]));
}

async function search(page, q) {
  await page.keyboard.press("/");
  await page.fill("#q", q);
  await page.press("#q", "Enter");
  await wait(page.locator(".listpane .bar strong"));
  await wait(page.locator(".list[data-state=ready]"));
  await page.waitForFunction(() => !document.querySelector(".row.placeholder"));
  await page.evaluate(() => document.activeElement?.blur());
  return (await page.locator(".row .s").allTextContents()).sort();
}

await run(async (browser, out) => {
  await importOld();
  const page = await newPage(browser, out);
  await signIn(page, base, user, password);
  await wait(row(page, "old news"));
  out.search = {};
  for (const q of ["from:billing", "has:attachment", "subject:lunch", "quarterly", "before:2021-01-01", "after:2021-01-01 in:inbox", "to:nobody@else.test", "lunch in:Archive"]) {
    out.search[q] = await search(page, q);
  }
  await page.click(".listpane .bar button");
  await wait(row(page, "lunch"));

  // Vacation: set, then read back after signing in again.
  await page.click(".settings-btn");
  await wait(page.locator(".vacation"));
  await page.check("#vac-on");
  await page.fill("#vac-subject", "Away");
  await page.fill("#vac-body", "Back on Monday.");
  await page.click(".vacation button[type=submit]");
  await wait(page.locator(".toast span", { hasText: "Saved." }));
  const v = await jmap(base, user, password, [["VacationResponse/get", { ids: ["singleton"] }, "v"]]);
  const got = v[0][1].list[0];
  out.vacationServer = { isEnabled: got.isEnabled, subject: got.subject, textBody: got.textBody };
  await page.reload();
  await signIn(page, base, user, password);
  await page.click(".settings-btn");
  await wait(page.locator(".vacation"));
  out.vacationPage = { isEnabled: await page.isChecked("#vac-on"), subject: await page.inputValue("#vac-subject"), textBody: await page.inputValue("#vac-body") };

  // Italian: switched in Settings, kept after a reload.
  await page.selectOption("#lang", "it");
  out.italian = { write: await page.textContent(".write"), lang: await page.getAttribute("html", "lang"), settings: await page.textContent("#settings-title") };
  await page.reload();
  out.italianLogin = await page.textContent(".login button");
  await signIn(page, base, user, password);
  await page.selectOption("#lang", "en").catch(() => {});
  // A browser that asks for Italian gets it at once.
  const it = await newPage(browser, out, { locale: "it-IT" });
  await it.goto(base + "/");
  out.italianBrowser = await it.textContent(".login button");

  // Screenshots: desktop and a 360-pixel phone, light and dark.
  out.shots = [];
  for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 360, height: 740 }]]) {
    for (const colorScheme of ["light", "dark"]) {
      const p = await newPage(browser, out, { viewport, colorScheme, deviceScaleFactor: 1 });
      await signIn(p, base, user, password);
      await wait(row(p, "invoice march"));
      await p.screenshot({ path: `${shots}/${name}-${colorScheme}-list.png` });
      await row(p, "invoice march").click();
      await wait(p.locator(".msg h2"));
      await p.screenshot({ path: `${shots}/${name}-${colorScheme}-message.png` });
      out.shots.push(`${name}-${colorScheme}`);
      if (name === "phone") {
        // Nothing wider than the phone: no sideways scrolling of the page.
        out[`overflow-${colorScheme}`] = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      }
      await p.context().close();
    }
  }
});
