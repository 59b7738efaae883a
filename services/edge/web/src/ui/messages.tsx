// The message list: bubbles, Markdown, per-message details and actions, older pages on scroll-up,
// sticking to the bottom while an answer streams unless the reader scrolled away.

import { memo } from "preact/compat";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { branchIds, siblingsOf } from "../branches";
import type { Conversation, MessageView } from "../conversation";
import { render } from "../markdown";
import { modelName } from "../usage";
import { Icon } from "./icons";
import { clock, count, duration } from "./format";

export interface MessageActions {
  /** Show another version of a message (a sibling: a regenerated answer, an edited message). */
  switchTo(id: string): void;
  /** Send an edited copy of a user message, on a new branch. */
  edit(m: MessageView, content: string): void;
  stop(): void;
  regenerate(m: MessageView): void;
  retry(m: MessageView): void;
  resend(m: MessageView): void;
}

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http on a LAN address): select and copy the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

function flash(button: HTMLElement, text: string): void {
  const label = button.querySelector(".label") ?? button;
  const before = label.textContent;
  label.textContent = text;
  setTimeout(() => {
    label.textContent = before;
  }, 1500);
}

function statusText(m: MessageView): string | null {
  switch (m.status) {
    case "pending":
      return "Waiting for the model…";
    case "streaming":
      return "Generating…";
    case "cancelled":
      return "Stopped";
    case "failed":
      return "Failed";
    default:
      return null;
  }
}

function Meta({ m }: { m: MessageView }) {
  const parts: { key: string; text: string; title?: string; narrow?: boolean }[] = [];
  if (m.role === "assistant") {
    if (m.llm_model || m.llm_provider) {
      parts.push({ key: "model", text: m.llm_model ?? m.llm_provider ?? "", title: `model ${modelName(m)}` });
    }
    // Zeros are "not measured yet" (an answer still open, or one that failed before any token).
    if (m.response_time_ms) parts.push({ key: "time", text: duration(m.response_time_ms), title: "response time" });
    if (m.time_to_first_token_ms) {
      parts.push({ key: "ttft", text: `first token ${duration(m.time_to_first_token_ms)}`, narrow: true });
    }
    const tokens = m.tokens_used || m.completion_tokens;
    if (tokens) {
      const detail = m.prompt_tokens !== null && m.completion_tokens !== null ? `${m.prompt_tokens} prompt + ${m.completion_tokens} completion` : undefined;
      parts.push({ key: "tokens", text: `${count(tokens)} tokens`, title: detail });
    }
    const dropped = Number(m.metadata?.context_dropped ?? 0);
    if (dropped > 0) {
      const what = `${dropped} earlier message${dropped === 1 ? " was" : "s were"} left out to fit the model's context window`;
      parts.push({ key: "context", text: "context trimmed", title: what });
    }
  }
  const time = clock(m.created_at);
  return (
    <span class="meta-text">
      {time && <time dateTime={m.created_at}>{time}</time>}
      {parts.map((p) => (
        <span key={p.key} class={`meta-part${p.narrow ? " wide-only" : ""}`} title={p.title}>
          {p.text}
        </span>
      ))}
    </span>
  );
}

/**
 * A reasoning model's thinking: open while it streams, collapsed once the answer starts (the
 * reader can open it again; a later render leaves their choice alone, as `open` only changes
 * when `streaming` does).
 */
function Thinking({ text, streaming }: { text: string; streaming: boolean }) {
  return (
    <details class="thinking" open={streaming}>
      <summary>{streaming ? "Thinking…" : "Thinking"}</summary>
      <div class="md thinking-text" dangerouslySetInnerHTML={{ __html: render(text, streaming) }} />
    </details>
  );
}

interface ItemProps {
  m: MessageView;
  last: boolean;
  canAct: boolean;
  stopping: boolean;
  actions: MessageActions;
  /** A later answer to the same prompt exists: a failed one needs no Retry any more. */
  retried: boolean;
  /** The message's versions (siblings, itself included), joined by spaces: a string, so memo holds. */
  versions: string;
}

/** "‹ 2 / 3 ›": the versions of a message (regenerated answers, edits), each with its branch. */
function Versions({ m, versions, onPick }: { m: MessageView; versions: string; onPick(id: string): void }) {
  const ids = versions.split(" ");
  const at = ids.indexOf(m.id);
  if (ids.length < 2 || at < 0) return null;
  const what = m.role === "user" ? "message" : "answer";
  return (
    <span class="versions" role="group" aria-label={`Version ${at + 1} of ${ids.length} of this ${what}`}>
      <button type="button" class="icon-btn" aria-label={`Previous version of this ${what}`} disabled={at === 0} onClick={() => onPick(ids[at - 1])}>
        ‹
      </button>
      <span class="versions-count" aria-hidden="true">
        {at + 1} / {ids.length}
      </span>
      <button type="button" class="icon-btn" aria-label={`Next version of this ${what}`} disabled={at === ids.length - 1} onClick={() => onPick(ids[at + 1])}>
        ›
      </button>
    </span>
  );
}

/** Editing a sent message in place: Save sends an edited copy on a new branch; Escape cancels. */
function EditBox({ m, onSave, onDone }: { m: MessageView; onSave(text: string): void; onDone(): void }) {
  const [text, setText] = useState(m.content);
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    box.current?.focus();
    box.current?.setSelectionRange(text.length, text.length);
  }, []);
  const save = () => {
    if (text.trim() && text.trim() !== m.content.trim()) onSave(text);
    onDone();
  };
  return (
    <form
      class="edit-box"
      onSubmit={(e) => {
        e.preventDefault();
        save();
      }}
    >
      <label class="sr-only" for={`edit-${m.id}`}>
        Edit your message
      </label>
      <textarea
        id={`edit-${m.id}`}
        ref={box}
        rows={3}
        value={text}
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") {
            e.preventDefault();
            onDone();
          } else if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            save();
          }
        }}
      />
      <div class="edit-actions">
        <button type="button" class="btn small ghost" onClick={onDone}>
          Cancel
        </button>
        <button type="submit" class="btn small primary" disabled={!text.trim()}>
          Save and send
        </button>
      </div>
    </form>
  );
}

const MessageItem = memo(function MessageItem({ m, last, canAct, stopping, actions, retried, versions }: ItemProps) {
  const [editing, setEditing] = useState(false);
  const open = m.status === "pending" || m.status === "streaming";
  // Without a connection an open answer is not known to progress: no animation, say so.
  const paused = open && !canAct;
  const mine = m.role === "user";
  const status = paused ? "Waiting for the connection" : statusText(m);
  const bubble = mine || open || m.content !== "" || m.role === "system";
  const label = mine ? "You" : m.role === "assistant" ? "Assistant" : "System";
  return (
    <article
      class={`msg ${m.role} status-${m.status}${m.local ? " local" : ""}`}
      aria-label={`${label}${status && !mine ? `, ${status.toLowerCase()}` : ""}`}
      data-message-id={m.id}
      data-status={m.status}
    >
      {m.role === "assistant" && m.reasoning && <Thinking text={m.reasoning} streaming={open && !m.content} />}
      {bubble && (
      <div class="bubble">
        {editing ? (
          <EditBox m={m} onSave={(text) => actions.edit(m, text)} onDone={() => setEditing(false)} />
        ) : mine || m.role === "system" ? (
          <div class="plain">{m.content}</div>
        ) : (
          <div class="md" dangerouslySetInnerHTML={{ __html: render(m.content, open) }} />
        )}
        {open && !paused && (
          <span class="typing" role="status" aria-label={m.content ? "Assistant is still writing" : "Assistant is typing"}>
            <i />
            <i />
            <i />
          </span>
        )}
      </div>
      )}
      {m.status === "failed" && m.role === "assistant" && (
        <div class="msg-error" role="alert">
          <Icon name="warning" size={16} />
          <span>
            <strong>{m.error_kind ?? "error"}</strong>
            {m.error_message ? `: ${m.error_message}` : ""}
            {m.content ? " — the partial answer above is kept." : ""}
            {retried ? " Retried: the newer version has the new answer." : ""}
          </span>
          {canAct && !retried && (
            <button type="button" class="btn small" onClick={() => actions.retry(m)}>
              <Icon name="refresh" size={14} /> Retry
            </button>
          )}
        </div>
      )}
      {m.local && m.sendError && (
        <div class="msg-error" role="alert">
          <Icon name="warning" size={16} />
          <span>Not sent: {m.sendError}</span>
          <button type="button" class="btn small" onClick={() => actions.resend(m)}>
            <Icon name="refresh" size={14} /> Retry
          </button>
        </div>
      )}
      <footer class="meta">
        <Meta m={m} />
        {status && m.role === "assistant" && <span class={`pill ${paused ? "paused" : m.status}`}>{status}</span>}
        {m.local && !m.sendError && <span class="pill pending">Sending…</span>}
        <Versions m={m} versions={versions} onPick={actions.switchTo} />
        <span class="msg-actions">
          {mine && !m.local && canAct && !editing && (
            <button type="button" class="icon-btn" aria-label="Edit your message" title="Edit" onClick={() => setEditing(true)}>
              <Icon name="pencil" size={15} />
              <span class="label sr-only">Edit</span>
            </button>
          )}
          {m.content && (
            <button
              type="button"
              class="icon-btn"
              aria-label={`Copy ${mine ? "your message" : "answer"}`}
              title="Copy"
              onClick={(e) => {
                const button = e.currentTarget as HTMLElement;
                void copyText(m.content).then((ok) => flash(button, ok ? "✓" : "!"));
              }}
            >
              <Icon name="copy" size={15} />
              <span class="label sr-only">Copy</span>
            </button>
          )}
          {open && m.role === "assistant" && canAct && (
            <button type="button" class="btn small danger" aria-label={stopping ? "Stopping the answer" : "Stop the answer"} onClick={actions.stop} disabled={stopping}>
              <Icon name="stop" size={14} /> {stopping ? "Stopping…" : "Stop"}
            </button>
          )}
          {!open && m.role === "assistant" && last && canAct && m.status !== "failed" && (
            <button type="button" class="btn small" onClick={() => actions.regenerate(m)}>
              <Icon name="refresh" size={14} /> Regenerate
            </button>
          )}
        </span>
      </footer>
    </article>
  );
});

interface ListProps {
  conv: Conversation;
  canAct: boolean;
  stoppingId: string | null;
  loadingOlder: boolean;
  onOlder(): Promise<void>;
  actions: MessageActions;
  typingOthers: number;
  /** The last message of the branch shown; null: the newest branch. */
  leaf?: string | null;
}

/** Distance from the bottom under which the list follows new content. */
const stickPx = 96;
/** Messages kept in the DOM while following the bottom; scrolling up shows more, `grow` at a time. */
const keep = 120;
const grow = 100;

export function MessageList({ conv, canAct, stoppingId, loadingOlder, onOlder, actions, typingOthers, leaf = null }: ListProps) {
  const box = useRef<HTMLDivElement>(null);
  const top = useRef<HTMLDivElement>(null);
  const inner = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const lastTop = useRef(0);
  const firstId = useRef<string | null>(null);
  /** The first message before older ones go in above it, and where it was in the viewport. */
  const anchor = useRef<{ id: string; top: number } | null>(null);
  const [away, setAway] = useState(false);
  // Windowing: the oldest `hidden` messages held are not in the DOM. Streaming at the bottom of a
  // history of thousands then lays out ~`keep` messages, not all of them; scrolling up brings
  // them back `grow` at a time before asking the server for older pages.
  const [hidden, setHidden] = useState(0);

  // The branch on screen (docs/protocol.md, "Branches"): other versions are a switch away.
  const all: MessageView[] = [];
  for (const id of branchIds(conv, leaf)) {
    const m = conv.byId.get(id);
    if (m) all.push(m);
  }
  const skipped = Math.min(hidden, Math.max(0, all.length - 1));
  const list = skipped ? all.slice(skipped) : all;
  // Prompts answered again after an answer to them: their earlier failed answers were retried.
  const latestFor = new Map<string, string>();
  for (const id of conv.order) {
    const m = conv.byId.get(id);
    if (m && m.role === "assistant" && m.reply_to) latestFor.set(m.reply_to, m.id);
  }
  let lastAssistant = -1;
  for (let i = list.length - 1; i >= 0; i--) {
    if (list[i].role === "assistant") {
      lastAssistant = i;
      break;
    }
  }

  const holdAnchor = () => {
    const first = box.current?.querySelector<HTMLElement>("article.msg");
    if (first?.dataset.messageId) anchor.current = { id: first.dataset.messageId, top: first.getBoundingClientRect().top };
  };

  const older = useCallback(async () => {
    const el = box.current;
    if (!el) return;
    if (skipped > 0) {
      holdAnchor();
      setHidden(Math.max(0, skipped - grow));
      return;
    }
    if (!conv.hasOlder || loadingOlder) return;
    holdAnchor();
    await onOlder();
  }, [skipped, conv.hasOlder, loadingOlder, onOlder]);

  // Back at the bottom with a long list in the DOM: let the old part go again.
  useEffect(() => {
    if (atBottom.current && !anchor.current && list.length > keep + grow) setHidden(all.length - keep);
  });

  // Older pages: when the top comes near, fetch the page before the first message.
  useEffect(() => {
    const el = top.current;
    if (!el || !box.current) return undefined;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void older();
      },
      { root: box.current, rootMargin: "600px 0px 0px 0px" },
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, [older]);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const first = list[0]?.id ?? null;
    if (anchor.current && first !== firstId.current) {
      // Older messages went in above: keep what the reader was looking at in place. Measured by
      // element, not scrollHeight: off-screen messages only have estimated heights
      // (content-visibility), and the browser's own scroll anchoring may have moved already.
      const held = el.querySelector<HTMLElement>(`article.msg[data-message-id="${CSS.escape(anchor.current.id)}"]`);
      if (held) el.scrollTop += held.getBoundingClientRect().top - anchor.current.top;
      anchor.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
    firstId.current = first;
  });

  // Heights settle after the first layout (markdown, code blocks, content-visibility estimates
  // becoming real sizes): keep following the bottom through those changes too.
  useEffect(() => {
    const el = box.current;
    const content = inner.current;
    if (!el || !content) return undefined;
    const observer = new ResizeObserver(() => {
      if (atBottom.current && !anchor.current) el.scrollTop = el.scrollHeight;
    });
    observer.observe(content);
    return () => observer.disconnect();
  }, []);

  // A new chat opened: start at the bottom.
  useLayoutEffect(() => {
    setHidden(0);
    atBottom.current = true;
    setAway(false);
    anchor.current = null;
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [conv.sessionId]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    // Only the reader scrolling up lets go of the bottom: content growing below (streaming,
    // heights settling) moves the bottom away without moving scrollTop.
    if (el.scrollHeight - el.scrollTop - el.clientHeight < stickPx) atBottom.current = true;
    else if (el.scrollTop < lastTop.current - 2) atBottom.current = false;
    lastTop.current = el.scrollTop;
    if (atBottom.current === away) setAway(!atBottom.current);
  };

  const onClick = (event: MouseEvent) => {
    const button = (event.target as HTMLElement).closest<HTMLElement>("[data-copy-code]");
    if (!button) return;
    const code = button.closest(".code")?.querySelector("pre code")?.textContent ?? "";
    void copyText(code).then((ok) => flash(button, ok ? "Copied" : "Copy failed"));
  };

  const jump = () => {
    const el = box.current;
    if (!el) return;
    el.scrollTop = el.scrollHeight;
    atBottom.current = true;
    setAway(false);
  };

  return (
    <div class="messages-wrap">
      <div
        class="messages"
        ref={box}
        onScroll={onScroll}
        onClick={onClick}
        role="log"
        aria-live="off"
        aria-label="Messages"
        tabIndex={0}
      >
        <div class="messages-inner" ref={inner}>
        <div ref={top} class="older">
          {skipped > 0 || conv.hasOlder ? (
            <button type="button" class="btn ghost small" onClick={() => void older()} disabled={loadingOlder}>
              {loadingOlder ? "Loading older messages…" : "Load older messages"}
            </button>
          ) : all.length > 0 ? (
            <span class="muted small">Start of the conversation</span>
          ) : null}
        </div>
        {list.map((m, i) => (
          <MessageItem
            key={m.id}
            m={m}
            last={i === lastAssistant && i >= list.length - 2}
            canAct={canAct}
            stopping={stoppingId === m.id}
            actions={actions}
            retried={m.status === "failed" && m.reply_to !== null && latestFor.get(m.reply_to) !== m.id}
            versions={siblingsOf(conv, m.id).join(" ")}
          />
        ))}
        {typingOthers > 0 && (
          <div class="others-typing" role="status">
            Someone else in this chat is typing…
          </div>
        )}
        </div>
      </div>
      {away && (
        <button type="button" class="jump" onClick={jump}>
          <Icon name="arrowDown" size={16} /> Latest
        </button>
      )}
    </div>
  );
}
