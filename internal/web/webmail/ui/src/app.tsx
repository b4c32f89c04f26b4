import { signal, computed } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { AuthError, Client, type Email, type EmailSummary, type Mailbox } from "./jmap";
import { frameDocument } from "./html";
import { lang, t } from "./i18n";

const pageSize = 50;

const client = signal<Client | null>(null);
const error = signal("");
const mailboxes = signal<Mailbox[]>([]);
const mailboxId = signal<string | null>(null);
const emails = signal<EmailSummary[]>([]);
const total = signal(0);
const selected = signal<string | null>(null);
const open = signal<Email | null>(null);
const composing = signal(false);
const notice = signal("");
const selectedIndex = computed(() => emails.value.findIndex((e) => e.id === selected.value));

const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short" });

function fail(err: unknown): void {
  error.value = t.failed + (err instanceof Error ? err.message : String(err));
}

async function signIn(user: string, password: string): Promise<void> {
  const c = new Client(user, password);
  try {
    await c.connect();
  } catch (err) {
    error.value = err instanceof AuthError ? t.badLogin : t.failed + String(err);
    return;
  }
  error.value = "";
  client.value = c;
  await refreshMailboxes();
  const inbox = mailboxes.value.find((m) => m.role === "inbox") ?? mailboxes.value[0];
  if (inbox) await selectMailbox(inbox.id);
}

async function refreshMailboxes(): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    mailboxes.value = await c.mailboxes();
  } catch (err) {
    fail(err);
  }
}

async function selectMailbox(id: string): Promise<void> {
  const c = client.value;
  if (!c) return;
  mailboxId.value = id;
  emails.value = [];
  selected.value = null;
  open.value = null;
  try {
    const p = await c.page(id, 0, pageSize);
    total.value = p.total;
    emails.value = p.emails;
  } catch (err) {
    fail(err);
  }
}

async function loadMore(): Promise<void> {
  const c = client.value;
  const id = mailboxId.value;
  if (!c || !id) return;
  try {
    const p = await c.page(id, emails.value.length, pageSize);
    total.value = p.total;
    emails.value = [...emails.value, ...p.emails];
  } catch (err) {
    fail(err);
  }
}

async function openEmail(id: string): Promise<void> {
  const c = client.value;
  if (!c) return;
  selected.value = id;
  try {
    const e = await c.email(id);
    if (selected.value !== id) return;
    open.value = e;
    if (e && !e.keywords["$seen"]) {
      await c.markSeen(id);
      emails.value = emails.value.map((m) => (m.id === id ? { ...m, keywords: { ...m.keywords, $seen: true } } : m));
      await refreshMailboxes();
    }
  } catch (err) {
    fail(err);
  }
}

function move(delta: number): void {
  const next = emails.value[selectedIndex.value + delta] ?? (selectedIndex.value < 0 ? emails.value[0] : undefined);
  if (next) void openEmail(next.id);
}

async function send(form: HTMLFormElement): Promise<void> {
  const c = client.value;
  if (!c) return;
  const f = new FormData(form);
  const to = String(f.get("to") ?? "").split(",").map((a) => a.trim()).filter((a) => a !== "");
  try {
    await c.send(mailboxes.value, to, String(f.get("subject") ?? ""), String(f.get("body") ?? ""));
  } catch (err) {
    fail(err);
    return;
  }
  error.value = "";
  composing.value = false;
  notice.value = t.sent;
  await refreshMailboxes();
}

function Compose() {
  const submit = (ev: Event) => {
    ev.preventDefault();
    void send(ev.currentTarget as HTMLFormElement);
  };
  return (
    <form class="compose" onSubmit={submit}>
      <label for="to">{t.to}</label>
      <input id="to" name="to" type="text" autocomplete="email" required />
      <label for="subject">{t.subject}</label>
      <input id="subject" name="subject" type="text" />
      <textarea id="body" name="body" rows={16} aria-label={t.write} />
      <div>
        <button type="submit">{t.send}</button>{" "}
        <button type="button" onClick={() => { composing.value = false; }}>{t.cancel}</button>
      </div>
    </form>
  );
}

function Login() {
  const submit = (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    void signIn(String(f.get("user") ?? ""), String(f.get("password") ?? ""));
  };
  return (
    <form class="login" onSubmit={submit}>
      <h1>{t.title}</h1>
      <label for="user">{t.address}</label>
      <input id="user" name="user" type="email" autocomplete="username" required />
      <label for="password">{t.password}</label>
      <input id="password" name="password" type="password" autocomplete="current-password" required />
      <button type="submit">{t.signIn}</button>
      {error.value && <p class="err" role="alert">{error.value}</p>}
    </form>
  );
}

function Mailboxes() {
  return (
    <ul class="boxes" aria-label={t.mailboxes}>
      {mailboxes.value.map((m) => (
        <li key={m.id} class={m.id === mailboxId.value ? "sel" : ""} onClick={() => void selectMailbox(m.id)}>
          {m.name}
          {m.unreadEmails > 0 && <span class="n">{m.unreadEmails}</span>}
        </li>
      ))}
    </ul>
  );
}

function List() {
  return (
    <ul class="list" aria-label={t.messages}>
      {emails.value.length === 0 && <li>{t.empty}</li>}
      {emails.value.map((e) => (
        <li key={e.id} class={(e.id === selected.value ? "sel " : "") + (e.keywords["$seen"] ? "" : "unread")}
          onClick={() => void openEmail(e.id)}>
          <span class="d">{dateFormat.format(new Date(e.receivedAt))}</span>
          <div class="f">{e.from?.[0]?.name || e.from?.[0]?.email}</div>
          <div class="s">{e.subject || t.noSubject}</div>
        </li>
      ))}
      {emails.value.length < total.value && <li><button class="more" onClick={() => void loadMore()}>{t.more}</button></li>}
    </ul>
  );
}

function Reader() {
  const e = open.value;
  if (!e) return <div class="msg"><p>{selected.value ? t.loading : t.pick}</p></div>;
  const html = e.htmlBody.find((p) => p.type === "text/html");
  const htmlValue = html && e.bodyValues[html.partId]?.value;
  const text = e.textBody.map((p) => e.bodyValues[p.partId]?.value ?? "").join("\n");
  const who = (a: Email["from"]) => (a ?? []).map((x) => (x.name ? `${x.name} <${x.email}>` : x.email)).join(", ");
  return (
    <article class="msg">
      <h2>{e.subject || t.noSubject}</h2>
      <p>{t.from}: {who(e.from)}<br />{t.to}: {who(e.to)}<br />{dateFormat.format(new Date(e.receivedAt))}</p>
      {htmlValue ? (
        <>
          <small>{t.htmlNote}</small>
          <iframe title={e.subject ?? ""} sandbox="allow-popups allow-popups-to-escape-sandbox"
            referrerpolicy="no-referrer" srcdoc={frameDocument(htmlValue)} />
        </>
      ) : (
        <pre>{text}</pre>
      )}
    </article>
  );
}

export function App() {
  useEffect(() => {
    const onKey = (ev: KeyboardEvent) => {
      if (!client.value || ev.target instanceof HTMLInputElement || ev.target instanceof HTMLTextAreaElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.key === "j") move(1);
      else if (ev.key === "k") move(-1);
      else if (ev.key === "c") { ev.preventDefault(); notice.value = ""; composing.value = true; }
    };
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
  if (!client.value) return <Login />;
  return (
    <div class="app">
      <nav>
        <button onClick={() => { notice.value = ""; composing.value = true; }}>{t.write}</button>
        <Mailboxes />
        <button onClick={() => { client.value = null; location.reload(); }}>{t.signOut}</button>
        {error.value && <p class="err" role="alert">{error.value}</p>}
        {notice.value && <p class="notice" role="status">{notice.value}</p>}
      </nav>
      <List />
      {composing.value ? <Compose /> : <Reader />}
    </div>
  );
}
