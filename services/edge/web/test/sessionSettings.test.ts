import { describe, expect, it } from "vitest";
import { check, formOf } from "../src/sessionSettings";

describe("session settings form", () => {
  it("round-trips stored settings, empty meaning the provider's default", () => {
    const form = formOf({ system_prompt: "Be brief", temperature: 0.7, top_p: null, max_tokens: 256 });
    expect(form).toEqual({ system_prompt: "Be brief", temperature: "0.7", top_p: "", max_tokens: "256" });
    expect(check(form)).toEqual({
      settings: { system_prompt: "Be brief", temperature: 0.7, top_p: null, max_tokens: 256 },
      errors: {},
    });
    expect(check(formOf(null)).settings).toEqual({ system_prompt: null, temperature: null, top_p: null, max_tokens: null });
  });

  it("refuses what the API refuses", () => {
    const { errors } = check({ system_prompt: "a\u0000b", temperature: "2.5", top_p: "-0.1", max_tokens: "1.5" });
    expect(Object.keys(errors).sort()).toEqual(["max_tokens", "system_prompt", "temperature", "top_p"]);
    expect(check({ system_prompt: "", temperature: "NaN", top_p: "Infinity", max_tokens: "0" }).errors).toEqual({
      temperature: "Temperature must be a number.",
      top_p: "Top p must be a number.",
      max_tokens: "Max tokens must be between 1 and 1,000,000.",
    });
    expect(check({ system_prompt: "", temperature: "abc", top_p: "", max_tokens: "1000001" }).errors.max_tokens).toMatch(/between/);
  });

  it("accepts the bounds", () => {
    expect(check({ system_prompt: " ", temperature: "0", top_p: "1", max_tokens: "1000000" })).toEqual({
      settings: { system_prompt: null, temperature: 0, top_p: 1, max_tokens: 1_000_000 },
      errors: {},
    });
  });
});
