import { effect } from "@preact/signals";
import { render } from "preact";
import { App } from "./app";
import { lang, t } from "./i18n";
import { applyTheme } from "./settings";

effect(() => {
  document.documentElement.lang = lang.value;
  document.title = t.value.title;
});
applyTheme();
const root = document.getElementById("app");
if (root) render(<App />, root);
