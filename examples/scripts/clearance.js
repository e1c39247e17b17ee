// Puts overstocked items on sale, never below cost.
import { items } from "ivmhost:inventory";
import { set_price } from "ivmhost:inventory.update";

export function describe() {
  return "marks overstocked items down by a percentage";
}

export function run(minimum_stock, percent) {
  const changed = [];
  for (const item of items()) {
    if (item.stock < minimum_stock) continue;
    const price = Math.max(item.cost, Math.round(item.price * (100 - percent)) / 100);
    if (price < item.price) {
      set_price(item.sku, price);
      changed.push(`${item.sku} ${item.price.toFixed(2)} -> ${price.toFixed(2)}`);
    }
  }
  return changed;
}
