import { describe, expect, it } from "vitest";
import { minPiece, nextPiece, speakable } from "../src/announcer";

describe("nextPiece", () => {
  it("says nothing until a sentence long enough has ended", () => {
    expect(nextPiece("The answer is", 0, false)).toBeNull();
    expect(nextPiece("Short. And", 0, false)).toBeNull();
  });

  it("announces whole sentences, never a partial one", () => {
    const text = "The first sentence is long enough to say. The second one is still being";
    const piece = nextPiece(text, 0, false)!;
    expect(piece.text).toBe("The first sentence is long enough to say.");
    expect(text.slice(piece.spoken)).toBe(" The second one is still being");
    expect(nextPiece(text, piece.spoken, false)).toBeNull();
  });

  it("groups short sentences into one piece", () => {
    const text = "One. Two. Three. Four. Five. Six. Seven. Eight. Nine";
    const piece = nextPiece(text, 0, false)!;
    expect(piece.text.length).toBeGreaterThanOrEqual(minPiece);
    expect(piece.text.endsWith("Eight.")).toBe(true);
  });

  it("announces the rest when the answer ends", () => {
    const text = "The first sentence is long enough to say. Tail";
    const first = nextPiece(text, 0, false)!;
    const last = nextPiece(text, first.spoken, true)!;
    expect(last.text).toBe("Tail");
    expect(last.spoken).toBe(text.length);
    expect(nextPiece(text, text.length, true)).toBeNull();
  });

  it("starts over when the text was replaced by a shorter one (a restart)", () => {
    expect(nextPiece("New", 500, true)!.text).toBe("New");
  });

  it("reads Markdown as words", () => {
    expect(speakable("**Bold** and `code` in [a link](http://x)\n```py\nprint(1)\n```")).toBe("Bold and code in a link print(1)");
  });
});
