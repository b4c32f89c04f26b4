// The reading pane: headers, attachments and the body, HTML mail in a
// sandboxed srcdoc frame (see html.ts).
import type { BodyPart, Email } from "./jmap";
import { frameDocument } from "./html";
import { formats, size, t } from "./i18n";
import { client, closeMessage, cursorId, fail, open } from "./state";
import { Actions } from "./actions";

async function download(a: BodyPart): Promise<void> {
  const c = client.value;
  if (!c || !a.blobId) return;
  try {
    const blob = await c.download(a.blobId, a.name ?? "attachment", a.type);
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = a.name ?? "attachment";
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    fail(err);
  }
}

const who = (a: Email["from"]) => (a ?? []).map((x) => (x.name ? `${x.name} <${x.email}>` : x.email)).join(", ");

export function Reader() {
  const e = open.value;
  const tr = t.value;
  if (!e) return <div class="msg empty-msg"><p>{cursorId.value ? tr.loading : tr.pick}</p></div>;
  const html = e.htmlBody.find((p) => p.type === "text/html");
  const htmlValue = html?.partId ? e.bodyValues[html.partId]?.value : undefined;
  const text = e.textBody.map((p) => (p.partId ? e.bodyValues[p.partId]?.value ?? "" : "")).join("\n");
  return (
    <article class="msg" aria-label={e.subject ?? tr.noSubject}>
      <div class="bar">
        <button type="button" class="back" onClick={closeMessage}>{tr.back}</button>
        <Actions reading />
      </div>
      <h2>{e.subject || tr.noSubject}</h2>
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
        </ul>
      )}
      {htmlValue ? (
        <>
          <small>{tr.htmlNote}</small>
          <iframe title={e.subject ?? ""} sandbox="allow-popups allow-popups-to-escape-sandbox"
            referrerpolicy="no-referrer" srcdoc={frameDocument(htmlValue)} />
        </>
      ) : (
        <pre>{text}</pre>
      )}
    </article>
  );
}
