// A few inline SVG icons (no icon font, nothing fetched). Decorative: the buttons carry labels.

const paths = {
  plus: "M12 5v14M5 12h14",
  send: "M4 12l16-8-6 16-2-7-8-1z",
  stop: "M7 7h10v10H7z",
  copy: "M9 9h10v10H9zM5 15V5h10",
  refresh: "M20 11a8 8 0 10-2.3 5.7M20 4v7h-7",
  pencil: "M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4",
  trash: "M5 7h14M10 11v6M14 11v6M7 7l1 13h8l1-13M9 7V4h6v3",
  menu: "M4 6h16M4 12h16M4 18h16",
  chat: "M4 5h16v11H9l-5 4z",
  gauge: "M4 15a8 8 0 1116 0M12 15l4-5",
  warning: "M12 3l10 18H2zM12 10v5M12 18v.5",
  close: "M6 6l12 12M18 6L6 18",
  arrowDown: "M12 5v14M6 13l6 6 6-6",
  check: "M5 12l5 5 9-10",
  search: "M11 18a7 7 0 100-14 7 7 0 000 14zM21 21l-5-5",
  more: "M5 12h.01M12 12h.01M19 12h.01",
  sliders: "M4 6h9M17 6h3M4 12h3M11 12h9M4 18h11M19 18h1M15 4v4M9 10v4M17 16v4",
} as const;

export type IconName = keyof typeof paths;

export function Icon({ name, size = 18 }: { name: IconName; size?: number }) {
  return (
    <svg
      class="icon"
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      <path d={paths[name]} />
    </svg>
  );
}
