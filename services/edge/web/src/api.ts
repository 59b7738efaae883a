// The REST side of docs/protocol.md. Every call either returns data or throws an ApiError (the
// server answered with an error: status and its `detail`) or a NetworkError (no answer at all).

import { readToken } from "./auth";
import { retried } from "./backoff";
import type { ChatMessage, ChatSession, SessionSettings } from "./protocol";
import type * as wire from "./wire/wire";

export const base = "/api/v1";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`${status}: ${detail}`);
    this.name = "ApiError";
  }
}

export class NetworkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NetworkError";
  }
}

/** Called on every answer (true) and on every failure to reach the server (false). */
let reachable: (ok: boolean) => void = () => {};
export function onReachability(listener: (ok: boolean) => void): void {
  reachable = listener;
}

function detailOf(body: unknown, fallback: string): string {
  if (body && typeof body === "object" && "detail" in body) {
    const detail = (body as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    // FastAPI's 422: a list of {loc, msg}; name the field.
    if (Array.isArray(detail)) {
      return detail
        .map((d) => (d && typeof d === "object" ? `${(d.loc ?? []).slice(1).join(".")}: ${d.msg ?? ""}` : String(d)))
        .join("; ");
    }
    return JSON.stringify(detail);
  }
  return fallback;
}

/** Read-your-writes across the two doors: the newest stream sequence this page has seen (socket
 * frames, write answers). Reads send it as X-Parley-Seq, so a read right after a socket's
 * `completed` frame waits for the projection instead of showing the answer still streaming. */
let seenSeq = 0;

export function sawSeq(seq: unknown): void {
  if (typeof seq === "number" && Number.isSafeInteger(seq) && seq > seenSeq) seenSeq = seq;
}

async function call(method: string, path: string, body?: unknown, timeoutMs = 15_000): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method === "GET" && seenSeq > 0) headers["X-Parley-Seq"] = String(seenSeq);
  const token = readToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      cache: "no-store",
    });
  } catch (error) {
    reachable(false);
    throw new NetworkError(error instanceof Error ? error.message : String(error));
  }
  if (response.status >= 500 && response.status !== 501) {
    // A proxy in front of a stopped edge answers 502/503/504: as good as unreachable.
    reachable(response.status !== 502 && response.status !== 503 && response.status !== 504);
  } else {
    reachable(true);
  }
  if (!response.ok) {
    let parsed: unknown = null;
    try {
      parsed = await response.json();
    } catch {
      // not JSON: keep the status text
    }
    throw new ApiError(response.status, detailOf(parsed, response.statusText || `HTTP ${response.status}`));
  }
  return response;
}

/** A GET of any JSON resource of the API (the usage report, an export). */
export const getJson = <T>(path: string) => json<T>("GET", path);

/** A raw call (an export's text, an import's body), with the same auth and errors. */
export { call };

async function json<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(method, path, body);
  if (response.status === 204) return undefined as T;
  const parsed = (await response.json()) as T;
  if (parsed !== null && typeof parsed === "object" && "seq" in parsed) sawSeq(parsed.seq);
  return parsed;
}

export interface SessionPatch {
  title?: string;
  llm_provider?: string | null;
  llm_model?: string | null;
  settings?: SessionSettings;
}

export const listSessions = (q = "", pageSize = 100) =>
  json<ChatSession[]>("GET", `/chat/sessions?page=1&page_size=${pageSize}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
export const createSession = (body: SessionPatch = {}) => json<ChatSession>("POST", "/chat/sessions", body);
export const getSession = (id: string) => json<ChatSession>("GET", `/chat/sessions/${encodeURIComponent(id)}`);
export const patchSession = (id: string, patch: SessionPatch) =>
  json<ChatSession>("PATCH", `/chat/sessions/${encodeURIComponent(id)}`, patch);
export const deleteSession = (id: string) => json<void>("DELETE", `/chat/sessions/${encodeURIComponent(id)}`);

export interface MessagePage {
  messages: ChatMessage[];
  /** X-Parley-Seq: the stream sequence this read reflects. */
  seq: number;
  hasOlder: boolean;
}

export async function listMessages(sessionId: string, pageSize = 50, before?: string, branch?: string): Promise<MessagePage> {
  const query = `page=1&page_size=${pageSize}${before ? `&before=${encodeURIComponent(before)}` : ""}${branch ? `&branch=${encodeURIComponent(branch)}` : ""}`;
  const response = await call("GET", `/chat/sessions/${encodeURIComponent(sessionId)}/messages?${query}`);
  const messages = (await response.json()) as ChatMessage[];
  const header = response.headers.get("X-Parley-Seq");
  const seq = header === null ? Number.NaN : Number(header);
  if (!Number.isInteger(seq) || seq < 0) {
    throw new ApiError(response.status, `the server sent no usable X-Parley-Seq header (got ${JSON.stringify(header)})`);
  }
  return { messages, seq, hasOlder: messages.length >= pageSize };
}

export type SendResult = wire.SendAccepted;

/** Where a new message goes in the conversation's tree: after `parent_id`, or as an edit of `edit_of`. */
export interface Place {
  parent_id?: string;
  edit_of?: string;
}

/** A failure after which the same call may simply be made again: the server was not reached, or
 * said it stored nothing yet (502/503/504: a proxy before a stopped edge, an edge without NATS). */
export function transient(error: unknown): boolean {
  return error instanceof NetworkError || (error instanceof ApiError && [502, 503, 504].includes(error.status));
}

/** Made again while the failure is transient. A repeat stores nothing twice (the server keys the
 * message by `client_message_id`), and a lost reply may hide a half-done send: an edge that died
 * between its two writes stored the message but requested no answer, and only a repeat does. */
export const sendMessage = (sessionId: string, content: string, clientMessageId: string, place: Place = {}) =>
  retried(
    () =>
      json<SendResult>("POST", `/chat/sessions/${encodeURIComponent(sessionId)}/messages`, {
        content,
        client_message_id: clientMessageId,
        ...place,
      }),
    transient,
  );

export interface ProcessRequest {
  message_id?: string;
  llm_provider?: string;
  llm_model?: string;
}

export const processLlm = (sessionId: string, body: ProcessRequest) =>
  json<wire.ProcessLlmAccepted>(
    "POST",
    `/chat/sessions/${encodeURIComponent(sessionId)}/process-llm`,
    body,
  );

export const cancelAnswer = (sessionId: string, messageId: string) =>
  json<wire.CancelAccepted>(
    "POST",
    `/chat/sessions/${encodeURIComponent(sessionId)}/messages/${encodeURIComponent(messageId)}/cancel`,
  );

export const llmProviders = () => json<wire.ProviderStatus[]>("GET", "/llm/providers");
export const llmModels = () => json<wire.ProviderModels[]>("GET", "/llm/models");
export const llmHealth = () => json<wire.LlmHealth>("GET", "/llm/health");

/** The WebSocket address of a session, resuming after `afterSeq`. */
export function socketUrl(sessionId: string, afterSeq: number): string {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}${base}/chat/websocket/${encodeURIComponent(sessionId)}?after_seq=${afterSeq}`;
}

/** One search result: a session title or a message; `snippet` marks the matched words. */
export interface SearchHit {
  kind: "title" | "message";
  session_id: string;
  session_title: string | null;
  message_id: string | null;
  role: string | null;
  rank: number;
  created_at: string;
  snippet: { text: string; match: boolean }[];
}

export const searchChats = (q: string, pageSize = 20) =>
  json<SearchHit[]>("GET", `/chat/search?q=${encodeURIComponent(q)}&page_size=${pageSize}`);

/** Ask whether the server answers at all (reachability follows, as for every call). */
export async function probe(): Promise<void> {
  try {
    await call("GET", "/healthz", undefined, 5_000);
  } catch {
    // the reachability listener has been told
  }
}
