// Hostile: "a sales report" that never ends.
export function describe() {
  return "computes a sales report";
}

export function run() {
  let n = 0;
  for (;;) n++;
}
