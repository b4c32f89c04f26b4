// A full JMAP session with an independent client, jmap-jam, against a
// running casella: discover, list mailboxes, query, get with body values,
// set keywords, move, push, upload and import, create and send, and send
// two held messages and undo one. It prints one JSON object of what it
// saw; the Go test (e2e/jmap_test.go) checks it.
//
// Usage: node session.mjs SESSION_URL USER TOKEN
// TOKEN is an app password ("casella account token add"), which jmap-jam
// sends as a bearer token.
import { JamClient } from "jmap-jam";

const [sessionUrl, user, token] = process.argv.slice(2);
const bearer = "Bearer " + token;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const jam = new JamClient({ sessionUrl, bearerToken: token });
const out = {};
const accountId = await jam.getPrimaryAccount();
out.accountId = accountId;

const [mbs] = await jam.api.Mailbox.get({ accountId });
const role = (r) => mbs.list.find((m) => m.role === r);
out.mailboxes = mbs.list.map((m) => m.name).sort();
const inbox = role("inbox"), archive = role("archive"), drafts = role("drafts");
out.inboxTotal = inbox.totalEmails;

// Query and get in one request, with a result reference.
const [res] = await jam.requestMany((t) => {
  const q = t.Email.query({ accountId, filter: { inMailbox: inbox.id }, sort: [{ property: "receivedAt", isAscending: false }], collapseThreads: true });
  const g = t.Email.get({ accountId, ids: q.$ref("/ids"), properties: ["subject", "from", "keywords", "textBody", "bodyValues", "preview"], fetchTextBodyValues: true });
  return { q, g };
});
const email = res.g.list[0];
out.subject = email.subject;
out.from = email.from[0].email;
out.body = email.bodyValues[email.textBody[0].partId].value.trim();
out.preview = email.preview;

// Push: open the EventSource stream before changing anything.
const { eventSourceUrl } = await jam.session;
const streamURL = eventSourceUrl.replace("{types}", "Email").replace("{closeafter}", "state").replace("{ping}", "0");
const push = fetch(streamURL, { headers: { Authorization: bearer } }).then(async (r) => {
  let text = "";
  for await (const chunk of r.body) {
    text += Buffer.from(chunk).toString();
  }
  return text;
});
await sleep(200);

// Set keywords, then move to the archive.
await jam.api.Email.set({ accountId, update: { [email.id]: { "keywords/$seen": true, "keywords/$flagged": true } } });
await jam.api.Email.set({ accountId, update: { [email.id]: { mailboxIds: { [archive.id]: true } } } });
const [moved] = await jam.api.Email.get({ accountId, ids: [email.id], properties: ["keywords", "mailboxIds"] });
out.keywords = Object.keys(moved.list[0].keywords).sort();
out.inArchive = moved.list[0].mailboxIds[archive.id] === true && !moved.list[0].mailboxIds[inbox.id];
const pushed = await push;
out.pushed = pushed.includes('"@type":"StateChange"');

// Upload a message and import it into Drafts.
const raw = "From: <" + user + ">\r\nTo: <bob@example.test>\r\nSubject: draft from jam\r\n\r\nA draft.\r\n";
const up = await jam.uploadBlob(accountId, new Blob([raw], { type: "message/rfc822" }));
const [imp] = await jam.api.Email.import({ accountId, emails: { d: { blobId: up.blobId, mailboxIds: { [drafts.id]: true }, keywords: { $draft: true } } } });
const draftId = imp.created.d.id;
const [d] = await jam.api.Email.get({ accountId, ids: [draftId], properties: ["subject", "blobId"] });
out.draftSubject = d.list[0].subject;
const dl = await jam.downloadBlob({ accountId, blobId: d.list[0].blobId, mimeType: "message/rfc822", fileName: "draft.eml" });
out.download = (await dl.text()) === raw;
out.downloadDisposition = dl.headers.get("content-disposition");

// Send through EmailSubmission to the account itself, moving the draft
// to Sent on success; the delivered copy arrives in the inbox.
const [ident] = await jam.api.Identity.get({ accountId });
const sent = role("sent");
const [sendRes] = await jam.requestMany((t) => {
  const create = t.Email.set({ accountId, create: { m: {
    mailboxIds: { [drafts.id]: true }, keywords: { $draft: true },
    from: [{ email: user }], to: [{ email: user }], subject: "sent by jam",
    textBody: [{ partId: "1", type: "text/plain" }], bodyValues: { "1": { value: "Sent over JMAP." } },
  } } });
  const submit = t.EmailSubmission.set({ accountId, create: { s: { identityId: ident.list[0].id, emailId: "#m" } },
    onSuccessUpdateEmail: { "#s": { [`mailboxIds/${drafts.id}`]: null, [`mailboxIds/${sent.id}`]: true, "keywords/$draft": null } } });
  return { create, submit };
});
// jam keys responses by call id, so the implicit Email/set (RFC 8621
// section 7.5), which shares the submission's, stands in for it: it exists
// only when the submission succeeded.
out.submitted = Object.keys(sendRes.submit.updated ?? {}).length === 1;
out.arrived = false;
for (let i = 0; i < 100 && !out.arrived; i++) {
  const [q] = await jam.api.Email.query({ accountId, filter: { inMailbox: inbox.id, subject: "sent by jam" } });
  out.arrived = q.ids.length === 1;
  if (!out.arrived) await sleep(100);
}
const [sentQ] = await jam.api.Email.query({ accountId, filter: { inMailbox: sent.id } });
out.inSent = sentQ.ids.length;
// Its deliveryStatus (RFC 8621 section 7): the account's own mailbox
// took it.
let status;
for (let i = 0; i < 100; i++) {
  const [subs] = await jam.api.EmailSubmission.get({ accountId, properties: ["deliveryStatus"] });
  status = subs.list[0]?.deliveryStatus?.[user];
  if (status?.delivered === "yes") break;
  await sleep(100);
}
out.deliveryStatus = status ? `${status.delivered}; ${status.smtpReply}; ${status.displayed}` : "";

// Undo send: two messages held for 5 s (FUTURERELEASE's HOLDFOR,
// RFC 4865, in the envelope), one canceled at once. After the hold the
// kept one has arrived once and the canceled one never.
const identityId = ident.list[0].id;
const held = (subject) => ({
  mailboxIds: { [drafts.id]: true }, from: [{ email: user }], to: [{ email: user }], subject,
  textBody: [{ partId: "1", type: "text/plain" }], bodyValues: { "1": { value: subject } },
});
const envelope = { mailFrom: { email: user, parameters: { HOLDFOR: "5" } }, rcptTo: [{ email: user }] };
const [holdRes] = await jam.requestMany((t) => {
  const create = t.Email.set({ accountId, create: { k: held("undo kept"), c: held("undo canceled") } });
  const submit = t.EmailSubmission.set({ accountId, create: {
    k: { identityId, emailId: "#k", envelope }, c: { identityId, emailId: "#c", envelope },
  } });
  return { create, submit };
});
const subs = holdRes.submit.created;
out.heldStatus = [subs.k.undoStatus, subs.c.undoStatus];
const [cancel] = await jam.api.EmailSubmission.set({ accountId, update: { [subs.c.id]: { undoStatus: "canceled" } } });
out.canceled = Object.keys(cancel.updated ?? {}).includes(subs.c.id);
const inInbox = async (subject) => {
  const [q] = await jam.api.Email.query({ accountId, filter: { inMailbox: inbox.id, subject } });
  return q.ids.length;
};
for (let i = 0; i < 150 && (await inInbox("undo kept")) === 0; i++) await sleep(200);
// Past the canceled one's sendAt, with time for a delivery to land.
const settle = Date.parse(subs.c.sendAt) + 3000;
while (Date.now() < settle) await sleep(200);
out.keptArrived = await inInbox("undo kept");
out.canceledArrived = await inInbox("undo canceled");
const [after] = await jam.api.EmailSubmission.get({ accountId, ids: [subs.k.id, subs.c.id] });
out.afterStatus = after.list.map((s) => s.undoStatus);
const [canceledQ] = await jam.api.EmailSubmission.query({ accountId, filter: { undoStatus: "canceled" } });
out.canceledQuery = canceledQ.ids.length === 1 && canceledQ.ids[0] === subs.c.id;
const [late] = await jam.api.EmailSubmission.set({ accountId, update: { [subs.k.id]: { undoStatus: "canceled" } } });
out.lateCancel = late.notUpdated?.[subs.k.id]?.type;

// An error from the server reaches the client as the RFC's error.
try {
  await jam.api.Email.changes({ accountId, sinceState: "not-a-state" });
  out.changesError = "none";
} catch (e) {
  out.changesError = e.type;
}
console.log(JSON.stringify(out));
