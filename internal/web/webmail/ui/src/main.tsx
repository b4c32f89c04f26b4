import { render } from "preact";
import { App } from "./app";
import { lang, t } from "./i18n";

document.documentElement.lang = lang;
document.title = t.title;
const root = document.getElementById("app");
if (root) render(<App />, root);
