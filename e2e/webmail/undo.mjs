// Undo send: alice sends "take me back" to bob and presses Undo within
// the 10 seconds; the editor comes back with it, and after the window
// bob has received nothing and alice's Drafts holds it.
// Usage: node undo.mjs BASEURL ALICE BOB PASSWORD
import { count, jmap, newPage, run, signIn } from "./lib.mjs";

const [base, alice, bob, password] = process.argv.slice(2);
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, alice, password);
  await page.keyboard.press("c");
  await page.fill("#to", bob);
  await page.fill("#subject", "take me back");
  await page.fill("#body", "Sent by mistake.");
  await page.click(".compose button[type=submit]");
  await wait(page.locator(".toast .undo"));
  out.toast = await page.textContent(".toast span");
  await page.click(".toast .undo");
  await wait(page.locator(".compose"));
  out.subjectBack = await page.inputValue("#subject");
  // Past the window: nothing may arrive.
  await page.waitForTimeout(15000);
  const r = await jmap(base, bob, password, [["Email/query", { filter: { subject: "take me back" } }, "q"]]);
  out.bobReceived = r[0][1].ids.length;
  out.aliceDrafts = await count(base, alice, password, "drafts");
});
