// Lists the items running low and tells the shop keeper about them.
import { items } from "ivmhost:inventory";
import { send } from "ivmhost:notify";

export function describe() {
  return "lists items running low and notifies the shop keeper";
}

export function run(threshold = 5) {
  const low = items().filter((item) => item.stock <= threshold);
  if (low.length > 0) {
    send(`running low: ${low.map((item) => `${item.name} (${item.stock})`).join(", ")}`);
  }
  return low.map((item) => item.sku);
}
