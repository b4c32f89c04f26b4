// The buttons that act on messages, and the mailbox picker for "move".
import { resumeDraft, startCompose } from "./compose";
import { fill, t } from "./i18n";
import { mailboxes, moveTo, moveToRole, open, overlay, selection, summaries, targets, toggle } from "./state";

export function Actions({ reading = false }: { reading?: boolean }) {
  const tr = t.value;
  const which = targets();
  if (which.length === 0) return null;
  const first = summaries.value.get(which[0] ?? "");
  const seen = first?.keywords["$seen"] === true;
  const flagged = first?.keywords["$flagged"] === true;
  return (
    <div class="actions" role="toolbar" aria-label={tr.messages}>
      {reading && open.value && (
        <>
          <button type="button" class="reply" onClick={() => startCompose("reply", open.value)}>{tr.reply}</button>
          <button type="button" class="reply-all" onClick={() => startCompose("replyAll", open.value)}>{tr.replyAll}</button>
          <button type="button" class="forward" onClick={() => startCompose("forward", open.value)}>{tr.forward}</button>
          <button type="button" class="forward-attached" onClick={() => startCompose("forwardAttached", open.value)}>{tr.forwardAttached}</button>
          {open.value.keywords["$draft"] && <button type="button" class="edit-draft" onClick={() => { if (open.value) void resumeDraft(open.value); }}>{tr.editDraft}</button>}
        </>
      )}
      <button type="button" class="archive" onClick={() => void moveToRole("archive")}>{tr.archive}</button>
      <button type="button" class="delete" onClick={() => void moveToRole("trash")}>{tr.delete}</button>
      <button type="button" class="junk" onClick={() => void moveToRole("junk")}>{tr.junk}</button>
      <button type="button" class="seen" onClick={() => void toggle("$seen")}>{seen ? tr.markUnread : tr.markRead}</button>
      <button type="button" class="flag-btn" aria-pressed={flagged} onClick={() => void toggle("$flagged")}>{flagged ? tr.unflag : tr.flag}</button>
      <button type="button" class="move" aria-haspopup="dialog" onClick={() => { overlay.value = "move"; }}>{tr.moveTo}</button>
      {selection.value.size > 0 && <span class="count" role="status">{fill(tr.selectedN, { n: selection.value.size })}</span>}
    </div>
  );
}

export function MovePicker() {
  const tr = t.value;
  return (
    <div class="dialog" role="dialog" aria-modal="true" aria-label={tr.moveTo}>
      <h2>{tr.moveTo}</h2>
      <ul class="picker">
        {mailboxes.value.map((m) => (
          <li key={m.id}>
            <button type="button" onClick={() => { overlay.value = null; void moveTo(m, m.role === "junk"); }}>{m.name}</button>
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => { overlay.value = null; }}>{tr.cancel}</button>
    </div>
  );
}
