// What the ARIA live region says while an answer streams: whole sentences as they complete, the
// rest when the answer ends. Never per token (a screen reader would stutter through every word).

export interface Piece {
  /** Text to announce now. */
  text: string;
  /** How many characters of the content have now been announced. */
  spoken: number;
}

/** Sentences shorter than this wait for the next one, so the region is not updated word by word. */
export const minPiece = 40;

const boundary = /[.!?…](?=\s)|\n/g;

/** The next piece of `content` to announce, given `spoken` characters already announced. */
export function nextPiece(content: string, spoken: number, final: boolean): Piece | null {
  if (spoken > content.length) spoken = 0; // the text was replaced (a restart): start over
  let end = spoken;
  if (final) {
    end = content.length;
  } else {
    boundary.lastIndex = spoken;
    for (let match = boundary.exec(content); match; match = boundary.exec(content)) {
      end = match.index + match[0].length;
    }
    if (end - spoken < minPiece) return null;
  }
  const text = speakable(content.slice(spoken, end));
  if (!text) return final && end > spoken ? { text: "", spoken: end } : null;
  return { text, spoken: end };
}

/** Markdown punctuation read aloud is noise: keep the words. */
export function speakable(markdown: string): string {
  return markdown
    .replace(/```[^\n]*\n?/g, " ")
    .replace(/[*_`#>|]+/g, " ")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\s+/g, " ")
    .trim();
}
