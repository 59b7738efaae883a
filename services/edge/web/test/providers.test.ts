import { describe, expect, it } from "vitest";
import { choices, healthOf, mergeHealth, parseModels, parseProviders } from "../src/providers";

describe("parseProviders", () => {
  it("reads a list of provider objects", () => {
    const list = parseProviders([
      { name: "local", configured: true, healthy: true, default_model: "smollm2", models: ["smollm2", { id: "qwen" }], latency_ms: 12 },
      { name: "openrouter", configured: false, healthy: null, detail: "OPENROUTER_API_KEY is not set" },
    ]);
    expect(list).toEqual([
      { name: "local", healthy: true, configured: true, defaultModel: "smollm2", models: ["smollm2", "qwen"], latencyMs: 12, detail: null, lastError: null, lastErrorAt: null },
      { name: "openrouter", healthy: null, configured: false, defaultModel: null, models: [], latencyMs: null, detail: "OPENROUTER_API_KEY is not set", lastError: null, lastErrorAt: null },
    ]);
  });

  it("reads an object keyed by provider, and a wrapped list", () => {
    expect(parseProviders({ local: { status: "ok", model: "m" } })[0]).toMatchObject({ name: "local", healthy: true, defaultModel: "m" });
    expect(parseProviders({ providers: [{ id: "x", health: { status: "down", error: "refused" } }] })[0]).toMatchObject({
      name: "x",
      healthy: false,
      detail: "refused",
    });
    expect(parseProviders(["local"])[0].name).toBe("local");
    expect(parseProviders(null)).toEqual([]);
  });

  it("reads health words", () => {
    expect(healthOf("ok")).toBe(true);
    expect(healthOf("degraded")).toBe(false);
    expect(healthOf({ status: "unhealthy" })).toBe(false);
    expect(healthOf("whatever")).toBeNull();
  });
});

describe("the edge's own shapes (services/edge/routers/llm.py)", () => {
  const providers = [
    {
      name: "local",
      configured: true,
      base_url: "http://127.0.0.1:8080/v1",
      default_model: "smollm2",
      health: { provider: "local", base_url: "x", ok: true, latency_ms: 4.2, error: null, checked_at: 1, last_error: "HTTP 503", last_error_at: 1700000000, default_model: "smollm2" },
    },
    { name: "openrouter", configured: false, reason: "OPENROUTER_API_KEY is unset", health: null },
  ];

  it("reads /llm/providers", () => {
    const [local, openrouter] = parseProviders(providers);
    expect(local).toMatchObject({ name: "local", healthy: true, latencyMs: 4.2, lastError: "HTTP 503", lastErrorAt: 1700000000000 });
    expect(openrouter).toMatchObject({ name: "openrouter", configured: false, healthy: null, detail: "OPENROUTER_API_KEY is unset" });
  });

  it("reads /llm/models and /llm/health", () => {
    expect(parseModels([{ provider: "local", default_model: "smollm2", models: ["smollm2", "qwen"], error: null }])).toEqual([
      { provider: "local", id: "smollm2" },
      { provider: "local", id: "qwen" },
    ]);
    const health = { ok: false, default_provider: "local", providers: [{ provider: "local", ok: false, error: "refused" }] };
    const merged = mergeHealth(parseProviders(providers), health);
    expect(merged.overall).toBe(false);
    expect(merged.providers[0]).toMatchObject({ healthy: false, detail: "refused" });
  });
});

describe("parseModels", () => {
  it("reads OpenAI-style, grouped and flat lists", () => {
    expect(parseModels({ data: [{ id: "a", owned_by: "local" }] })).toEqual([{ provider: "local", id: "a" }]);
    expect(parseModels({ local: ["a", "b"], openrouter: [{ id: "c" }] })).toEqual([
      { provider: "local", id: "a" },
      { provider: "local", id: "b" },
      { provider: "openrouter", id: "c" },
    ]);
    expect(parseModels([{ provider: "local", model: "a" }, { provider: "local", model: "a" }])).toEqual([{ provider: "local", id: "a" }]);
    expect(parseModels({ models: [{ provider: "p", models: ["x"] }] })).toEqual([{ provider: "p", id: "x" }]);
  });
});

describe("mergeHealth and choices", () => {
  it("merges per-provider health and derives the overall state", () => {
    const providers = parseProviders([{ name: "local" }, { name: "openrouter", configured: false }]);
    const merged = mergeHealth(providers, { status: "ok", providers: { local: { healthy: true, latency_ms: 3 } } });
    expect(merged.overall).toBe(true);
    expect(merged.providers[0]).toMatchObject({ healthy: true, latencyMs: 3 });
    expect(mergeHealth(providers, {}).overall).toBe(true);
    expect(mergeHealth(parseProviders([{ name: "a", healthy: false }]), {}).overall).toBe(false);
  });

  it("groups models per configured provider for the picker", () => {
    const providers = parseProviders([
      { name: "local", default_model: "m1" },
      { name: "openrouter", configured: false },
    ]);
    const models = parseModels([{ provider: "local", id: "m2" }, { provider: "openrouter", id: "gpt" }, { id: "m3" }]);
    expect(choices(providers, models)).toEqual([{ provider: "local", models: ["m1", "m2", "m3"] }]);
  });
});
