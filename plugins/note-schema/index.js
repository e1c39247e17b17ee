// note-schema: validation with JSON Schema (the subset validator.js implements).
//
// - check_note(note): a note's problems against note.schema.js, before the application saves it.
// - "validate <path>": validates a JSON data file shared through the files capability against the
//   schema for it, also a shared file. The convention that picks the schema: the data file's name up
//   to its first dot names it, looked up in schemas/ at the root of the shared files:
//       people.json            -> schemas/people.schema.json
//       data/people.2024.json  -> schemas/people.schema.json
//   Data files need no "$schema" key, and one schema serves every dated or numbered copy.

import { read_text } from "ivmhost:files";
import noteSchema from "./note.schema.js";
import { SchemaError, validate } from "./validator.js";

function schemaPathFor(path) {
  const name = path.split("/").pop().split(".")[0];
  return `schemas/${name}.schema.json`;
}

// The files capability's errors arrive as "<Python exception>: <message>"; a user needs the
// message, and no absolute path of the host's disk.
function readFailure(error) {
  const [, kind, message] = /^(\w+): ([^]*)$/.exec(error.message) ?? [null, "", error.message];
  if (kind === "FileNotFoundError") return "no such file";
  if (kind === "IsADirectoryError") return "it is a directory";
  return message;
}

// A file's JSON, or a {failure} saying why it could not be had.
function readJson(path) {
  let text;
  try {
    text = read_text(path);
  } catch (error) {
    return { failure: `cannot read ${path}: ${readFailure(error)}` };
  }
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { failure: `${path} is not valid JSON: ${error.message}` };
  }
}

function validateFile(path) {
  if (path === "") return "validate: give the path of a JSON file (validate people.json)";
  const data = readJson(path);
  if (data.failure) return `validate: ${data.failure}`;
  const schemaPath = schemaPathFor(path);
  const schema = readJson(schemaPath);
  if (schema.failure) return `validate: ${schema.failure} (the schema for ${path})`;
  let problems;
  try {
    problems = validate(schema.value, data.value);
  } catch (error) {
    if (error instanceof SchemaError) return `validate: ${schemaPath} is not a usable schema: ${error.message}`;
    throw error;
  }
  if (problems.length === 0) return `valid: ${path} matches ${schemaPath}`;
  return [`invalid: ${path} does not match ${schemaPath}:`, ...problems.map((p) => `- ${p}`)].join("\n");
}

export function check_note(note) {
  return validate(noteSchema, note);
}

export function commands() {
  return [{
    name: "validate",
    help: "validate <path>: check a shared JSON file against schemas/<name>.schema.json "
      + "(<name>: the file's name up to its first dot)",
  }];
}

export function run_command(name, args, note) {
  if (name !== "validate") return undefined;
  return validateFile((args ?? "").trim());
}
