// Search across the user's conversations: a button in the top bar and Ctrl+K / ⌘K open a modal
// <dialog> (the browser traps focus in it, closes it on Escape and gives focus back); results
// open the conversation scrolled to the message, loading older pages until it is there.

import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, NetworkError, type SearchHit, searchChats } from "../api";
import * as app from "../state";
import { Icon } from "./icons";

const DEBOUNCE_MS = 200;
const MAX_OLDER_PAGES = 40;

function nextFrame(ms = 50): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messageElement(id: string): HTMLElement | null {
  return document.querySelector<HTMLElement>(`article.msg[data-message-id="${CSS.escape(id)}"]`);
}

/** Open the session, then bring the message into view and focus it. */
export async function reveal(sessionId: string, messageId: string | null): Promise<void> {
  app.go(app.chatHref(sessionId));
  if (messageId === null) return;
  const deadline = Date.now() + 30_000;
  let pages = 0;
  while (Date.now() < deadline) {
    const held = app.conversation.value;
    if (held?.sessionId === sessionId && held.readSeq > 0) {
      const el = messageElement(messageId);
      if (el) {
        el.scrollIntoView({ block: "center" });
        el.classList.add("found");
        el.tabIndex = -1;
        el.focus({ preventScroll: true });
        setTimeout(() => el.classList.remove("found"), 2500);
        return;
      }
      if (held.byId.has(messageId) || app.loadingOlder.value) {
        await nextFrame(); // held but not rendered yet (the list renders a window), or a page on its way
      } else if (held.hasOlder && pages < MAX_OLDER_PAGES) {
        pages += 1;
        await app.loadOlder();
        await nextFrame(); // the screen's state follows on the next animation frame
      } else {
        app.notify("That message is no longer in this conversation.");
        return;
      }
    } else {
      await nextFrame();
    }
  }
}

function Snippet({ hit }: { hit: SearchHit }) {
  return (
    <span class="search-snippet">
      {hit.snippet.map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>))}
    </span>
  );
}

export function SearchDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const input = useRef<HTMLInputElement>(null);
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  // A close this component makes is in its state already; its `close` event, dispatched a task
  // later, must not count as the browser's own (a Ctrl+K may have reopened the dialog meanwhile).
  const ownClose = useRef(false);

  useEffect(() => {
    const el = dialog.current;
    if (!el) return;
    if (open && !el.open) {
      el.showModal();
      input.current?.select();
    } else if (!open && el.open) {
      ownClose.current = true;
      el.close();
    }
  }, [open]);

  useEffect(() => {
    const text = q.trim();
    if (!text) {
      setHits(null);
      setError(null);
      return undefined;
    }
    let current = true;
    const timer = setTimeout(async () => {
      try {
        const found = await searchChats(text);
        if (!current) return;
        setHits(found);
        setError(null);
      } catch (err) {
        if (!current) return;
        setHits(null);
        setError(err instanceof ApiError || err instanceof NetworkError ? err.message : String(err));
      }
    }, DEBOUNCE_MS);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [q]);

  const choose = (hit: SearchHit) => {
    onClose();
    void reveal(hit.session_id, hit.message_id);
  };

  return (
    <dialog
      ref={dialog}
      class="modal search-dialog"
      aria-labelledby="search-title"
      // Escape: closed in our state at once (the cancel event), so a Ctrl+K right after reopens it.
      // The close event comes a task later: only a close the browser made itself is news.
      onCancel={onClose}
      onClose={() => {
        if (ownClose.current) ownClose.current = false;
        else if (!dialog.current?.open) onClose();
      }}
    >
      <form method="dialog" class="search-form" onSubmit={(e) => e.preventDefault()}>
        <h2 id="search-title" class="sr-only">
          Search conversations
        </h2>
        <label class="search-field">
          <Icon name="search" />
          <span class="sr-only">Search all conversations</span>
          <input
            ref={input}
            type="search"
            value={q}
            placeholder="Search all conversations"
            autoComplete="off"
            aria-controls="search-results"
            onInput={(e) => setQ((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") {
                // A search input would clear itself first; one Escape closes, as in every ⌘K palette.
                e.preventDefault();
                onClose();
              } else if (e.key === "Enter" && hits?.length) {
                e.preventDefault();
                choose(hits[0]);
              }
            }}
          />
        </label>
        <button type="button" class="icon-btn" aria-label="Close search" onClick={onClose}>
          <Icon name="close" size={16} />
        </button>
      </form>
      <div id="search-results" class="search-results" role="region" aria-live="polite" aria-label="Search results">
        {error && <p class="search-note">Search failed: {error}</p>}
        {hits !== null && hits.length === 0 && <p class="search-note">Nothing found for “{q.trim()}”.</p>}
        {hits !== null && hits.length > 0 && (
          <ul>
            {hits.map((hit) => (
              <li key={`${hit.session_id}:${hit.message_id ?? "title"}`}>
                <button type="button" class="search-hit" onClick={() => choose(hit)} data-session-id={hit.session_id} data-message-id={hit.message_id ?? ""}>
                  <span class="search-where">
                    {hit.session_title || "Untitled chat"}
                    {hit.kind === "message" && <span class="search-role"> · {hit.role === "assistant" ? "answer" : "you"}</span>}
                  </span>
                  <Snippet hit={hit} />
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
    </dialog>
  );
}

/** The top bar's search button and the Ctrl+K / ⌘K shortcut. */
export function SearchLauncher() {
  const [open, setOpen] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        setOpen(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <>
      <button type="button" class="btn ghost small search-open" onClick={() => setOpen(true)} aria-keyshortcuts="Control+K Meta+K">
        <Icon name="search" size={16} /> <span class="search-label">Search</span> <kbd aria-hidden="true">Ctrl K</kbd>
      </button>
      <SearchDialog open={open} onClose={() => setOpen(false)} />
    </>
  );
}
