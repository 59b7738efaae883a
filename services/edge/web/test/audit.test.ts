import { describe, expect, it } from "vitest";
import { type AnswerLife, describeAttempts, replaySteps } from "../src/audit";

const life: AnswerLife = {
  message_id: "a",
  requested_at: "2026-01-01T00:00:00Z",
  regenerate: false,
  cancel_requested_at: null,
  ended: "generation.completed",
  ended_at: "2026-01-01T00:00:01Z",
  error_kind: null,
  error_message: null,
  attempts: [
    { attempt: 1, started_at: null, worker_id: "w1", llm_provider: "local", llm_model: "smol", restart_reason: null, chunks: [{ seq: 4, index: 0, token_index: 0, token_count: 1, offset_ms: 30, delta: "old" }] },
    {
      attempt: 2,
      started_at: null,
      worker_id: "w2",
      llm_provider: "local",
      llm_model: "smol",
      restart_reason: "worker lost",
      chunks: [
        { seq: 7, index: 0, token_index: 0, token_count: 1, offset_ms: 120, delta: "Hel" },
        { seq: 8, index: 1, token_index: 1, token_count: 2, offset_ms: 150, delta: "lo!" },
      ],
    },
  ],
};

describe("audit view helpers", () => {
  it("replays the last attempt with the waits between its chunks", () => {
    expect(replaySteps(life)).toEqual([
      { waitMs: 120, text: "Hel" },
      { waitMs: 30, text: "lo!" },
    ]);
    expect(replaySteps(undefined)).toEqual([]);
  });
  it("prefers the terminal event's per-token timing (the chunks may have been swept)", () => {
    const swept: AnswerLife = {
      ...life,
      attempts: [{ ...life.attempts[1], chunks: [], tokens: [{ offset_ms: 100, text: "He", chunk: 0 }, { offset_ms: 140, text: "llo", chunk: 1 }] }],
    };
    expect(replaySteps(swept)).toEqual([
      { waitMs: 100, text: "He" },
      { waitMs: 40, text: "llo" },
    ]);
  });
  it("describes every attempt", () => {
    expect(describeAttempts(life)).toEqual(["attempt 1: local/smol on w1, 1 chunks", "attempt 2: local/smol on w2, 2 chunks (restarted: worker lost)"]);
  });
});
