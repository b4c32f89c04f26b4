// Prepares hostile HTML mail for a sandboxed srcdoc iframe. The iframe's
// sandbox (no allow-scripts, no allow-same-origin) and the CSP below are the
// guarantees; removing scripts and handlers here is a second layer.

const csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

// fetching are the attributes through which an element loads a URL.
const fetching = new Set(["src", "srcset", "background", "poster", "href", "xlink:href", "action", "formaction", "data", "lowsrc", "dynsrc"]);

export function frameDocument(html: string): string {
  // DOMParser builds an inert document: nothing in it runs or loads.
  const doc = new DOMParser().parseFromString(html, "text/html");
  for (const el of doc.querySelectorAll("script, iframe, object, embed, base, meta, link, form")) {
    el.remove();
  }
  for (const el of doc.querySelectorAll("*")) {
    for (const a of [...el.attributes]) {
      const v = a.value.trim().toLowerCase();
      if (a.name.startsWith("on") || v.startsWith("javascript:")) el.removeAttribute(a.name);
      // Remote images are not even in the document: Chromium's preload
      // scanner asks for an <img src> before the frame's CSP applies.
      else if (fetching.has(a.name) && !(el instanceof HTMLAnchorElement) && !v.startsWith("data:")) el.removeAttribute(a.name);
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
  meta.setAttribute("content", csp);
  doc.head.prepend(meta);
  return "<!doctype html>" + doc.documentElement.outerHTML;
}

function defuseCSS(css: string): string {
  return css.replace(/url\s*\(/gi, "invalid(").replace(/@import/gi, "@invalid").replace(/\\/g, "");
}
