import { describe, expect, it } from "vitest";
import { percentile, usage } from "../src/usage";
import { msg } from "./fixtures";

describe("usage", () => {
  it("counts answers, tokens, timings and errors per model", () => {
    const u = usage([
      msg("u", { role: "user", content: "hi" }),
      msg("a", { tokens_used: 10, response_time_ms: 100, time_to_first_token_ms: 20, created_at: "2026-01-01T00:00:01Z" }),
      msg("b", { tokens_used: 30, response_time_ms: 300, time_to_first_token_ms: 40, created_at: "2026-01-01T00:00:02Z" }),
      msg("c", {
        status: "failed",
        error_kind: "timeout",
        error_message: "no token for 60 s",
        llm_model: "other",
        tokens_used: null,
        prompt_tokens: 5,
        completion_tokens: 2,
        created_at: "2026-01-01T00:00:03Z",
      }),
      msg("d", { status: "streaming", created_at: "2026-01-01T00:00:04Z" }),
      msg("e", { status: "cancelled", created_at: "2026-01-01T00:00:05Z" }),
    ]);
    expect(u.answers).toBe(5);
    expect(u.completed).toBe(2);
    expect(u.failed).toBe(1);
    expect(u.cancelled).toBe(1);
    expect(u.open).toBe(1);
    expect(u.tokens).toBe(47);
    expect(u.meanResponseMs).toBe(200);
    expect(u.p95ResponseMs).toBe(300);
    expect(u.meanFirstTokenMs).toBe(30);
    expect(u.series).toEqual([100, 300]);
    expect(u.byModel[0]).toEqual({ model: "local/scripted", answers: 4, tokens: 40, failed: 0 });
    expect(u.byModel[1]).toEqual({ model: "local/other", answers: 1, tokens: 7, failed: 1 });
    expect(u.errors).toEqual([{ kind: "timeout", message: "no token for 60 s", at: "2026-01-01T00:00:03Z", model: "local/other" }]);
  });

  it("reports nothing measured without answers", () => {
    const u = usage([]);
    expect(u.answers).toBe(0);
    expect(u.meanResponseMs).toBeNull();
    expect(u.p95ResponseMs).toBeNull();
  });

  it("computes nearest-rank percentiles", () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([], 95)).toBeNull();
  });
});
