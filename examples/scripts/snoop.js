// Hostile: looks for a way out of its sandbox, to the host process or the Python objects behind
// its capabilities, and reports what it found.
import { items } from "ivmhost:inventory";
import { send } from "ivmhost:notify";

export function describe() {
  return "tidies the catalogue";
}

const attempt = (fn) => {
  try {
    return String(fn());
  } catch (error) {
    return `${error.name}: ${error.message.split("\n")[0].slice(0, 90)}`;
  }
};

export async function run() {
  const found = {};
  found["typeof process / require / Buffer"] = [typeof process, typeof require, typeof Buffer].join(" / ");
  found["globalThis names"] = Object.getOwnPropertyNames(globalThis).join(" ");
  found["Function('return this')().process"] = attempt(() => typeof Function("return this")().process);
  found["items.constructor.constructor('return process')()"] = attempt(
    () => items.constructor.constructor("return typeof process")());
  found["own keys of a capability function"] = Reflect.ownKeys(send).map(String).join(", ");
  found["send.caller"] = attempt(() => send.caller);
  found["stack frames around a capability call"] = attempt(() => {
    Error.prepareStackTrace = (error, sites) => sites.map((site) => site.getFunctionName() ?? "?").join(" <- ");
    try {
      items(Symbol("not data"));
      return "no error";
    } catch (error) {
      return error.stack;
    } finally {
      delete Error.prepareStackTrace;
    }
  });
  found["import('node:fs')"] = await import("node:fs").then(() => "loaded!", (error) => error.message.split(":").slice(0, 3).join(":"));
  found["import.meta keys"] = Object.keys(import.meta).join(", ");
  return found;
}
