// The writing scenario. alice has "question" from bob (cc carol). She
// replies in plain text (saved as a draft while she writes), replies to all, forwards,
// and writes to bob with two files dragged in and one picked; bob signs in
// and downloads them.
// Usage: node write.mjs BASEURL ALICE BOB CAROL PASSWORD
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { count, jmap, newPage, row, run, signIn } from "./lib.mjs";

const [base, alice, bob, carol, password] = process.argv.slice(2);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });
// Sent at once, or held for undo send when the server can hold.
const sentText = /^(Message sent\.|Sent; it leaves)/;
const sha = (b) => createHash("sha256").update(b).digest("hex");

// Every byte value, so that any transfer encoding mistake shows.
const files = [0, 1, 2].map((k) => {
  const b = Buffer.alloc(3000 + k * 1000);
  for (let i = 0; i < b.length; i++) b[i] = (i * (k + 7)) & 255;
  return { name: `file${k}.bin`, bytes: b };
});

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, alice, password);
  await row(page, "question").click();
  await wait(page.locator(".msg h2", { hasText: "question" }));

  // Reply: the fields are filled in, a draft is saved while writing. In
  // plain text, which stays chosen for the messages after it.
  await page.keyboard.press("r");
  await wait(page.locator(".compose"));
  await page.check("#plain");
  out.reply = { to: await page.inputValue("#to"), cc: await page.inputValue("#cc"), subject: await page.inputValue("#subject") };
  out.replyQuotes = (await page.inputValue("#body")).includes("> What do you think?");
  await page.locator("#body").press("Home");
  await page.locator("#body").press("Control+Home");
  await page.keyboard.type("I think yes.");
  await wait(page.locator(".compose .saved"));
  out.draftsWhileWriting = await count(base, alice, password, "drafts");
  await page.click(".compose button[type=submit]");
  await wait(page.locator(".compose"), "detached");
  await wait(page.locator(".toast span", { hasText: sentText }));
  out.draftsAfterSend = await count(base, alice, password, "drafts");

  // Reply all and forward: the fields only; closing keeps a draft.
  await row(page, "question").click();
  await page.keyboard.press("a");
  await wait(page.locator(".compose"));
  out.replyAll = { to: await page.inputValue("#to"), cc: await page.inputValue("#cc"), subject: await page.inputValue("#subject") };
  await page.click(".compose button:text-is('Close')");
  await wait(page.locator(".compose"), "detached");
  await row(page, "question").click();
  await page.keyboard.press("f");
  await wait(page.locator(".compose"));
  out.forward = { to: await page.inputValue("#to"), subject: await page.inputValue("#subject"), body: await page.inputValue("#body") };
  await page.fill("#to", bob);
  await page.click(".compose button[type=submit]");
  await wait(page.locator(".compose"), "detached");
  await wait(page.locator(".toast span", { hasText: sentText }));

  // A new message with two files dropped and one picked.
  await page.keyboard.press("c");
  await wait(page.locator(".compose"));
  await page.fill("#to", bob);
  await page.fill("#subject", "files for you");
  await page.fill("#body", "Three files.");
  const dt = await page.evaluateHandle((fs) => {
    const d = new DataTransfer();
    for (const f of fs) d.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: "application/octet-stream" }));
    return d;
  }, files.slice(0, 2).map((f) => ({ name: f.name, bytes: [...f.bytes] })));
  await page.dispatchEvent(".compose", "drop", { dataTransfer: dt });
  await page.setInputFiles("#files", { name: files[2].name, mimeType: "application/octet-stream", buffer: files[2].bytes });
  await wait(page.locator(".compose .atts li", { hasText: "file2.bin" }));
  await wait(page.locator(".compose .uploading"), "detached");
  out.attached = await page.locator(".compose .atts li").count();
  await page.click(".compose button[type=submit]");
  await wait(page.locator(".compose"), "detached");
  await wait(page.locator(".toast span", { hasText: sentText }));

  // bob reads it and downloads the attachments through the page.
  const bobPage = await newPage(browser, out);
  await signIn(bobPage, base, bob, password);
  await wait(row(bobPage, "files for you"));
  await row(bobPage, "files for you").click();
  await wait(bobPage.locator(".msg .atts button", { hasText: "file0.bin" }));
  out.downloads = {};
  for (const f of files) {
    const [dl] = await Promise.all([bobPage.waitForEvent("download"), bobPage.click(`.msg .atts button:text-is('${f.name}')`)]);
    out.downloads[f.name] = sha(readFileSync(await dl.path())) === sha(f.bytes);
  }
  const r = await jmap(base, bob, password, [
    ["Email/query", { filter: { subject: "question" } }, "q"],
    ["Email/get", { "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: ["subject", "inReplyTo", "references"] }, "g"],
  ]);
  out.bobHas = r[1][1].list.map((e) => ({ subject: e.subject, inReplyTo: e.inReplyTo })).sort((a, b) => a.subject.localeCompare(b.subject));
});
