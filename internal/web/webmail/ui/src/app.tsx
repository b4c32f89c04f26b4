import { useEffect, useRef } from "preact/hooks";
import { Actions, MovePicker } from "./actions";
import { Compose, composing, startCompose, type Kind } from "./compose";
import { t } from "./i18n";
import { dragType, List } from "./list";
import { Reader } from "./reader";
import { parseSearch } from "./search";
import { Settings } from "./settings";
import {
  client, cursor, cursorId, error, filter, mailboxes, moveTo, moveToRole, open, openAt, overlay, roleBox, searching, show,
  setThreads, signIn, step, threads, toast, toggle, toggleSelect, undoLast, unavailable,
} from "./state";
import { storeDown, troubles, watchStatus } from "./status";

function Login() {
  const tr = t.value;
  const submit = (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.currentTarget as HTMLFormElement);
    void signIn(String(f.get("user") ?? ""), String(f.get("password") ?? ""));
  };
  return (
    <main>
      <Banner />
      <form class="login" onSubmit={submit}>
        <h1>{tr.title}</h1>
        <label for="user">{tr.address}</label>
        <input id="user" name="user" type="email" autocomplete="username" required />
        <label for="password">{tr.password}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">{tr.signIn}</button>
        {error.value && <p class="err" role="alert">{error.value}</p>}
      </form>
    </main>
  );
}

// Banner tells the user, in plain words, what the server's trouble means
// for their mail.
function Banner() {
  const list = troubles.value;
  if (list.length === 0) return null;
  const tr = t.value;
  return (
    <div class="banner" role="alert">
      {list.map((k) => <p key={k}>{tr[k]}</p>)}
    </div>
  );
}

function Mailboxes() {
  const tr = t.value;
  const down = storeDown.value && unavailable.value;
  return (
    <ul class="boxes" aria-label={tr.mailboxes}>
      {mailboxes.value.map((m) => (
        <li key={m.id} class={m.id === filter.value.inMailbox && !searching.value ? "sel" : ""}
          onDragOver={(ev) => { if (ev.dataTransfer?.types.includes(dragType)) { ev.preventDefault(); ev.currentTarget.classList.add("over"); } }}
          onDragLeave={(ev) => ev.currentTarget.classList.remove("over")}
          onDrop={(ev) => {
            ev.preventDefault();
            ev.currentTarget.classList.remove("over");
            const ids = JSON.parse(ev.dataTransfer?.getData(dragType) || "[]") as string[];
            if (ids.length > 0) void moveTo(m, m.role === "junk", ids);
          }}>
          <button type="button" aria-current={m.id === filter.value.inMailbox ? "true" : undefined} onClick={() => void show({ inMailbox: m.id }, false)}>
            {m.name}
            {/* While the store is down its counts are not known: no zeros. */}
            {!down && m.unreadEmails > 0 && <span class="n">{m.unreadEmails}</span>}
          </button>
        </li>
      ))}
    </ul>
  );
}

function SearchBox() {
  const tr = t.value;
  const submit = (ev: Event) => {
    ev.preventDefault();
    const q = String(new FormData(ev.currentTarget as HTMLFormElement).get("q") ?? "").trim();
    if (q === "") {
      const inbox = roleBox("inbox");
      if (inbox) void show({ inMailbox: inbox.id }, false);
      return;
    }
    void show(parseSearch(q, mailboxes.value), true);
  };
  return (
    <form class="search" role="search" onSubmit={submit}>
      <input id="q" name="q" type="search" aria-label={tr.search} placeholder={tr.searchHint} />
      <button type="submit">{tr.search}</button>
    </form>
  );
}

function Help() {
  const tr = t.value;
  return (
    <div class="dialog help" role="dialog" aria-modal="true" aria-labelledby="help-title">
      <h2 id="help-title">{tr.help}</h2>
      <table>
        <tbody>
          {tr.keys.map(([k, what]) => <tr key={k}><th><kbd>{k}</kbd></th><td>{what}</td></tr>)}
        </tbody>
      </table>
      <button type="button" class="close" onClick={() => { overlay.value = null; }}>{tr.close}</button>
    </div>
  );
}

function Toast() {
  const x = toast.value;
  if (!x) return null;
  return (
    <div class="toast" role="status" aria-live="polite">
      <span>{x.text}</span>
      {x.undo && <button type="button" class="undo" onClick={() => void undoLast()}>{t.value.undo}</button>}
    </div>
  );
}

// reply opens the editor on the message under the cursor, opening it first.
async function reply(kind: Kind): Promise<void> {
  if (cursor.value >= 0 && open.value?.id !== cursorId.value) await openAt(cursor.value);
  if (open.value) startCompose(kind, open.value);
}

const keys: Record<string, () => void> = {
  j: () => step(1),
  k: () => step(-1),
  o: () => void openAt(Math.max(0, cursor.value)),
  Enter: () => void openAt(Math.max(0, cursor.value)),
  r: () => void reply("reply"),
  a: () => void reply("replyAll"),
  f: () => void reply("forward"),
  F: () => void reply("forwardAttached"),
  e: () => void moveToRole("archive"),
  "#": () => void moveToRole("trash"),
  "!": () => void moveToRole("junk"),
  s: () => void toggle("$flagged"),
  u: () => void toggle("$seen"),
  m: () => { overlay.value = "move"; },
  x: () => { if (cursor.value >= 0) toggleSelect(cursor.value, false); },
  z: () => void undoLast(),
  "/": () => document.getElementById("q")?.focus(),
  c: () => startCompose("new"),
  "?": () => { overlay.value = overlay.value === "help" ? null : "help"; },
};

function onKey(ev: KeyboardEvent): void {
  if (ev.key === "Escape") {
    overlay.value = null;
    return;
  }
  const el = ev.target;
  if (!client.value || el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement ||
    (el instanceof HTMLElement && el.isContentEditable) ||
    ev.ctrlKey || ev.metaKey || ev.altKey || (composing.value && ev.key !== "?")) return;
  const f = keys[ev.key];
  if (!f || (ev.key === "Enter" && el instanceof HTMLButtonElement)) return;
  ev.preventDefault();
  f();
}

export function App() {
  useEffect(() => {
    watchStatus();
    addEventListener("keydown", onKey);
    return () => removeEventListener("keydown", onKey);
  }, []);
  const dialog = useRef<HTMLDivElement>(null);
  useEffect(() => { dialog.current?.querySelector<HTMLElement>("button, select, input")?.focus(); }, [overlay.value]);
  const tr = t.value;
  if (!client.value) return <Login />;
  const reading = composing.value !== null || open.value !== null;
  return (
    <div class={"app" + (reading ? " reading" : "")}>
      <header>
        <span class="logo">{tr.title}</span>
        <SearchBox />
        <button type="button" class="help-btn" aria-label={tr.help} onClick={() => { overlay.value = "help"; }}>?</button>
        <button type="button" class="settings-btn" onClick={() => { overlay.value = "settings"; }}>{tr.settings}</button>
        <button type="button" onClick={() => { client.value = null; location.reload(); }}>{tr.signOut}</button>
      </header>
      <Banner />
      {error.value && <p class="err" role="alert">{error.value} <button type="button" onClick={() => { error.value = ""; }}>{tr.close}</button></p>}
      <nav aria-label={tr.mailboxes}>
        <button type="button" class="write" onClick={() => startCompose("new")}>{tr.write}</button>
        <Mailboxes />
      </nav>
      <section class="listpane" aria-label={searching.value ? tr.searchResults : tr.messages}>
        {searching.value && (
          <div class="bar">
            <strong>{tr.searchResults}</strong>
            <button type="button" onClick={() => { const i = roleBox("inbox"); if (i) void show({ inMailbox: i.id }, false); }}>{tr.clearSearch}</button>
          </div>
        )}
        <div class="bar view">
          <label class="check"><input type="checkbox" id="threads" checked={threads.value} onChange={(ev) => setThreads(ev.currentTarget.checked)} /> {tr.threadsOn}</label>
        </div>
        {!open.value && <div class="bar"><Actions /></div>}
        <List />
      </section>
      {composing.value ? <Compose /> : <Reader />}
      {overlay.value && (
        <div class="overlay" ref={dialog} onClick={(ev) => { if (ev.target === ev.currentTarget) overlay.value = null; }}>
          {overlay.value === "help" && <Help />}
          {overlay.value === "settings" && <Settings />}
          {overlay.value === "move" && <MovePicker />}
        </div>
      )}
      <Toast />
    </div>
  );
}
