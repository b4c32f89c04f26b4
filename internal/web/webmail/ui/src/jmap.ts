// A small JMAP client (RFC 8620, RFC 8621) over fetch with HTTP Basic
// auth: the webmail has no private API, so everything here is plain JMAP.

export type Invocation = [string, Record<string, unknown>, string];

export interface Session {
  apiUrl: string;
  accountId: string;
  uploadUrl: string;
  downloadUrl: string;
  eventSourceUrl: string;
  username: string;
  // maxDelayedSend is how long a submission may be held, in seconds
  // (RFC 8621 §7): what undo send needs.
  maxDelayedSend: number;
  // account says the server offers Casella's account extension
  // (urn:casella:params:jmap:account, docs/jmap.md).
  account: boolean;
  minPasswordLength: number;
  // maxObjectsInGet bounds the ids of one /get (RFC 8620 §2).
  maxObjectsInGet: number;
}

export interface Mailbox {
  id: string;
  name: string;
  role: string | null;
  parentId: string | null;
  sortOrder: number;
  unreadEmails: number;
  totalEmails: number;
}

export interface Address {
  name: string | null;
  email: string;
}

export interface EmailSummary {
  id: string;
  threadId: string;
  mailboxIds: Record<string, boolean>;
  subject: string | null;
  from: Address[] | null;
  receivedAt: string;
  keywords: Record<string, boolean>;
  preview: string;
  hasAttachment: boolean;
}

export interface BodyPart {
  partId: string | null;
  blobId: string | null;
  type: string;
  name: string | null;
  size: number;
  disposition: string | null;
}

export interface Email extends EmailSummary {
  // blobId is the whole message (RFC 8621 §4.1.1): forwarded as an attachment.
  blobId: string;
  size: number;
  to: Address[] | null;
  cc: Address[] | null;
  bcc: Address[] | null;
  replyTo: Address[] | null;
  messageId: string[] | null;
  inReplyTo: string[] | null;
  references: string[] | null;
  sentAt: string | null;
  textBody: BodyPart[];
  htmlBody: BodyPart[];
  attachments: BodyPart[];
  bodyValues: Record<string, { value: string }>;
}

export interface Identity {
  id: string;
  name: string;
  email: string;
  textSignature?: string;
  htmlSignature?: string;
}

export interface Vacation {
  isEnabled: boolean;
  fromDate: string | null;
  toDate: string | null;
  subject: string | null;
  textBody: string | null;
}

// Filter is an Email/query FilterCondition (RFC 8621 §4.4.1).
export interface Filter {
  inMailbox?: string;
  from?: string;
  to?: string;
  subject?: string;
  text?: string;
  hasAttachment?: boolean;
  before?: string;
  after?: string;
}

// Draft is what Email/set creates for a message being written: body is
// the text/plain part, html (a sanitised body) the text/html alternative
// when the message is written in HTML.
export interface Draft {
  from: Address;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  subject: string;
  body: string;
  html: string | null;
  inReplyTo: string[] | null;
  references: string[] | null;
  attachments: { blobId: string; type: string; name: string; size: number }[];
}

export interface Changes {
  newState: string;
  created: string[];
  updated: string[];
  destroyed: string[];
  hasMoreChanges: boolean;
}

export class AuthError extends Error {}

// ThrottledError is the login throttle holding the account back: HTTP 429
// before the request is read, or a method's rateLimit when the current
// password is checked again (docs/jmap.md).
export class ThrottledError extends Error {}

export function throttled(err: unknown): boolean {
  return err instanceof ThrottledError || (err instanceof MethodError && err.type === "rateLimit");
}

// MethodError is a method-level error (RFC 8620 §3.6.2) and its type.
export class MethodError extends Error {
  constructor(readonly type: string, description: string) {
    super(`JMAP error: ${type}${description ? " (" + description + ")" : ""}`);
  }
}

export interface AppPassword {
  id: string;
  name: string;
  created: string;
  lastUsed: string | null;
  expires: string | null;
  secret?: string;
}

const capAccount = "urn:casella:params:jmap:account";

// UnavailableError is a failure of the server rather than of the request:
// an HTTP 5xx, serverUnavailable, or no answer at all.
export class UnavailableError extends Error {}

const using = [
  "urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission",
  "urn:ietf:params:jmap:vacationresponse",
];

export const summaryProperties = ["id", "threadId", "mailboxIds", "subject", "from", "receivedAt", "keywords", "preview", "hasAttachment"];
const emailProperties = [...summaryProperties, "blobId", "size", "to", "cc", "bcc", "replyTo", "messageId", "inReplyTo", "references", "sentAt", "textBody", "htmlBody", "attachments", "bodyValues"];
const bodyProperties = ["partId", "blobId", "type", "name", "size", "disposition"];

export interface Thread {
  id: string;
  emailIds: string[];
}

// setFailure returns the first notCreated/notUpdated/notDestroyed error of
// a /set response (RFC 8620 §5.3), if any.
function setFailure(name: string, args: Record<string, unknown>): Error | null {
  for (const k of ["notCreated", "notUpdated", "notDestroyed"]) {
    const failed = args[k] as Record<string, { type: string; description?: string }> | null | undefined;
    const first = failed && Object.values(failed)[0];
    if (first) return new Error(`${name}: ${first.type}${first.description ? " (" + first.description + ")" : ""}`);
  }
  return null;
}

export class Client {
  private auth: string;
  session: Session | null = null;

  constructor(private readonly user: string, password: string) {
    this.auth = basic(user, password);
  }

  private async request(url: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(url, {
        ...init,
        credentials: "omit",
        headers: { ...(init.headers ?? {}), Authorization: this.auth },
      });
    } catch (err) {
      throw new UnavailableError(String(err));
    }
    if (res.status === 401) throw new AuthError("unauthorized");
    if (res.status === 429) throw new ThrottledError(`${res.status} ${res.statusText}`);
    if (res.status >= 500) throw new UnavailableError(`${res.status} ${res.statusText}`);
    if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
    return res;
  }

  private async fetchJSON(url: string, init: RequestInit = {}): Promise<unknown> {
    return (await this.request(url, init)).json();
  }

  // connect fetches the session resource (RFC 8620 §2).
  async connect(): Promise<Session> {
    const s = (await this.fetchJSON("/.well-known/jmap")) as {
      apiUrl: string; uploadUrl: string; downloadUrl: string; eventSourceUrl: string; username: string;
      primaryAccounts: Record<string, string>;
      capabilities: Record<string, { maxObjectsInGet?: number } | undefined>;
      accounts: Record<string, { accountCapabilities: Record<string, { maxDelayedSend?: number; minPasswordLength?: number } | undefined> } | undefined>;
    };
    const accountId = s.primaryAccounts["urn:ietf:params:jmap:mail"];
    if (!accountId) throw new Error("the session has no mail account");
    const local = (u: string) => {
      const url = new URL(u.replace(/[{}]/g, (c) => (c === "{" ? "%7B" : "%7D")), location.href);
      return decodeURI(url.pathname + url.search);
    };
    this.session = {
      apiUrl: local(s.apiUrl), uploadUrl: local(s.uploadUrl), downloadUrl: local(s.downloadUrl),
      eventSourceUrl: local(s.eventSourceUrl), accountId, username: s.username,
      maxDelayedSend: s.accounts[accountId]?.accountCapabilities["urn:ietf:params:jmap:submission"]?.maxDelayedSend ?? 0,
      account: capAccount in s.capabilities,
      minPasswordLength: s.accounts[accountId]?.accountCapabilities[capAccount]?.minPasswordLength ?? 0,
      maxObjectsInGet: s.capabilities["urn:ietf:params:jmap:core"]?.maxObjectsInGet ?? 500,
    };
    return this.session;
  }

  // call sends one request; method errors (RFC 8620 §3.6.2) are thrown,
  // serverUnavailable and serverFail as UnavailableError.
  async call(calls: Invocation[]): Promise<Invocation[]> {
    if (!this.session) throw new Error("not connected");
    const accountId = this.session.accountId;
    const methodCalls = calls.map(([name, args, tag]) => [name, { accountId, ...args }, tag]);
    const res = (await this.fetchJSON(this.session.apiUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ using: this.session.account ? [...using, capAccount] : using, methodCalls }),
    })) as { methodResponses: Invocation[] };
    for (const [name, args] of res.methodResponses) {
      if (name !== "error") continue;
      const type = String(args["type"]);
      if (type === "serverUnavailable" || type === "serverFail") throw new UnavailableError(type);
      throw new MethodError(type, String(args["description"] ?? ""));
    }
    return res.methodResponses;
  }

  // set runs /set calls and throws on the first object that failed.
  private async set(calls: Invocation[]): Promise<Invocation[]> {
    const r = await this.call(calls);
    for (const [name, args] of r) {
      const err = setFailure(name, args);
      if (err) throw err;
    }
    return r;
  }

  async mailboxes(): Promise<Mailbox[]> {
    const [r] = await this.call([["Mailbox/get", { ids: null }, "m"]]);
    const list = (r?.[1]["list"] ?? []) as Mailbox[];
    return list.sort((a, b) => a.sortOrder - b.sortOrder || a.name.localeCompare(b.name));
  }

  // page lists the messages matching filter newest first from position
  // (RFC 8621 §4.4), with their summaries.
  // With threads, the query collapses each thread to its newest message
  // (RFC 8621 §4.4.3), and Thread/get, by reference, tells which messages
  // each holds.
  async page(filter: Filter, position: number, limit: number, threads = false): Promise<{ total: number; ids: string[]; emails: EmailSummary[]; queryState: string; threads: Thread[] }> {
    const calls: Invocation[] = [
      ["Email/query", {
        filter, sort: [{ property: "receivedAt", isAscending: false }],
        position, limit, calculateTotal: true, collapseThreads: threads,
      }, "q"],
      ["Email/get", {
        "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
        properties: summaryProperties,
      }, "g"],
    ];
    if (threads) calls.push(["Thread/get", { "#ids": { resultOf: "g", name: "Email/get", path: "/list/*/threadId" } }, "t"]);
    const r = await this.call(calls);
    const q = r[0]?.[1] ?? {};
    return {
      total: (q["total"] ?? 0) as number,
      ids: (q["ids"] ?? []) as string[],
      queryState: String(q["queryState"] ?? ""),
      emails: (r[1]?.[1]["list"] ?? []) as EmailSummary[],
      threads: (r[2]?.[1]["list"] ?? []) as Thread[],
    };
  }

  // conversation returns the messages of a thread, oldest first
  // (RFC 8621 §3: a Thread's emailIds are sorted by receivedAt).
  async conversation(threadId: string): Promise<Email[]> {
    const r = await this.call([
      ["Thread/get", { ids: [threadId] }, "t"],
      ["Email/get", {
        "#ids": { resultOf: "t", name: "Thread/get", path: "/list/*/emailIds" },
        properties: emailProperties, bodyProperties, fetchTextBodyValues: true, fetchHTMLBodyValues: true,
      }, "e"],
    ]);
    return (r[1]?.[1]["list"] ?? []) as Email[];
  }

  // summaries asks for at most the session's maxObjectsInGet ids (RFC 8620
  // §2): callers split longer lists.
  async summaries(ids: string[]): Promise<{ list: EmailSummary[]; state: string }> {
    const [r] = await this.call([["Email/get", { ids, properties: summaryProperties }, "g"]]);
    return { list: (r?.[1]["list"] ?? []) as EmailSummary[], state: String(r?.[1]["state"] ?? "") };
  }

  async emailState(): Promise<string> {
    const [r] = await this.call([["Email/get", { ids: [], properties: ["id"] }, "g"]]);
    return String(r?.[1]["state"] ?? "");
  }

  // changes asks what happened to messages since state (RFC 8620 §5.2).
  async changes(since: string): Promise<Changes> {
    const [r] = await this.call([["Email/changes", { sinceState: since, maxChanges: 500 }, "c"]]);
    const a = r?.[1] ?? {};
    return {
      newState: String(a["newState"]), created: (a["created"] ?? []) as string[],
      updated: (a["updated"] ?? []) as string[], destroyed: (a["destroyed"] ?? []) as string[],
      hasMoreChanges: Boolean(a["hasMoreChanges"]),
    };
  }

  async email(id: string): Promise<Email | null> {
    const [r] = await this.call([["Email/get", {
      ids: [id],
      properties: emailProperties, bodyProperties,
      fetchTextBodyValues: true,
      fetchHTMLBodyValues: true,
    }, "e"]]);
    const list = (r?.[1]["list"] ?? []) as Email[];
    return list[0] ?? null;
  }

  // update applies one patch per message (RFC 8620 §5.3, RFC 8621 §4.1.1).
  async update(patches: Record<string, Record<string, unknown>>): Promise<void> {
    await this.set([["Email/set", { update: patches }, "u"]]);
  }

  async destroy(ids: string[]): Promise<void> {
    await this.set([["Email/set", { destroy: ids }, "d"]]);
  }

  async identities(): Promise<Identity[]> {
    const [r] = await this.call([["Identity/get", { ids: null }, "i"]]);
    return (r?.[1]["list"] ?? []) as Identity[];
  }

  // upload stores a file as a blob (RFC 8620 §6.1).
  async upload(file: Blob): Promise<{ blobId: string; type: string; size: number }> {
    if (!this.session) throw new Error("not connected");
    const url = this.session.uploadUrl.replace("{accountId}", encodeURIComponent(this.session.accountId));
    const res = await this.request(url, {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    return (await res.json()) as { blobId: string; type: string; size: number };
  }

  // downloadUrl fills in the session's template (RFC 8620 §6.2); the
  // browser cannot send Basic auth with a plain link, so callers fetch it.
  async download(blobId: string, name: string, type: string): Promise<Blob> {
    if (!this.session) throw new Error("not connected");
    const url = this.session.downloadUrl
      .replace("{accountId}", encodeURIComponent(this.session.accountId))
      .replace("{blobId}", encodeURIComponent(blobId))
      .replace("{name}", encodeURIComponent(name))
      .replace("{type}", encodeURIComponent(type));
    return (await this.request(url)).blob();
  }

  // saveDraft writes a draft into Drafts, replacing the previous version
  // (messages are immutable in JMAP, RFC 8621 §4.6), and returns its id.
  async saveDraft(drafts: string, d: Draft, previous: string | null): Promise<string> {
    const r = await this.set([["Email/set", {
      create: { d: draftObject(drafts, d) },
      ...(previous ? { destroy: [previous] } : {}),
    }, "e"]]);
    const created = r[0]?.[1]["created"] as Record<string, { id: string }> | undefined;
    const id = created?.["d"]?.id;
    if (!id) throw new Error("Email/set created no draft");
    return id;
  }

  // send writes the message into Drafts and submits it in the same
  // request (RFC 8621 §7.5), moving it to Sent once the submission exists;
  // the draft saved so far is destroyed. With hold > 0 the submission asks
  // for FUTURERELEASE's HOLDFOR (RFC 4865, RFC 8621 §7): it stays pending,
  // and cancel takes it back, for that many seconds.
  async send(mailboxes: Mailbox[], identity: Identity, d: Draft, previous: string | null, hold: number): Promise<{ emailId: string; submissionId: string; pending: boolean }> {
    const drafts = mailboxes.find((m) => m.role === "drafts");
    const sent = mailboxes.find((m) => m.role === "sent");
    if (!drafts || !sent) throw new Error("no Drafts or Sent mailbox");
    const submission: Record<string, unknown> = { identityId: identity.id, emailId: "#m" };
    if (hold > 0) {
      submission["envelope"] = {
        mailFrom: { email: identity.email, parameters: { HOLDFOR: String(hold) } },
        rcptTo: [...d.to, ...d.cc, ...d.bcc].map((a) => ({ email: a.email, parameters: null })),
      };
    }
    const r = await this.set([
      ["Email/set", { create: { m: draftObject(drafts.id, d) }, ...(previous ? { destroy: [previous] } : {}) }, "e"],
      ["EmailSubmission/set", {
        create: { s: submission },
        onSuccessUpdateEmail: { "#s": { [`mailboxIds/${drafts.id}`]: null, [`mailboxIds/${sent.id}`]: true, "keywords/$draft": null } },
      }, "s"],
    ]);
    const email = (r[0]?.[1]["created"] as Record<string, { id: string }> | undefined)?.["m"];
    const sub = (r.find(([name]) => name === "EmailSubmission/set")?.[1]["created"] as Record<string, { id: string; undoStatus?: string }> | undefined)?.["s"];
    return { emailId: email?.id ?? "", submissionId: sub?.id ?? "", pending: sub?.undoStatus === "pending" };
  }

  // cancel takes back a pending submission and files its message in
  // Drafts again (RFC 8621 §7.5: undoStatus may be set to canceled).
  async cancel(submissionId: string, emailId: string, drafts: string): Promise<void> {
    await this.set([
      ["EmailSubmission/set", { update: { [submissionId]: { undoStatus: "canceled" } } }, "c"],
      ["Email/set", { update: { [emailId]: { mailboxIds: { [drafts]: true }, "keywords/$draft": true } } }, "e"],
    ]);
  }

  // correspondents lists the addresses mail was exchanged with, most
  // recent first: the recipients of the latest sent messages and the
  // senders of the latest received ones (not junk, not drafts), in one
  // request of two Email/query and Email/get pairs (RFC 8621 §4.4).
  async correspondents(mailboxes: Mailbox[], limit: number): Promise<Address[]> {
    const id = (role: string) => mailboxes.find((m) => m.role === role)?.id;
    const sent = id("sent");
    const mine = [sent, id("drafts"), id("junk"), id("trash")].filter((x): x is string => x !== undefined);
    const sort = [{ property: "receivedAt", isAscending: false }];
    const calls: Invocation[] = [
      ["Email/query", { filter: { inMailboxOtherThan: mine }, sort, limit }, "rq"],
      ["Email/get", { "#ids": { resultOf: "rq", name: "Email/query", path: "/ids" }, properties: ["from", "receivedAt"] }, "rg"],
    ];
    if (sent) {
      calls.push(["Email/query", { filter: { inMailbox: sent }, sort, limit }, "sq"],
        ["Email/get", { "#ids": { resultOf: "sq", name: "Email/query", path: "/ids" }, properties: ["to", "cc", "bcc", "receivedAt"] }, "sg"]);
    }
    const r = await this.call(calls);
    type Seen = { from?: Address[] | null; to?: Address[] | null; cc?: Address[] | null; bcc?: Address[] | null; receivedAt: string };
    const seen: { a: Address; at: string }[] = [];
    for (const [name, args] of r) {
      if (name !== "Email/get") continue;
      for (const e of (args["list"] ?? []) as Seen[]) {
        for (const a of [...(e.from ?? []), ...(e.to ?? []), ...(e.cc ?? []), ...(e.bcc ?? [])]) seen.push({ a, at: e.receivedAt });
      }
    }
    return seen.sort((x, y) => y.at.localeCompare(x.at)).map((x) => x.a);
  }

  async vacation(): Promise<Vacation> {
    const [r] = await this.call([["VacationResponse/get", { ids: ["singleton"] }, "v"]]);
    const v = ((r?.[1]["list"] ?? []) as Vacation[])[0];
    return v ?? { isEnabled: false, fromDate: null, toDate: null, subject: null, textBody: null };
  }

  async setVacation(v: Vacation): Promise<void> {
    await this.set([["VacationResponse/set", { update: { singleton: v } }, "v"]]);
  }

  // events reads the event source (RFC 8620 §7.3) with fetch, since
  // EventSource cannot send an Authorization header, and calls onState for
  // every StateChange until signal aborts or the stream ends.
  async events(onState: () => void, signal: AbortSignal): Promise<void> {
    if (!this.session) throw new Error("not connected");
    const url = this.session.eventSourceUrl
      .replace("{types}", "Email,Mailbox").replace("{closeafter}", "no").replace("{ping}", "30");
    const res = await this.request(url, { signal, headers: { Accept: "text/event-stream" } });
    if (!res.body) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        // Server-sent events: a block whose event field is "state".
        if (/^event:\s*state$/m.test(block)) onState();
      }
    }
  }

  // Casella's account extension (docs/jmap.md): the senders whose remote
  // images load without asking, app passwords and the password.
  async allowedSenders(): Promise<Set<string>> {
    if (!this.session?.account) return new Set();
    const [r] = await this.call([["RemoteImages/get", { ids: ["singleton"] }, "r"]]);
    const v = ((r?.[1]["list"] ?? []) as { allowedSenders: Record<string, boolean> }[])[0];
    return new Set(Object.keys(v?.allowedSenders ?? {}));
  }

  async allowSender(address: string, on: boolean): Promise<void> {
    // A JSON pointer component (RFC 6901 §4).
    const key = "allowedSenders/" + address.toLowerCase().replace(/~/g, "~0").replace(/\//g, "~1");
    await this.set([["RemoteImages/set", { update: { singleton: { [key]: on ? true : null } } }, "r"]]);
  }

  async appPasswords(): Promise<AppPassword[]> {
    const [r] = await this.call([["AppPassword/get", { ids: null }, "a"]]);
    return (r?.[1]["list"] ?? []) as AppPassword[];
  }

  async createAppPassword(name: string, expires: string | null, currentPassword: string): Promise<AppPassword> {
    const r = await this.set([["AppPassword/set", { currentPassword, create: { a: { name, expires } } }, "a"]]);
    const made = (r[0]?.[1]["created"] as Record<string, AppPassword> | undefined)?.["a"];
    if (!made) throw new Error("AppPassword/set created nothing");
    return made;
  }

  async revokeAppPassword(id: string): Promise<void> {
    await this.set([["AppPassword/set", { destroy: [id] }, "a"]]);
  }

  // changePassword sets a new password and signs the client in with it.
  async changePassword(currentPassword: string, newPassword: string): Promise<void> {
    await this.call([["Password/change", { currentPassword, newPassword }, "p"]]);
    this.auth = basic(this.user, newPassword);
  }
}

// basic is an HTTP Basic Authorization header (RFC 7617 §2: user-id ":"
// password, UTF-8 then base64).
function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "Basic " + btoa(bin);
}

// draftObject writes the message's bodyStructure (RFC 8621 §4.6): the
// text, or a multipart/alternative of the text and the HTML (RFC 2046
// §5.1.4, the preferred last), then the attachments in a multipart/mixed;
// a forwarded message is one of them, message/rfc822 by its blobId.
function draftObject(drafts: string, d: Draft): Record<string, unknown> {
  const text = { partId: "t", type: "text/plain" };
  const body = d.html === null ? text : { type: "multipart/alternative", subParts: [text, { partId: "h", type: "text/html" }] };
  const atts = d.attachments.map((a) => ({ blobId: a.blobId, type: a.type, name: a.name, disposition: "attachment" }));
  const o: Record<string, unknown> = {
    mailboxIds: { [drafts]: true }, keywords: { $draft: true, $seen: true },
    from: [d.from], to: d.to, subject: d.subject,
    bodyStructure: atts.length > 0 ? { type: "multipart/mixed", subParts: [body, ...atts] } : body,
    bodyValues: { t: { value: d.body }, ...(d.html === null ? {} : { h: { value: d.html } }) },
  };
  if (d.cc.length > 0) o["cc"] = d.cc;
  if (d.bcc.length > 0) o["bcc"] = d.bcc;
  if (d.inReplyTo) o["inReplyTo"] = d.inReplyTo;
  if (d.references) o["references"] = d.references;
  return o;
}
