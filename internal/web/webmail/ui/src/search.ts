// The search box's language: words are searched everywhere (the JMAP text
// filter), and field:value terms become the other FilterCondition
// properties of RFC 8621 §4.4.1. Values may be quoted.
import type { Filter, Mailbox } from "./jmap";

// parseSearch turns the box's text into a filter; in: names a mailbox by
// name or role, dates are YYYY-MM-DD in the user's day.
export function parseSearch(q: string, boxes: Mailbox[]): Filter {
  const f: Filter = {};
  const words: string[] = [];
  for (const m of q.matchAll(/(\w+:)?(?:"([^"]*)"|(\S+))/g)) {
    const field = m[1]?.slice(0, -1).toLowerCase();
    const value = m[2] ?? m[3] ?? "";
    switch (field) {
      case "from": case "to": case "subject":
        f[field] = value;
        break;
      case "has":
        if (value.toLowerCase().startsWith("attachment")) f.hasAttachment = true;
        break;
      case "after": case "before": {
        const d = new Date(value + "T00:00:00");
        if (!Number.isNaN(d.getTime())) f[field] = d.toISOString().replace(/\.\d+Z$/, "Z");
        break;
      }
      case "in": {
        const v = value.toLowerCase();
        const box = boxes.find((b) => b.name.toLowerCase() === v || b.role === v);
        if (box) f.inMailbox = box.id;
        break;
      }
      default:
        words.push(m[0]);
    }
  }
  if (words.length > 0) f.text = words.join(" ");
  return f;
}
