import { describe, expect, it } from "vitest";
import { fromReport, type UsageGroup, type UsageReport } from "../src/usage";

const timing = (count: number, mean: number | null, p95: number | null) => ({ count, mean_ms: mean, p50_ms: mean, p95_ms: p95, buckets: {} });

function group(key: string, over: Partial<UsageGroup> = {}): UsageGroup {
  return {
    key,
    answers: 1,
    completed: 1,
    failed: 0,
    cancelled: 0,
    prompt_tokens: 5,
    completion_tokens: 5,
    tokens: 10,
    errors: {},
    time_to_first_token: timing(1, 20, 50),
    total_time: timing(1, 100, 100),
    ...over,
  };
}

function report(groupBy: UsageReport["group_by"], groups: UsageGroup[], totals: UsageGroup): UsageReport {
  const { key: _key, ...rest } = totals;
  return { from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z", group_by: groupBy, scope: "own", totals: rest, groups };
}

describe("usage from the usage projection's report", () => {
  it("takes totals, models by answers, errors by count and the hourly series", () => {
    const small = group("local/smol", { answers: 1, failed: 0 });
    const big = group("local/big", { answers: 3, failed: 2, tokens: 40 });
    const totals = group("", {
      answers: 4,
      completed: 1,
      failed: 2,
      cancelled: 1,
      tokens: 50,
      prompt_tokens: 20,
      completion_tokens: 30,
      errors: { timeout: 1, provider_error: 2 },
      total_time: timing(1, 250, 500),
      time_to_first_token: timing(1, 40, 50),
    });
    const hours = report("hour", [group("2026-01-01T03:00:00Z", { total_time: timing(1, 90, 100) }), group("2026-01-01T04:00:00Z", { total_time: timing(0, null, null) })], totals);
    const u = fromReport(report("model", [small, big], totals), hours);
    expect([u.answers, u.completed, u.failed, u.cancelled, u.open]).toEqual([4, 1, 2, 1, 0]);
    expect([u.tokens, u.promptTokens, u.completionTokens]).toEqual([50, 20, 30]);
    expect([u.meanResponseMs, u.p95ResponseMs, u.meanFirstTokenMs]).toEqual([250, 500, 40]);
    expect(u.byModel.map((m) => m.model)).toEqual(["local/big", "local/smol"]);
    expect(u.errors).toEqual([
      { kind: "provider_error", count: 2 },
      { kind: "timeout", count: 1 },
    ]);
    expect(u.series).toEqual([90]);
  });
});
