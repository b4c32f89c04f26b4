// The app's state as signals, and the actions that change it. Components
// read these; only the functions here write them.
import { batch, computed, signal } from "@preact/signals";
import { AuthError, Client, throttled, UnavailableError, type Email, type EmailSummary, type Filter, type Identity, type Mailbox } from "./jmap";
import { fill, t } from "./i18n";

export const pageSize = 100;

export const client = signal<Client | null>(null);
export const error = signal("");
export const mailboxes = signal<Mailbox[]>([]);
// unavailable is set while JMAP calls fail because the server or its store
// does: the app says so rather than showing empty folders.
export const unavailable = signal(false);

// The list: the current query, the ids by position (holes not loaded yet)
// and the summaries by id.
export const filter = signal<Filter>({});
export const searching = signal(false);
export const total = signal<number | null>(null);
export const ids = signal<(string | undefined)[]>([]);
export const summaries = signal<Map<string, EmailSummary>>(new Map());
export const cursor = signal(-1);
export const open = signal<Email | null>(null);
export const selection = signal<Set<string>>(new Set());
let anchor = -1;

export const overlay = signal<"help" | "settings" | "move" | null>(null);
export const toast = signal<{ text: string; undo?: () => Promise<void> } | null>(null);
export const identities = signal<Identity[]>([]);

// Threads: the list shows one row per conversation (its newest message)
// when threads is on, a choice kept in this browser; threadEmails are
// each thread's messages; conversation is the open thread, oldest first.
export const threads = signal(localStorage.getItem("threads") === "on");
export const threadEmails = signal<Map<string, string[]>>(new Map());
export const conversation = signal<Email[]>([]);

// Remote images: the senders whose images load without asking (the
// account's RemoteImages, Casella's JMAP extension) and the messages
// whose images the user asked for once.
export const allowedSenders = signal<Set<string>>(new Set());
export const imagesShownFor = signal<Set<string>>(new Set());

export const mailboxId = computed(() => filter.value.inMailbox ?? null);
export const cursorId = computed(() => ids.value[cursor.value] ?? null);
export const roleBox = (role: string) => mailboxes.value.find((m) => m.role === role) ?? null;

export function fail(err: unknown): void {
  if (err instanceof UnavailableError) {
    unavailable.value = true;
    return;
  }
  error.value = t.value.failed + (err instanceof Error ? err.message : String(err));
}

// ok notes that a call worked: the service is back.
function ok(): void {
  if (unavailable.value) unavailable.value = false;
}

export async function signIn(user: string, password: string): Promise<void> {
  const c = new Client(user, password);
  try {
    await c.connect();
  } catch (err) {
    error.value = err instanceof AuthError ? t.value.badLogin : throttled(err) ? t.value.throttled : t.value.failed + String(err);
    return;
  }
  error.value = "";
  client.value = c;
  // The state comes before the list: mail that arrives in between is
  // then a change that sync fetches, not lost until the next one.
  emailState = await c.emailState().catch(() => "");
  await refreshMailboxes();
  const inbox = roleBox("inbox") ?? mailboxes.value[0];
  if (inbox) await show({ inMailbox: inbox.id }, false);
  void live(c);
  c.identities().then((l) => { identities.value = l; }, fail);
  c.allowedSenders().then((l) => { allowedSenders.value = l; }, fail);
}

export async function refreshMailboxes(): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    mailboxes.value = await c.mailboxes();
    ok();
  } catch (err) {
    fail(err);
  }
}

// The list is loaded a page at a time around what is on screen; gen tells
// answers for an earlier query from current ones.
let gen = 0;
const loading = new Set<number>();
let visible: [number, number] = [0, pageSize];

export async function show(f: Filter, search: boolean): Promise<void> {
  gen++;
  loading.clear();
  batch(() => {
    filter.value = f;
    searching.value = search;
    total.value = null;
    ids.value = [];
    cursor.value = -1;
    open.value = null;
    selection.value = new Set();
  });
  anchor = -1;
  await ensure(0, pageSize);
}

// known makes sure the summaries of ids are loaded, maxObjectsInGet at a
// time.
async function known(list: string[]): Promise<void> {
  const c = client.value;
  const n = c?.session?.maxObjectsInGet ?? 500;
  const missing = list.filter((id) => !summaries.value.has(id));
  for (let i = 0; c && i < missing.length; i += n) remember((await c.summaries(missing.slice(i, i + n))).list);
}

function remember(list: EmailSummary[]): void {
  if (list.length === 0) return;
  const m = new Map(summaries.value);
  for (const e of list) m.set(e.id, e);
  summaries.value = m;
}

async function loadPage(page: number, g: number, into?: (string | undefined)[]): Promise<void> {
  const c = client.value;
  if (!c || loading.has(page)) return;
  loading.add(page);
  try {
    const p = await c.page(filter.value, page * pageSize, pageSize, threads.value);
    if (g !== gen) return;
    ok();
    remember(p.emails);
    if (p.threads.length > 0) {
      const m = new Map(threadEmails.value);
      for (const th of p.threads) m.set(th.id, th.emailIds);
      threadEmails.value = m;
      // Whether a conversation is unread, and what acting on it moves,
      // needs its other messages: asked for after the page is shown.
      void known(p.threads.flatMap((th) => th.emailIds)).catch(fail);
    }
    const next = into ?? [...ids.value];
    next.length = p.total;
    p.ids.forEach((id, i) => { next[page * pageSize + i] = id; });
    batch(() => {
      total.value = p.total;
      if (!into) ids.value = next;
    });
  } catch (err) {
    fail(err);
  } finally {
    loading.delete(page);
  }
}

// ensure loads the pages covering positions [from, to).
export async function ensure(from: number, to: number): Promise<void> {
  visible = [from, to];
  const g = gen;
  const jobs: Promise<void>[] = [];
  for (let p = Math.floor(Math.max(0, from) / pageSize); p * pageSize < to; p++) {
    const start = p * pageSize;
    if (total.value !== null && start >= total.value) break;
    let missing = false;
    for (let i = start; i < Math.min(to, start + pageSize, total.value ?? Infinity); i++) {
      if (ids.value[i] === undefined) { missing = true; break; }
    }
    if (missing || total.value === null) jobs.push(loadPage(p, g));
  }
  await Promise.all(jobs);
}

// refresh asks again for the pages on screen, keeping the list shown until
// the answers arrive, after something changed here or elsewhere.
export async function refresh(): Promise<void> {
  const g = ++gen;
  loading.clear();
  const next: (string | undefined)[] = [];
  const [from, to] = visible;
  const jobs: Promise<void>[] = [];
  for (let p = Math.floor(Math.max(0, from) / pageSize); p * pageSize < Math.max(to, pageSize); p++) jobs.push(loadPage(p, g, next));
  await Promise.all(jobs);
  if (g !== gen || unavailable.value) return;
  // The cursor stays on its message if that moved, as it is now: it may
  // have moved while the pages were asked for.
  const at = ids.value[cursor.value];
  batch(() => {
    ids.value = next;
    const i = at === undefined ? -1 : next.indexOf(at);
    if (i >= 0) cursor.value = i;
    if (cursor.value >= next.length) cursor.value = next.length - 1;
  });
}

export async function openAt(i: number): Promise<void> {
  const c = client.value;
  if (!c || i < 0 || (total.value !== null && i >= total.value)) return;
  cursor.value = i;
  if (ids.value[i] === undefined) await ensure(i, i + 1);
  const id = ids.value[i];
  if (!id) return;
  try {
    // A busy server may fail one call: ask again once before giving up.
    const e = await c.email(id).catch(async (err: unknown) => {
      if (!(err instanceof UnavailableError)) throw err;
      await new Promise((r) => setTimeout(r, 1000));
      return c.email(id);
    });
    if (ids.value[cursor.value] !== id) return;
    const thread = e && threads.value ? await conversationOf(c, e.threadId, id) : [];
    if (ids.value[cursor.value] !== id) return;
    batch(() => {
      open.value = e;
      conversation.value = thread;
    });
    ok();
    const unseen = (thread.length > 0 ? thread : e ? [e] : []).filter((m) => !m.keywords["$seen"]);
    if (unseen.length > 0) {
      await c.update(Object.fromEntries(unseen.map((m) => [m.id, { "keywords/$seen": true }])));
      for (const m of unseen) patchSummary(m.id, (s) => ({ ...s, keywords: { ...s.keywords, $seen: true } }));
      await refreshMailboxes();
    }
  } catch (err) {
    fail(err);
  }
}

// conversationOf is the thread's messages as a conversation shows them: it
// leaves out what was thrown away, unless that is the message id or where
// the user is looking.
async function conversationOf(c: Client, threadId: string, id: string): Promise<Email[]> {
  const trash = roleBox("trash")?.id;
  return (await c.conversation(threadId)).filter((m) => m.id === id || !trash || !m.mailboxIds[trash] || filter.value.inMailbox === trash);
}

export function step(delta: number): void {
  const n = total.value ?? 0;
  const next = Math.min(n - 1, Math.max(0, cursor.value + delta));
  if (next !== cursor.value || !open.value) void openAt(next);
}

export function closeMessage(): void {
  open.value = null;
}

// setThreads switches between the list of conversations and of messages.
export function setThreads(on: boolean): void {
  localStorage.setItem("threads", on ? "on" : "off");
  threads.value = on;
  void show(filter.value, searching.value);
}

// showImages loads the remote images of one message, or with always of
// every message from its sender, kept in the account for every device.
export async function showImages(e: Email, always: boolean): Promise<void> {
  imagesShownFor.value = new Set(imagesShownFor.value).add(e.id);
  const from = e.from?.[0]?.email.toLowerCase();
  const c = client.value;
  if (!always || !from || !c) return;
  try {
    await c.allowSender(from, true);
    allowedSenders.value = new Set(allowedSenders.value).add(from);
  } catch (err) {
    fail(err);
  }
}

export async function forgetSender(address: string): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    await c.allowSender(address, false);
    const s = new Set(allowedSenders.value);
    s.delete(address);
    allowedSenders.value = s;
    imagesShownFor.value = new Set();
  } catch (err) {
    fail(err);
  }
}

function patchSummary(id: string, f: (s: EmailSummary) => EmailSummary): void {
  const s = summaries.value.get(id);
  if (!s) return;
  const m = new Map(summaries.value);
  m.set(id, f(s));
  summaries.value = m;
}

// Selection: a click on a checkbox toggles one message; with shift, the
// range from the last one toggled.
export function toggleSelect(i: number, range: boolean): void {
  const s = new Set(selection.value);
  const id = ids.value[i];
  if (!id) return;
  const on = !s.has(id);
  if (range && anchor >= 0) {
    for (let k = Math.min(anchor, i); k <= Math.max(anchor, i); k++) {
      const x = ids.value[k];
      if (x) { if (on) s.add(x); else s.delete(x); }
    }
  } else if (on) s.add(id);
  else s.delete(id);
  anchor = i;
  selection.value = s;
}

// targets are the messages an action applies to: the selection, or else
// the one under the cursor.
export function targets(): string[] {
  if (selection.value.size > 0) return [...selection.value];
  return cursorId.value ? [cursorId.value] : [];
}

const undoFor = 8000;
let toastTimer = 0;

export function say(text: string, undo?: () => Promise<void>, ms = undo ? undoFor : 4000): void {
  clearTimeout(toastTimer);
  toast.value = { text, ...(undo ? { undo } : {}) };
  toastTimer = window.setTimeout(() => { toast.value = null; }, ms);
}

export async function undoLast(): Promise<void> {
  const u = toast.value?.undo;
  clearTimeout(toastTimer);
  toast.value = null;
  if (!u) return;
  try {
    await u();
    say(t.value.undone);
  } catch (err) {
    fail(err);
  }
  await Promise.all([refresh(), refreshMailboxes()]);
}

type Patches = Record<string, Record<string, unknown>>;

// apply sends patches and offers to send their inverse for a few seconds.
async function apply(forward: Patches, back: Patches, text: string, leaves: boolean): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    await c.update(forward);
  } catch (err) {
    fail(err);
    return;
  }
  const moved = new Set(Object.keys(forward));
  if (leaves) {
    // Leave the list at once; the refresh below confirms it.
    const next: (string | undefined)[] = [];
    for (let i = 0; i < ids.value.length; i++) {
      const id = ids.value[i];
      if (id === undefined || !moved.has(id)) next.push(id);
    }
    batch(() => {
      ids.value = next;
      total.value = next.length;
      if (open.value && moved.has(open.value.id)) open.value = null;
      if (cursor.value >= next.length) cursor.value = next.length - 1;
      selection.value = new Set();
    });
  } else {
    selection.value = new Set();
  }
  say(text, () => c.update(back));
  await Promise.all([refresh(), refreshMailboxes()]);
}

// conversations widens the rows acted on, in conversations, to every
// message of their threads in the mailbox shown (in all of them, for
// search results), as RFC 8621 leaves a thread's messages each where
// they are: archiving a conversation leaves the replies in Sent alone.
async function conversations(which: string[]): Promise<string[]> {
  const all = new Set(which);
  for (const id of which) {
    const th = summaries.value.get(id)?.threadId;
    for (const m of (th && threadEmails.value.get(th)) || []) all.add(m);
  }
  await known([...all]);
  const box = filter.value.inMailbox;
  return [...all].filter((id) => which.includes(id) || (box === undefined ? summaries.value.has(id) : summaries.value.get(id)?.mailboxIds[box]));
}

export async function setKeyword(keyword: string, on: boolean, rows = targets()): Promise<void> {
  const which = threads.value ? await conversations(rows).catch((err: unknown) => { fail(err); return rows; }) : rows;
  const forward: Patches = {};
  const back: Patches = {};
  for (const id of which) {
    const was = summaries.value.get(id)?.keywords[keyword] === true;
    if (was === on) continue;
    forward[id] = { [`keywords/${keyword}`]: on ? true : null };
    back[id] = { [`keywords/${keyword}`]: was ? true : null };
    patchSummary(id, (s) => {
      const k = { ...s.keywords };
      if (on) k[keyword] = true;
      else delete k[keyword];
      return { ...s, keywords: k };
    });
  }
  const n = Object.keys(forward).length;
  if (n === 0) return;
  if (open.value && forward[open.value.id]) {
    const k = { ...open.value.keywords };
    if (on) k[keyword] = true;
    else delete k[keyword];
    open.value = { ...open.value, keywords: k };
  }
  await apply(forward, back, fill(t.value.markedN, { n }), false);
}

// toggle flips a keyword on the targets, following the first of them.
export function toggle(keyword: string): Promise<void> {
  const first = targets()[0];
  const on = first ? summaries.value.get(first)?.keywords[keyword] !== true : true;
  return setKeyword(keyword, on);
}

// moveTo files the targets in one mailbox (RFC 8621 §4.1.1 mailboxIds);
// junk also sets the $junk keyword a filter can learn from.
export async function moveTo(target: Mailbox, junk = false, rows = targets()): Promise<void> {
  const which = threads.value ? await conversations(rows).catch((err: unknown) => { fail(err); return rows; }) : rows;
  const forward: Patches = {};
  const back: Patches = {};
  for (const id of which) {
    const s = summaries.value.get(id);
    if (!s) continue;
    forward[id] = { mailboxIds: { [target.id]: true }, ...(junk ? { "keywords/$junk": true } : {}) };
    back[id] = { mailboxIds: s.mailboxIds, ...(junk ? { "keywords/$junk": s.keywords["$junk"] ? true : null } : {}) };
  }
  const n = Object.keys(forward).length;
  if (n === 0) return;
  const leaves = filter.value.inMailbox !== undefined && filter.value.inMailbox !== target.id;
  await apply(forward, back, fill(t.value.movedN, { n, box: target.name }), leaves);
}

export async function moveToRole(role: "archive" | "trash" | "junk"): Promise<void> {
  const box = roleBox(role);
  if (!box) {
    error.value = t.value.failed + `no ${role} mailbox`;
    return;
  }
  await moveTo(box, role === "junk");
}

// Live updates: the event source says that something changed; Email/changes
// says what (RFC 8620 §5.2, §7.3).
let emailState = "";
let syncTimer = 0;

async function live(c: Client): Promise<void> {
  // Changes since the state read at sign-in, before the stream was open.
  void sync(c);
  for (let delay = 1000; client.value === c;) {
    const abort = new AbortController();
    const started = Date.now();
    try {
      await c.events(() => {
        clearTimeout(syncTimer);
        syncTimer = window.setTimeout(() => void sync(c), 150);
      }, abort.signal);
    } catch {
      // The stream broke: try again after a pause that grows while it fails.
    }
    if (Date.now() - started > 30000) delay = 1000;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 30000);
    void sync(c);
  }
}

export async function sync(c: Client): Promise<void> {
  const created: string[] = [];
  const updated: string[] = [];
  try {
    if (!emailState) emailState = await c.emailState();
    else {
      for (;;) {
        const ch = await c.changes(emailState);
        emailState = ch.newState;
        created.push(...ch.created);
        updated.push(...ch.updated);
        if (!ch.hasMoreChanges) break;
      }
    }
    const changed = [...created, ...updated].filter((id) => summaries.value.has(id) || created.includes(id));
    if (changed.length > 0) {
      const { list } = await c.summaries(changed.slice(0, 500));
      remember(list);
      notify(list.filter((e) => created.includes(e.id)));
      // The open conversation takes in a reply that arrived, and changes
      // to its messages, while it stays open.
      const shown = open.value;
      if (shown && conversation.value.length > 0 && list.some((e) => e.threadId === shown.threadId)) {
        const thread = await conversationOf(c, shown.threadId, shown.id);
        if (open.value === shown) conversation.value = thread;
      }
    }
    ok();
  } catch (err) {
    // cannotCalculateChanges and the like: start again from now.
    emailState = "";
    fail(err);
  }
  await Promise.all([refresh(), refreshMailboxes()]);
}

function notify(fresh: EmailSummary[]): void {
  const inbox = roleBox("inbox");
  const mail = fresh.filter((e) => !e.keywords["$seen"] && inbox && e.mailboxIds[inbox.id]);
  if (mail.length === 0 || !("Notification" in window) || Notification.permission !== "granted" || !document.hidden) return;
  const first = mail[0];
  if (!first || !inbox) return;
  const n = new Notification(t.value.newMail, {
    body: `${first.from?.[0]?.name || first.from?.[0]?.email || ""}: ${first.subject ?? t.value.noSubject}`,
    tag: "casella-new-mail",
  });
  // A click brings the page forward on the message, in the inbox.
  n.onclick = () => {
    window.focus();
    n.close();
    void (async () => {
      if (filter.value.inMailbox !== inbox.id || searching.value) await show({ inMailbox: inbox.id }, false);
      const i = ids.value.indexOf(first.id);
      if (i >= 0) await openAt(i);
    })();
  };
}

// Recovery: when the service returns, load again what could not be.
export async function recover(): Promise<void> {
  const c = client.value;
  if (!c) return;
  await refreshMailboxes();
  if (unavailable.value) return;
  if (total.value === null) await ensure(...visible);
  else await refresh();
}
