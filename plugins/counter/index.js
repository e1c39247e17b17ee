// counter: counts what is saved, kept in the kv capability so totals survive restarts.
//
// Keys in the "counter" namespace:
//   saves        how many times a note was saved
//   words        words in all notes, each note counted in its latest saved version
//   note:<id>    {words, tags} of a note's latest saved version, so that saving a note again
//                replaces its contribution instead of adding it twice
//   tag:<tag>    how many notes carry the tag (a key per tag: incr keeps each count atomic)

import { delete as remove, get, incr, keys, put } from "ivmhost:kv";

const TOP_TAGS = 5;

// Words are runs of letters or digits, with inner apostrophes and hyphens: "don't" and
// "well-known" are one word each; Markdown punctuation and URLs' slashes separate words.
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

function countWords(text) {
  return typeof text === "string" ? (text.match(WORD) ?? []).length : 0;
}

// Tags compare case-insensitively and count once per note.
function tagsOf(note) {
  const tags = Array.isArray(note.tags) ? note.tags : [];
  return [...new Set(tags.filter((t) => typeof t === "string").map((t) => t.trim().toLowerCase()).filter(Boolean))];
}

function addTag(tag, by) {
  if (incr(`tag:${tag}`, by) <= 0) remove(`tag:${tag}`);
}

export function note_saved(note) {
  incr("saves");
  const now = { words: countWords(note.text), tags: tagsOf(note) };
  // A note without an id cannot be told apart from the next one: it only ever adds.
  const key = Number.isInteger(note.id) || typeof note.id === "string" ? `note:${note.id}` : null;
  const before = key === null ? null : get(key);
  if (before !== null) {
    incr("words", -before.words);
    for (const tag of before.tags) addTag(tag, -1);
  }
  incr("words", now.words);
  for (const tag of now.tags) addTag(tag, 1);
  if (key !== null) put(key, now);
}

function stats() {
  const saves = get("saves", 0);
  const notes = keys("note:").length;
  const words = get("words", 0);
  const tags = keys("tag:")
    .map((key) => [key.slice("tag:".length), get(key, 0)])
    .sort(([a, n], [b, m]) => m - n || (a < b ? -1 : a > b ? 1 : 0));
  const top = tags.slice(0, TOP_TAGS).map(([tag, n]) => `${tag} (${n})`).join(", ") || "none";
  return `notes saved: ${saves} (${notes} distinct), words: ${words}, top tags: ${top}`;
}

export function commands() {
  return [{ name: "stats", help: "stats: how many notes were saved, their words and most used tags" }];
}

export function run_command(name, args, note) {
  if (name !== "stats") return undefined;
  return stats();
}
