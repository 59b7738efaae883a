// A conversation as the event log has it (the export document, docs/audit.md): its timeline of
// stored events, each answer's attempts and token timing, and export/import of a whole chat.

import * as api from "./api";
import type { ChatMessage, ChatSession } from "./protocol";

export interface Chunk {
  seq: number;
  index: number;
  token_index: number;
  token_count: number;
  /** Milliseconds since the answer was requested. */
  offset_ms: number;
  delta: string;
}

export interface Attempt {
  attempt: number;
  started_at: string | null;
  worker_id: string;
  llm_provider: string | null;
  llm_model: string | null;
  restart_reason: string | null;
  /** Chunk events still in the log (short-lived: swept after PARLEY_DELTA_RETENTION_S). */
  chunks: Chunk[];
  /** Every token with its time, from the terminal event (the permanent record; empty on old events). */
  tokens?: { offset_ms: number; text: string; chunk: number }[];
}

export interface AnswerLife {
  message_id: string;
  requested_at: string;
  regenerate: boolean;
  attempts: Attempt[];
  cancel_requested_at: string | null;
  ended: string | null;
  ended_at: string | null;
  error_kind: string | null;
  error_message: string | null;
}

export interface TimelineEntry {
  seq: number;
  type: string;
  occurred_at: string | null;
  message_id: string | null;
  attempt: number | null;
  worker_id: string | null;
  note: string | null;
}

export interface ExportDoc {
  format: string;
  session_id: string;
  through_seq: number;
  deleted: boolean;
  imported_from: string | null;
  session: ChatSession | null;
  messages: ChatMessage[];
  answers: Record<string, AnswerLife>;
  timeline: TimelineEntry[];
}

const path = (id: string) => `/chat/sessions/${encodeURIComponent(id)}`;

export const loadAudit = (sessionId: string) => api.getJson<ExportDoc>(`${path(sessionId)}/export?format=json`);

/** The export as a file to save: its text and a file name. */
export async function exportFile(sessionId: string, format: "json" | "markdown"): Promise<{ text: string; name: string; type: string }> {
  const response = await api.call("GET", `${path(sessionId)}/export?format=${format}`, undefined, 60_000);
  const ext = format === "json" ? "json" : "md";
  return { text: await response.text(), name: `parley-${sessionId}.${ext}`, type: format === "json" ? "application/json" : "text/markdown" };
}

/** Import an exported JSON document as a new chat of the caller's; the new session. */
export async function importFile(text: string): Promise<ChatSession> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error("This file is not JSON: choose a file exported from Parley (Export as JSON).");
  }
  const response = await api.call("POST", "/chat/sessions/import", doc, 60_000);
  return ((await response.json()) as { session: ChatSession }).session;
}

export interface ReplayStep {
  /** Wait this long after the previous step (ms, at 1x speed). */
  waitMs: number;
  text: string;
}

const timing = (a: Attempt) =>
  a.tokens && a.tokens.length > 0 ? a.tokens.map((t) => ({ at: t.offset_ms, text: t.text })) : a.chunks.map((c) => ({ at: c.offset_ms, text: c.delta }));

/** The final attempt of an answer as steps at its recorded timing: per token when the terminal
 * event recorded it, else per chunk event (empty: nothing recorded). */
export function replaySteps(life: AnswerLife | undefined): ReplayStep[] {
  const last = [...(life?.attempts ?? [])].reverse().find((a) => timing(a).length > 0);
  if (!last) return [];
  let previous = 0;
  return timing(last).map((t) => {
    const step = { waitMs: Math.max(0, t.at - previous), text: t.text };
    previous = t.at;
    return step;
  });
}

/** The answer's attempts, in a few words each (for the audit view). */
export function describeAttempts(life: AnswerLife | undefined): string[] {
  return (life?.attempts ?? []).map((a) => {
    const who = `${a.llm_provider ?? "?"}/${a.llm_model ?? "?"}${a.worker_id ? ` on ${a.worker_id}` : ""}`;
    const why = a.restart_reason ? ` (restarted: ${a.restart_reason})` : "";
    const tokens = a.tokens?.length ? `, ${a.tokens.length} timed tokens` : "";
    return `attempt ${a.attempt}: ${who}, ${a.chunks.length} chunks${tokens}${why}`;
  });
}
