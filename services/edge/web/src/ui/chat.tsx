// The chat screen: the session list (new, rename, delete, filter), the conversation with its
// model picker, and the composer.

import { useEffect, useRef, useState } from "preact/hooks";
import { activeAnswer, type MessageView } from "../conversation";
import * as app from "../state";
import { ago, count } from "./format";
import { Icon } from "./icons";
import { type MessageActions, MessageList } from "./messages";
import { SessionSettingsButton } from "./settings";

/** The button pressed disappears with the old answer's actions: keep keyboard users in the composer. */
function focusComposer(): void {
  document.querySelector<HTMLTextAreaElement>(".chat-main form.composer textarea")?.focus();
}

// One object for the whole list, so memoized messages do not re-render when the screen does.
const actions: MessageActions = {
  stop: () => void app.stop(),
  regenerate: (m: MessageView) => {
    focusComposer();
    void app.regenerate(m);
  },
  retry: (m: MessageView) => {
    focusComposer();
    void app.regenerate(m);
  },
  resend: (m: MessageView) => app.resend(m),
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

  useEffect(() => {
    if (mode === "rename") input.current?.select();
    if (mode === "delete") confirm.current?.focus();
  }, [mode]);

  const done = () => {
    setMode("view");
    requestAnimationFrame(() => renameButton.current?.focus());
  };

  if (mode === "rename") {
    return (
      <li class="session editing">
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
      <li class="session confirming" role="group" aria-label={`Delete “${title}”?`}>
        <span class="confirm-text">Delete “{title}”?</span>
        <span class="confirm-actions">
          <button ref={confirm} type="button" class="btn small danger" onClick={() => void app.removeSession(id)}>
            Delete
          </button>
          <button
            type="button"
            class="btn small ghost"
            onClick={done}
            onKeyDown={(e) => e.key === "Escape" && done()}
          >
            Cancel
          </button>
        </span>
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
            setMode("rename");
          }}
        >
          <Icon name="pencil" size={15} />
        </button>
        <button type="button" class="icon-btn" aria-label={`Delete “${title}”`} title="Delete" onClick={() => setMode("delete")}>
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
      <button type="button" class="btn primary wide" onClick={() => { void app.newSession(); onPick(); }}>
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

export function Composer({ compact = false, placeholder = "Message the model — Enter to send, Shift+Enter for a new line" }: {
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

  const submit = async () => {
    if (block || !text.trim()) return;
    const content = text;
    setText("");
    if (typingSent.current) {
      typingSent.current = 0;
      app.sendTyping(false);
    }
    const id = await app.send(content);
    if (id && app.route.value.view === "chat" && app.route.value.sessionId !== id) app.go(app.chatHref(id));
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
          aria-describedby={block ? (compact ? "preview-block" : "send-block") : undefined}
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
          <button type="button" class="btn danger" onClick={() => void app.stop()} disabled={stopping}>
            <Icon name="stop" size={16} />
            <span class="btn-label">{stopping ? "Stopping…" : "Stop"}</span>
          </button>
        )}
        <button type="submit" class="btn primary" disabled={Boolean(block) || !text.trim()} aria-label="Send message">
          <Icon name="send" size={16} />
          {!compact && <span class="btn-label">Send</span>}
        </button>
      </div>
    </form>
  );
}

function ChatHeader({ onMenu }: { onMenu(): void }) {
  const session = app.currentSession.value;
  return (
    <div class="chat-head">
      <button type="button" class="icon-btn menu-btn" aria-label="Show chats" onClick={onMenu}>
        <Icon name="menu" />
      </button>
      <h1 class="chat-title">{session?.title ?? "New chat"}</h1>
      <ModelPicker />
      <SessionSettingsButton />
    </div>
  );
}

export function ChatScreen({ sessionId }: { sessionId: string | null }) {
  const [drawer, setDrawer] = useState(false);

  useEffect(() => {
    app.openSession(sessionId);
  }, [sessionId]);

  // `#/chat` alone: open the most recent chat, if there is one.
  useEffect(() => {
    if (sessionId === null && app.sessionsLoaded.value && app.sessions.value.length > 0 && !app.filter.value) {
      app.go(app.chatHref(app.sessions.value[0].id));
    }
  }, [sessionId, app.sessionsLoaded.value]);

  const conv = app.conversation.value;
  const link = app.link.value;
  const canAct = link.phase === "live" || link.phase === "replaying";
  return (
    <div class={`chat-screen${drawer ? " drawer-open" : ""}`}>
      <aside class="sidebar" id="chat-list">
        <SessionList currentId={sessionId} onPick={() => setDrawer(false)} />
      </aside>
      {drawer && <button type="button" class="scrim" aria-label="Close the chat list" onClick={() => setDrawer(false)} />}
      <section class="chat-main" aria-label="Conversation">
        <ChatHeader onMenu={() => setDrawer(true)} />
        {app.showingCache.value && (
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
