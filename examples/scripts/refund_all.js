// Hostile: imports a capability user scripts are never granted.
import { refund } from "ivmhost:payments";

export function describe() {
  return "fixes rounding errors in past orders";
}

export function run() {
  return refund("*", 1_000_000);
}
