// Writing: new messages, replies and forwards, saved as drafts through
// Email/set while they are written, with attachments uploaded as blobs.
import { signal } from "@preact/signals";
import { useRef } from "preact/hooks";
import type { Address, Draft, Email } from "./jmap";
import { fill, formats, size, t } from "./i18n";
import { client, fail, identities, mailboxes, refreshMailboxes, roleBox, say } from "./state";

interface Attachment {
  blobId: string;
  type: string;
  name: string;
  size: number;
}

export interface Composing {
  identityId: string;
  to: string;
  cc: string;
  subject: string;
  body: string;
  inReplyTo: string[] | null;
  references: string[] | null;
  attachments: Attachment[];
  uploading: number;
  draftId: string | null;
  sending: boolean;
}

export const composing = signal<Composing | null>(null);

// undoSend is how long a sent message can be taken back, in seconds.
const undoSend = 10;

export type Kind = "new" | "reply" | "replyAll" | "forward";

const list = (a: Address[] | null) => (a ?? []).map((x) => (x.name ? `"${x.name.replace(/"/g, "")}" <${x.email}>` : x.email)).join(", ");

function prefixed(prefix: string, subject: string | null): string {
  const s = subject ?? "";
  return s.toLowerCase().startsWith(prefix.toLowerCase()) ? s : `${prefix} ${s}`;
}

function bodyText(e: Email): string {
  const text = e.textBody.map((p) => (p.partId ? e.bodyValues[p.partId]?.value ?? "" : "")).join("\n");
  if (text.trim() !== "") return text;
  // An HTML-only message: its text, as the browser reads it.
  const html = e.htmlBody.find((p) => p.type === "text/html");
  const v = html?.partId ? e.bodyValues[html.partId]?.value ?? "" : "";
  return new DOMParser().parseFromString(v, "text/html").body.textContent ?? "";
}

// startCompose opens the editor, filled in for a reply or a forward of e
// (RFC 5322 §3.6.4 for In-Reply-To and References).
export function startCompose(kind: Kind, e?: Email | null): void {
  const me = identities.value[0];
  const base: Composing = {
    identityId: me?.id ?? "", to: "", cc: "", subject: "", body: me?.textSignature ? `\n\n-- \n${me.textSignature}` : "",
    inReplyTo: null, references: null, attachments: [], uploading: 0, draftId: null, sending: false,
  };
  dirty = false;
  if (!e || kind === "new") {
    composing.value = base;
    return;
  }
  const who = list(e.from);
  const when = formats.value.long.format(new Date(e.sentAt ?? e.receivedAt));
  if (kind === "forward") {
    const head = [`---------- ${t.value.forwarded} ----------`, `${t.value.from}: ${who}`, `${t.value.date}: ${when}`,
      `${t.value.subject}: ${e.subject ?? ""}`, `${t.value.to}: ${list(e.to)}`, "", ""].join("\n");
    composing.value = {
      ...base, subject: prefixed("Fwd:", e.subject), body: base.body + "\n\n" + head + bodyText(e),
      attachments: e.attachments.filter((a) => a.blobId).map((a) => ({ blobId: a.blobId ?? "", type: a.type, name: a.name ?? "attachment", size: a.size })),
    };
    return;
  }
  const self = new Set(identities.value.map((i) => i.email.toLowerCase()));
  const notSelf = (a: Address[] | null) => (a ?? []).filter((x) => !self.has(x.email.toLowerCase()));
  const replyTo = e.replyTo && e.replyTo.length > 0 ? e.replyTo : e.from;
  const to = kind === "replyAll" ? [...(replyTo ?? []), ...notSelf(e.to)] : replyTo ?? [];
  const quoted = bodyText(e).split("\n").map((l) => "> " + l).join("\n");
  composing.value = {
    ...base,
    to: list(to), cc: kind === "replyAll" ? list(notSelf(e.cc)) : "",
    subject: prefixed("Re:", e.subject),
    body: "\n\n" + fill(t.value.wrote, { date: when, who }) + "\n" + quoted + base.body,
    inReplyTo: e.messageId, references: [...(e.references ?? []), ...(e.messageId ?? [])],
  };
}

// addresses reads a comma-separated list of addresses, with or without a
// display name in front of <...>.
function addresses(s: string): Address[] {
  return s.split(",").map((a) => a.trim()).filter((a) => a !== "").map((a) => {
    const m = /^(.*)<([^>]+)>$/.exec(a);
    if (!m) return { name: null, email: a };
    const name = (m[1] ?? "").trim().replace(/^"|"$/g, "");
    return { name: name || null, email: (m[2] ?? "").trim() };
  });
}

function draft(c: Composing): Draft | null {
  const me = identities.value.find((i) => i.id === c.identityId) ?? identities.value[0];
  if (!me) return null;
  return {
    from: { name: me.name || null, email: me.email }, to: addresses(c.to), cc: addresses(c.cc),
    subject: c.subject, body: c.body, inReplyTo: c.inReplyTo, references: c.references,
    attachments: c.attachments,
  };
}

// Drafts are saved a moment after the last change, and on closing.
let saveTimer = 0;
let saving: Promise<void> = Promise.resolve();
let dirty = false;

function edit(patch: Partial<Composing>): void {
  if (!composing.value) return;
  composing.value = { ...composing.value, ...patch };
  dirty = true;
  clearTimeout(saveTimer);
  saveTimer = window.setTimeout(() => { saving = saveDraft(composing.value); }, 1500);
}

async function saveDraft(cur: Composing | null): Promise<void> {
  const c = client.value;
  const drafts = roleBox("drafts");
  if (!c || !cur || !drafts || cur.sending || !dirty) return;
  const d = draft(cur);
  if (!d) return;
  dirty = false;
  try {
    const id = await c.saveDraft(drafts.id, d, cur.draftId);
    if (composing.value) composing.value = { ...composing.value, draftId: id };
  } catch (err) {
    dirty = true;
    fail(err);
  }
}

function close(): void {
  clearTimeout(saveTimer);
  const cur = composing.value;
  composing.value = null;
  saving = saveDraft(cur).then(refreshMailboxes);
}

async function upload(files: FileList | File[]): Promise<void> {
  const c = client.value;
  if (!c) return;
  for (const f of Array.from(files)) {
    edit({ uploading: (composing.value?.uploading ?? 0) + 1 });
    try {
      const b = await c.upload(f);
      const cur = composing.value;
      if (cur) edit({ attachments: [...cur.attachments, { blobId: b.blobId, type: f.type || b.type, name: f.name, size: b.size }] });
    } catch (err) {
      fail(err);
    } finally {
      edit({ uploading: (composing.value?.uploading ?? 1) - 1 });
    }
  }
}

async function send(): Promise<void> {
  const c = client.value;
  const cur = composing.value;
  if (!c || !cur) return;
  clearTimeout(saveTimer);
  dirty = false;
  await saving;
  const me = identities.value.find((i) => i.id === cur.identityId) ?? identities.value[0];
  const d = draft(composing.value ?? cur);
  if (!me || !d) return;
  const sending = { ...(composing.value ?? cur), sending: true };
  composing.value = sending;
  // Undo send: held by the server for undoSend seconds when it can hold.
  const hold = (c.session?.maxDelayedSend ?? 0) >= undoSend ? undoSend : 0;
  let sent: { emailId: string; submissionId: string; pending: boolean };
  try {
    sent = await c.send(mailboxes.value, me, d, sending.draftId, hold);
  } catch (err) {
    fail(err);
    if (composing.value === sending) composing.value = { ...sending, sending: false };
    return;
  }
  // The editor may have been closed, or another opened, meanwhile.
  if (composing.value === sending) composing.value = null;
  const drafts = roleBox("drafts");
  if (sent.pending && drafts) {
    say(fill(t.value.sendingIn, { n: undoSend }), async () => {
      await c.cancel(sent.submissionId, sent.emailId, drafts.id);
      composing.value = { ...sending, sending: false, draftId: sent.emailId };
    }, undoSend * 1000);
  } else say(t.value.sent);
  await refreshMailboxes();
}

export function Compose() {
  const c = composing.value;
  const fileInput = useRef<HTMLInputElement>(null);
  if (!c) return null;
  const tr = t.value;
  const drop = (ev: DragEvent) => {
    ev.preventDefault();
    if (ev.dataTransfer?.files.length) void upload(ev.dataTransfer.files);
  };
  const text = (field: "to" | "cc" | "subject" | "body") => (ev: Event) => edit({ [field]: (ev.currentTarget as HTMLInputElement).value });
  return (
    <form class="compose" aria-label={tr.write} onSubmit={(ev) => { ev.preventDefault(); void send(); }}
      onDragOver={(ev) => ev.preventDefault()} onDrop={drop}>
      {identities.value.length > 1 && (
        <>
          <label for="identity">{tr.identity}</label>
          <select id="identity" value={c.identityId} onChange={(ev) => edit({ identityId: ev.currentTarget.value })}>
            {identities.value.map((i) => <option key={i.id} value={i.id}>{i.name ? `${i.name} <${i.email}>` : i.email}</option>)}
          </select>
        </>
      )}
      <label for="to">{tr.to}</label>
      <input id="to" name="to" type="text" autocomplete="email" required value={c.to} onInput={text("to")} />
      <label for="cc">{tr.cc}</label>
      <input id="cc" name="cc" type="text" autocomplete="email" value={c.cc} onInput={text("cc")} />
      <label for="subject">{tr.subject}</label>
      <input id="subject" name="subject" type="text" value={c.subject} onInput={text("subject")} />
      <textarea id="body" name="body" rows={14} aria-label={tr.write} value={c.body} onInput={text("body")} />
      <div class="drop" aria-hidden="true">{tr.dropHere}</div>
      {(c.attachments.length > 0 || c.uploading > 0) && (
        <ul class="atts" aria-label={tr.attachments}>
          {c.attachments.map((a, i) => (
            <li key={a.blobId + i}>
              {a.name} <small>{size(a.size)}</small>{" "}
              <button type="button" onClick={() => edit({ attachments: c.attachments.filter((_, k) => k !== i) })}>{tr.remove}</button>
            </li>
          ))}
          {c.uploading > 0 && <li class="uploading">{tr.uploading}</li>}
        </ul>
      )}
      <input ref={fileInput} id="files" type="file" multiple hidden
        onChange={(ev) => { const f = ev.currentTarget.files; if (f) void upload(Array.from(f)); ev.currentTarget.value = ""; }} />
      <div class="bar">
        <button type="submit" disabled={c.sending || c.uploading > 0}>{c.sending ? tr.sending : tr.send}</button>
        <button type="button" onClick={() => fileInput.current?.click()}>{tr.attach}</button>
        <button type="button" onClick={close}>{tr.close}</button>
        {c.draftId && <small class="saved" role="status">{tr.draftSaved}</small>}
      </div>
    </form>
  );
}
