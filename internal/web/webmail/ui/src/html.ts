// Prepares hostile HTML mail for a sandboxed srcdoc iframe. The iframe's
// sandbox (no allow-scripts, no allow-same-origin) and the CSP below are the
// guarantees; removing scripts and handlers here is a second layer.

const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";
// With the user's leave, images (and only images) may come from anywhere.
const cspImages = "default-src 'none'; style-src 'unsafe-inline'; img-src data: https: http:";

// fetching are the attributes through which an element loads a URL.
const fetching = new Set(["src", "srcset", "background", "poster", "href", "xlink:href", "action", "formaction", "data", "lowsrc", "dynsrc"]);

// imageAttributes are those through which an <img> loads a picture: kept,
// when remote images are allowed, if they point at http or https.
const imageAttributes = new Set(["src", "srcset"]);
const remoteURL = /^\s*https?:\/\//i;

// parseInert parses hostile HTML into an inert document (DOMParser's: it
// has no browsing context, so nothing in it runs or loads); never into the
// live page. Chromium still checks the page's CSP (script-src-attr) for
// every on* attribute its parser meets, in any document, and logs a
// violation although nothing runs: the handlers are renamed first, inside
// tags, to an inert data-casella-on* attribute that the sanitisers drop.
// Attribute values are skipped whole, so a link to ".../on/..." stays.
// A handler the rename misses (a ">" in a quoted value before it) is only
// reported, never run, and is removed like the others.
export function parseInert(html: string): Document {
  const disarmed = html.replace(/<[a-z!?/][^>]*>/gi, (tag) =>
    tag.replace(/=\s*(?:"[^"]*"|'[^']*'|[^\s>]*)|(?<=[\s/"'])on[a-z0-9_-]*(?=[\s/>=]|$)/gi, (m) => (m.startsWith("=") ? m : "data-casella-" + m)));
  return new DOMParser().parseFromString(disarmed, "text/html");
}

// frameDocument returns the document for the frame and how many remote
// images it held: left out unless images is true.
export function frameDocument(html: string, images: boolean): { doc: string; remote: number } {
  let remote = 0;
  const doc = parseInert(html);
  for (const el of doc.querySelectorAll("script, iframe, object, embed, base, meta, link, form")) {
    el.remove();
  }
  for (const el of doc.querySelectorAll("*")) {
    for (const a of [...el.attributes]) {
      const v = a.value.trim().toLowerCase();
      if (a.name.startsWith("on") || a.name.startsWith("data-casella-on") || v.startsWith("javascript:")) el.removeAttribute(a.name);
      // Remote images are not even in the document: Chromium's preload
      // scanner asks for an <img src> before the frame's CSP applies.
      else if (fetching.has(a.name) && !(el instanceof HTMLAnchorElement) && !v.startsWith("data:")) {
        const picture = el instanceof HTMLImageElement && imageAttributes.has(a.name) && remoteURL.test(v);
        if (picture) remote++;
        if (!picture || !images) el.removeAttribute(a.name);
        else el.setAttribute("referrerpolicy", "no-referrer");
      }
    }
  }
  // CSS may fetch too (url(), @import): blocked by the CSP, and not even
  // attempted once rewritten here.
  for (const el of doc.querySelectorAll("style, [style]")) {
    if (el instanceof HTMLStyleElement) el.textContent = defuseCSS(el.textContent ?? "");
    else el.setAttribute("style", defuseCSS(el.getAttribute("style") ?? ""));
  }
  for (const a of doc.querySelectorAll("a[href]")) {
    a.setAttribute("target", "_blank");
    a.setAttribute("rel", "noopener noreferrer");
  }
  const meta = doc.createElement("meta");
  meta.setAttribute("http-equiv", "Content-Security-Policy");
  meta.setAttribute("content", images ? cspImages : csp);
  doc.head.prepend(meta);
  return { doc: "<!doctype html>" + doc.documentElement.outerHTML, remote };
}

function defuseCSS(css: string): string {
  return css.replace(/url\s*\(/gi, "invalid(").replace(/@import/gi, "@invalid").replace(/\\/g, "");
}
