// The message list, virtualised: only the rows on screen exist in the
// DOM, and the pages of Email/query positions under them are loaded as the
// list scrolls, so a 100,000-message mailbox costs what a small one does.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { fill, formats, t } from "./i18n";
import { cursor, ensure, filter, ids, openAt, searching, selection, summaries, threadEmails, threads, toggleSelect, total, unavailable } from "./state";

export const rowHeight = 64;
const overscan = 10;

// dragIds carries the messages being dragged to a mailbox.
export const dragType = "application/x-casella-ids";

export function List() {
  const box = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  const n = total.value ?? 0;
  const first = Math.max(0, Math.floor(view.top / rowHeight) - overscan);
  const last = Math.min(n, Math.ceil((view.top + view.height) / rowHeight) + overscan);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const measure = () => setView({ top: el.scrollTop, height: el.clientHeight });
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  useEffect(() => { void ensure(first, Math.max(last, first + 1)); }, [first, last, n]);
  // Keep the cursor's row on screen as j and k move it.
  useEffect(() => {
    const el = box.current;
    const i = cursor.value;
    if (!el || i < 0) return;
    const top = i * rowHeight;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
  }, [cursor.value]);

  const tr = t.value;
  const rows = [];
  for (let i = first; i < last; i++) {
    const id = ids.value[i];
    const e = id ? summaries.value.get(id) : undefined;
    const style = { top: `${i * rowHeight}px`, height: `${rowHeight}px` };
    if (!id || !e) {
      rows.push(<li key={`p${i}`} class="row placeholder" style={style} aria-hidden="true" />);
      continue;
    }
    const checked = selection.value.has(id);
    const from = e.from?.[0]?.name || e.from?.[0]?.email || "";
    const members = threads.value ? threadEmails.value.get(e.threadId) ?? [id] : [id];
    const inThread = members.length;
    // A conversation is unread while any of its messages here is.
    const box = filter.value.inMailbox;
    const unread = !e.keywords["$seen"] || (inThread > 1 && members.some((m) => {
      const s = summaries.value.get(m);
      return s !== undefined && !s.keywords["$seen"] && (box === undefined || s.mailboxIds[box] === true);
    }));
    const cls = ["row", i === cursor.value ? "sel" : "", unread ? "unread" : "", checked ? "checked" : ""].join(" ");
    rows.push(
      <li key={id} class={cls} style={style} role="option" aria-selected={i === cursor.value} data-id={id}
        draggable onDragStart={(ev) => {
          const which = checked ? [...selection.value] : [id];
          ev.dataTransfer?.setData(dragType, JSON.stringify(which));
          if (ev.dataTransfer) ev.dataTransfer.effectAllowed = "move";
        }}
        onClick={(ev) => { if (ev.shiftKey || ev.ctrlKey || ev.metaKey) toggleSelect(i, ev.shiftKey); else void openAt(i); }}>
        <input type="checkbox" class="pick" checked={checked} aria-label={`${tr.select}: ${e.subject ?? tr.noSubject}`}
          onClick={(ev) => { ev.stopPropagation(); toggleSelect(i, ev.shiftKey); }} />
        <span class="d">{formats.value.date.format(new Date(e.receivedAt))}</span>
        <div class="f">
          {e.keywords["$flagged"] && <span class="flag" title={tr.flagged} aria-label={tr.flagged}>★</span>}
          {e.hasAttachment && (
            <svg class="clip" viewBox="0 0 16 16" role="img" aria-label={tr.attachment}>
              <path d="M11 4v7a3 3 0 0 1-6 0V3.5a2 2 0 0 1 4 0V11a1 1 0 0 1-2 0V5" fill="none" stroke="currentColor" stroke-width="1.5" />
            </svg>
          )}
          {from}
          {inThread > 1 && <span class="count" title={fill(tr.inThread, { n: inThread })}> ({inThread})</span>}
        </div>
        <div class="s">{e.subject || tr.noSubject}</div>
        <div class="p">{e.preview}</div>
      </li>,
    );
  }
  let empty = "";
  if (total.value === null) empty = unavailable.value ? tr.unavailable : tr.loading;
  else if (n === 0) empty = tr.empty;
  return (
    <div class="list" ref={box} data-state={total.value !== null ? "ready" : unavailable.value ? "down" : "loading"} onScroll={(ev) => {
      const el = ev.currentTarget;
      setView({ top: el.scrollTop, height: el.clientHeight });
    }}>
      {empty ? <p class={unavailable.value ? "empty down" : "empty"} role="status">{empty}</p> : (
        <ul role="listbox" aria-label={searching.value ? tr.searchResults : tr.messages} aria-multiselectable="true"
          style={{ height: `${n * rowHeight}px` }}>
          {rows}
        </ul>
      )}
    </div>
  );
}
