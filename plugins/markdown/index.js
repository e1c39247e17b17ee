// markdown: the "md" command renders Markdown as HTML with marked (vendor/marked.esm.js, MIT,
// see vendor/LICENSE.md).
//
// Settings (all optional, read on every command so a changed setting applies at once):
//   markdown.gfm     true (default) or false: GitHub Flavored Markdown (tables, strikethrough, autolinks)
//   markdown.breaks  true or false (default): a single newline becomes <br>
//
// The HTML is not sanitized: marked passes raw HTML in the source through, as Markdown allows.
// An application showing it in a browser must sanitize it itself.

import { Marked } from "./vendor/marked.esm.js";
import { get } from "ivmhost:settings";

const OPTIONS = { gfm: true, breaks: false };

class SettingError extends Error {}

// One Marked instance per combination of options: building one is cheap, but the global `marked`
// would carry options from one call to the next.
const instances = new Map();

function readOptions() {
  const options = {};
  for (const [name, fallback] of Object.entries(OPTIONS)) {
    const key = `markdown.${name}`;
    const value = get(key, fallback);
    // Settings often come from text files or environment variables, so "true"/"false" count too.
    if (value === true || value === "true") options[name] = true;
    else if (value === false || value === "false") options[name] = false;
    else throw new SettingError(`setting ${key} must be true or false, not ${JSON.stringify(value)}`);
  }
  return options;
}

function renderer(options) {
  const key = JSON.stringify(options);
  let instance = instances.get(key);
  if (instance === undefined) {
    instance = new Marked({ ...options, async: false });
    instances.set(key, instance);
  }
  return instance;
}

function render(markdown) {
  return renderer(readOptions()).parse(markdown);
}

export function commands() {
  return [{ name: "md", help: "md [markdown]: render the current note (or the given Markdown) as HTML" }];
}

export function run_command(name, args, note) {
  if (name !== "md") return undefined;
  const source = (args ?? "").trim() !== "" ? args : note?.text;
  if (typeof source !== "string" || source.trim() === "") {
    return "md: nothing to render; open a note or give Markdown text (md *hello*)";
  }
  try {
    return render(source);
  } catch (error) {
    if (error instanceof SettingError) return `md: ${error.message}`;
    throw error;
  }
}
