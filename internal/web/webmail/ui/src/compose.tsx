// Writing: new messages, replies and forwards, in HTML or plain text,
// saved as drafts through Email/set while they are written, with
// attachments uploaded as blobs.
import { signal } from "@preact/signals";
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { remember, suggest } from "./contacts";
import type { Address, Draft, Email } from "./jmap";
import { parseInert } from "./html";
import { fill, formats, size, t } from "./i18n";
import { escapeHTML, htmlDocument, htmlToText, safeHref, sanitize, textToHtml } from "./richtext";
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
  bcc: string;
  subject: string;
  // body is HTML (the editor's, not yet sanitised) when html is set, else
  // plain text.
  html: boolean;
  body: string;
  inReplyTo: string[] | null;
  references: string[] | null;
  attachments: Attachment[];
  uploading: number;
  draftId: string | null;
  sending: boolean;
  // gen tells one opening of the editor from the next.
  gen: number;
}

export const composing = signal<Composing | null>(null);

// undoSend is how long a sent message can be taken back, in seconds.
const undoSend = 10;

export type Kind = "new" | "reply" | "replyAll" | "forward" | "forwardAttached";

// opened counts the openings of the editor, for Composing.gen.
let opened = 0;

// The format new messages start in: the last one chosen, HTML at first.
const htmlPreferred = () => localStorage.getItem("compose") !== "text";

const list = (a: Address[] | null) => (a ?? []).map((x) => (x.name ? `"${x.name.replace(/"/g, "")}" <${x.email}>` : x.email)).join(", ");

function prefixed(prefix: string, subject: string | null): string {
  const s = subject ?? "";
  return s.toLowerCase().startsWith(prefix.toLowerCase()) ? s : `${prefix} ${s}`;
}

function htmlValue(e: Email): string {
  const html = e.htmlBody.find((p) => p.type === "text/html");
  return html?.partId ? e.bodyValues[html.partId]?.value ?? "" : "";
}

function bodyText(e: Email): string {
  const text = e.textBody.map((p) => (p.partId ? e.bodyValues[p.partId]?.value ?? "" : "")).join("\n");
  if (text.trim() !== "") return text;
  // An HTML-only message: its text, as the browser reads it.
  return parseInert(htmlValue(e)).body.textContent ?? "";
}

// resumeDraft opens a saved draft in the editor again, in its format.
// Its attachments are parts of the draft, whose blobs go with it when it
// is replaced: they are uploaded again first (RFC 8620 §6.1).
export async function resumeDraft(e: Email): Promise<void> {
  const c = client.value;
  if (!c) return;
  let attachments: Attachment[];
  try {
    attachments = await Promise.all(e.attachments.filter((a) => a.blobId).map(async (a) => {
      const name = a.name ?? "attachment";
      const b = await c.upload(await c.download(a.blobId ?? "", name, a.type));
      return { blobId: b.blobId, type: a.type, name, size: b.size };
    }));
  } catch (err) {
    fail(err);
    return;
  }
  const from = new Set((e.from ?? []).map((a) => a.email.toLowerCase()));
  const me = identities.value.find((i) => from.has(i.email.toLowerCase())) ?? identities.value[0];
  const html = htmlValue(e);
  dirty = false;
  composing.value = {
    identityId: me?.id ?? "", to: list(e.to), cc: list(e.cc), bcc: list(e.bcc), subject: e.subject ?? "",
    html: html.trim() !== "", body: html.trim() !== "" ? sanitize(html) : bodyText(e),
    inReplyTo: e.inReplyTo, references: e.references, attachments, uploading: 0, draftId: e.id, sending: false, gen: ++opened,
  };
}

// bodyHTML is the original for quoting in HTML: its HTML sanitised (it
// goes into the editor, in the app's own page), or else its text.
function bodyHTML(e: Email): string {
  const v = htmlValue(e);
  return v.trim() !== "" ? sanitize(v) : textToHtml(bodyText(e).replace(/\n$/, ""));
}

// signature is the first identity's, in the message's format (RFC 8621
// §6: textSignature, htmlSignature), after the "-- " line of RFC 3676 §4.3.
function signature(html: boolean): string {
  const me = identities.value[0];
  const text = me?.textSignature?.trim() ? me.textSignature : "";
  const rich = me?.htmlSignature?.trim() ? sanitize(me.htmlSignature) : "";
  if (!html) return text ? `\n\n-- \n${text}` : "";
  if (!rich && !text) return "";
  return "<div><br></div><div>-- </div>" + (rich || textToHtml(text));
}

// startCompose opens the editor, filled in for a reply or a forward of e
// (RFC 5322 §3.6.4 for In-Reply-To and References). The signature comes
// after the new text, above what is quoted or forwarded.
export function startCompose(kind: Kind, e?: Email | null): void {
  const me = identities.value[0];
  const html = htmlPreferred();
  const sig = signature(html);
  const base: Composing = {
    identityId: me?.id ?? "", to: "", cc: "", bcc: "", subject: "", html, body: html ? "<div><br></div>" + sig : sig,
    inReplyTo: null, references: null, attachments: [], uploading: 0, draftId: null, sending: false, gen: ++opened,
  };
  dirty = false;
  if (!e || kind === "new") {
    composing.value = base;
    return;
  }
  const who = list(e.from);
  const when = formats.value.long.format(new Date(e.sentAt ?? e.receivedAt));
  // A new paragraph to write in, the signature, then the original.
  const top = html ? "<div><br></div>" + sig + "<div><br></div>" : sig + "\n\n";
  if (kind === "forwardAttached") {
    composing.value = {
      ...base, subject: prefixed("Fwd:", e.subject),
      attachments: [{ blobId: e.blobId, type: "message/rfc822", name: `${(e.subject ?? "").replace(/[\\/:*?"<>|]/g, "_") || "message"}.eml`, size: e.size }],
    };
    return;
  }
  if (kind === "forward") {
    const head = [`---------- ${t.value.forwarded} ----------`, `${t.value.from}: ${who}`, `${t.value.date}: ${when}`,
      `${t.value.subject}: ${e.subject ?? ""}`, `${t.value.to}: ${list(e.to)}`];
    composing.value = {
      ...base, subject: prefixed("Fwd:", e.subject),
      body: top + (html ? head.map((l) => `<div>${escapeHTML(l)}</div>`).join("") + "<div><br></div>" + bodyHTML(e) : head.join("\n") + "\n\n" + bodyText(e)),
      attachments: e.attachments.filter((a) => a.blobId).map((a) => ({ blobId: a.blobId ?? "", type: a.type, name: a.name ?? "attachment", size: a.size })),
    };
    return;
  }
  const self = new Set(identities.value.map((i) => i.email.toLowerCase()));
  const notSelf = (a: Address[] | null) => (a ?? []).filter((x) => !self.has(x.email.toLowerCase()));
  const replyTo = e.replyTo && e.replyTo.length > 0 ? e.replyTo : e.from;
  const to = kind === "replyAll" ? [...(replyTo ?? []), ...notSelf(e.to)] : replyTo ?? [];
  const wrote = fill(t.value.wrote, { date: when, who });
  composing.value = {
    ...base,
    to: list(to), cc: kind === "replyAll" ? list(notSelf(e.cc)) : "",
    subject: prefixed("Re:", e.subject),
    body: top + (html
      ? `<div>${escapeHTML(wrote)}</div><blockquote type="cite">${bodyHTML(e)}</blockquote>`
      : wrote + "\n" + bodyText(e).split("\n").map((l) => "> " + l).join("\n")),
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
  const html = c.html ? sanitize(c.body) : null;
  return {
    from: { name: me.name || null, email: me.email }, to: addresses(c.to), cc: addresses(c.cc), bcc: addresses(c.bcc),
    subject: c.subject, body: html === null ? c.body : htmlToText(html), html: html === null ? null : htmlDocument(html),
    inReplyTo: c.inReplyTo, references: c.references, attachments: c.attachments,
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
  // A message opened and left without a word is not worth a draft.
  if (!d || (!cur.draftId && !cur.to.trim() && !cur.cc.trim() && !cur.bcc.trim() && !cur.subject.trim() &&
    d.body.trim() === "" && cur.attachments.length === 0)) return;
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
  remember(c, [...d.to, ...d.cc, ...d.bcc]);
  const drafts = roleBox("drafts");
  if (sent.pending && drafts) {
    say(fill(t.value.sendingIn, { n: undoSend }), async () => {
      await c.cancel(sent.submissionId, sent.emailId, drafts.id);
      composing.value = { ...sending, sending: false, draftId: sent.emailId };
    }, undoSend * 1000);
  } else say(t.value.sent);
  await refreshMailboxes();
}

// setFormat switches between HTML and plain text, converting what is
// written; the choice is kept for the next message.
function setFormat(html: boolean): void {
  const c = composing.value;
  if (!c || c.html === html) return;
  localStorage.setItem("compose", html ? "html" : "text");
  edit({ html, body: html ? textToHtml(c.body) : htmlToText(sanitize(c.body)).replace(/\n$/, "") });
}

// The rich-text editor: a contenteditable element, written to once when
// it appears (so typing never moves the caret) and read on every input.
// The toolbar applies execCommand to the selection last made in it.
let range: Range | null = null;

function saveRange(editor: HTMLElement | null): void {
  const sel = getSelection();
  if (editor && sel && sel.rangeCount > 0 && editor.contains(sel.anchorNode)) range = sel.getRangeAt(0);
}

function command(editor: HTMLElement | null, name: string, value?: string): void {
  if (!editor) return;
  editor.focus();
  const sel = getSelection();
  if (range && sel && editor.contains(range.startContainer)) {
    sel.removeAllRanges();
    sel.addRange(range);
  }
  document.execCommand(name, false, value);
  saveRange(editor);
}

function link(editor: HTMLElement | null): void {
  saveRange(editor);
  const url = prompt(t.value.linkAddress, "https://")?.trim();
  if (!url || url === "https://") return;
  const href = safeHref(url) ? url : url.includes("@") && !url.includes(":") ? "mailto:" + url : "https://" + url.replace(/^[a-z]+:\/*/i, "");
  if (range && !range.collapsed) command(editor, "createLink", href);
  else command(editor, "insertHTML", `<a href="${escapeHTML(href)}">${escapeHTML(url)}</a>`);
}

function quote(editor: HTMLElement | null): void {
  command(editor, "formatBlock", states["quote"]?.() ? "div" : "blockquote");
}

// states tells which toolbar buttons are on where the caret is.
const states: Record<string, () => boolean> = {
  bold: () => document.queryCommandState("bold"),
  italic: () => document.queryCommandState("italic"),
  underline: () => document.queryCommandState("underline"),
  ul: () => document.queryCommandState("insertUnorderedList"),
  ol: () => document.queryCommandState("insertOrderedList"),
  quote: () => String(document.queryCommandValue("formatBlock")).toLowerCase() === "blockquote",
};

function Editor({ body }: { body: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [on, setOn] = useState("");
  const tr = t.value;
  useEffect(() => {
    if (ref.current) ref.current.innerHTML = body;
    document.execCommand("styleWithCSS", false, "false");
    document.execCommand("defaultParagraphSeparator", false, "div");
    range = null;
    const watch = () => {
      const sel = getSelection();
      if (ref.current && sel && ref.current.contains(sel.anchorNode)) setOn(Object.keys(states).filter((k) => states[k]?.()).join(" "));
    };
    document.addEventListener("selectionchange", watch);
    return () => document.removeEventListener("selectionchange", watch);
  }, []);
  const tools: [string, string, () => void][] = [
    ["bold", tr.bold, () => command(ref.current, "bold")],
    ["italic", tr.italic, () => command(ref.current, "italic")],
    ["underline", tr.underline, () => command(ref.current, "underline")],
    ["ul", tr.bulletList, () => command(ref.current, "insertUnorderedList")],
    ["ol", tr.numberedList, () => command(ref.current, "insertOrderedList")],
    ["link", tr.link, () => link(ref.current)],
    ["quote", tr.quote, () => quote(ref.current)],
  ];
  const pressed = new Set(on.split(" "));
  const sync = () => { if (ref.current) edit({ body: ref.current.innerHTML }); };
  return (
    <>
      <div class="tools" role="toolbar" aria-label={tr.formatting}>
        {tools.map(([k, label, f]) => (
          <button key={k} type="button" class={"tool-" + k} title={label} aria-label={label}
            aria-pressed={k in states ? pressed.has(k) : undefined} onMouseDown={(ev) => ev.preventDefault()} onClick={f}>{toolIcons[k]}</button>
        ))}
      </div>
      <div ref={ref} id="body" class="editor" contentEditable role="textbox" aria-multiline="true" aria-label={tr.write}
        onInput={sync} onKeyUp={() => saveRange(ref.current)} onMouseUp={() => saveRange(ref.current)}
        onKeyDown={(ev) => {
          if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "k") { ev.preventDefault(); link(ref.current); }
        }}
        onPaste={(ev) => {
          // Pasted HTML goes in sanitised, as it will go out.
          const d = ev.clipboardData;
          if (!d) return;
          ev.preventDefault();
          const h = d.getData("text/html");
          if (h) document.execCommand("insertHTML", false, sanitize(h));
          else document.execCommand("insertText", false, d.getData("text/plain"));
        }} />
    </>
  );
}

const toolIcons: Record<string, JSX.Element | string> = {
  bold: <b>B</b>, italic: <i>I</i>, underline: <u>U</u>, ul: "•", ol: "1.", quote: "❝",
  // A chain: drawn, as not every system has an emoji font.
  link: (
    <svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" aria-hidden="true">
      <path d="M10 14a4.5 4.5 0 0 0 6.4 0l3.2-3.2a4.5 4.5 0 0 0-6.4-6.4L12 5.6M14 10a4.5 4.5 0 0 0-6.4 0l-3.2 3.2a4.5 4.5 0 0 0 6.4 6.4l1.2-1.2" />
    </svg>
  ),
};

// AddressField is a To, Cc or Bcc input that suggests, for the address
// being typed (after the last comma), people mail was exchanged with; the
// arrows move in the list, Enter or Tab takes one, Escape closes it
// (WAI-ARIA combobox pattern).
function AddressField({ id, label, value, required = false }: { id: "to" | "cc" | "bcc"; label: string; value: string; required?: boolean }) {
  const [options, setOptions] = useState<Address[]>([]);
  const [active, setActive] = useState(0);
  const asked = useRef(0);
  const ask = async (v: string) => {
    const c = client.value;
    if (!c) return;
    const n = ++asked.current;
    const token = v.slice(v.lastIndexOf(",") + 1);
    const have = new Set(addresses(v).map((a) => a.email.toLowerCase()));
    const found = await suggest(c, token, have);
    if (n !== asked.current) return;
    setOptions(found);
    setActive(0);
  };
  const pick = (a: Address) => {
    const v = value.slice(0, value.lastIndexOf(",") + 1);
    edit({ [id]: (v.trim() === "" ? "" : v.trimEnd() + " ") + list([a]) + ", " });
    asked.current++;
    setOptions([]);
  };
  const open = options.length > 0;
  return (
    <>
      <label for={id}>{label}</label>
      <div class="addr">
        <input id={id} name={id} type="text" autocomplete="off" required={required} value={value}
          role="combobox" aria-autocomplete="list" aria-expanded={open} aria-controls={id + "-list"}
          aria-activedescendant={open ? `${id}-opt-${active}` : undefined}
          onInput={(ev) => { const v = ev.currentTarget.value; edit({ [id]: v }); void ask(v); }}
          onBlur={() => { asked.current++; setOptions([]); }}
          onKeyDown={(ev) => {
            if (!open) return;
            if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
              ev.preventDefault();
              setActive((active + (ev.key === "ArrowDown" ? 1 : options.length - 1)) % options.length);
            } else if (ev.key === "Enter" || ev.key === "Tab") {
              const a = options[active];
              if (a) { ev.preventDefault(); pick(a); }
            } else if (ev.key === "Escape") {
              ev.stopPropagation();
              asked.current++;
              setOptions([]);
            }
          }} />
        {open && (
          <ul id={id + "-list"} class="suggest" role="listbox" aria-label={label}>
            {options.map((a, i) => (
              <li key={a.email} id={`${id}-opt-${i}`} role="option" aria-selected={i === active} class={i === active ? "on" : ""}
                onMouseDown={(ev) => { ev.preventDefault(); pick(a); }}>
                {a.name ? <>{a.name} <small>{a.email}</small></> : a.email}
              </li>
            ))}
          </ul>
        )}
      </div>
    </>
  );
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
  const text = (field: "subject" | "body") => (ev: Event) => edit({ [field]: (ev.currentTarget as HTMLInputElement).value });
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
      <AddressField id="to" label={tr.to} value={c.to} required />
      <AddressField id="cc" label={tr.cc} value={c.cc} />
      <AddressField id="bcc" label={tr.bcc} value={c.bcc} />
      <label for="subject">{tr.subject}</label>
      <input id="subject" name="subject" type="text" value={c.subject} onInput={text("subject")} />
      <label class="check format">
        <input type="checkbox" id="plain" checked={!c.html} onChange={(ev) => setFormat(!ev.currentTarget.checked)} />
        {tr.plainText}
      </label>
      {c.html
        ? <Editor key={c.gen} body={c.body} />
        : <textarea id="body" name="body" rows={14} aria-label={tr.write} value={c.body} onInput={text("body")} />}
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
