// The conversation of one session as a pure reducer: REST reads, optimistic sends and WebSocket
// frames go in; the messages to show and the resume cursor come out. No I/O here.
//
// Exactly-once display rests on three checks, so a replay after a reconnect or a reload can
// overlap what is already shown without duplicating it:
//   1. per message, an event whose seq is <= the message's last_seq is already reflected;
//   2. per (message_id, attempt), a chunk whose index is below the next expected one is a repeat,
//      one above it is a gap (never expected: the state is flagged and the caller re-reads);
//   3. `restarted` (another worker took over) drops the text of earlier attempts.
// How a frame changes an answer (its lifecycle) is not written here: ./wire/lifecycle.ts is the
// server's fold (events/lifecycle.py's rules) compiled to TypeScript by `just wire`.

import type { ChatMessage, ChatSession, ServerFrame, StatusData, UpdateEvent } from "./protocol";
import * as fold from "./wire/lifecycle";

export interface MessageView extends ChatMessage {
  /** Next chunk index expected for the current attempt; null when unknown (read over REST mid-answer). */
  nextIndex: number | null;
  /** True for a user message typed here and not yet seen stored (optimistic). */
  local: boolean;
  /** Why a local message could not be sent (shown beside it with a retry). */
  sendError: string | null;
}

export interface Conversation {
  sessionId: string;
  byId: ReadonlyMap<string, MessageView>;
  /** Stored messages in stream order, then local (unsent) ones. */
  order: readonly string[];
  /** Highest stream seq applied: reconnect with after_seq set to it. */
  cursor: number;
  /** The X-Parley-Seq of the last full read: events at or below it for unknown messages are older than the page. */
  readSeq: number;
  /** Whether older pages exist before the first message held. */
  hasOlder: boolean;
  /** A chunk went missing (index jumped): re-read over REST. */
  gap: boolean;
  /** Replay is done and frames are live. */
  live: boolean;
  connectionId: string | null;
  /** Other connections typing: connection_id -> user_id. */
  typing: ReadonlyMap<string, string>;
  /** The latest session object the server pushed (rename, settings). */
  session: ChatSession | null;
  deleted: boolean;
  /** Refused client frames and similar, newest last, for a toast. */
  notices: readonly string[];
  /** Frames applied and frames dropped as repeats (for tests and the debug hook). */
  applied: number;
  skipped: number;
}

export type Action =
  | { kind: "frame"; frame: ServerFrame }
  | { kind: "loaded"; messages: ChatMessage[]; seq: number; hasOlder: boolean }
  | { kind: "older"; messages: ChatMessage[]; hasOlder: boolean }
  | { kind: "branch"; messages: ChatMessage[] }
  | { kind: "cached"; messages: ChatMessage[] }
  | { kind: "localSend"; clientMessageId: string; content: string; now: string }
  | { kind: "sendFailed"; clientMessageId: string; error: string }
  | { kind: "resend"; clientMessageId: string }
  | { kind: "dismissNotice" };

export function empty(sessionId: string): Conversation {
  return {
    sessionId,
    byId: new Map(),
    order: [],
    cursor: 0,
    readSeq: 0,
    hasOlder: false,
    gap: false,
    live: false,
    connectionId: null,
    typing: new Map(),
    session: null,
    deleted: false,
    notices: [],
    applied: 0,
    skipped: 0,
  };
}

export function localId(clientMessageId: string): string {
  return `local:${clientMessageId}`;
}

function view(message: ChatMessage, nextIndex: number | null = null): MessageView {
  return { ...message, nextIndex, local: false, sendError: null };
}

function isOpen(message: ChatMessage): boolean {
  return message.status === "pending" || message.status === "streaming";
}

/** The after_seq to resume from after a full read: never past what an open answer's content reflects. */
export function resumeSeq(messages: ChatMessage[], readSeq: number): number {
  let seq = readSeq;
  for (const m of messages) {
    if (isOpen(m) && m.last_seq !== null && m.last_seq < seq) seq = m.last_seq;
  }
  return seq;
}

export function messages(state: Conversation): MessageView[] {
  const out: MessageView[] = [];
  for (const id of state.order) {
    const m = state.byId.get(id);
    if (m) out.push(m);
  }
  return out;
}

/** The answer being generated now, if any (the newest open assistant message). */
export function activeAnswer(state: Conversation): MessageView | null {
  for (let i = state.order.length - 1; i >= 0; i--) {
    const m = state.byId.get(state.order[i]);
    if (m && m.role === "assistant" && isOpen(m)) return m;
  }
  return null;
}

export function reduce(state: Conversation, action: Action): Conversation {
  switch (action.kind) {
    case "frame":
      return applyFrame(state, action.frame);
    case "loaded":
      return applyLoaded(state, action.messages, action.seq, action.hasOlder);
    case "older":
      return applyOlder(state, action.messages, action.hasOlder);
    case "branch":
      return applyBranch(state, action.messages);
    case "cached":
      return applyCached(state, action.messages);
    case "localSend":
      return applyLocalSend(state, action.clientMessageId, action.content, action.now);
    case "sendFailed":
      return patchLocal(state, action.clientMessageId, { sendError: action.error, status: "failed" });
    case "resend":
      return patchLocal(state, action.clientMessageId, { sendError: null, status: "pending" });
    case "dismissNotice":
      return { ...state, notices: state.notices.slice(1) };
    default: {
      const never: never = action;
      throw new TypeError(`unknown action ${JSON.stringify(never)}`);
    }
  }
}

// -- REST reads ---------------------------------------------------------------------------------

function localIds(state: Conversation): string[] {
  return state.order.filter((id) => state.byId.get(id)?.local);
}

function applyLoaded(state: Conversation, page: ChatMessage[], seq: number, hasOlder: boolean): Conversation {
  const byId = new Map<string, MessageView>();
  const order: string[] = [];
  const stored = new Set<string>();
  for (const m of page) {
    const old = state.byId.get(m.id);
    // Keep what this client already holds when it is as new (it may know the next chunk index),
    // but take the read's place in the tree: a frame's or the cache's copy lists no siblings on
    // branches it never saw, and the switcher needs them.
    const keep = old && !old.local && newer(old, m);
    byId.set(m.id, keep ? { ...old, parent_id: m.parent_id, sibling_ids: m.sibling_ids } : view(m));
    order.push(m.id);
    if (m.client_message_id) stored.add(m.client_message_id);
  }
  for (const id of localIds(state)) {
    const m = state.byId.get(id)!;
    if (m.client_message_id && stored.has(m.client_message_id)) continue;
    byId.set(id, m);
    order.push(id);
  }
  const cursor = resumeSeq(page, seq);
  return { ...state, byId, order, cursor, readSeq: seq, hasOlder, gap: false, live: false };
}

/** True when `held` already reflects at least what `incoming` does. */
function newer(held: ChatMessage, incoming: ChatMessage): boolean {
  if (held.last_seq === null || incoming.last_seq === null) return false;
  return held.last_seq >= incoming.last_seq;
}

/** Another branch's messages, read to switch to it: merged in by creation time (stream order). */
function applyBranch(state: Conversation, page: ChatMessage[]): Conversation {
  const byId = new Map(state.byId);
  const added: string[] = [];
  for (const m of page) {
    if (byId.has(m.id)) continue;
    byId.set(m.id, view(m));
    added.push(m.id);
  }
  if (added.length === 0) return state;
  const local = state.order.filter((id) => byId.get(id)?.local);
  const stored = [...state.order.filter((id) => !byId.get(id)?.local), ...added];
  const at = (id: string) => Date.parse(byId.get(id)?.created_at ?? "") || 0;
  const rank = new Map(stored.map((id, i) => [id, i]));
  stored.sort((a, b) => at(a) - at(b) || (rank.get(a) ?? 0) - (rank.get(b) ?? 0));
  return { ...state, byId, order: [...stored, ...local] };
}

function applyOlder(state: Conversation, page: ChatMessage[], hasOlder: boolean): Conversation {
  const byId = new Map(state.byId);
  const front: string[] = [];
  for (const m of page) {
    if (byId.has(m.id)) continue;
    byId.set(m.id, view(m));
    front.push(m.id);
  }
  return { ...state, byId, order: [...front, ...state.order], hasOlder };
}

function applyCached(state: Conversation, cached: ChatMessage[]): Conversation {
  // Shown while the server is unreachable; a later full read replaces it.
  if (state.order.length > 0) return state;
  const byId = new Map<string, MessageView>();
  for (const m of cached) byId.set(m.id, view(m));
  return { ...state, byId, order: conversationOrder(cached).map((m) => m.id), hasOlder: false };
}

/**
 * Messages in the order they were said. An answer is requested in the same instant as its prompt
 * (equal `created_at`), and the browser's cache sorts equal times by id, that is at random: an
 * answer listed before its prompt hid the answer. Ties go to the message answered first.
 */
export function conversationOrder(list: ChatMessage[]): ChatMessage[] {
  const rank = (m: ChatMessage) => (m.role === "assistant" ? 1 : 0);
  return [...list].sort((a, b) => {
    if (a.created_at !== b.created_at) return Date.parse(a.created_at) - Date.parse(b.created_at);
    if (a.reply_to === b.id) return 1;
    if (b.reply_to === a.id) return -1;
    return rank(a) - rank(b);
  });
}

// -- optimistic sends ---------------------------------------------------------------------------

function applyLocalSend(state: Conversation, clientMessageId: string, content: string, now: string): Conversation {
  const id = localId(clientMessageId);
  if (state.byId.has(id)) return state;
  const message: MessageView = {
    id,
    session_id: state.sessionId,
    role: "user",
    content,
    reasoning: "",
    created_at: now,
    updated_at: now,
    is_streaming: false,
    llm_provider: null,
    llm_model: null,
    response_time_ms: null,
    tokens_used: null,
    error_message: null,
    metadata: {},
    status: "pending",
    reply_to: null,
    client_message_id: clientMessageId,
    time_to_first_token_ms: null,
    prompt_tokens: null,
    completion_tokens: null,
    error_kind: null,
    attempt: 0,
    last_seq: null,
    parent_id: null,
    sibling_ids: [],
    nextIndex: null,
    local: true,
    sendError: null,
  };
  const byId = new Map(state.byId);
  byId.set(id, message);
  return { ...state, byId, order: [...state.order, id] };
}

function patchLocal(state: Conversation, clientMessageId: string, patch: Partial<MessageView>): Conversation {
  const id = localId(clientMessageId);
  const m = state.byId.get(id);
  if (!m) return state;
  const byId = new Map(state.byId);
  byId.set(id, { ...m, ...patch });
  return { ...state, byId };
}

// -- frames -------------------------------------------------------------------------------------

function advance(state: Conversation, seq: number | null): Conversation {
  return seq !== null && seq > state.cursor ? { ...state, cursor: seq } : state;
}

function skip(state: Conversation, seq: number | null): Conversation {
  return { ...advance(state, seq), skipped: state.skipped + 1 };
}

function put(state: Conversation, message: MessageView, seq: number | null): Conversation {
  const byId = new Map(state.byId);
  byId.set(message.id, message);
  return { ...advance(state, seq), byId, applied: state.applied + 1 };
}

function applyFrame(state: Conversation, frame: ServerFrame): Conversation {
  const seq = frame.seq ?? null;
  switch (frame.type) {
    case "connectionStatus":
      return applyStatus(state, frame.data);
    case "typing": {
      const connection = frame.data.connection_id;
      if (!connection || connection === state.connectionId) return state;
      const typing = new Map(state.typing);
      if (frame.data.typing) typing.set(connection, frame.data.user_id);
      else typing.delete(connection);
      return { ...state, typing };
    }
    case "error": {
      const data = frame.data;
      const text = `${data.code || "error"}: ${data.message || "the server refused a request"}`;
      if (data.client_message_id && state.byId.has(localId(data.client_message_id))) {
        return patchLocal(state, data.client_message_id, { sendError: text, status: "failed" });
      }
      return { ...state, notices: [...state.notices, text] };
    }
    case "newMessage":
      return applyNewMessage(state, frame.data, seq);
    case "messageUpdate":
      return applyUpdate(state, frame.message_id, frame.data, seq);
    default:
      // A frame type this client does not know: newer servers may add some; ignore it.
      return state;
  }
}

function applyStatus(state: Conversation, data: StatusData): Conversation {
  switch (data.status) {
    case "connected":
      return { ...state, connectionId: data.connection_id, live: false, typing: new Map() };
    case "live":
      return { ...state, live: true };
    case "pong":
      return state;
    case "session_updated":
      // A patch (the fields that changed): merged into the session held, never stored as a whole one.
      return {
        ...state,
        session: { ...state.session, ...data.session } as ChatSession,
      };
    case "session_deleted":
      return { ...state, deleted: true };
    default:
      return state;
  }
}

function applyNewMessage(state: Conversation, message: ChatMessage, seq: number | null): Conversation {
  const held = state.byId.get(message.id);
  if (held) {
    if (seq !== null && held.last_seq !== null && seq <= held.last_seq) return skip(state, seq);
    const next = view({ ...message, last_seq: seq ?? message.last_seq }, message.status === "pending" ? 0 : null);
    return put(state, next, seq);
  }
  if (seq !== null && seq <= state.readSeq) return skip(state, seq); // older than the page held
  const next = view({ ...message, last_seq: seq ?? message.last_seq }, message.role === "assistant" ? 0 : null);
  // A stored user message replaces its optimistic copy; stored messages go before unsent ones.
  const local = message.client_message_id ? localId(message.client_message_id) : null;
  const order = state.order.filter((id) => id !== local);
  const firstLocal = order.findIndex((id) => state.byId.get(id)?.local);
  if (firstLocal === -1) order.push(message.id);
  else order.splice(firstLocal, 0, message.id);
  const byId = new Map(state.byId);
  if (local) byId.delete(local);
  byId.set(message.id, next);
  return { ...advance(state, seq), byId, order, applied: state.applied + 1 };
}

function applyUpdate(state: Conversation, messageId: string, event: UpdateEvent, seq: number | null): Conversation {
  const m = state.byId.get(messageId);
  if (!m) {
    if (seq !== null && seq <= state.readSeq) return skip(state, seq);
    // A final event carries the whole message: show it even without its start.
    if (event.event === "completed" || event.event === "failed" || event.event === "cancelled") {
      return applyNewMessage(state, { ...event.message, last_seq: seq }, seq);
    }
    return { ...skip(state, seq), gap: true };
  }
  if (seq !== null && m.last_seq !== null && seq <= m.last_seq) return skip(state, seq);
  const at = seq ?? m.last_seq;
  // The lifecycle is the server's fold (./wire/lifecycle.ts, generated from events/lifecycle.py);
  // here only what the UI adds: the next chunk index expected, and gaps. (`next` is a new object no
  // one else holds yet: setting its index is not a mutation of state.)
  let next: MessageView | null;
  switch (event.event) {
    case "started":
      next = fold.started(m, event, at);
      if (next && (event.attempt > m.attempt || (m.content === "" && !m.reasoning))) next.nextIndex = 0;
      break;
    case "restarted":
      next = fold.restarted(m, event, at);
      if (next) next.nextIndex = 0;
      break;
    case "token": {
      const expected = event.attempt > m.attempt ? 0 : m.nextIndex; // a newer attempt counts from 0
      next = fold.token(m, event, at);
      if (next && expected !== null && event.index < expected) return skip(state, seq);
      if (next && expected !== null && event.index > expected) return { ...skip(state, seq), gap: true };
      if (next) next.nextIndex = event.index + 1;
      break;
    }
    case "completed":
      next = fold.completed(m, event, at);
      break;
    case "failed":
      next = fold.failed(m, event, at);
      break;
    case "cancelled":
      next = fold.cancelled(m, event, at);
      break;
    default:
      return state; // an update event this client does not know
  }
  return next ? put(state, next, seq) : skip(state, seq);
}
