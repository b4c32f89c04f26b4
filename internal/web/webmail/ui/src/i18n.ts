// English and Italian strings, chosen from the browser's language.

const en = {
  title: "Casella",
  address: "Address",
  password: "Password",
  signIn: "Sign in",
  signOut: "Sign out",
  badLogin: "Wrong address or password.",
  failed: "The server did not answer: ",
  mailboxes: "Mailboxes",
  messages: "Messages",
  more: "Load more",
  empty: "No messages.",
  noSubject: "(no subject)",
  from: "From",
  to: "To",
  pick: "Select a message to read it.",
  loading: "Loading…",
  htmlNote: "Remote images are blocked.",
  write: "Write",
  subject: "Subject",
  send: "Send",
  cancel: "Cancel",
  sent: "Message sent.",
};

export type Strings = typeof en;

const it: Strings = {
  title: "Casella",
  address: "Indirizzo",
  password: "Password",
  signIn: "Accedi",
  signOut: "Esci",
  badLogin: "Indirizzo o password errati.",
  failed: "Il server non ha risposto: ",
  mailboxes: "Cartelle",
  messages: "Messaggi",
  more: "Carica altri",
  empty: "Nessun messaggio.",
  noSubject: "(senza oggetto)",
  from: "Da",
  to: "A",
  pick: "Seleziona un messaggio per leggerlo.",
  loading: "Caricamento…",
  htmlNote: "Le immagini remote sono bloccate.",
  write: "Scrivi",
  subject: "Oggetto",
  send: "Invia",
  cancel: "Annulla",
  sent: "Messaggio inviato.",
};

export const lang = navigator.language.toLowerCase().startsWith("it") ? "it" : "en";
export const t: Strings = lang === "it" ? it : en;
