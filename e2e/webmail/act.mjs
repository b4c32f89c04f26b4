// The acting and live scenario: the inbox holds "seed 1".."seed 5"; the page
// must show mail delivered over SMTP and changes made by another JMAP
// client without reload, and read, flag, move (picker and drag), archive,
// delete, junk, multi-select and undo must reach the server.
// Usage: node act.mjs BASEURL SMTPPORT USER PASSWORD
import { jmap, message, newPage, row, run, signIn, smtp, where } from "./lib.mjs";

const [base, smtpPort, user, password] = process.argv.slice(2);
const server = () => where(base, user, password);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });
// settled reads the server until subject's keywords are want (the page
// shows a change before the server has answered it), for 10 s at most.
async function settled(subject, want) {
  let got;
  for (let i = 0; i < 40 && (got = (await server())[subject]).keywords.join(",") !== want; i++) await new Promise((r) => setTimeout(r, 250));
  return got;
}

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, user, password);
  await wait(row(page, "seed 5"));
  out.rowsAtStart = await page.locator(".row").count();

  // Live: delivered over SMTP while the page is open.
  let t0 = Date.now();
  await smtp(smtpPort, "sender@remote.test", user, message("live one", user));
  await wait(row(page, "live one"));
  out.liveMs = Date.now() - t0;
  out.liveUnread = await row(page, "live one").evaluate((el) => el.classList.contains("unread"));

  // Live: flagged by another client.
  const ids = await jmap(base, user, password, [["Email/query", { filter: { subject: "seed 1" } }, "q"]]);
  t0 = Date.now();
  await jmap(base, user, password, [["Email/set", { update: { [ids[0][1].ids[0]]: { "keywords/$flagged": true } } }, "s"]]);
  await wait(row(page, "seed 1").locator(".flag"));
  out.elsewhereMs = Date.now() - t0;

  // Read: opening marks seen.
  await row(page, "live one").click();
  await wait(page.locator(".msg h2", { hasText: "live one" }));
  await wait(page.locator(".row.unread", { hasText: "live one" }), "detached");
  // Flag with s, then unread with u.
  await page.keyboard.press("s");
  await wait(row(page, "live one").locator(".flag"));
  await page.keyboard.press("u");
  await wait(page.locator(".row.unread", { hasText: "live one" }));
  out.afterKeys = await settled("live one", "$flagged");

  // Move with the picker, then undo.
  await page.click(".msg .move");
  await page.click(".picker button:text-is('Archive')");
  await wait(row(page, "live one"), "detached");
  out.afterMove = (await server())["live one"];
  await page.click(".toast .undo");
  await wait(row(page, "live one"));
  out.afterUndo = (await server())["live one"];

  // Delete with # on the cursor, archive with e, junk with the button,
  // each once the message shows: it was read, so it leaves seen. (A key
  // pressed before it shows moves it unread, which is right too, but not
  // what this checks.)
  await row(page, "seed 2").click();
  await wait(page.locator(".msg h2", { hasText: "seed 2" }));
  await wait(page.locator(".row.unread", { hasText: "seed 2" }), "detached");
  await page.keyboard.press("#");
  await wait(row(page, "seed 2"), "detached");
  await row(page, "seed 3").click();
  await wait(page.locator(".msg h2", { hasText: "seed 3" }));
  await wait(page.locator(".row.unread", { hasText: "seed 3" }), "detached");
  await page.keyboard.press("e");
  await wait(row(page, "seed 3"), "detached");
  await row(page, "seed 4").click();
  await page.click(".msg .junk");
  await wait(row(page, "seed 4"), "detached");
  const s = await server();
  out.deleted = s["seed 2"];
  out.archived = s["seed 3"];
  out.junked = s["seed 4"];

  // Multi-select: a checkbox, then shift-click on another selects the range.
  await page.keyboard.press("Escape");
  await row(page, "seed 5").locator(".pick").click();
  await row(page, "seed 1").locator(".pick").click({ modifiers: ["Shift"] });
  out.selected = await page.locator(".row.checked").count();
  await page.click(".listpane .delete");
  await wait(row(page, "seed 5"), "detached");
  out.afterMultiDelete = Object.fromEntries(Object.entries(await server()).map(([k, v]) => [k, v.boxes.join(",")]));
  await page.keyboard.press("z");
  await wait(row(page, "seed 5"));
  out.afterMultiUndo = Object.fromEntries(Object.entries(await server()).map(([k, v]) => [k, v.boxes.join(",")]));

  // Drag to a folder.
  await row(page, "seed 5").dragTo(page.locator(".boxes li", { hasText: "Archive" }));
  await wait(row(page, "seed 5"), "detached");
  out.dragged = (await server())["seed 5"];

  // The help overlay.
  await page.keyboard.press("?");
  await wait(page.locator(".dialog.help"));
  out.helpKeys = await page.locator(".dialog.help kbd").count();
  await page.keyboard.press("Escape");
  await wait(page.locator(".dialog.help"), "detached");
});
