// Frames and messages as the server sends them (docs/protocol.md), for the reducer tests.

import type { ChatMessage, ServerFrame, StatusData, UpdateEvent } from "../src/protocol";

export const sid = "s-1";

export function msg(id: string, patch: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id,
    session_id: sid,
    role: "assistant",
    content: "",
    created_at: "2026-11-24T10:00:00Z",
    updated_at: patch.created_at ?? "2026-11-24T10:00:00Z",
    is_streaming: false,
    llm_provider: "local",
    llm_model: "scripted",
    response_time_ms: null,
    tokens_used: null,
    error_message: null,
    metadata: {},
    status: "complete",
    reply_to: null,
    client_message_id: null,
    time_to_first_token_ms: null,
    prompt_tokens: null,
    completion_tokens: null,
    error_kind: null,
    attempt: 1,
    last_seq: null,
    parent_id: null,
    sibling_ids: [],
    reasoning: "",
    ...patch,
  };
}

export function newMessage(seq: number, m: ChatMessage): ServerFrame {
  return { session_id: sid, message_id: m.id, type: "newMessage", data: m, seq };
}

export function update(seq: number, messageId: string, data: UpdateEvent): ServerFrame {
  return { session_id: sid, message_id: messageId, type: "messageUpdate", data, seq };
}

export const started = (seq: number, id: string, attempt = 1) =>
  update(seq, id, { event: "started", attempt, llm_provider: "local", llm_model: "scripted" });

export const token = (seq: number, id: string, index: number, delta: string, attempt = 1) =>
  update(seq, id, { event: "token", delta, index, token_index: index, token_count: 1, attempt });

export const completed = (seq: number, m: ChatMessage) => update(seq, m.id, { event: "completed", message: m });

export function status(data: StatusData): ServerFrame {
  return { session_id: sid, message_id: "", type: "connectionStatus", data, seq: null };
}

/** A whole exchange: the user's message, the answer's request, start, chunks, completion. */
export function exchange(firstSeq: number, chunks: string[], userId = "u1", answerId = "a1"): ServerFrame[] {
  let seq = firstSeq;
  const user = msg(userId, { role: "user", content: "hi", status: "complete", client_message_id: `c-${userId}` });
  const pending = msg(answerId, { status: "pending", is_streaming: true, reply_to: userId, attempt: 0 });
  const frames: ServerFrame[] = [newMessage(seq++, user), newMessage(seq++, pending), started(seq++, answerId)];
  chunks.forEach((c, i) => frames.push(token(seq++, answerId, i, c)));
  const final = msg(answerId, {
    content: chunks.join(""),
    status: "complete",
    reply_to: userId,
    tokens_used: chunks.length,
    response_time_ms: 1234,
    last_seq: seq,
  });
  frames.push(completed(seq, final));
  return frames;
}
