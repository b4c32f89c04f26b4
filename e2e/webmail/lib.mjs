// Helpers shared by the webmail scenarios: a headless Debian chromium, the
// sign-in, a JMAP client of its own (another client, "elsewhere") and a
// minimal SMTP sender, so a scenario can change the account behind the
// page's back.
import { chromium } from "playwright-core";
import { connect } from "node:net";

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// page opens a page that records its errors into out.pageErrors.
export async function newPage(browser, out, options = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "en-US", ...options });
  const page = await ctx.newPage();
  out.pageErrors ??= [];
  page.on("pageerror", (e) => out.pageErrors.push(e.message));
  return page;
}

export async function signIn(page, base, user, password) {
  await page.goto(base + "/");
  await page.fill("#user", user);
  await page.fill("#password", password);
  await page.click(".login button[type=submit]");
  await page.locator(".boxes li.sel").waitFor({ timeout: 30000 });
}

// row is the list row showing subject.
export const row = (page, subject) => page.locator(".row", { has: page.locator(".s", { hasText: new RegExp(`^${subject}$`) }) });

export async function jmap(base, user, password, calls, capabilities = []) {
  const auth = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
  const session = await (await fetch(base + "/.well-known/jmap", { headers: { Authorization: auth } })).json();
  const accountId = session.primaryAccounts["urn:ietf:params:jmap:mail"];
  const res = await fetch(new URL(session.apiUrl, base), {
    method: "POST",
    headers: { Authorization: auth, "Content-Type": "application/json" },
    body: JSON.stringify({
      using: ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission", "urn:ietf:params:jmap:vacationresponse", ...capabilities],
      methodCalls: calls.map(([n, a, tag]) => [n, { accountId, ...a }, tag]),
    }),
  });
  if (!res.ok) throw new Error(`JMAP ${res.status}`);
  return (await res.json()).methodResponses;
}

// where maps each subject to the roles (or names) of its mailboxes and
// its keywords, as the server has them.
export async function where(base, user, password) {
  const r = await jmap(base, user, password, [
    ["Mailbox/get", { ids: null }, "m"],
    ["Email/query", {}, "q"],
    ["Email/get", { "#ids": { resultOf: "q", name: "Email/query", path: "/ids" }, properties: ["subject", "mailboxIds", "keywords"] }, "g"],
  ]);
  const boxes = Object.fromEntries(r[0][1].list.map((m) => [m.id, m.role ?? m.name]));
  const out = {};
  for (const e of r[2][1].list) {
    out[e.subject] = { boxes: Object.keys(e.mailboxIds).map((id) => boxes[id]).sort(), keywords: Object.keys(e.keywords).sort() };
  }
  return out;
}

// smtp sends one message over plain SMTP (RFC 5321), as a remote server.
export function smtp(port, from, to, data) {
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), "127.0.0.1");
    const steps = [`EHLO e2e.test`, `MAIL FROM:<${from}>`, `RCPT TO:<${to}>`, "DATA",
      data.replace(/\r?\n/g, "\r\n").replace(/^\./gm, "..") + "\r\n.", "QUIT"];
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (d) => {
      buf += d;
      // A reply is complete at a line "NNN text" (not "NNN-").
      while (/^\d{3} .*\r\n/m.test(buf)) {
        const m = /^(\d{3}) .*\r\n/m.exec(buf);
        buf = buf.slice(m.index + m[0].length);
        if (m[1][0] !== "2" && m[1][0] !== "3") { sock.destroy(); reject(new Error(`SMTP: ${m[0]}`)); return; }
        const next = steps.shift();
        if (next === undefined) { sock.end(); resolve(); return; }
        sock.write(next + "\r\n");
      }
    });
    sock.on("error", reject);
  });
}

export function message(subject, to, body = "Hello.") {
  return `From: Remote Sender <sender@remote.test>\r\nTo: <${to}>\r\nSubject: ${subject}\r\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@e2e.test>\r\nDate: ${new Date().toUTCString().replace("GMT", "+0000")}\r\n\r\n${body}\r\n`;
}

// run calls f and prints out as JSON, also when f failed (with the error).
export async function run(f) {
  const out = {};
  const browser = await launch();
  try {
    await f(browser, out);
  } catch (err) {
    out.error = String(err?.stack ?? err);
    // What the pages showed when it failed, for the test's artifacts.
    if (process.env.SHOTS) {
      let i = 0;
      for (const c of browser.contexts()) for (const p of c.pages()) await p.screenshot({ path: `${process.env.SHOTS}/failed-${i++}.png` }).catch(() => {});
    }
  } finally {
    await browser.close();
  }
  // Exit at once: a scenario may still be reading its standard input.
  process.stdout.write(JSON.stringify(out) + "\n", () => process.exit(0));
}

// count returns how many messages the mailbox with role holds.
export async function count(base, user, password, role) {
  const r = await jmap(base, user, password, [["Mailbox/get", { ids: null }, "m"]]);
  const box = r[0][1].list.find((m) => m.role === role);
  return box.totalEmails;
}
