// Generated from events/lifecycle.py by events/compiler.py (`just wire`): do not edit.
// The answer lifecycle as the server folds it: each function folds one frame into the message
// held; null when the frame changes nothing (after the end, an older attempt).
import type { Cancelled, ChatMessage, Completed, Failed, Restarted, Started, Token } from "./wire";

export function started<M extends ChatMessage>(m: M, d: Started, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  if (d.attempt < m.attempt) return null;
  const fresh = d.attempt > m.attempt;
  const content = fresh ? "" : m.content;
  const reasoning = fresh ? "" : m.reasoning;
  const completion_tokens = fresh ? null : m.completion_tokens;
  return {
    ...m,
    status: "streaming",
    is_streaming: true,
    last_seq: seq,
    content,
    reasoning,
    completion_tokens,
    attempt: d.attempt,
    llm_provider: d.llm_provider,
    llm_model: d.llm_model,
  };
}

export function restarted<M extends ChatMessage>(m: M, d: Restarted, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  if (d.attempt <= m.attempt) return null;
  const fresh = d.attempt > m.attempt;
  const content = fresh ? "" : m.content;
  const reasoning = fresh ? "" : m.reasoning;
  const completion_tokens = fresh ? null : m.completion_tokens;
  return {
    ...m,
    status: "streaming",
    is_streaming: true,
    last_seq: seq,
    content,
    reasoning,
    completion_tokens,
    attempt: d.attempt,
  };
}

export function token<M extends ChatMessage>(m: M, d: Token, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  if (d.attempt < m.attempt) return null;
  const fresh = d.attempt > m.attempt;
  const content = fresh ? "" : m.content;
  const reasoning = fresh ? "" : m.reasoning;
  const completion_tokens = fresh ? null : m.completion_tokens;
  return {
    ...m,
    status: "streaming",
    is_streaming: true,
    last_seq: seq,
    content: d.reasoning ? content : (content ?? "") + d.delta,
    reasoning: d.reasoning ? (reasoning ?? "") + d.delta : reasoning,
    completion_tokens: (completion_tokens ?? 0) + d.token_count,
    attempt: d.attempt,
  };
}

export function completed<M extends ChatMessage>(m: M, f: Completed, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  return {
    ...m,
    status: "complete",
    is_streaming: false,
    last_seq: seq,
    updated_at: f.message.updated_at,
    content: f.message.content,
    reasoning: f.message.reasoning || m.reasoning,
    llm_provider: f.message.llm_provider,
    llm_model: f.message.llm_model,
    attempt: Math.max(m.attempt, f.message.attempt),
    prompt_tokens: f.message.prompt_tokens,
    completion_tokens: f.message.completion_tokens,
    tokens_used: f.message.tokens_used,
    response_time_ms: f.message.response_time_ms,
    time_to_first_token_ms: f.message.time_to_first_token_ms,
    metadata: { ...m.metadata, ...f.message.metadata },
  };
}

export function failed<M extends ChatMessage>(m: M, f: Failed, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  return {
    ...m,
    status: "failed",
    is_streaming: false,
    last_seq: seq,
    updated_at: f.message.updated_at,
    content: f.message.content || m.content,
    reasoning: f.message.reasoning || m.reasoning,
    error_kind: f.message.error_kind,
    error_message: f.message.error_message,
    llm_provider: f.message.llm_provider || m.llm_provider,
    llm_model: f.message.llm_model || m.llm_model,
    attempt: Math.max(m.attempt, f.message.attempt),
    response_time_ms: f.message.response_time_ms || m.response_time_ms,
    time_to_first_token_ms: f.message.time_to_first_token_ms,
    completion_tokens: f.message.completion_tokens || m.completion_tokens,
    tokens_used: f.message.tokens_used || m.tokens_used,
    metadata: { ...m.metadata, ...f.message.metadata },
  };
}

export function cancelled<M extends ChatMessage>(m: M, f: Cancelled, seq: number | null): M | null {
  if (m.status === "cancelled" || m.status === "complete" || m.status === "failed") return null;
  return {
    ...m,
    status: "cancelled",
    is_streaming: false,
    last_seq: seq,
    updated_at: f.message.updated_at,
    content: f.message.content || m.content,
    reasoning: f.message.reasoning || m.reasoning,
    error_kind: f.message.error_kind,
    error_message: f.message.error_message,
    llm_provider: f.message.llm_provider || m.llm_provider,
    llm_model: f.message.llm_model || m.llm_model,
    attempt: Math.max(m.attempt, f.message.attempt),
    response_time_ms: f.message.response_time_ms || m.response_time_ms,
    time_to_first_token_ms: f.message.time_to_first_token_ms,
    completion_tokens: f.message.completion_tokens || m.completion_tokens,
    tokens_used: f.message.tokens_used || m.tokens_used,
    metadata: { ...m.metadata, ...f.message.metadata },
  };
}
