// A compact JSON Schema validator (the draft 2020-12 keywords most schemas use):
//   type, enum, required, properties, additionalProperties, items, minLength, maxLength, pattern,
//   minimum, maximum, minItems, maxItems, uniqueItems, and the boolean schemas true and false.
// Other keywords ($schema, $id, title, description, default...) are ignored, as the specification
// asks of unknown ones. Not supported: $ref, allOf/anyOf/oneOf, if/then/else, format.
//
// validate(schema, value) returns readable problems, one string per violation, each starting with
// where it is ("title", "tags[2]", "(root)"); [] when the value is valid. It reports every problem
// it finds rather than stopping at the first, so a user can fix them all at once.

const TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"];

// JSON's types as JSON Schema names them. "integer" is a number with no fractional part (1.0 too).
function typeOf(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value; // "string", "boolean", "object"
}

function hasType(value, type) {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

// Equality of JSON values for enum and uniqueItems: structural, and blind to key order.
export function equal(a, b) {
  if (a === b) return true;
  const type = typeOf(a);
  if (type !== typeOf(b)) return false;
  if (type === "array") return a.length === b.length && a.every((item, i) => equal(item, b[i]));
  if (type === "object") {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length
      && keys.every((key) => Object.hasOwn(b, key) && equal(a[key], b[key]));
  }
  return false;
}

const show = (value) => JSON.stringify(value);

function childPath(path, key) {
  if (typeof key === "number") return `${path}[${key}]`;
  // Keys that are not identifiers are quoted, so a key like "a.b" cannot be misread as a path.
  const name = /^[A-Za-z_$][\w$]*$/.test(key) ? key : show(key);
  return path === "" ? name : `${path}.${name}`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

export class SchemaError extends Error {}

// Patterns are compiled once per schema object: the same schema validates many values.
const patterns = new WeakMap();

function patternOf(schema) {
  let regexp = patterns.get(schema);
  if (regexp === undefined) {
    try {
      // JSON Schema patterns are ECMA-262 regular expressions, unanchored; "u" makes them count
      // code points, as the specification's character semantics expect.
      regexp = new RegExp(schema.pattern, "u");
    } catch (error) {
      throw new SchemaError(`the schema's pattern ${show(schema.pattern)} is not a regular expression: ${error.message}`);
    }
    patterns.set(schema, regexp);
  }
  return regexp;
}

function check(schema, value, path, problems) {
  const where = path === "" ? "(root)" : path;
  const report = (message) => problems.push(`${where}: ${message}`);
  if (schema === true || schema === undefined) return;
  if (schema === false) {
    report("is not allowed here");
    return;
  }
  if (typeOf(schema) !== "object") throw new SchemaError(`a schema must be an object or a boolean, not ${show(schema)}`);

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const unknown = types.find((type) => !TYPES.includes(type));
    if (unknown !== undefined) throw new SchemaError(`unknown type ${show(unknown)} in the schema`);
    if (!types.some((type) => hasType(value, type))) {
      const expected = types.length === 1
        ? `${/^[aeiou]/.test(types[0]) ? "an" : "a"} ${types[0]}`
        : `one of ${types.join(", ")}`;
      report(`must be ${expected}, not ${typeOf(value)}`);
      return; // the other keywords would only repeat the same mistake in other words
    }
  }
  if (schema.enum !== undefined && !schema.enum.some((allowed) => equal(allowed, value))) {
    report(`must be one of ${schema.enum.map(show).join(", ")}`);
  }

  const type = typeOf(value);
  if (type === "string") checkString(schema, value, report);
  else if (type === "number" || type === "integer") checkNumber(schema, value, report);
  else if (type === "array") checkArray(schema, value, path, problems, report);
  else if (type === "object") checkObject(schema, value, path, problems, report);
}

function checkString(schema, value, report) {
  const length = [...value].length; // code points, not UTF-16 units: "é" and "😀" count once
  if (schema.minLength !== undefined && length < schema.minLength) {
    report(`must be at least ${plural(schema.minLength, "character")} long`);
  }
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    report(`must be at most ${plural(schema.maxLength, "character")} long`);
  }
  if (schema.pattern !== undefined && !patternOf(schema).test(value)) {
    report(`must match the pattern ${schema.pattern}`);
  }
}

function checkNumber(schema, value, report) {
  if (schema.minimum !== undefined && value < schema.minimum) report(`must be at least ${schema.minimum}`);
  if (schema.maximum !== undefined && value > schema.maximum) report(`must be at most ${schema.maximum}`);
}

function checkArray(schema, value, path, problems, report) {
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    report(`must have at least ${plural(schema.minItems, "item")}`);
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    report(`must have at most ${plural(schema.maxItems, "item")}`);
  }
  if (schema.uniqueItems === true) {
    for (let i = 1; i < value.length; i++) {
      const first = value.findIndex((item) => equal(item, value[i]));
      if (first < i) {
        report(`items ${first} and ${i} are equal (${show(value[i])}); items must be unique`);
        break; // one duplicate says enough; a list with many would flood the report
      }
    }
  }
  if (schema.items !== undefined) {
    value.forEach((item, i) => check(schema.items, item, childPath(path, i), problems));
  }
}

function checkObject(schema, value, path, problems, report) {
  for (const key of schema.required ?? []) {
    if (!Object.hasOwn(value, key)) report(`missing required property ${show(key)}`);
  }
  const properties = schema.properties ?? {};
  for (const [key, item] of Object.entries(value)) {
    if (Object.hasOwn(properties, key)) {
      check(properties[key], item, childPath(path, key), problems);
    } else if (schema.additionalProperties === false) {
      report(`has unexpected property ${show(key)}`);
    } else if (schema.additionalProperties !== undefined) {
      check(schema.additionalProperties, item, childPath(path, key), problems);
    }
  }
}

export function validate(schema, value) {
  const problems = [];
  check(schema, value, "", problems);
  return problems;
}
