// A small JMAP client (RFC 8620, RFC 8621) over fetch with HTTP Basic
// auth: the webmail has no private API, so everything here is plain JMAP.

export type Invocation = [string, Record<string, unknown>, string];

export interface Session {
  apiUrl: string;
  accountId: string;
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
  subject: string | null;
  from: Address[] | null;
  receivedAt: string;
  keywords: Record<string, boolean>;
  preview: string;
}

export interface BodyPart {
  partId: string;
  type: string;
}

export interface Email extends EmailSummary {
  to: Address[] | null;
  textBody: BodyPart[];
  htmlBody: BodyPart[];
  bodyValues: Record<string, { value: string }>;
}

export class AuthError extends Error {}

const using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

export class Client {
  private readonly auth: string;
  session: Session | null = null;

  constructor(user: string, password: string) {
    // RFC 7617 §2: user-id ":" password, UTF-8 then base64.
    const bytes = new TextEncoder().encode(`${user}:${password}`);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    this.auth = "Basic " + btoa(bin);
  }

  private async fetchJSON(url: string, init: RequestInit = {}): Promise<unknown> {
    const res = await fetch(url, {
      ...init,
      credentials: "omit",
      headers: { ...(init.headers ?? {}), Authorization: this.auth },
    });
    if (res.status === 401) throw new AuthError("unauthorized");
    if (!res.ok) throw new Error(`${url}: ${res.status} ${res.statusText}`);
    return res.json();
  }

  // connect fetches the session resource (RFC 8620 §2).
  async connect(): Promise<Session> {
    const s = (await this.fetchJSON("/.well-known/jmap")) as {
      apiUrl: string;
      primaryAccounts: Record<string, string>;
    };
    const accountId = s.primaryAccounts["urn:ietf:params:jmap:mail"];
    if (!accountId) throw new Error("the session has no mail account");
    this.session = { apiUrl: new URL(s.apiUrl, location.href).pathname, accountId };
    return this.session;
  }

  // call sends one request; method errors (RFC 8620 §3.6.2) are thrown.
  async call(calls: Invocation[]): Promise<Invocation[]> {
    if (!this.session) throw new Error("not connected");
    const accountId = this.session.accountId;
    const methodCalls = calls.map(([name, args, tag]) => [name, { accountId, ...args }, tag]);
    const res = (await this.fetchJSON(this.session.apiUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ using, methodCalls }),
    })) as { methodResponses: Invocation[] };
    for (const [name, args] of res.methodResponses) {
      if (name === "error") throw new Error(`JMAP error: ${String(args["type"])}`);
    }
    return res.methodResponses;
  }

  async mailboxes(): Promise<Mailbox[]> {
    const [r] = await this.call([["Mailbox/get", { ids: null }, "m"]]);
    const list = (r?.[1]["list"] ?? []) as Mailbox[];
    return list.sort((a, b) => a.sortOrder - b.sortOrder || a.name.localeCompare(b.name));
  }

  // page lists a mailbox newest first from position (RFC 8621 §4.4).
  async page(mailboxId: string, position: number, limit: number): Promise<{ total: number; emails: EmailSummary[] }> {
    const r = await this.call([
      ["Email/query", {
        filter: { inMailbox: mailboxId },
        sort: [{ property: "receivedAt", isAscending: false }],
        position, limit, calculateTotal: true,
      }, "q"],
      ["Email/get", {
        "#ids": { resultOf: "q", name: "Email/query", path: "/ids" },
        properties: ["id", "subject", "from", "receivedAt", "keywords", "preview"],
      }, "g"],
    ]);
    const total = (r[0]?.[1]["total"] ?? 0) as number;
    const emails = (r[1]?.[1]["list"] ?? []) as EmailSummary[];
    return { total, emails };
  }

  async email(id: string): Promise<Email | null> {
    const [r] = await this.call([["Email/get", {
      ids: [id],
      properties: ["id", "subject", "from", "to", "receivedAt", "keywords", "preview", "textBody", "htmlBody", "bodyValues"],
      fetchTextBodyValues: true,
      fetchHTMLBodyValues: true,
    }, "e"]]);
    const list = (r?.[1]["list"] ?? []) as Email[];
    return list[0] ?? null;
  }

  // markSeen sets $seen with a patch (RFC 8620 §5.3, RFC 8621 §4.1.1).
  async markSeen(id: string): Promise<void> {
    await this.call([["Email/set", { update: { [id]: { "keywords/$seen": true } } }, "s"]]);
  }

  // send writes a plain-text message into Drafts and submits it in the same
  // request (RFC 8621 §7.5), moving it to Sent once the submission exists.
  async send(mailboxes: Mailbox[], to: string[], subject: string, body: string): Promise<void> {
    const drafts = mailboxes.find((m) => m.role === "drafts");
    const sent = mailboxes.find((m) => m.role === "sent");
    if (!drafts || !sent) throw new Error("no Drafts or Sent mailbox");
    const [ident] = await this.call([["Identity/get", { ids: null }, "i"]]);
    const identity = ((ident?.[1]["list"] ?? []) as { id: string; email: string; name: string }[])[0];
    if (!identity) throw new Error("no identity");
    const r = await this.call([
      ["Email/set", { create: { m: {
        mailboxIds: { [drafts.id]: true }, keywords: { $draft: true, $seen: true },
        from: [{ name: identity.name || null, email: identity.email }], to: to.map((email) => ({ email })), subject,
        textBody: [{ partId: "1", type: "text/plain" }], bodyValues: { "1": { value: body } },
      } } }, "e"],
      ["EmailSubmission/set", {
        create: { s: { identityId: identity.id, emailId: "#m" } },
        onSuccessUpdateEmail: { "#s": { [`mailboxIds/${drafts.id}`]: null, [`mailboxIds/${sent.id}`]: true, "keywords/$draft": null } },
      }, "s"],
    ]);
    for (const [name, args] of r) {
      const failed = args["notCreated"] as Record<string, { type: string; description?: string }> | undefined;
      const first = failed && Object.values(failed)[0];
      if (first) throw new Error(`${name}: ${first.type}${first.description ? " (" + first.description + ")" : ""}`);
    }
  }
}
