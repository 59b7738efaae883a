import "fake-indexeddb/auto";
import { beforeAll, describe, expect, it } from "vitest";
import { subjectOf, writeToken } from "../src/auth";
import { cacheName, clearCache, loadSessions, saveSessions } from "../src/store";
import type { ChatSession } from "../src/protocol";

beforeAll(() => {
  // vitest runs in node: a minimal localStorage for the token
  const items = new Map<string, string>();
  globalThis.localStorage = {
    getItem: (k: string) => items.get(k) ?? null,
    setItem: (k: string, v: string) => void items.set(k, v),
    removeItem: (k: string) => void items.delete(k),
    clear: () => items.clear(),
    key: (i: number) => [...items.keys()][i] ?? null,
    get length() {
      return items.size;
    },
  } as Storage;
});

function token(claims: object): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  return `${b64({ alg: "HS256" })}.${b64(claims)}.signature`;
}

function session(id: string): ChatSession {
  const at = "2026-11-24T10:00:00Z";
  return {
    id,
    title: id,
    user_id: "u",
    llm_provider: "local",
    llm_model: "m",
    created_at: at,
    updated_at: at,
    is_active: true,
    message_count: 0,
    settings: { max_tokens: null, system_prompt: null, temperature: null, top_p: null },
    last_activity_at: at,
    last_seq: null,
  };
}

async function ids(): Promise<string[]> {
  return (await loadSessions()).map((s) => s.id);
}

describe("the IndexedDB cache", () => {
  it("names the user from the token, and falls back to one shared cache without one", () => {
    expect(subjectOf(token({ sub: "älice/1" }))).toBe("älice/1");
    expect(cacheName(token({ sub: "alice" }))).toBe("parley:alice");
    expect(cacheName(null)).toBe("parley");
    expect(cacheName("garbage")).toBe("parley");
    expect(cacheName(token({ sub: 5 }))).toBe("parley");
  });

  it("is kept per user and forgotten when the token changes or is removed", async () => {
    writeToken(token({ sub: "alice", exp: 1 }));
    await saveSessions([session("a1")], true);
    expect(await ids()).toEqual(["a1"]);

    writeToken(token({ sub: "bob", exp: 1 })); // another user on this browser: alice's history is gone
    expect(await ids()).toEqual([]);
    await saveSessions([session("b1")], true);
    expect(await ids()).toEqual(["b1"]);

    writeToken(token({ sub: "bob", exp: 2 })); // a new token, even for the same user, starts clean
    expect(await ids()).toEqual([]);
    await saveSessions([session("b2")], true);

    writeToken(null); // signed out
    await clearCache();
    const left = (await indexedDB.databases()).map((d) => d.name).filter((n) => n?.startsWith("parley"));
    expect(left).toEqual([]);
  });
});
