// The refusals at sign-in: a wrong password says so; once the login
// throttle holds the account back (a burst of wrong guesses from this
// address), even the right password is refused with HTTP 429, and the
// page must say that sign-in is held back, not that the password is wrong.
// Usage: node login.mjs BASEURL USER PASSWORD
import { newPage, run } from "./lib.mjs";

const [base, user, password] = process.argv.slice(2);

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  const attempt = async (pw) => {
    await page.fill("#user", user);
    await page.fill("#password", pw);
    await page.click(".login button[type=submit]");
    const err = page.locator(".login .err, .err[role=alert]").first();
    await err.waitFor({ timeout: 60000 });
    const text = await err.innerText();
    await page.goto(base + "/");
    return text;
  };
  await page.goto(base + "/");
  out.wrong = await attempt("not the password");
  // Parallel guesses reserve the throttle's waits one after another, past
  // its longest wait: while they are pending, the next login is refused
  // at once.
  const auth = "Basic " + Buffer.from(`${user}:guess`).toString("base64");
  const burst = Promise.all(Array.from({ length: 12 }, () =>
    fetch(base + "/.well-known/jmap", { headers: { Authorization: auth } }).then((r) => r.status)));
  await new Promise((r) => setTimeout(r, 500));
  out.held = await attempt(password);
  out.burst = await burst;
});
