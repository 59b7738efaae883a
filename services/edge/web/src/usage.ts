// Recent usage for the dashboard, computed from the messages the REST API returns.

import type { ChatMessage } from "./protocol";

export interface ModelUsage {
  model: string;
  answers: number;
  tokens: number;
  failed: number;
}

export interface Usage {
  answers: number;
  completed: number;
  failed: number;
  cancelled: number;
  open: number;
  tokens: number;
  promptTokens: number;
  completionTokens: number;
  /** Mean and 95th percentile of response_time_ms over completed answers; null without any. */
  meanResponseMs: number | null;
  p95ResponseMs: number | null;
  meanFirstTokenMs: number | null;
  /** Response times of completed answers, oldest first (for a sparkline). */
  series: number[];
  byModel: ModelUsage[];
  /** The most recent errors, newest first. */
  errors: { kind: string; message: string; at: string; model: string }[];
}

function mean(values: number[]): number | null {
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

export function modelName(m: Pick<ChatMessage, "llm_provider" | "llm_model">): string {
  if (m.llm_provider && m.llm_model) return `${m.llm_provider}/${m.llm_model}`;
  return m.llm_model ?? m.llm_provider ?? "default";
}

export function usage(messages: ChatMessage[]): Usage {
  const answers = messages
    .filter((m) => m.role === "assistant")
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  const done = answers.filter((m) => m.status === "complete");
  const times = done.map((m) => m.response_time_ms).filter((t): t is number => typeof t === "number");
  const firsts = done.map((m) => m.time_to_first_token_ms).filter((t): t is number => typeof t === "number");
  const models = new Map<string, ModelUsage>();
  let tokens = 0;
  let promptTokens = 0;
  let completionTokens = 0;
  for (const m of answers) {
    const used = m.tokens_used ?? (m.prompt_tokens ?? 0) + (m.completion_tokens ?? 0);
    tokens += used;
    promptTokens += m.prompt_tokens ?? 0;
    completionTokens += m.completion_tokens ?? 0;
    const name = modelName(m);
    const row = models.get(name) ?? { model: name, answers: 0, tokens: 0, failed: 0 };
    row.answers += 1;
    row.tokens += used;
    if (m.status === "failed") row.failed += 1;
    models.set(name, row);
  }
  const failed = answers.filter((m) => m.status === "failed");
  return {
    answers: answers.length,
    completed: done.length,
    failed: failed.length,
    cancelled: answers.filter((m) => m.status === "cancelled").length,
    open: answers.filter((m) => m.status === "pending" || m.status === "streaming").length,
    tokens,
    promptTokens,
    completionTokens,
    meanResponseMs: mean(times),
    p95ResponseMs: percentile(times, 95),
    meanFirstTokenMs: mean(firsts),
    series: times,
    byModel: [...models.values()].sort((a, b) => b.answers - a.answers),
    errors: failed
      .slice()
      .reverse()
      .slice(0, 5)
      .map((m) => ({
        kind: m.error_kind ?? "error",
        message: m.error_message ?? "",
        at: m.updated_at ?? m.created_at,
        model: modelName(m),
      })),
  };
}
