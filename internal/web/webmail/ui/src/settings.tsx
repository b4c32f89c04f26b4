// Settings: language, theme, notifications and the vacation responder
// (RFC 8621 §8, VacationResponse).
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import type { Vacation } from "./jmap";
import { lang, languages, setLang, t, type Lang } from "./i18n";
import { client, fail, overlay, say } from "./state";

export type Theme = "system" | "light" | "dark";

export const theme = signal<Theme>((localStorage.getItem("theme") as Theme | null) ?? "system");

export function applyTheme(): void {
  if (theme.value === "system") delete document.documentElement.dataset["theme"];
  else document.documentElement.dataset["theme"] = theme.value;
}

function setTheme(v: Theme): void {
  localStorage.setItem("theme", v);
  theme.value = v;
  applyTheme();
}

const vacation = signal<Vacation | null>(null);

// The form shows dates as the browser's datetime-local, in the user's zone.
const local = (utc: string | null) => {
  if (!utc) return "";
  const d = new Date(utc);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};
const utc = (v: string) => (v ? new Date(v).toISOString().replace(/\.\d+Z$/, "Z") : null);

async function saveVacation(form: HTMLFormElement): Promise<void> {
  const c = client.value;
  if (!c) return;
  const f = new FormData(form);
  const v: Vacation = {
    isEnabled: f.get("isEnabled") === "on",
    subject: String(f.get("subject") ?? "") || null,
    textBody: String(f.get("textBody") ?? "") || null,
    fromDate: utc(String(f.get("fromDate") ?? "")),
    toDate: utc(String(f.get("toDate") ?? "")),
  };
  try {
    await c.setVacation(v);
    vacation.value = v;
    say(t.value.saved);
  } catch (err) {
    fail(err);
  }
}

export function Settings() {
  const tr = t.value;
  useEffect(() => {
    client.value?.vacation().then((v) => { vacation.value = v; }, fail);
  }, []);
  const v = vacation.value;
  return (
    <div class="dialog settings" role="dialog" aria-modal="true" aria-labelledby="settings-title">
      <h2 id="settings-title">{tr.settings}</h2>
      <label for="lang">{tr.language}</label>
      <select id="lang" value={lang.value} onChange={(ev) => setLang(ev.currentTarget.value as Lang)}>
        {languages.map((l) => <option key={l.code} value={l.code}>{l.name}</option>)}
      </select>
      <label for="theme">{tr.theme}</label>
      <select id="theme" value={theme.value} onChange={(ev) => setTheme(ev.currentTarget.value as Theme)}>
        <option value="system">{tr.themeSystem}</option>
        <option value="light">{tr.themeLight}</option>
        <option value="dark">{tr.themeDark}</option>
      </select>
      {"Notification" in window && Notification.permission === "default" && (
        <button type="button" onClick={() => void Notification.requestPermission()}>{tr.notify}</button>
      )}
      <h3>{tr.vacation}</h3>
      {v ? (
        <form class="vacation" onSubmit={(ev) => { ev.preventDefault(); void saveVacation(ev.currentTarget); }}>
          <label class="check"><input type="checkbox" name="isEnabled" id="vac-on" checked={v.isEnabled} /> {tr.vacationOn}</label>
          <label for="vac-subject">{tr.vacationSubject}</label>
          <input id="vac-subject" name="subject" type="text" value={v.subject ?? ""} />
          <label for="vac-body">{tr.vacationBody}</label>
          <textarea id="vac-body" name="textBody" rows={5} value={v.textBody ?? ""} />
          <label for="vac-from">{tr.vacationFrom}</label>
          <input id="vac-from" name="fromDate" type="datetime-local" value={local(v.fromDate)} />
          <label for="vac-to">{tr.vacationTo}</label>
          <input id="vac-to" name="toDate" type="datetime-local" value={local(v.toDate)} />
          <button type="submit">{tr.save}</button>
        </form>
      ) : <p>{tr.loading}</p>}
      <button type="button" class="close" onClick={() => { overlay.value = null; }}>{tr.close}</button>
    </div>
  );
}
