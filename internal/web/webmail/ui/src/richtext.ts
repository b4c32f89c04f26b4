// The HTML of messages written here: what the editor may keep, the
// text/plain alternative made from it (RFC 2046 §5.1.4), and plain text
// turned into HTML for a reply or a switch of format.

import { parseInert } from "./html";

// kept are the elements the HTML part may hold: the toolbar's and what a
// paste commonly brings that a reader shows well. Others give up their
// tags but keep their text, except those whose content is not text.
const kept = new Set([
  "A", "B", "STRONG", "I", "EM", "U", "S", "STRIKE", "P", "DIV", "SPAN", "BR", "UL", "OL", "LI", "BLOCKQUOTE",
  "PRE", "CODE", "H1", "H2", "H3", "H4", "HR", "TABLE", "THEAD", "TBODY", "TR", "TD", "TH", "SUB", "SUP",
]);
const dropped = new Set([
  "SCRIPT", "STYLE", "TITLE", "HEAD", "META", "LINK", "BASE", "IFRAME", "FRAME", "OBJECT", "EMBED", "TEMPLATE",
  "SVG", "MATH", "FORM", "INPUT", "BUTTON", "SELECT", "TEXTAREA", "IMG", "VIDEO", "AUDIO", "PICTURE", "CANVAS", "NOSCRIPT",
]);

// safeHref keeps the links a recipient can follow without surprise.
export function safeHref(v: string): boolean {
  return /^(https?:|mailto:)/i.test(v.trim());
}

function clean(node: Node): void {
  for (const child of [...node.childNodes]) {
    if (child.nodeType === Node.COMMENT_NODE) {
      child.remove();
      continue;
    }
    if (!(child instanceof Element)) continue;
    const tag = child.tagName.toUpperCase();
    if (dropped.has(tag)) {
      child.remove();
      continue;
    }
    clean(child);
    if (!kept.has(tag)) {
      child.replaceWith(...child.childNodes);
      continue;
    }
    for (const a of [...child.attributes]) {
      const keep = (tag === "A" && a.name === "href" && safeHref(a.value)) || (tag === "BLOCKQUOTE" && a.name === "type") ||
        ((tag === "TD" || tag === "TH") && (a.name === "colspan" || a.name === "rowspan"));
      if (!keep) child.removeAttribute(a.name);
    }
  }
}

// sanitize returns the body of html with only the kept elements and
// attributes: no script, style, handler, image or form goes out.
export function sanitize(html: string): string {
  const doc = parseInert(html);
  clean(doc.body);
  return doc.body.innerHTML;
}

// htmlDocument wraps a sanitised body as the text/html part.
export function htmlDocument(body: string): string {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${body}</body></html>`;
}

export const escapeHTML = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// textToHtml shows plain text as HTML, line for line.
export function textToHtml(text: string): string {
  if (text === "") return "";
  return text.split("\n").map((l) => `<div>${l === "" ? "<br>" : escapeHTML(l)}</div>`).join("");
}

const blocks = new Set(["P", "DIV", "UL", "OL", "LI", "BLOCKQUOTE", "PRE", "H1", "H2", "H3", "H4", "HR", "TABLE", "TR"]);

// htmlToText renders HTML as the text/plain alternative: paragraphs and
// line breaks as lines, list items with a bullet or their number, quotes
// with "> " (RFC 3676 §4.5) and links with their address after the text.
export function htmlToText(html: string): string {
  const doc = parseInert(html);
  const lines: string[] = [];
  let line = "";
  const breakLine = () => {
    lines.push(line);
    line = "";
  };
  const endBlock = () => {
    if (line !== "") breakLine();
  };
  const walk = (node: Node, pre: boolean) => {
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) {
        const v = child.textContent ?? "";
        if (pre) {
          const parts = v.split("\n");
          parts.forEach((p, i) => {
            if (i > 0) breakLine();
            line += p;
          });
        } else {
          const collapsed = v.replace(/\s+/g, " ");
          line += line === "" ? collapsed.trimStart() : collapsed;
        }
        continue;
      }
      if (!(child instanceof Element)) continue;
      const tag = child.tagName.toUpperCase();
      if (dropped.has(tag)) continue;
      if (tag === "BR") {
        breakLine();
        continue;
      }
      if (tag === "BLOCKQUOTE") {
        endBlock();
        const inner = htmlToText(child.innerHTML).replace(/\n$/, "");
        for (const l of inner.split("\n")) lines.push(l === "" ? ">" : "> " + l);
        continue;
      }
      if (blocks.has(tag)) endBlock();
      if (tag === "LI") {
        const parent = child.parentElement;
        line += parent?.tagName.toUpperCase() === "OL" ? `${[...parent.children].indexOf(child) + 1}. ` : "- ";
      }
      if (tag === "HR") line = "----";
      walk(child, pre || tag === "PRE");
      if (tag === "A") {
        const href = child.getAttribute("href") ?? "";
        const shown = (child.textContent ?? "").trim();
        const bare = href.replace(/^mailto:/i, "");
        if (href && shown !== href && shown !== bare) line += ` <${href}>`;
      }
      if (tag === "TD" || tag === "TH") line += " ";
      if (blocks.has(tag)) endBlock();
    }
  };
  walk(doc.body, false);
  endBlock();
  // Trailing blanks go, but for the signature's "-- " (RFC 3676 §4.3).
  return lines.map((l) => (l === "-- " ? l : l.replace(/[ \t]+$/, ""))).join("\n").replace(/\n{3,}/g, "\n\n").trim() + "\n";
}
