import { describe, expect, it } from "vitest";
import { ago, count, duration, plainPreview } from "../src/ui/format";

describe("format", () => {
  it("shows durations at a readable scale", () => {
    expect(duration(null)).toBe("–");
    expect(duration(12.4)).toBe("12 ms");
    expect(duration(1234)).toBe("1.23 s");
    expect(duration(12_345)).toBe("12.3 s");
    expect(duration(125_000)).toBe("2 min 5 s");
  });

  it("counts with separators and says how long ago", () => {
    expect(count(1234567)).toBe("1,234,567");
    const now = Date.parse("2026-01-01T12:00:00Z");
    expect(ago("2026-01-01T11:59:50Z", now)).toBe("just now");
    expect(ago("2026-01-01T11:30:00Z", now)).toBe("30 min ago");
    expect(ago("2026-01-01T09:00:00Z", now)).toBe("3 h ago");
    expect(ago("not a time", now)).toBe("");
  });

  it("previews Markdown as plain words and keeps markup characters as text", () => {
    expect(plainPreview("# Title\n\nSome **bold** and *soft* `code`\n```py\nx = 1\n```\n- item [link](http://x)")).toBe(
      "Title Some bold and soft code x = 1 item link",
    );
    expect(plainPreview("<img src=x onerror=alert(1)>")).toBe("<img src=x onerror=alert(1)>");
  });
});
