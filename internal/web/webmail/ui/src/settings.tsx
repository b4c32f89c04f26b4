// Settings: language, theme, notifications, the vacation responder
// (RFC 8621 §8, VacationResponse), and through Casella's account
// extension (docs/jmap.md) the password and app passwords.
import { signal } from "@preact/signals";
import { useEffect } from "preact/hooks";
import { MethodError, throttled, type AppPassword, type Vacation } from "./jmap";
import { fill, formats, lang, languages, setLang, t, type Lang } from "./i18n";
import { allowedSenders, client, fail, forgetSender, overlay, say } from "./state";

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

async function changePassword(form: HTMLFormElement): Promise<void> {
  const c = client.value;
  if (!c) return;
  const f = new FormData(form);
  const [current, next, again] = ["current", "next", "again"].map((k) => String(f.get(k) ?? ""));
  const tr = t.value;
  const min = c.session?.minPasswordLength ?? 0;
  if (next !== again) return say(tr.passwordsDiffer);
  if ([...(next ?? "")].length < min) return say(fill(tr.passwordShort, { n: min }));
  try {
    await c.changePassword(current ?? "", next ?? "");
    form.reset();
    say(tr.passwordChanged);
  } catch (err) {
    if (throttled(err)) say(tr.throttled);
    else if (err instanceof MethodError && err.type === "forbidden") say(tr.wrongPassword);
    else fail(err);
  }
}

const tokens = signal<AppPassword[] | null>(null);
// secret is the app password just created, shown this once.
const secret = signal<AppPassword | null>(null);

const day = 86400000;

async function createToken(form: HTMLFormElement): Promise<void> {
  const c = client.value;
  if (!c) return;
  const f = new FormData(form);
  const days = Number(f.get("expires") ?? 0);
  const expires = days > 0 ? utc(new Date(Date.now() + days * day).toISOString()) : null;
  try {
    secret.value = await c.createAppPassword(String(f.get("name") ?? ""), expires, String(f.get("current") ?? ""));
    form.reset();
    tokens.value = await c.appPasswords();
  } catch (err) {
    if (throttled(err)) say(t.value.throttled);
    else if (err instanceof MethodError && err.type === "forbidden") say(t.value.wrongPassword);
    else fail(err);
  }
}

async function revoke(id: string): Promise<void> {
  const c = client.value;
  if (!c) return;
  try {
    await c.revokeAppPassword(id);
    tokens.value = await c.appPasswords();
    say(t.value.revoked);
  } catch (err) {
    fail(err);
  }
}

function Account() {
  const tr = t.value;
  const min = client.value?.session?.minPasswordLength ?? 0;
  const date = (s: string) => formats.value.date.format(new Date(s));
  useEffect(() => {
    secret.value = null;
    client.value?.appPasswords().then((l) => { tokens.value = l; }, fail);
    // Another device may have allowed a sender since sign-in.
    client.value?.allowedSenders().then((l) => { allowedSenders.value = l; }, fail);
  }, []);
  return (
    <>
      <h3>{tr.changePassword}</h3>
      <form class="password" onSubmit={(ev) => { ev.preventDefault(); void changePassword(ev.currentTarget); }}>
        <label for="pw-current">{tr.currentPassword}</label>
        <input id="pw-current" name="current" type="password" autocomplete="current-password" required />
        <label for="pw-next">{tr.newPassword}</label>
        <input id="pw-next" name="next" type="password" autocomplete="new-password" minLength={min} required />
        <label for="pw-again">{tr.repeatPassword}</label>
        <input id="pw-again" name="again" type="password" autocomplete="new-password" minLength={min} required />
        <button type="submit">{tr.changePassword}</button>
      </form>
      <h3>{tr.appPasswords}</h3>
      <p><small>{tr.appPasswordsHint}</small></p>
      {tokens.value === null ? <p>{tr.loading}</p> : tokens.value.length === 0 ? <p class="no-tokens">{tr.noTokens}</p> : (
        <ul class="tokens">
          {tokens.value.map((k) => (
            <li key={k.id} data-id={k.id}>
              <strong>{k.name}</strong>{" "}
              <small>
                {fill(tr.created, { date: date(k.created) })}, {k.lastUsed ? fill(tr.lastUsed, { date: date(k.lastUsed) }) : tr.neverUsed}
                {k.expires && <>, {fill(tr.expiresOn, { date: date(k.expires) })}</>}
              </small>{" "}
              <button type="button" class="revoke" aria-label={`${tr.revoke} ${k.name}`} onClick={() => void revoke(k.id)}>{tr.revoke}</button>
            </li>
          ))}
        </ul>
      )}
      {secret.value?.secret && (
        <div class="secret" role="status">
          <p>{tr.tokenSecret}</p>
          <code>{secret.value.secret}</code>
        </div>
      )}
      <form class="new-token" onSubmit={(ev) => { ev.preventDefault(); void createToken(ev.currentTarget); }}>
        <label for="tk-name">{tr.tokenName}</label>
        <input id="tk-name" name="name" type="text" maxLength={64} required />
        <label for="tk-expires">{tr.tokenExpires}</label>
        <select id="tk-expires" name="expires">
          <option value="0">{tr.never}</option>
          <option value="30">{tr.in30}</option>
          <option value="90">{tr.in90}</option>
          <option value="365">{tr.in365}</option>
        </select>
        <label for="tk-current">{tr.currentPassword}</label>
        <input id="tk-current" name="current" type="password" autocomplete="current-password" required />
        <button type="submit">{tr.create}</button>
      </form>
      <h3>{tr.trustedSenders}</h3>
      {allowedSenders.value.size === 0 ? <p class="no-trusted">{tr.noTrusted}</p> : (
        <ul class="trusted">
          {[...allowedSenders.value].sort().map((a) => (
            <li key={a}>{a} <button type="button" aria-label={`${tr.remove} ${a}`} onClick={() => void forgetSender(a)}>{tr.remove}</button></li>
          ))}
        </ul>
      )}
    </>
  );
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
      {client.value?.session?.account && <Account />}
      <button type="button" class="close" onClick={() => { overlay.value = null; }}>{tr.close}</button>
    </div>
  );
}
