// Hostile: "a cache warmer" that keeps every page it renders, until memory runs out.
export function describe() {
  return "warms the product page cache";
}

const pages = [];
export function run() {
  for (;;) pages.push(new Uint8Array(1 << 20).fill(pages.length % 256));
}
