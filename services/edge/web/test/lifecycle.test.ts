// The reducer against the one fold (events/lifecycle.py): for every case the server generated
// (tests/support/lifecycle_cases.py), the frames it sends must fold here into the messages the
// server's fold holds after each one. The reducer runs the fold's rules compiled to TypeScript
// (src/wire/lifecycle.ts); this checks that code and what the reducer adds around it.
import { describe, expect, it } from "vitest";
import { type Conversation, empty, reduce } from "../src/conversation";
import type { ChatMessage, ChatSession, ServerFrame } from "../src/protocol";
import generated from "./lifecycle.cases.json";

type Field = keyof ChatMessage;
type Held = Record<string, Partial<ChatMessage>>;

interface Step {
  frame: ServerFrame;
  messages: Held;
}

// The JSON's literal types are wider than the wire's (strings for tags): read it as the cases it is.
interface Case {
  name: string;
  steps: Step[];
  /** A REST read mid-answer: the messages as the projection has them at `seq`. */
  read: { seq: number; messages: ChatMessage[] };
}

interface SessionStep {
  frame: ServerFrame;
  session: Partial<ChatSession>;
}

const { fields, cases, session } = generated as unknown as {
  fields: Field[];
  cases: Case[];
  session: SessionStep[];
};

function held(state: Conversation): Held {
  const out: Held = {};
  for (const [id, m] of state.byId) out[id] = Object.fromEntries(fields.map((f) => [f, m[f]]));
  return out;
}

describe("the answer lifecycle, as the server folds it", () => {
  it("has cases", () => {
    expect(cases.length).toBeGreaterThan(3);
  });
  for (const { name, steps, read } of cases) {
    it(`folds the ${name} case's frames into the server's messages`, () => {
      let state = empty(steps[0].frame.session_id);
      steps.forEach(({ frame, messages }, i) => {
        state = reduce(state, { kind: "frame", frame });
        expect(held(state), `after frame ${i + 1} (${frame.type})`).toEqual(messages);
      });
    });
    it(`folds the ${name} case's frames after a REST read mid-answer`, () => {
      let state = reduce(empty(steps[0].frame.session_id), {
        kind: "loaded",
        messages: read.messages,
        seq: read.seq,
        hasOlder: false,
      });
      // A replay from the read's cursor, overlapping it by one frame (as a resume may).
      steps.slice(read.seq - 1).forEach(({ frame, messages }, i) => {
        state = reduce(state, { kind: "frame", frame });
        expect(held(state), `after frame ${read.seq + i} (${frame.type})`).toEqual(messages);
      });
    });
  }
});

describe("the session, as the server folds it", () => {
  it("is created whole, then patched: a patch changes only what it names", () => {
    let state = empty(session[0].frame.session_id);
    session.forEach(({ frame, session: expected }, i) => {
      state = reduce(state, { kind: "frame", frame });
      const held = state.session as ChatSession;
      const keys = Object.keys(expected) as (keyof ChatSession)[];
      expect(Object.fromEntries(keys.map((k) => [k, held[k]])), `after frame ${i + 1}`).toEqual(expected);
    });
  });
});
