import { describe, expect, it } from "vitest";
import { branchIds, leafBelow, parentOf, siblingsOf, type Held } from "../src/branches";
import type { ChatMessage } from "../src/protocol";

function msg(id: string, role: "user" | "assistant", extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    id, session_id: "s", role, content: id, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z", is_streaming: false,
    llm_provider: null, llm_model: null, response_time_ms: null, tokens_used: null, error_message: null, metadata: {},
    status: "complete", reply_to: null, client_message_id: null, time_to_first_token_ms: null, prompt_tokens: null,
    completion_tokens: null, error_kind: null, attempt: 1, last_seq: null, parent_id: null, sibling_ids: [], reasoning: "", ...extra,
  };
}

function held(...messages: (ChatMessage & { local?: boolean })[]): Held {
  return { byId: new Map(messages.map((m) => [m.id, m])), order: messages.map((m) => m.id) };
}

describe("branches on screen", () => {
  // q1 → a1, a1b (regenerated); q2 after a1b (a frame: no parent) → a2; q2e edits q2 → a2e.
  const tree = held(
    msg("q1", "user", { sibling_ids: ["q1"] }),
    msg("a1", "assistant", { reply_to: "q1", parent_id: "q1", sibling_ids: ["a1", "a1b"] }),
    msg("a1b", "assistant", { reply_to: "q1", parent_id: "q1", sibling_ids: ["a1", "a1b"] }),
    msg("q2", "user"),
    msg("a2", "assistant", { reply_to: "q2" }),
    msg("q2e", "user", { metadata: { edit_of: "q2" } }),
    msg("a2e", "assistant", { reply_to: "q2e" }),
  );

  it("resolves parents as the server does", () => {
    expect(parentOf(tree, "q1")).toBeNull();
    expect(parentOf(tree, "a1b")).toBe("q1");
    expect(parentOf(tree, "q2")).toBe("a1b"); // after the newest message before it
    expect(parentOf(tree, "a2")).toBe("q2");
    expect(parentOf(tree, "q2e")).toBe("a1b"); // an edit is a sibling of what it rewrites
  });

  it("shows the newest branch, or the one chosen", () => {
    expect(branchIds(tree, null)).toEqual(["q1", "a1b", "q2e", "a2e"]);
    expect(branchIds(tree, "a2")).toEqual(["q1", "a1b", "q2", "a2"]);
    expect(branchIds(tree, "a1")).toEqual(["q1", "a1"]);
    expect(branchIds(tree, "unknown")).toEqual(["q1", "a1b", "q2e", "a2e"]);
  });

  it("lists siblings for the switcher and lands on the newest continuation", () => {
    expect(siblingsOf(tree, "a1b")).toEqual(["a1", "a1b"]);
    expect(siblingsOf(tree, "q2e")).toEqual(["q2", "q2e"]);
    expect(siblingsOf(tree, "q1")).toEqual(["q1"]);
    expect(leafBelow(tree, "q2")).toBe("a2");
    expect(leafBelow(tree, "a1b")).toBe("a2e");
    expect(leafBelow(tree, "a1")).toBe("a1");
  });

  it("keeps local messages at the end and never loops", () => {
    const withLocal = held(msg("q1", "user"), { ...msg("local:1", "user"), local: true });
    expect(branchIds(withLocal, null)).toEqual(["q1", "local:1"]);
    const cycle = held(msg("x", "user", { parent_id: "y" }), msg("y", "user", { parent_id: "x" }));
    expect(branchIds(cycle, null).sort()).toEqual(["x", "y"]);
  });
});
