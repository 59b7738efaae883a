// The chat screen: the session list (new, rename, delete, filter), the conversation with its
// model picker, and the composer.

import { useEffect, useRef, useState } from "preact/hooks";
import { activeAnswer, type MessageView } from "../conversation";
import * as app from "../state";
import { ago, count } from "./format";
import { ConversationTools } from "./audit";
import { Icon } from "./icons";
import { type MessageActions, MessageList } from "./messages";
import { SessionSettingsButton } from "./settings";

/** The button pressed disappears with the old answer's actions: keep keyboard users in the composer. */
function focusComposer(): void {
  document.querySelector<HTMLTextAreaElement>(".chat-main form.composer textarea")?.focus();
}

/** Keep Tab inside `container` (a dialog, the phone drawer): wrap at both ends. */
export function trapTab(e: KeyboardEvent, container: HTMLElement | null): void {
  if (e.key !== "Tab" || !container) return;
  const items = [...container.querySelectorAll<HTMLElement>("a[href], button:not([disabled]), input, select, textarea")].filter(
    (el) => el.getClientRects().length > 0,
  );
  if (items.length === 0) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (e.shiftKey && document.activeElement === first) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && document.activeElement === last) {
    e.preventDefault();
    first.focus();
  }
}

// One object for the whole list, so memoized messages do not re-render when the screen does.
const actions: MessageActions = {
  stop: () => {
    focusComposer();
    void app.stop();
  },
  regenerate: (m: MessageView) => {
    focusComposer();
    void app.regenerate(m);
  },
  retry: (m: MessageView) => {
    focusComposer();
    void app.regenerate(m);
  },
  resend: (m: MessageView) => app.resend(m),
  switchTo: (id: string) => void app.showBranch(id),
  edit: (m: MessageView, content: string) => void app.editMessage(m, content),
};

function SessionRow({ id, title, when, messages, current, onPick }: {
  id: string;
  title: string;
  when: string;
  messages: number;
  current: boolean;
  onPick(): void;
}) {
  const [mode, setMode] = useState<"view" | "rename" | "delete">("view");
  const [draft, setDraft] = useState(title);
  const input = useRef<HTMLInputElement>(null);
  const confirm = useRef<HTMLButtonElement>(null);
  const renameButton = useRef<HTMLButtonElement>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  const box = useRef<HTMLLIElement>(null);
  /** Which button opened the dialog: focus goes back there when it closes. */
  const opener = useRef<"rename" | "delete">("rename");

  useEffect(() => {
    if (mode === "rename") input.current?.select();
    if (mode === "delete") confirm.current?.focus();
  }, [mode]);

  const done = () => {
    setMode("view");
    requestAnimationFrame(() => (opener.current === "delete" ? deleteButton : renameButton).current?.focus());
  };

  const remove = async () => {
    // The row goes away: focus the next chat in the list, else the previous, else New chat.
    const row = box.current;
    const next = (row?.nextElementSibling ?? row?.previousElementSibling)?.querySelector<HTMLElement>("a");
    if (await app.removeSession(id)) {
      if (!current) (next ?? document.querySelector<HTMLElement>(".sidebar .new-chat"))?.focus();
    }
  };

  if (mode === "rename") {
    return (
      <li
        class="session editing"
        ref={box}
        onKeyDown={(e) => trapTab(e, box.current)}
      >
        <form
          class="rename"
          onSubmit={async (e) => {
            e.preventDefault();
            if (await app.renameSession(id, draft)) done();
          }}
        >
          <input
            ref={input}
            value={draft}
            aria-label="New title"
            maxLength={200}
            onInput={(e) => setDraft((e.target as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === "Escape") {
                setDraft(title);
                done();
              }
            }}
          />
          <button type="submit" class="icon-btn" aria-label="Save title">
            <Icon name="check" size={16} />
          </button>
          <button type="button" class="icon-btn" aria-label="Cancel renaming" onClick={() => { setDraft(title); done(); }}>
            <Icon name="close" size={16} />
          </button>
        </form>
      </li>
    );
  }
  if (mode === "delete") {
    return (
      <li
        class="session confirming"
        ref={box}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            done();
          } else trapTab(e, box.current);
        }}
      >
        <div class="confirm" role="group" aria-label={`Delete “${title}”?`}>
        <span class="confirm-text">Delete “{title}”?</span>
        <span class="confirm-actions">
          <button ref={confirm} type="button" class="btn small danger" onClick={() => void remove()}>
            Delete
          </button>
          <button type="button" class="btn small ghost" onClick={done}>
            Cancel
          </button>
        </span>
        </div>
      </li>
    );
  }
  return (
    <li class={`session${current ? " current" : ""}`}>
      <a href={app.chatHref(id)} aria-current={current ? "page" : undefined} onClick={onPick}>
        <span class="session-title">{title || "Untitled"}</span>
        <span class="session-sub">
          {when}
          {messages > 0 ? ` · ${count(messages)} messages` : ""}
        </span>
      </a>
      <span class="session-actions">
        <button
          ref={renameButton}
          type="button"
          class="icon-btn"
          aria-label={`Rename “${title}”`}
          title="Rename"
          onClick={() => {
            setDraft(title);
            opener.current = "rename";
            setMode("rename");
          }}
        >
          <Icon name="pencil" size={15} />
        </button>
        <button
          ref={deleteButton}
          type="button"
          class="icon-btn"
          aria-label={`Delete “${title}”`}
          title="Delete"
          onClick={() => {
            opener.current = "delete";
            setMode("delete");
          }}
        >
          <Icon name="trash" size={15} />
        </button>
      </span>
    </li>
  );
}

export function SessionList({ currentId, onPick }: { currentId: string | null; onPick(): void }) {
  const list = app.sessions.value;
  return (
    <nav class="sidebar-inner" aria-label="Chats">
      <button
        type="button"
        class="btn primary wide new-chat"
        onClick={() => {
          onPick();
          app.newChat();
        }}
      >
        <Icon name="plus" /> New chat
      </button>
      <label class="search">
        <Icon name="search" size={16} />
        <span class="sr-only">Filter chats by title</span>
        <input
          type="search"
          placeholder="Filter chats"
          value={app.filter.value}
          onInput={(e) => app.setFilter((e.target as HTMLInputElement).value)}
        />
      </label>
      <ul class="sessions" aria-label="Chats, most recent first">
        {list.map((s) => (
          <SessionRow
            key={s.id}
            id={s.id}
            title={s.title}
            when={ago(s.last_activity_at ?? s.updated_at ?? s.created_at)}
            messages={s.message_count}
            current={s.id === currentId}
            onPick={onPick}
          />
        ))}
      </ul>
      {app.sessionsLoaded.value && list.length === 0 && (
        <p class="muted small empty-list">{app.filter.value ? "No chat matches this filter." : "No chats yet."}</p>
      )}
    </nav>
  );
}

export function ModelPicker() {
  const session = app.currentSession.value;
  const groups = app.modelChoices.value;
  if (!session) return null;
  const value = session.llm_provider || session.llm_model ? `${session.llm_provider ?? ""}|${session.llm_model ?? ""}` : "";
  const known = groups.some((g) => g.models.some((m) => `${g.provider}|${m}` === value));
  return (
    <label class="picker">
      <span class="sr-only">Provider and model for this chat</span>
      <select
        value={value}
        title={value ? value.replace("|", " / ") : "Default model"}
        onChange={(e) => {
          const [provider, model] = (e.target as HTMLSelectElement).value.split("|");
          void app.chooseModel(provider || null, model || null);
        }}
      >
        <option value="">Default model</option>
        {value && !known && <option value={value}>{value.replace("|", " / ")}</option>}
        {groups.map((g) => (
          <optgroup key={g.provider} label={g.provider}>
            {g.models.length === 0 && <option value={`${g.provider}|`}>{g.provider} (default)</option>}
            {g.models.map((m) => (
              <option key={m} value={`${g.provider}|${m}`}>
                {m}
              </option>
            ))}
          </optgroup>
        ))}
      </select>
    </label>
  );
}

export function Composer({ compact = false, placeholder = "Message the model" }: {
  compact?: boolean;
  placeholder?: string;
}) {
  const [text, setText] = useState("");
  const area = useRef<HTMLTextAreaElement>(null);
  const typingSent = useRef(0);
  const block = app.sendBlock.value;
  const conv = app.conversation.value;
  const answer = conv ? activeAnswer(conv) : null;
  const stopping = app.stopping.value !== null && app.stopping.value === answer?.id;

  const grow = () => {
    const el = area.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = `${Math.min(el.scrollHeight, compact ? 120 : window.innerHeight * 0.4)}px`;
  };

  useEffect(grow, [text]);

  const submit = () => {
    if (block || !text.trim()) return;
    // The chat on screen now, whatever opens or gets created before the send goes out.
    const route = app.route.value;
    const target = compact || route.view !== "chat" ? (app.conversation.value?.sessionId ?? null) : route.sessionId;
    const content = text;
    setText("");
    if (typingSent.current) {
      typingSent.current = 0;
      app.sendTyping(false);
    }
    void app.send(content, target);
  };

  return (
    <form
      class={`composer${compact ? " compact" : ""}`}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {block && (
        <p class="blocked" id={compact ? "preview-block" : "send-block"} role="status">
          {block}
        </p>
      )}
      <div class="composer-row">
        <textarea
          ref={area}
          rows={1}
          value={text}
          placeholder={placeholder}
          aria-label="Message"
          aria-describedby={`${compact ? "preview" : "send"}-hint${block ? ` ${compact ? "preview" : "send"}-block` : ""}`}
          onInput={(e) => {
            setText((e.target as HTMLTextAreaElement).value);
            const now = Date.now();
            if (now - typingSent.current > 3000) {
              typingSent.current = now;
              app.sendTyping(true);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              void submit();
            }
          }}
        />
        {answer && !compact && (
          <button
            type="button"
            class="btn danger"
            aria-label={stopping ? "Stopping the answer" : "Stop the answer"}
            onClick={() => {
              area.current?.focus();
              void app.stop();
            }}
            disabled={stopping || !app.canAct.value}
          >
            <Icon name="stop" size={16} />
            <span class="btn-label">{stopping ? "Stopping…" : "Stop"}</span>
          </button>
        )}
        <button type="submit" class="btn primary" disabled={Boolean(block) || !text.trim()} aria-label="Send message">
          <Icon name="send" size={16} />
          {!compact && <span class="btn-label">Send</span>}
        </button>
      </div>
      <p class="sr-only" id={`${compact ? "preview" : "send"}-hint`}>
        Enter sends; Shift+Enter starts a new line.
      </p>
    </form>
  );
}

function ChatHeader({ onMenu, menuRef }: { onMenu(): void; menuRef: { current: HTMLButtonElement | null } }) {
  const session = app.currentSession.value;
  return (
    <div class="chat-head">
      <button ref={menuRef} type="button" class="icon-btn menu-btn" aria-label="Show chats" onClick={onMenu}>
        <Icon name="menu" />
      </button>
      <h1 class="chat-title" tabIndex={-1}>
        {session?.title ?? "New chat"}
      </h1>
      <ModelPicker />
      <SessionSettingsButton />
      <ConversationTools />
    </div>
  );
}

/** Below this width the chat list is a drawer (styles.css says the same). */
const phone = () => window.matchMedia("(max-width: 760px)").matches;

export function ChatScreen({ sessionId, fresh }: { sessionId: string | null; fresh: boolean }) {
  const [drawer, setDrawer] = useState(false);
  const menu = useRef<HTMLButtonElement>(null);
  const aside = useRef<HTMLDivElement>(null);

  useEffect(() => {
    app.openSession(sessionId);
  }, [sessionId]);

  // `#/chat` alone: open the most recent chat, if there is one (`#/chat/new` is a new chat).
  useEffect(() => {
    if (sessionId === null && !fresh && app.sessionsLoaded.value && app.sessions.value.length > 0 && !app.filter.value) {
      app.go(app.chatHref(app.sessions.value[0].id), "heading", true);
    }
  }, [sessionId, fresh, app.sessionsLoaded.value]);

  // The phone drawer is modal: it takes focus, keeps it, and gives it back when it closes.
  const refocus = useRef(false);
  useEffect(() => {
    if (drawer) aside.current?.querySelector<HTMLElement>("button, a[href], input")?.focus();
    else if (refocus.current) menu.current?.focus(); // once the page behind is no longer inert
    refocus.current = false;
  }, [drawer]);

  const closeDrawer = (back: boolean) => {
    refocus.current = back;
    setDrawer(false);
  };

  const conv = app.conversation.value;
  const canAct = app.canAct.value;
  const link = app.link.value;
  return (
    <div class={`chat-screen${drawer ? " drawer-open" : ""}`}>
      <div
        class="sidebar"
        id="chat-list"
        ref={aside}
        role={drawer ? "dialog" : undefined}
        aria-modal={drawer ? "true" : undefined}
        aria-label={drawer ? "Chats" : undefined}
        onKeyDown={(e) => {
          if (!drawer) return;
          if (e.key === "Escape") {
            e.preventDefault();
            closeDrawer(true);
          } else trapTab(e, aside.current);
        }}
      >
        <SessionList currentId={sessionId} onPick={() => drawer && closeDrawer(false)} />
      </div>
      {drawer && <div class="scrim" aria-hidden="true" onClick={() => closeDrawer(true)} />}
      <section class="chat-main" aria-label="Conversation" inert={drawer && phone() ? true : undefined}>
        <ChatHeader onMenu={() => setDrawer(true)} menuRef={menu} />
        {app.showCacheBanner.value && (
          <p class="banner" role="status">
            Showing the history saved in this browser; the server is not reachable yet.
          </p>
        )}
        {link.phase === "gone" && (
          <p class="banner error" role="alert">
            This chat was deleted or does not exist. <a href="#/chat">Open another chat</a>
          </p>
        )}
        {conv && conv.order.length > 0 ? (
          <MessageList
            conv={conv}
            canAct={canAct}
            stoppingId={app.stopping.value}
            loadingOlder={app.loadingOlder.value}
            onOlder={app.loadOlder}
            actions={actions}
            typingOthers={conv.typing.size}
            leaf={app.branchLeaf.value}
          />
        ) : (
          <div class="empty-chat">
            <Icon name="chat" size={40} />
            <h2>{sessionId ? "No messages yet" : "Start a conversation"}</h2>
            <p class="muted">Ask anything. Answers stream in as they are written, and survive reloads and dropped connections.</p>
          </div>
        )}
        <Composer />
      </section>
    </div>
  );
}
