// The writing tools. alice has received "question" (HTML) from Bob Example
// and "hello" from Bobby Remote, and has sent a message to Dave Sent (made
// here by another JMAP client). She picks addresses from the suggestions
// with the keyboard, writes in HTML with the toolbar (bold, a link, a
// list), replies in HTML quoting the original, writes in plain text, and
// forwards "question" as an attachment through a draft taken up again;
// what bob receives is read back over JMAP.
// Usage: node compose.mjs BASEURL ALICE BOB PASSWORD SHOTSDIR
import { createHash } from "node:crypto";
import { count, jmap, newPage, row, run, signIn } from "./lib.mjs";

const [base, alice, bob, password, shots] = process.argv.slice(2);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });
const sentText = /^(Message sent\.|Sent; it leaves)/;
const sha = (b) => createHash("sha256").update(b).digest("hex");

// received returns bob's message with subject: its structure, text and
// HTML parts and attachments, as JMAP gives them.
async function received(user, subject) {
  for (let i = 0; i < 100; i++) {
    const r = await jmap(base, user, password, [
      ["Email/query", { filter: { subject } }, "q"],
      ["Email/get", {
        "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
        properties: ["subject", "bodyStructure", "textBody", "htmlBody", "attachments", "bodyValues", "keywords", "mailboxIds"],
        bodyProperties: ["partId", "blobId", "type", "name", "subParts", "header:Content-Transfer-Encoding:asText"],
        fetchTextBodyValues: true, fetchHTMLBodyValues: true,
      }, "g"],
    ]);
    const e = r[1][1].list.find((x) => x.subject === subject);
    if (e) {
      const value = (parts) => parts.map((p) => e.bodyValues[p.partId]?.value ?? "").join("");
      const types = [];
      const walk = (p) => { types.push(p.type); for (const s of p.subParts ?? []) walk(s); };
      walk(e.bodyStructure);
      return {
        structure: types.join(" "),
        text: value(e.textBody.filter((p) => p.type === "text/plain")),
        html: value(e.htmlBody.filter((p) => p.type === "text/html")),
        attachments: e.attachments,
      };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${user} has no message "${subject}"`);
}

async function download(user, blobId) {
  const auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
  const session = await (await fetch(base + "/.well-known/jmap", { headers: { Authorization: auth } })).json();
  const url = session.downloadUrl.replace("{accountId}", session.primaryAccounts["urn:ietf:params:jmap:mail"])
    .replace("{blobId}", blobId).replace("{name}", "m.eml").replace("{type}", "message/rfc822");
  const res = await fetch(new URL(url, base), { headers: { Authorization: auth } });
  if (!res.ok) throw new Error(`download ${blobId}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

async function send(page) {
  await page.click(".compose button[type=submit]");
  await wait(page.locator(".compose"), "detached");
  await wait(page.locator(".toast span", { hasText: sentText }));
}

await run(async (browser, out) => {
  // A message alice sent earlier, from another client.
  const boxes = (await jmap(base, alice, password, [["Mailbox/get", { ids: null }, "m"]]))[0][1].list;
  const sentBox = boxes.find((m) => m.role === "sent").id;
  await jmap(base, alice, password, [["Email/set", { create: { s: {
    mailboxIds: { [sentBox]: true }, keywords: { $seen: true }, from: [{ email: alice }], to: [{ name: "Dave Sent", email: "dave@remote.test" }],
    subject: "earlier", bodyStructure: { partId: "t", type: "text/plain" }, bodyValues: { t: { value: "Sent before." } },
  } } }, "e"]]);

  const page = await newPage(browser, out);
  page.on("dialog", (d) => d.accept("https://example.org/casella"));
  await signIn(page, base, alice, password);

  // Autocomplete: "bo" offers both senders; the arrows and Enter pick bob.
  await page.keyboard.press("c");
  await wait(page.locator(".compose"));
  out.startsInHTML = await page.locator("#body[contenteditable=true]").count() === 1;
  await page.locator("#to").pressSequentially("bo");
  await wait(page.locator("#to-list li").nth(1));
  out.suggested = await page.locator("#to-list li").allInnerTexts();
  const at = out.suggested.findIndex((s) => s.includes(bob));
  for (let i = 0; i < at; i++) await page.keyboard.press("ArrowDown");
  out.activeIsBob = (await page.locator("#to-list li[aria-selected=true]").innerText()).includes(bob);
  await page.keyboard.press("Enter");
  out.to = await page.inputValue("#to");
  out.listClosed = await page.locator("#to-list").count() === 0;
  // A recipient of sent mail is offered too; Escape closes the list.
  await page.locator("#bcc").pressSequentially("dav");
  await wait(page.locator("#bcc-list li"));
  out.suggestedSent = await page.locator("#bcc-list li").allInnerTexts();
  await page.keyboard.press("Escape");
  out.bccListClosed = await page.locator("#bcc-list").count() === 0;
  await page.fill("#bcc", "");

  // HTML with the toolbar: bold, a link (the address asked in a dialog),
  // a bulleted list.
  await page.fill("#subject", "rich one");
  await page.locator("#body").click();
  await page.keyboard.type("Hello ");
  await page.click(".tool-bold");
  await page.keyboard.type("bold words");
  out.boldPressed = await page.getAttribute(".tool-bold", "aria-pressed");
  await page.click(".tool-bold");
  await page.keyboard.type(" and ");
  await page.click(".tool-link");
  await page.keyboard.press("Enter");
  await page.click(".tool-ul");
  await page.keyboard.type("item one");
  await page.screenshot({ path: `${shots}/compose-desktop-light.png` });
  // A hostile paste goes in sanitised.
  await page.keyboard.press("Enter");
  await page.keyboard.press("Enter");
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.setData("text/html", `<p style="color:red" onclick="x()">pasted <i>text</i></p><img src="https://tracker.test/p.png" onerror="alert(1)">` +
      `<script>alert(2)</script><a href="javascript:alert(3)">bad link</a><svg><image href="https://tracker.test/s.png"/></svg>`);
    document.getElementById("body").dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  });
  out.pasted = await page.locator("#body").innerHTML();
  await wait(page.locator(".compose .saved"));
  const draft = await received(alice, "rich one");
  out.draftStructure = draft.structure;
  await send(page);
  out.rich = await received(bob, "rich one");

  // Reply in HTML: the original quoted in a blockquote.
  await row(page, "question").click();
  await wait(page.locator(".msg h2", { hasText: "question" }));
  await page.keyboard.press("r");
  await wait(page.locator(".compose #body blockquote"));
  out.replyQuote = await page.locator("#body blockquote").innerText();
  await page.locator("#body").press("Control+Home");
  await page.keyboard.type("Yes, agreed.");
  await send(page);
  out.reply = await received(bob, "Re: question");

  // Plain text: the toggle, kept for the next message.
  await page.keyboard.press("c");
  await wait(page.locator(".compose"));
  await page.check("#plain");
  await page.fill("#to", bob);
  await page.fill("#subject", "plain one");
  await page.fill("#body", "Just text, *not bold*.");
  await send(page);
  out.plain = await received(bob, "plain one");
  await page.keyboard.press("c");
  await wait(page.locator(".compose"));
  out.plainKept = await page.locator("textarea#body").count() === 1;
  await page.uncheck("#plain");
  out.htmlBack = await page.locator("#body[contenteditable=true]").count() === 1;
  await page.click(".compose button:text-is('Close')");
  await wait(page.locator(".compose"), "detached");

  // Forward as attachment, left as a draft with a word in bold, then
  // taken up again from Drafts: the format and the attachment are kept,
  // and the original message arrives byte for byte.
  await row(page, "question").click();
  await wait(page.locator(".msg h2", { hasText: "question" }));
  await page.click(".msg .forward-attached");
  await wait(page.locator(".compose .atts li", { hasText: "question.eml" }));
  await page.fill("#to", bob);
  await page.locator("#body").click();
  await page.keyboard.press("Control+Home");
  await page.click(".tool-bold");
  await page.keyboard.type("see attached");
  await wait(page.locator(".compose .saved"));
  await page.click(".compose button:text-is('Close')");
  await wait(page.locator(".compose"), "detached");
  await page.click(".boxes button:has-text('Drafts')");
  await row(page, "Fwd: question").click();
  await page.click(".msg .edit-draft");
  await wait(page.locator(".compose .atts li", { hasText: "question.eml" }));
  out.resumed = { to: await page.inputValue("#to"), bold: await page.locator("#body b").innerText().catch(() => "") };
  await send(page);
  const fwd = await received(bob, "Fwd: question");
  out.forwardStructure = fwd.structure;
  out.forwardHTML = fwd.html;
  const part = fwd.attachments.find((a) => a.type === "message/rfc822");
  out.forwardEncoding = part?.["header:Content-Transfer-Encoding:asText"] ?? "";
  const orig = (await jmap(base, alice, password, [
    ["Email/query", { filter: { subject: "question" } }, "q"],
    ["Email/get", { "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: ["subject", "blobId"] }, "g"],
  ]))[1][1].list.find((e) => e.subject === "question");
  const a = await download(alice, orig.blobId);
  const b = part ? await download(bob, part.blobId) : Buffer.alloc(0);
  out.forwardIdentical = a.length > 0 && sha(a) === sha(b);
  out.forwardBytes = [a.length, b.length];
  out.draftsLeft = await count(base, alice, password, "drafts");

  // On a 360-pixel phone, dark: the toolbar and the suggestions fit.
  const phone = await newPage(browser, out, { viewport: { width: 360, height: 740 }, colorScheme: "dark", deviceScaleFactor: 1 });
  await signIn(phone, base, alice, password);
  await phone.keyboard.press("c");
  await wait(phone.locator(".compose"));
  await phone.fill("#subject", "from the phone");
  await phone.locator("#body").click();
  await phone.click(".tool-bold");
  // "?" is written, not taken for the help.
  await phone.keyboard.type("Bold on a phone?");
  out.phoneTyped = await phone.locator("#body").innerText();
  out.phoneHelp = await phone.locator(".help").count();
  await phone.locator("#to").pressSequentially("bo");
  await wait(phone.locator("#to-list li").first());
  await phone.screenshot({ path: `${shots}/compose-phone-dark.png` });
  out.phoneOverflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
});
