// Fills an account's INBOX to N messages with IMAP MULTIAPPEND (RFC 3502)
// and LITERAL+ (RFC 7888), 1,000 messages to a command, which the server
// stores in one transaction: a 100,000-message mailbox in minutes rather
// than the hour one APPEND per message takes. Internal dates are spread
// over the last year; two in three are seen.
// Usage: node fill.mjs IMAPPORT USER PASSWORD N
import { connect } from "node:net";

const [port, user, password, n] = process.argv.slice(2);
const sock = connect(Number(port), "127.0.0.1");
sock.setEncoding("latin1");
let buf = "";
let waiting = null;
sock.on("data", (d) => {
  buf += d;
  let end;
  while (waiting && (end = buf.indexOf("\r\n")) >= 0) {
    const line = buf.slice(0, end);
    buf = buf.slice(end + 2);
    if (line.startsWith(waiting.tag + " ")) {
      const w = waiting;
      waiting = null;
      if (/^\S+ OK/.test(line)) w.resolve(line);
      else w.reject(new Error(line));
    }
  }
});
let seq = 0;
function command(text) {
  const tag = `f${++seq}`;
  return new Promise((resolve, reject) => {
    waiting = { tag, resolve, reject };
    sock.write(`${tag} ${text}\r\n`);
  });
}
const quote = (s) => '"' + s.replace(/["\\]/g, "\\$&") + '"';
const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const imapDate = (d) => `${String(d.getUTCDate()).padStart(2, "0")}-${months[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
  `${d.toISOString().slice(11, 19)} +0000`;

await new Promise((r) => sock.once("data", r));
await command(`LOGIN ${quote(user)} ${quote(password)}`);
const total = Number(n);
const year = 365 * 24 * 3600 * 1000;
const start = Date.now();
for (let done = 0; done < total;) {
  const k = Math.min(1000, total - done);
  let cmd = "APPEND INBOX";
  for (let i = done; i < done + k; i++) {
    const when = new Date(start - year * (1 - i / total));
    const msg = `From: Sender ${i % 97} <sender${i % 97}@remote.test>\r\nTo: <${user}>\r\nSubject: bulk message ${i}\r\n` +
      `Message-ID: <bulk${i}@e2e.test>\r\nDate: ${when.toUTCString().replace("GMT", "+0000")}\r\n\r\n` +
      `Message ${i} of a large mailbox. ${"Some ordinary text. ".repeat(8)}\r\n`;
    cmd += ` ${i % 3 ? "(\\Seen)" : "()"} ${quote(imapDate(when))} {${Buffer.byteLength(msg, "latin1")}+}\r\n${msg}`;
  }
  await command(cmd);
  done += k;
  if (done % 10000 === 0) process.stderr.write(`${done} messages, ${Math.round((Date.now() - start) / 1000)} s\n`);
}
await command("LOGOUT").catch(() => {});
sock.end();
console.log(JSON.stringify({ messages: total, seconds: (Date.now() - start) / 1000 }));
