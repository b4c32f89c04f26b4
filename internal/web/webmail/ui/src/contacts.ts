// Address autocomplete: the people mail was exchanged with, asked for once
// per sign-in and kept in memory, ranked by how often and how lately.
import type { Address, Client } from "./jmap";
import { fail, mailboxes } from "./state";

interface Contact {
  name: string | null;
  email: string;
  // score grows with each message, more for recent ones.
  score: number;
}

// scanned is how many of the latest received and sent messages are read,
// at most what one Email/get may ask for.
const scanned = 500;

let loaded: Promise<Map<string, Contact>> | null = null;
let forClient: Client | null = null;

function add(m: Map<string, Contact>, a: Address, score: number): void {
  const key = a.email.toLowerCase();
  if (!key.includes("@")) return;
  const c = m.get(key);
  if (c) {
    c.score += score;
    if (!c.name && a.name) c.name = a.name;
  } else m.set(key, { name: a.name, email: a.email, score });
}

function load(c: Client): Promise<Map<string, Contact>> {
  if (loaded && forClient === c) return loaded;
  forClient = c;
  loaded = c.correspondents(mailboxes.value, Math.min(scanned, c.session?.maxObjectsInGet ?? scanned)).then((list) => {
    const m = new Map<string, Contact>();
    // Newest first: the weight falls from 2 to 1 along the list.
    list.forEach((a, i) => add(m, a, 1 + (list.length - i) / list.length));
    return m;
  }, (err: unknown) => {
    loaded = null;
    fail(err);
    return new Map<string, Contact>();
  });
  return loaded;
}

// remember adds the recipients of a message just sent.
export function remember(c: Client, list: Address[]): void {
  void load(c).then((m) => { for (const a of list) add(m, a, 2); });
}

// suggest returns up to n contacts whose address or a word of whose name
// starts with prefix, the best first, leaving out those in skip.
export async function suggest(c: Client, prefix: string, skip: Set<string>, n = 8): Promise<Address[]> {
  const p = prefix.trim().toLowerCase();
  if (p === "") return [];
  const m = await load(c);
  const hits: Contact[] = [];
  for (const x of m.values()) {
    if (skip.has(x.email.toLowerCase())) continue;
    const words = [x.email.toLowerCase(), ...(x.name ?? "").toLowerCase().split(/\s+/)];
    if (words.some((w) => w.startsWith(p))) hits.push(x);
  }
  return hits.sort((a, b) => b.score - a.score || a.email.localeCompare(b.email)).slice(0, n).map(({ name, email }) => ({ name, email }));
}
