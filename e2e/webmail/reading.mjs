// Remote images allowed for one message, then always for a sender (and on
// another device), every attachment as one zip, conversations, and a
// desktop notification for new mail.
// The inbox holds "img one" and "img two" from news@remote.test and "img
// other" from other@remote.test, each with one remote image at TRACKER;
// "three files" with three attachments; "question" and two replies.
// Usage: node reading.mjs BASEURL SMTPPORT USER PASSWORD TRACKER ZIPFILE
import { count, jmap, message, newPage, row, run, signIn, smtp } from "./lib.mjs";

const [base, smtpPort, user, password, tracker, zipFile] = process.argv.slice(2);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });

// hits asks the tracker what reached it, by path: the page's request
// events do not show what a sandboxed srcdoc frame fetches.
const hits = async () => (await fetch(tracker + "/__hits")).json();

// until waits for the tracker to have seen path, up to 20 seconds.
async function until(path) {
  for (let i = 0; i < 40 && !(await hits())[path]; i++) await settle();
  return hits();
}

// read opens a message and waits for its frame to have loaded, which is
// after its images were fetched or refused.
async function read(page, subject) {
  await row(page, subject).click();
  await wait(page.locator(".msg h2", { hasText: subject }));
  if (!(await page.locator(".msg iframe").count())) return null;
  const frame = await (await page.locator(".msg iframe").elementHandle())?.contentFrame();
  if (!frame) throw new Error("no frame for " + subject);
  await frame.waitForLoadState("load");
  return frame;
}

const settle = () => new Promise((r) => setTimeout(r, 500));

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, user, password);

  // One message: blocked until asked, then shown; the next one from the
  // same sender blocked again.
  await read(page, "img one");
  await settle();
  out.afterOpen = await hits();
  out.blockedNote = await page.locator(".msg .images").textContent();
  await page.click(".show-images");
  out.afterShow = await until("/one.png");
  await read(page, "img two");
  await settle();
  out.twoBeforeAlways = await hits();
  await page.click(".always-images");
  out.twoAfterAlways = await until("/two.png");
  out.shownNote = await page.locator(".msg .images").textContent();
  const r = await jmap(base, user, password, [["RemoteImages/get", { ids: ["singleton"] }, "r"]], ["urn:casella:params:jmap:account"]);
  out.allowedOnServer = r[0][1].list[0].allowedSenders;

  // Another device: the sender is trusted there too, the other is not.
  const other = await newPage(browser, out);
  await signIn(other, base, user, password);
  const before = (await hits())["/one.png"];
  await read(other, "img one");
  for (let i = 0; i < 40 && (await hits())["/one.png"] === before; i++) await settle();
  await read(other, "img other");
  await settle();
  out.otherDevice = await hits();
  await other.context().close();

  // Every attachment in one zip, made in the page.
  await read(page, "three files");
  out.attachmentButtons = await page.locator(".atts li button:not(.zip)").count();
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 30000 }), page.click(".atts .zip")]);
  await download.saveAs(zipFile);
  out.zipName = download.suggestedFilename();

  // Conversations: three messages in one row, read together.
  out.rowsMessages = await page.locator(".row:not(.placeholder)").count();
  // The newest reply read on its own: the conversation stays unread
  // while its other messages are, and is read once opened.
  await row(page, "Re: question").first().click();
  await wait(page.locator(".row.unread", { hasText: "dave@" }), "detached");
  await page.check("#threads");
  await wait(page.locator(".row .count"));
  const threadRow = page.locator(".row", { has: page.locator(".count") });
  await page.waitForFunction(() => document.querySelector(".row:has(.count)")?.classList.contains("unread"), null, { timeout: 20000 })
    .catch(() => {});
  out.conversationUnread = await threadRow.evaluate((el) => el.classList.contains("unread"));
  out.rowsThreads = await page.locator(".row:not(.placeholder)").count();
  out.threadRow = await page.locator(".row", { has: page.locator(".count") }).locator(".s").textContent();
  out.threadCount = await page.locator(".row .count").textContent();
  await page.locator(".row", { has: page.locator(".count") }).click();
  await wait(page.locator(".msg.conversation"));
  await page.waitForFunction(() => !document.querySelector(".row:has(.count)")?.classList.contains("unread"), null, { timeout: 20000 })
    .catch(() => {});
  out.conversationReadAfter = !(await threadRow.evaluate((el) => el.classList.contains("unread")));
  out.conversation = await page.locator(".msg.conversation .one .hdr dd:first-of-type").allTextContents();
  out.conversationTitle = await page.locator(".msg.conversation > h2").textContent();
  // A reply arriving while the conversation is open joins it, by push.
  await smtp(smtpPort, "erin@remote.test", user, `From: <erin@remote.test>\r\nTo: <${user}>\r\nSubject: Re: question\r\n` +
    `Message-ID: <r3@e2e.test>\r\nIn-Reply-To: <r2@e2e.test>\r\nReferences: <q@e2e.test> <r1@e2e.test> <r2@e2e.test>\r\n` +
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}\r\n\r\nerin says hello\r\n`);
  await page.locator(".msg.conversation .one").nth(3).waitFor({ timeout: 60000 }).catch(() => {});
  out.conversationPushed = await page.locator(".msg.conversation .one .hdr dd:first-of-type").allTextContents();
  // Archiving the conversation archives its three messages; undo brings
  // them back.
  const archived = async (n) => {
    for (let i = 0; i < 40 && (await count(base, user, password, "archive")) !== n; i++) await settle();
    return count(base, user, password, "archive");
  };
  await page.keyboard.press("e");
  out.archivedConversation = await archived(4);
  await page.keyboard.press("z");
  out.archivedAfterUndo = await archived(0);
  // The choice is kept: after a reload the list is still by conversation.
  await page.reload();
  await signIn(page, base, user, password);
  await wait(page.locator(".row .count"));
  out.threadsAfterReload = await page.isChecked("#threads");
  await page.uncheck("#threads");
  // One row more than before: the reply pushed into the conversation.
  await page.waitForFunction((n) => document.querySelectorAll(".row:not(.placeholder)").length === n, out.rowsMessages + 1);
  out.rowsBack = await page.locator(".row:not(.placeholder)").count();

  // Notifications: counted by a stand-in for window.Notification, on a
  // page that is hidden (the user is elsewhere), once the user allowed
  // them; none where they are not allowed.
  out.notes = {};
  for (const allowed of [true, false]) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US", permissions: allowed ? ["notifications"] : [] });
    await ctx.addInitScript(() => {
      const Real = window.Notification;
      window.__notes = [];
      window.Notification = class extends EventTarget {
        static get permission() { return Real.permission; }
        static requestPermission() { return Real.requestPermission(); }
        constructor(title, options) { super(); this.title = title; this.body = options?.body ?? ""; window.__notes.push(this); }
        close() {}
      };
      Object.defineProperty(document, "hidden", { get: () => true });
      Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
    });
    const p = await ctx.newPage();
    p.on("pageerror", (e) => out.pageErrors.push(e.message));
    await signIn(p, base, user, password);
    out.notes[`permission-${allowed}`] = await p.evaluate(() => Notification.permission);
    const subject = `ping ${allowed}`;
    await smtp(smtpPort, "sender@remote.test", user, message(subject, user));
    // Delivered over SMTP and pushed: slower than a click on a busy machine.
    await row(p, subject).waitFor({ timeout: 60000 });
    await p.waitForTimeout(1000);
    out.notes[String(allowed)] = await p.evaluate(() => window.__notes.map((n) => ({ title: n.title, body: n.body })));
    if (allowed) {
      // Clicked, from another mailbox: the message opens in the inbox.
      await p.click(".boxes li:nth-child(2) button");
      await wait(p.locator(".list[data-state=ready]"));
      await p.evaluate(() => window.__notes[0].onclick?.(new Event("click")));
      await wait(p.locator(".msg h2", { hasText: subject }));
      out.notes.clickOpened = await p.locator(".boxes li.sel button").textContent();
    }
    await ctx.close();
  }
});
