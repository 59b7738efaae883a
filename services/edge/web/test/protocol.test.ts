import { describe, expect, it } from "vitest";
import { adviceFor, isFrame } from "../src/protocol";

describe("close codes", () => {
  it("resumes after going away, missed heartbeats, a full queue and network drops", () => {
    for (const code of [1001, 1006, 4002, 4008, 1011]) expect(adviceFor(code)).toBe("reconnect");
  });

  it("asks for a token on 4401 and stops on 4404 and 4410", () => {
    expect(adviceFor(4401)).toBe("token");
    expect(adviceFor(4404)).toBe("stop");
    expect(adviceFor(4410)).toBe("stop");
  });
});

describe("isFrame", () => {
  it("accepts server frames and rejects anything else", () => {
    expect(isFrame({ session_id: "s", message_id: "", type: "typing", data: {}, seq: null })).toBe(true);
    expect(isFrame({ type: "newMessage", data: {}, seq: 3 })).toBe(true);
    expect(isFrame({ type: "newMessage", data: {}, seq: "3" })).toBe(false);
    expect(isFrame({ type: "newMessage" })).toBe(false);
    expect(isFrame("x")).toBe(false);
    expect(isFrame(null)).toBe(false);
  });
});
