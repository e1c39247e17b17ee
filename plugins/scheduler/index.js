// scheduler: timers that notify.
//
// - "remind <ms> <text>" sends "reminder: <text>" through notify after <ms> milliseconds. Reminders
//   live in the plugin's isolate: unloading the plugin (or closing the application) drops those
//   still pending.
// - The task run(interval_ms, times) sends "tick 1", "tick 2"... every interval_ms, `times` times,
//   and returns {ticks, interval_ms, elapsed_ms}. Cancelling the task stops its ticks (the host
//   releases the task's context, and its timers with it).

import { send } from "ivmhost:notify";

// Longest delay accepted: setTimeout's own limit (2^31 - 1 ms, about 24.8 days).
const MAX_DELAY_MS = 2147483647;

function parseDelay(text) {
  // Digits only: Number() would also take "1e3", "0x10" or "" (as 0).
  if (!/^\d+$/.test(text)) return null;
  const ms = Number(text);
  return ms <= MAX_DELAY_MS ? ms : null;
}

function remind(args) {
  const [, delay, text] = /^(\S+)\s+([^]*\S)\s*$/.exec(args.trim()) ?? [];
  const ms = delay === undefined ? null : parseDelay(delay);
  if (ms === null) return `remind: usage: remind <ms> <text>, with ms a whole number up to ${MAX_DELAY_MS}`;
  setTimeout(() => send(`reminder: ${text}`), ms);
  return `reminder set for ${ms} ms from now: ${text}`;
}

function wholeNumber(value, name) {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number >= 0, not ${value}`);
}

export function run(interval_ms, times) {
  wholeNumber(interval_ms, "interval_ms");
  wholeNumber(times, "times");
  const started = performance.now();
  const summary = (ticks) => ({ ticks, interval_ms, elapsed_ms: Math.round(performance.now() - started) });
  if (times === 0) return summary(0);
  return new Promise((resolve) => {
    let ticks = 0;
    // setInterval rather than a chain of setTimeouts: one timer to release, and the host
    // reschedules it only after each callback returns, so ticks never overlap.
    const timer = setInterval(() => {
      ticks += 1;
      send(`tick ${ticks}`);
      if (ticks === times) {
        clearInterval(timer);
        resolve(summary(ticks));
      }
    }, interval_ms);
  });
}

export function commands() {
  return [{ name: "remind", help: "remind <ms> <text>: send a reminder with the text in ms milliseconds" }];
}

export function run_command(name, args, note) {
  if (name !== "remind") return undefined;
  return remind(args ?? "");
}
