// Recent usage for the dashboard, from the usage projection (GET /api/v1/usage): the server sums
// every answer of the period, instead of the browser reading the messages of a few chats.

import type { ChatMessage } from "./protocol";

export function modelName(m: Pick<ChatMessage, "llm_provider" | "llm_model">): string {
  if (m.llm_provider && m.llm_model) return `${m.llm_provider}/${m.llm_model}`;
  return m.llm_model ?? m.llm_provider ?? "default";
}

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
  /** Answers still streaming: the projection counts answers when they end, so always 0 here. */
  open: number;
  tokens: number;
  promptTokens: number;
  completionTokens: number;
  /** Mean and 95th percentile (a histogram bucket's bound) of the total time of completed answers. */
  meanResponseMs: number | null;
  p95ResponseMs: number | null;
  meanFirstTokenMs: number | null;
  /** Mean response time per hour with answers, oldest first (for a sparkline). */
  series: number[];
  byModel: ModelUsage[];
  /** Errors by kind, most frequent first. */
  errors: { kind: string; count: number }[];
}

/** What GET /api/v1/usage answers (docs/protocol.md). */
export interface Timing {
  count: number;
  mean_ms: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  buckets: Record<string, number>;
}

export interface UsageGroup {
  key: string;
  answers: number;
  completed: number;
  failed: number;
  cancelled: number;
  prompt_tokens: number;
  completion_tokens: number;
  tokens: number;
  errors: Record<string, number>;
  time_to_first_token: Timing;
  total_time: Timing;
}

export interface UsageReport {
  from: string;
  to: string;
  group_by: "model" | "provider" | "user" | "hour";
  scope: "own" | "all";
  totals: Omit<UsageGroup, "key">;
  groups: UsageGroup[];
}

export function fromReport(byModel: UsageReport, byHour: UsageReport | null): Usage {
  const t = byModel.totals;
  return {
    answers: t.answers,
    completed: t.completed,
    failed: t.failed,
    cancelled: t.cancelled,
    open: 0,
    tokens: t.tokens,
    promptTokens: t.prompt_tokens,
    completionTokens: t.completion_tokens,
    meanResponseMs: t.total_time.mean_ms,
    p95ResponseMs: t.total_time.p95_ms,
    meanFirstTokenMs: t.time_to_first_token.mean_ms,
    series: (byHour?.groups ?? []).map((g) => g.total_time.mean_ms).filter((v): v is number => typeof v === "number"),
    byModel: byModel.groups
      .map((g) => ({ model: g.key, answers: g.answers, tokens: g.tokens, failed: g.failed }))
      .sort((a, b) => b.answers - a.answers),
    errors: Object.entries(t.errors)
      .map(([kind, count]) => ({ kind, count }))
      .sort((a, b) => b.count - a.count),
  };
}
