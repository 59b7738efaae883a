import { describe, expect, it } from "vitest";
import { backoffDelay, defaultPolicy, retried } from "../src/backoff";

const policy = { baseMs: 500, maxMs: 30_000, factor: 2 };

describe("backoffDelay", () => {
  it("doubles the ceiling per attempt and caps it", () => {
    const top = (n: number) => backoffDelay(n, policy, () => 0.999999);
    expect([0, 1, 2, 3, 4].map(top)).toEqual([500, 1000, 2000, 4000, 8000]);
    expect(top(10)).toBe(30_000);
    expect(top(1000)).toBe(30_000);
  });

  it("keeps half the delay fixed and jitters the other half", () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(2000);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(3000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(2, policy);
      expect(d).toBeGreaterThanOrEqual(1000);
      expect(d).toBeLessThanOrEqual(2000);
    }
  });

  it("spreads clients that fail together", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, defaultPolicy)));
    expect(delays.size).toBeGreaterThan(25);
  });

  it("never retries immediately", () => {
    expect(backoffDelay(0, policy, () => 0)).toBeGreaterThan(0);
  });

  it("rejects a negative attempt", () => {
    expect(() => backoffDelay(-1, policy)).toThrow(RangeError);
    expect(() => backoffDelay(Number.NaN, policy)).toThrow(RangeError);
  });
});

describe("retried", () => {
  const noWait = async () => {};
  const failing = (failures: unknown[]) => {
    let calls = 0;
    const task = async () => {
      calls++;
      if (failures.length) throw failures.shift();
      return "stored";
    };
    return { task, calls: () => calls };
  };

  it("makes the call again after a retryable failure", async () => {
    const { task, calls } = failing(["lost", "lost"]);
    await expect(retried(task, (e) => e === "lost", 5, policy, noWait)).resolves.toBe("stored");
    expect(calls()).toBe(3);
  });

  it("gives up with the last error after the tries it was given", async () => {
    const { task, calls } = failing(["lost", "lost", "lost"]);
    await expect(retried(task, () => true, 3, policy, noWait)).rejects.toBe("lost");
    expect(calls()).toBe(3);
  });

  it("does not repeat a call that failed for good", async () => {
    const { task, calls } = failing(["refused", "lost"]);
    await expect(retried(task, (e) => e === "lost", 5, policy, noWait)).rejects.toBe("refused");
    expect(calls()).toBe(1);
  });

  it("waits a backoff between tries", async () => {
    const waits: number[] = [];
    const { task } = failing(["lost", "lost"]);
    await retried(task, () => true, 5, policy, async (ms) => void waits.push(ms));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(250);
    expect(waits[1]).toBeGreaterThanOrEqual(500);
  });
});
