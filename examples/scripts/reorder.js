// On every order: restocks an item that fell below its reorder point.
import { item } from "ivmhost:inventory";
import { restock } from "ivmhost:inventory.update";
import { send } from "ivmhost:notify";

export function describe() {
  return "restocks an item when an order takes it below its reorder point";
}

export function order_placed(order) {
  const now = item(order.sku);
  if (now.stock >= now.reorder_at) return null;
  const quantity = now.reorder_at * 2 - now.stock;
  const stock = restock(order.sku, quantity);
  send(`reordered ${quantity} x ${now.name} after order #${order.id}; stock now ${stock}`);
  return `restocked ${order.sku} to ${stock}`;
}
