// The reading pane: headers, attachments and the body, HTML mail in a
// sandboxed srcdoc frame (see html.ts); in conversations, every message
// of the thread, oldest first.
import { zipSync } from "fflate";
import type { BodyPart, Email } from "./jmap";
import { frameDocument } from "./html";
import { fill, formats, size, t } from "./i18n";
import {
  allowedSenders, client, closeMessage, conversation, cursorId, fail, forgetSender, imagesShownFor, open, say, showImages,
} from "./state";
import { Actions } from "./actions";

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function download(a: BodyPart): Promise<void> {
  const c = client.value;
  if (!c || !a.blobId) return;
  try {
    save(await c.download(a.blobId, a.name ?? "attachment", a.type), a.name ?? "attachment");
  } catch (err) {
    fail(err);
  }
}

// downloadAll fetches every attachment through the JMAP download URL and
// zips them here, in the browser: the server needs no zip of its own.
// They are stored, not compressed: most attachments already are.
async function downloadAll(e: Email): Promise<void> {
  const c = client.value;
  if (!c) return;
  say(t.value.zipping);
  try {
    const files: Record<string, Uint8Array> = {};
    for (const a of e.attachments) {
      if (!a.blobId) continue;
      const name = unique(files, (a.name ?? t.value.attachment).replace(/[/\\]/g, "_"));
      files[name] = new Uint8Array(await (await c.download(a.blobId, name, a.type)).arrayBuffer());
    }
    const zip = zipSync(files, { level: 0 });
    save(new Blob([zip as Uint8Array<ArrayBuffer>], { type: "application/zip" }), `${(e.subject || "attachments").replace(/[^\p{L}\p{N} ._-]/gu, "_").slice(0, 60)}.zip`);
  } catch (err) {
    fail(err);
  }
}

// unique names a second "a.pdf" "a (2).pdf".
function unique(taken: Record<string, unknown>, name: string): string {
  if (!(name in taken)) return name;
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let i = 2; ; i++) {
    const n = `${stem} (${i})${ext}`;
    if (!(n in taken)) return n;
  }
}

const who = (a: Email["from"]) => (a ?? []).map((x) => (x.name ? `${x.name} <${x.email}>` : x.email)).join(", ");

function Body({ e }: { e: Email }) {
  const tr = t.value;
  const html = e.htmlBody.find((p) => p.type === "text/html");
  const htmlValue = html?.partId ? e.bodyValues[html.partId]?.value : undefined;
  if (!htmlValue) {
    return <pre>{e.textBody.map((p) => (p.partId ? e.bodyValues[p.partId]?.value ?? "" : "")).join("\n")}</pre>;
  }
  const sender = e.from?.[0]?.email.toLowerCase() ?? "";
  const trusted = sender !== "" && allowedSenders.value.has(sender);
  const images = trusted || imagesShownFor.value.has(e.id);
  const { doc, remote } = frameDocument(htmlValue, images);
  return (
    <>
      <p class="images" role="note">
        {!images && remote > 0 ? (
          <>
            <small>{tr.htmlNote}</small>{" "}
            <button type="button" class="show-images" onClick={() => void showImages(e, false)}>{tr.showImages}</button>{" "}
            {sender && client.value?.session?.account && <button type="button" class="always-images" onClick={() => void showImages(e, true)}>{fill(tr.alwaysImages, { who: sender })}</button>}
          </>
        ) : images && remote > 0 ? (
          <>
            <small>{tr.imagesShown}</small>{" "}
            {trusted && <button type="button" class="never-images" onClick={() => void forgetSender(sender)}>{fill(tr.neverImages, { who: sender })}</button>}
          </>
        ) : <small>{tr.htmlNote}</small>}
      </p>
      <iframe key={images ? "images" : "blocked"} title={e.subject ?? ""} sandbox="allow-popups allow-popups-to-escape-sandbox"
        referrerpolicy="no-referrer" srcdoc={doc} />
    </>
  );
}

function Message({ e, title }: { e: Email; title: boolean }) {
  const tr = t.value;
  return (
    <section class="one" data-id={e.id} aria-label={`${tr.from} ${who(e.from)}`}>
      {title && <h2>{e.subject || tr.noSubject}</h2>}
      <dl class="hdr">
        <dt>{tr.from}</dt><dd>{who(e.from)}</dd>
        <dt>{tr.to}</dt><dd>{who(e.to)}</dd>
        {e.cc && e.cc.length > 0 && <><dt>{tr.cc}</dt><dd>{who(e.cc)}</dd></>}
        <dt>{tr.date}</dt><dd>{formats.value.long.format(new Date(e.sentAt ?? e.receivedAt))}</dd>
      </dl>
      {e.attachments.length > 0 && (
        <ul class="atts" aria-label={tr.attachments}>
          {e.attachments.map((a, i) => (
            <li key={i}>
              <button type="button" onClick={() => void download(a)}>{a.name ?? tr.attachment}</button> <small>{size(a.size)}</small>
            </li>
          ))}
          {e.attachments.length > 1 && (
            <li><button type="button" class="zip" onClick={() => void downloadAll(e)}>{tr.downloadAll}</button></li>
          )}
        </ul>
      )}
      <Body e={e} />
    </section>
  );
}

export function Reader() {
  const e = open.value;
  const tr = t.value;
  if (!e) return <div class="msg empty-msg"><p>{cursorId.value ? tr.loading : tr.pick}</p></div>;
  const thread = conversation.value.some((m) => m.id === e.id) ? conversation.value : [e];
  return (
    <article class={thread.length > 1 ? "msg conversation" : "msg"} aria-label={e.subject ?? tr.noSubject}>
      <div class="bar">
        <button type="button" class="back" onClick={closeMessage}>{tr.back}</button>
        <Actions reading />
      </div>
      {thread.length > 1 && <h2>{e.subject || tr.noSubject} <small>{fill(tr.inThread, { n: thread.length })}</small></h2>}
      {thread.map((m) => <Message key={m.id} e={m} title={thread.length === 1} />)}
    </article>
  );
}
