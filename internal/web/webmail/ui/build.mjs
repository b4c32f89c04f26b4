// Bundles the webmail into ../dist (embedded by the Go package) and prints
// the initial load gzipped; fails above the 150 KB budget of issue 22.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const out = new URL("../dist/", import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/main.tsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  outfile: new URL("app.js", out).pathname,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync("src/index.html", new URL("index.html", out));
copyFileSync("src/app.css", new URL("app.css", out));

const budget = 150 * 1024;
let total = 0;
for (const f of ["index.html", "app.js", "app.css"]) {
  const n = gzipSync(readFileSync(new URL(f, out)), { level: 9 }).length;
  total += n;
  console.log(`${f}: ${n} bytes gzipped`);
}
console.log(`initial load: ${total} bytes gzipped (budget ${budget})`);
if (total > budget) {
  console.error("over budget");
  process.exit(1);
}
