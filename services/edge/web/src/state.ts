// Application state as signals, and the actions the screens call. I/O lives here and in api.ts,
// link.ts and store.ts; the decisions live in the pure modules (conversation, backoff, announcer).

import { batch, computed, effect, signal } from "@preact/signals";
import * as api from "./api";
import { readToken, writeToken } from "./auth";
import { branchIds, leafBelow } from "./branches";
import { type Conversation, activeAnswer, empty, localId, type MessageView, messages, reduce, type Action } from "./conversation";
import { newId } from "./ids";
import { idle, Link, type LinkState } from "./link";
import { nextPiece } from "./announcer";
import type { ChatMessage, ChatSession, SessionSettings, TypingFrame } from "./protocol";
import { choices, mergeHealth, type ModelInfo, parseModels, parseProviders, type ProviderInfo } from "./providers";
import * as store from "./store";
import { fromReport, type Usage, type UsageReport } from "./usage";

// -- routing ------------------------------------------------------------------------------------

/** `sessionId: null` with `fresh`: a new chat not created yet (it is, on its first message). */
export type Route = { view: "dashboard" } | { view: "chat"; sessionId: string | null; fresh: boolean };

/** The hash of a new, not yet created chat (session ids are UUIDs: never "new"). */
export const newChatHref = "#/chat/new";

function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  const chat = /^\/chat(?:\/([^/?#]+))?/.exec(path);
  if (chat?.[1] === "new") return { view: "chat", sessionId: null, fresh: true };
  if (chat) return { view: "chat", sessionId: chat[1] ? decodeURIComponent(chat[1]) : null, fresh: false };
  return { view: "dashboard" };
}

export const route = signal<Route>(parseRoute(window.location.hash));
let routeHash = window.location.hash;

/** Where focus goes after the next route change: its heading, or the message box. */
export type FocusTarget = "heading" | "composer";
export const focusRequest = signal<{ target: FocusTarget } | null>(null);

/**
 * Show `hash` now: the route changes in this task, not at the next hashchange event, so a send
 * made right after a click goes to the chat the click opened. `replace` keeps history clean
 * (a new chat that got its id).
 */
export function go(hash: string, focus: FocusTarget | null = "heading", replace = false): void {
  const same = hash === routeHash;
  routeHash = hash;
  if (!same) {
    batch(() => {
      route.value = parseRoute(hash);
      if (focus) focusRequest.value = { target: focus };
    });
  } else if (focus && focus === "composer") {
    focusRequest.value = { target: focus };
  }
  if (window.location.hash !== hash) {
    if (replace) history.replaceState(null, "", hash);
    else window.location.hash = hash;
  }
}

export const chatHref = (id: string) => `#/chat/${encodeURIComponent(id)}`;

// -- signals ------------------------------------------------------------------------------------

export const sessions = signal<ChatSession[]>([]);
export const sessionsLoaded = signal(false);
export const filter = signal("");
export const conversation = signal<Conversation | null>(null);
export const link = signal<LinkState>(idle);
/** False after a REST call could not reach the server; true after the next answer. */
export const reachable = signal(true);
export const needsToken = signal(false);
export const toast = signal<string | null>(null);
/** The live region's text: whole sentences of a streaming answer, then the rest. */
export const announcement = signal("");
export const showingCache = signal(false);
export const loadingOlder = signal(false);
/** The last message of the branch on screen; null: the newest branch (docs/protocol.md, "Branches"). */
export const branchLeaf = signal<string | null>(null);
export const stopping = signal<string | null>(null);

export interface LlmInfo {
  providers: ProviderInfo[];
  models: ModelInfo[];
  overall: boolean | null;
  error: string | null;
  loadedAt: number | null;
}

export const llm = signal<LlmInfo>({ providers: [], models: [], overall: null, error: null, loadedAt: null });
export const modelChoices = computed(() => choices(llm.value.providers, llm.value.models));
export const recentUsage = signal<{ usage: Usage | null; error: string | null; loading: boolean }>({
  usage: null,
  error: null,
  loading: false,
});

export const currentSession = computed<ChatSession | null>(() => {
  const conv = conversation.value;
  if (!conv) return null;
  return sessions.value.find((s) => s.id === conv.sessionId) ?? conv.session;
});

/** True once the open chat's connection attempt is over ~1 s old without being live. */
export const slowLink = signal(false);

/** Actions on answers (stop, regenerate, retry) need a live view of the chat. */
export const canAct = computed(() => link.value.phase === "live" || link.value.phase === "replaying");

/**
 * Whether the user may send now, and if not, why (shown beside the disabled input). A send is a
 * REST call: a socket still connecting or waiting to retry does not block it; only a server
 * known to be unreachable (or a missing token, or a deleted chat) does.
 */
export const sendBlock = computed<string | null>(() => {
  const phase = link.value.phase;
  if (needsToken.value || phase === "unauthorized") return "This server needs an access token: paste it above to chat.";
  if (phase === "gone") return "This chat no longer exists.";
  if (phase === "offline") {
    return "You are offline. Sending is disabled until the connection is back; your saved history is shown.";
  }
  if (!reachable.value && phase !== "live" && phase !== "replaying") {
    return "The server cannot be reached. Sending is disabled until the connection is back.";
  }
  return null;
});

/** The saved-history banner: not for a connection attempt still under ~1 s old. */
export const showCacheBanner = computed(
  () => showingCache.value && (slowLink.value || link.value.phase === "waiting" || link.value.phase === "offline"),
);

function message(error: unknown): string {
  if (error instanceof api.ApiError) return error.detail;
  if (error instanceof api.NetworkError) return "the server cannot be reached";
  return error instanceof Error ? error.message : String(error);
}

export function notify(text: string): void {
  toast.value = text;
}

api.onReachability((ok) => {
  reachable.value = ok;
});

// A socket waiting to reconnect says nothing of REST: ask the server once per wait, so sending is
// blocked exactly when the server cannot be reached (and not when only the socket is down).
let probedWait: unknown = null;
effect(() => {
  const state = link.value;
  if (state.phase === "waiting" && probedWait !== state.retryAt) {
    probedWait = state.retryAt;
    void api.probe();
  }
});

// -- the open session ---------------------------------------------------------------------------

const pageSize = 50;
/** How long another connection counts as typing after its last typing frame. */
const typingTtlMs = 6000;

class OpenSession {
  state: Conversation;
  readonly link: Link;
  private needRead = true;
  private flushQueued = false;
  private persisted = new Map<string, MessageView>();
  private persistTimer: ReturnType<typeof setTimeout> | null = null;
  /** Answers seen open in this page, with how much of each the live region has said. */
  private spoken = new Map<string, number>();
  private closed = false;

  constructor(readonly id: string) {
    this.state = empty(id);
    this.link = new Link({
      prepare: () => this.prepare(),
      url: (afterSeq) => api.socketUrl(id, afterSeq),
      token: readToken,
      onFrame: (frame) => {
        if (frame.session_id && frame.session_id !== id) return;
        this.dispatch({ kind: "frame", frame });
        if (frame.type === "typing") this.expireTyping(frame);
        if (frame.type === "connectionStatus" && frame.data.status === "session_updated") refreshSessions();
        if (frame.type === "messageUpdate") {
          const event = (frame.data as { event?: string }).event;
          if (event === "completed" || event === "failed" || event === "cancelled") {
            if (stopping.value === frame.message_id) stopping.value = null;
            refreshSessions();
          }
        }
      },
      onState: (state) => {
        if (!this.closed) link.value = state;
        if (state.phase === "unauthorized") needsToken.value = true;
        if (state.phase === "live") {
          needsToken.value = false;
          showingCache.value = false;
          if (slowTimer !== null) clearTimeout(slowTimer);
          slowTimer = null;
        }
      },
    });
  }

  async start(): Promise<void> {
    const cached = await store.loadMessages(this.id, pageSize * 2);
    if (this.closed) return;
    if (cached.length && this.state.order.length === 0) {
      this.dispatch({ kind: "cached", messages: cached });
      showingCache.value = true;
    }
    this.link.start();
  }

  close(): void {
    this.closed = true;
    for (const timer of this.typingTimers.values()) clearTimeout(timer);
    this.link.stop();
    this.persist();
  }

  private typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

  /** Typing frames are never stored and a closed tab sends no "stopped": forget them after a while. */
  private expireTyping(frame: TypingFrame): void {
    const connection = String(frame.data.connection_id ?? "");
    const held = this.typingTimers.get(connection);
    if (held !== undefined) clearTimeout(held);
    if (!frame.data.typing) return;
    this.typingTimers.set(
      connection,
      setTimeout(() => {
        this.typingTimers.delete(connection);
        this.dispatch({ kind: "frame", frame: { ...frame, data: { ...frame.data, typing: false } } });
      }, typingTtlMs),
    );
  }

  private async prepare(): Promise<number> {
    if (this.needRead) {
      const page = await api.listMessages(this.id, pageSize);
      if (this.closed) throw new Error("closed");
      this.dispatch({ kind: "loaded", messages: page.messages, seq: page.seq, hasOlder: page.hasOlder });
      showingCache.value = false;
      this.needRead = false;
      for (const m of page.messages) if (m.role === "assistant" && isOpen(m)) this.spoken.set(m.id, 0);
    }
    return this.state.cursor;
  }

  dispatch(action: Action): void {
    this.state = reduce(this.state, action);
    if (this.state.gap && !this.needRead) {
      // A chunk went missing (never expected): read again and resume from that read.
      this.needRead = true;
      this.link.resync();
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      const run = () => this.flush();
      if (document.hidden) setTimeout(run, 100);
      else requestAnimationFrame(run);
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.closed) return;
    batch(() => {
      conversation.value = this.state;
      this.announce();
    });
    if (this.persistTimer === null) this.persistTimer = setTimeout(() => this.persist(), 800);
  }

  private announce(): void {
    // Open answers are the newest messages; the rest are those already being spoken.
    const order = this.state.order;
    const ids = new Set(this.spoken.keys());
    for (let i = order.length - 1; i >= 0 && i >= order.length - 8; i--) ids.add(order[i]);
    for (const id of ids) {
      const m = this.state.byId.get(id);
      if (!m || m.role !== "assistant") continue;
      const open = isOpen(m);
      if (open && !this.spoken.has(id)) this.spoken.set(id, 0);
      const spoken = this.spoken.get(id);
      if (spoken === undefined) continue;
      const piece = nextPiece(m.content, spoken, !open);
      let text = piece?.text ?? "";
      if (piece) this.spoken.set(id, piece.spoken);
      if (!open) {
        this.spoken.delete(id);
        if (m.status === "failed") text = `${text} The answer failed: ${m.error_message ?? m.error_kind ?? "error"}.`.trim();
        if (m.status === "cancelled") text = `${text} (stopped)`.trim();
        if (m.status === "complete") text = text ? `${text} (answer complete)` : "Answer complete.";
      }
      if (text) announcement.value = text;
    }
  }

  private persist(): void {
    if (this.persistTimer !== null) clearTimeout(this.persistTimer);
    this.persistTimer = null;
    const changed: ChatMessage[] = [];
    for (const [id, m] of this.state.byId) {
      if (m.local || this.persisted.get(id) === m) continue;
      this.persisted.set(id, m);
      const { nextIndex: _n, local: _l, sendError: _s, ...plain } = m;
      changed.push(plain);
    }
    if (changed.length) void store.saveMessages(changed).then(() => store.trim(this.id));
  }

  async loadOlder(): Promise<void> {
    const shown = branchIds(this.state, branchLeaf.value);
    const first = shown.find((id) => !this.state.byId.get(id)?.local);
    if (!first || !this.state.hasOlder || loadingOlder.value) return;
    loadingOlder.value = true;
    try {
      const page = await api.listMessages(this.id, pageSize, first, branchLeaf.value ?? undefined);
      this.dispatch({ kind: "older", messages: page.messages, hasOlder: page.hasOlder });
    } catch (error) {
      notify(`Could not load older messages: ${message(error)}`);
    } finally {
      loadingOlder.value = false;
    }
  }

  /** Show the branch through `id` (a sibling picked in a switcher), reading it if it is not held. */
  async showBranch(id: string): Promise<void> {
    if (!this.state.byId.has(id)) {
      try {
        const page = await api.listMessages(this.id, pageSize, undefined, id);
        this.dispatch({ kind: "branch", messages: page.messages });
      } catch (error) {
        notify(`Could not show that version: ${message(error)}`);
        return;
      }
    }
    branchLeaf.value = leafBelow(this.state, id);
  }

  /** Where a new message goes: after the last stored message on the branch shown. */
  place(): api.Place {
    const shown = branchIds(this.state, branchLeaf.value).filter((id) => !this.state.byId.get(id)?.local);
    const last = shown[shown.length - 1];
    return last ? { parent_id: last } : {};
  }

  async send(content: string, clientMessageId = newId(), place: api.Place = this.place()): Promise<void> {
    branchLeaf.value = null; // the new message is the newest: follow it
    if (!this.state.byId.has(localId(clientMessageId))) {
      this.dispatch({ kind: "localSend", clientMessageId, content, now: new Date().toISOString() });
    } else {
      this.dispatch({ kind: "resend", clientMessageId });
    }
    try {
      await inOrder(this.id, () => api.sendMessage(this.id, content, clientMessageId, place));
    } catch (error) {
      this.dispatch({ kind: "sendFailed", clientMessageId, error: message(error) });
    }
  }
}

/** Each chat's sends, one after the other: two quick Enters must not arrive swapped. */
const sendChains = new Map<string, Promise<unknown>>();

function inOrder<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
  const previous = sendChains.get(sessionId) ?? Promise.resolve();
  const next = previous.then(task, task);
  const tail = next.catch(() => undefined);
  sendChains.set(sessionId, tail);
  void tail.then(() => {
    if (sendChains.get(sessionId) === tail) sendChains.delete(sessionId);
  });
  return next;
}

function isOpen(m: ChatMessage): boolean {
  return m.status === "pending" || m.status === "streaming";
}

let open: OpenSession | null = null;
let slowTimer: ReturnType<typeof setTimeout> | null = null;

export function openSession(id: string | null): void {
  if (open?.id !== id) branchLeaf.value = null;
  if (open?.id === id) return;
  open?.close();
  open = null;
  stopping.value = null;
  announcement.value = "";
  showingCache.value = false;
  slowLink.value = false;
  if (slowTimer !== null) clearTimeout(slowTimer);
  slowTimer = id === null ? null : setTimeout(() => (slowLink.value = true), 1000);
  if (id === null) {
    conversation.value = null;
    link.value = idle;
    return;
  }
  open = new OpenSession(id);
  conversation.value = open.state;
  // A chat not in the list (created elsewhere since it loaded): its title and model come from the list.
  if (sessionsLoaded.value && !sessions.value.some((s) => s.id === id)) refreshSessions(0);
  void open.start();
}

export function retryConnection(): void {
  open?.link.retryNow();
}

export function loadOlder(): Promise<void> {
  return open?.loadOlder() ?? Promise.resolve();
}

// -- commands -----------------------------------------------------------------------------------

const defaultTitles = new Set(["", "new chat", "untitled", "new session"]);

function titleFrom(content: string): string {
  const line = content.replace(/\[\[[^\]]*\]\]/g, "").trim().split("\n")[0].trim();
  const title = line.length > 48 ? `${line.slice(0, 47)}…` : line;
  return title || "New chat";
}

/** A new chat being created by its first message; later sends before it exists wait for it. */
let creating: { promise: Promise<ChatSession | null>; id: string | null } | null = null;

/**
 * Send to the chat that was on screen when the user pressed Enter: `target` is its id, or null
 * for a new chat, created now with this message (so no empty chat is ever left behind). Sends
 * made while it is being created queue behind its creation, in order. Never waits on the socket.
 */
export async function send(content: string, target: string | null): Promise<string | null> {
  const text = content.trim();
  if (!text) return null;
  if (target === null) return sendToNew(text);
  if (open?.id !== target && (currentScreenSession() === target || open === null)) openSession(target);
  const session = sessions.value.find((s) => s.id === target) ?? (open?.id === target ? currentSession.value : null);
  if (open?.id === target) {
    if (session && defaultTitles.has(session.title.trim().toLowerCase()) && messages(open.state).length === 0) {
      void renameSession(session.id, titleFrom(text));
    }
    await open.send(text);
  } else {
    await postElsewhere(target, text);
  }
  return target;
}

function currentScreenSession(): string | null {
  const r = route.value;
  return r.view === "chat" ? r.sessionId : (open?.id ?? null);
}

async function sendToNew(text: string): Promise<string | null> {
  const pending = creating ?? startCreating(text);
  const session = await pending.promise;
  if (!session) return null;
  if (open?.id === session.id) await open.send(text);
  else await postElsewhere(session.id, text);
  return session.id;
}

function startCreating(firstMessage: string): NonNullable<typeof creating> {
  const entry: NonNullable<typeof creating> = { promise: Promise.resolve(null), id: null };
  creating = entry;
  entry.promise = api.createSession({ title: titleFrom(firstMessage) }).then(
    (session) => {
      entry.id = session.id;
      remember(session);
      // Still looking at this new chat (no other chat or New chat since): show it, under its id.
      if (creating === entry) {
        creating = null;
        const r = route.value;
        if (r.view === "chat" && r.sessionId === null) {
          openSession(session.id);
          go(chatHref(session.id), null, true);
        } else if (r.view === "dashboard" && open === null) {
          openSession(session.id);
        }
      }
      return session;
    },
    (error) => {
      if (creating === entry) creating = null;
      notify(`Could not start a chat: ${message(error)}`);
      return null;
    },
  );
  return entry;
}

/** A send whose chat is no longer on screen (the user moved on while it was being created). */
async function postElsewhere(id: string, text: string): Promise<void> {
  try {
    await inOrder(id, () => api.sendMessage(id, text, newId()));
    refreshSessions();
  } catch (error) {
    notify(`Could not send your message: ${message(error)}`);
  }
}

export function resend(m: MessageView): void {
  if (open && m.client_message_id) void open.send(m.content, m.client_message_id);
}

export async function stop(): Promise<void> {
  if (!open) return;
  const answer = activeAnswer(open.state);
  if (!answer) return;
  stopping.value = answer.id;
  try {
    await api.cancelAnswer(open.id, answer.id);
  } catch (error) {
    stopping.value = null;
    notify(`Could not stop the answer: ${message(error)}`);
  }
}

/** A new answer to the prompt `answer` replied to (regenerate, or retry after an error). */
export async function regenerate(answer: MessageView | null, provider?: string, model?: string): Promise<void> {
  if (!open) return;
  branchLeaf.value = null; // the new answer is the newest version: show it
  try {
    await api.processLlm(open.id, {
      ...(answer?.reply_to ? { message_id: answer.reply_to } : {}),
      ...(provider ? { llm_provider: provider } : {}),
      ...(model ? { llm_model: model } : {}),
    });
  } catch (error) {
    notify(`Could not request a new answer: ${message(error)}`);
  }
}

export function sendTyping(typing: boolean): void {
  open?.link.send({ type: "typing", typing });
}

// -- sessions -----------------------------------------------------------------------------------

let listTimer: ReturnType<typeof setTimeout> | null = null;
let listRequest = 0;

export async function loadSessions(): Promise<void> {
  const request = ++listRequest;
  const q = filter.value.trim();
  try {
    const list = await api.listSessions(q);
    if (request !== listRequest) return;
    sessions.value = list;
    sessionsLoaded.value = true;
    needsToken.value = false;
    void store.saveSessions(list, q === "");
  } catch (error) {
    if (request !== listRequest) return;
    if (error instanceof api.ApiError && error.status === 401) needsToken.value = true;
    const cached = await store.loadSessions();
    const needle = q.toLowerCase();
    sessions.value = cached.filter((s) => !needle || s.title.toLowerCase().includes(needle));
    sessionsLoaded.value = true;
  }
}

/** Re-read the list soon (coalesces bursts: many answers ending at once). */
export function refreshSessions(delayMs = 400): void {
  if (listTimer !== null) clearTimeout(listTimer);
  listTimer = setTimeout(() => {
    listTimer = null;
    void loadSessions();
  }, delayMs);
}

export function setFilter(text: string): void {
  filter.value = text;
  refreshSessions(200);
}

/**
 * A new chat: nothing is created on the server until its first message. On the chat screen it
 * opens the new-chat view; on the dashboard it just closes the preview's chat. Focus goes to
 * the message box.
 */
export function newChat(navigate = true): void {
  creating = null;
  if (navigate) {
    openSession(null);
    go(newChatHref, "composer");
  } else {
    openSession(null);
    focusRequest.value = { target: "composer" };
  }
}

/** A session this client created: first in the list, and in the offline cache at once. */
function remember(session: ChatSession): void {
  sessions.value = [session, ...sessions.value.filter((s) => s.id !== session.id)];
  void store.saveSessions([session], false);
}

function replace(session: ChatSession): void {
  sessions.value = sessions.value.map((s) => (s.id === session.id ? session : s));
  void store.saveSessions([session], false);
}

export async function renameSession(id: string, title: string): Promise<boolean> {
  const clean = title.trim();
  if (!clean) {
    notify("A chat needs a title.");
    return false;
  }
  try {
    replace(await api.patchSession(id, { title: clean }));
    return true;
  } catch (error) {
    notify(`Could not rename the chat: ${message(error)}`);
    return false;
  }
}

export async function removeSession(id: string): Promise<boolean> {
  try {
    await api.deleteSession(id);
  } catch (error) {
    if (!(error instanceof api.ApiError && error.status === 404)) {
      notify(`Could not delete the chat: ${message(error)}`);
      return false;
    }
  }
  sessions.value = sessions.value.filter((s) => s.id !== id);
  void store.forgetSession(id);
  if (open?.id === id) {
    openSession(null);
    go("#/chat");
  }
  return true;
}

export async function chooseModel(provider: string | null, model: string | null): Promise<void> {
  const session = currentSession.value;
  if (!session) return;
  try {
    replace(await api.patchSession(session.id, { llm_provider: provider, llm_model: model }));
  } catch (error) {
    notify(`Could not change the model: ${message(error)}`);
  }
}

export function saveToken(token: string): void {
  writeToken(token.trim() || null);
  needsToken.value = false;
  void loadSessions();
  void loadLlm();
  open?.link.retryNow();
}

// -- dashboard ----------------------------------------------------------------------------------

export async function loadLlm(): Promise<void> {
  const [providers, models, health] = await Promise.allSettled([api.llmProviders(), api.llmModels(), api.llmHealth()]);
  const parsed = providers.status === "fulfilled" ? parseProviders(providers.value) : [];
  const merged = health.status === "fulfilled" ? mergeHealth(parsed, health.value) : { overall: null, providers: parsed };
  const failed = [providers, models, health].find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  llm.value = {
    providers: merged.providers,
    models: models.status === "fulfilled" ? parseModels(models.value) : [],
    overall: merged.overall,
    error: failed ? message(failed.reason) : null,
    loadedAt: Date.now(),
  };
}

/** Usage of the last 24 hours from the usage projection (per model, and per hour for the sparkline). */
export async function loadUsage(hours = 24): Promise<void> {
  recentUsage.value = { ...recentUsage.value, loading: true };
  try {
    const to = new Date();
    const from = new Date(to.getTime() - hours * 3600_000);
    const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const [byModel, byHour] = await Promise.all([
      api.getJson<UsageReport>(`/usage?${range}&group_by=model`),
      api.getJson<UsageReport>(`/usage?${range}&group_by=hour`),
    ]);
    recentUsage.value = { usage: fromReport(byModel, byHour), error: null, loading: false };
  } catch (error) {
    recentUsage.value = { ...recentUsage.value, error: message(error), loading: false };
  }
}

// -- test and debugging hook --------------------------------------------------------------------

declare global {
  interface Window {
    parley: {
      drop(): void;
      resync(): void;
      snapshot(): { sessionId: string | null; cursor: number; applied: number; skipped: number; phase: string };
    };
  }
}

window.parley = {
  drop: () => open?.link.drop(),
  resync: () => open?.link.resync(),
  snapshot: () => ({
    sessionId: open?.id ?? null,
    cursor: open?.state.cursor ?? 0,
    applied: open?.state.applied ?? 0,
    skipped: open?.state.skipped ?? 0,
    phase: link.value.phase,
  }),
};

/** Store a session's generation settings (system prompt, temperature, top p, max tokens). */
export async function saveSettings(id: string, settings: SessionSettings): Promise<string | null> {
  try {
    replace(await api.patchSession(id, { settings }));
    return null;
  } catch (error) {
    return message(error);
  }
}

/** Show another version (a sibling) of a message, and the branch that continues from it. */
export function showBranch(id: string): Promise<void> {
  return open?.showBranch(id) ?? Promise.resolve();
}

/** Send an edited copy of a user message: a sibling on a new branch, answered afresh. */
export async function editMessage(m: MessageView, content: string): Promise<void> {
  const text = content.trim();
  if (!open || !text || m.role !== "user" || m.local) return;
  await open.send(text, newId(), { edit_of: m.id });
}
