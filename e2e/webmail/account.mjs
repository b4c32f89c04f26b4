// Settings, through Casella's JMAP account extension: an app password
// created (its secret shown once, then working as a bearer token), a
// wrong current password refused, the token revoked; the password
// changed, the page going on with the new one; a sender whose images
// another device allowed, listed and removed; the new strings in Italian.
// Usage: node account.mjs BASEURL USER PASSWORD NEWPASSWORD
import { jmap, newPage, run, signIn } from "./lib.mjs";

const [base, user, password, newPassword] = process.argv.slice(2);
const ext = "urn:casella:params:jmap:account";
const wait = (locator, state = "visible") => locator.waitFor({ state, timeout: 20000 });

// session asks for the JMAP session with a bearer token or a password.
async function session(secret, bearer) {
  const auth = bearer ? "Bearer " + secret : "Basic " + Buffer.from(`${user}:${secret}`).toString("base64");
  return (await fetch(base + "/.well-known/jmap", { headers: { Authorization: auth } })).status;
}

async function toast(page, text) {
  await wait(page.locator(".toast span", { hasText: text }));
  return page.locator(".toast span").textContent();
}

await run(async (browser, out) => {
  const page = await newPage(browser, out);
  await signIn(page, base, user, password);
  const senders = async () => (await jmap(base, user, password, [["RemoteImages/get", { ids: null }, "r"]], [ext]))[0][1].list[0].allowedSenders;
  await jmap(base, user, password, [["RemoteImages/set", { update: { singleton: { "allowedSenders/news@remote.test": true } } }, "r"]], [ext]);
  await page.click(".settings-btn");
  await wait(page.locator(".no-tokens"));
  out.trusted = await page.locator(".trusted li").allTextContents();
  await page.click(".trusted button");
  await wait(page.locator(".no-trusted"));
  out.trustedOnServer = await senders();

  // An app password with a wrong current password: refused.
  await page.fill("#tk-name", "phone");
  await page.selectOption("#tk-expires", "30");
  await page.fill("#tk-current", "not the password");
  await page.click(".new-token button[type=submit]");
  out.wrongForToken = await toast(page, "wrong");

  // With the right one: the secret shown once, listed, and it logs in.
  await page.fill("#tk-current", password);
  await page.click(".new-token button[type=submit]");
  await wait(page.locator(".secret code"));
  const secret = await page.textContent(".secret code");
  out.secretShape = /^cst_[a-z2-7]{16}_[a-z2-7]{52}$/.test(secret);
  out.listed = await page.locator(".tokens li").allTextContents();
  out.tokenLogin = await session(secret, true);
  out.tokenAsPassword = await session(secret, false);
  // Closed and opened again, Settings no longer shows the secret.
  await page.click(".settings .close");
  await page.click(".settings-btn");
  await wait(page.locator(".tokens li"));
  out.secretAgain = await page.locator(".secret").count();

  // Revoked: gone from the list, refused at once.
  await page.click(".tokens .revoke");
  await wait(page.locator(".no-tokens"));
  out.revokedLogin = await session(secret, true);

  // The password: a wrong current one refused, two different new ones
  // caught in the page, then changed.
  await page.fill("#pw-current", "not the password");
  await page.fill("#pw-next", newPassword);
  await page.fill("#pw-again", newPassword);
  await page.click(".password button[type=submit]");
  out.wrongForPassword = await toast(page, "wrong");
  await page.fill("#pw-current", password);
  await page.fill("#pw-again", newPassword + "x");
  await page.click(".password button[type=submit]");
  out.differ = await toast(page, "differ");
  await page.fill("#pw-again", newPassword);
  await page.click(".password button[type=submit]");
  out.changed = await toast(page, "changed");
  out.oldLogin = await session(password, false);
  out.newLogin = await session(newPassword, false);

  // The page goes on with the new password: a mailbox loads.
  await page.click(".settings .close");
  await page.click(".boxes li:nth-child(2) button");
  await wait(page.locator(".list[data-state=ready]"));
  out.errorShown = await page.locator(".app > .err").count();

  // Italian.
  await page.click(".settings-btn");
  await page.selectOption("#lang", "it");
  out.italian = await page.locator(".settings h3").allTextContents();
  await page.selectOption("#lang", "en");

  // Signing in again takes the new password.
  const again = await newPage(browser, out);
  await signIn(again, base, user, newPassword);
  out.signedInAgain = true;
});
