// The JSON Schema a note must match before it is saved (see NotesHooks in ivmhost.demo: a note is
// {id, title, text, tags}). Kept as a module rather than a .json file because a plugin imports only
// JavaScript; it is plain JSON all the same.
export default {
  title: "note",
  type: "object",
  required: ["id", "title", "text"],
  additionalProperties: false,
  properties: {
    id: { type: "integer", minimum: 1 },
    title: { type: "string", minLength: 1, maxLength: 120 },
    text: { type: "string", maxLength: 100000 },
    tags: {
      type: "array",
      maxItems: 10,
      uniqueItems: true,
      // Lowercase words joined by dashes, so "#Work" and "work" cannot become two tags.
      items: { type: "string", minLength: 1, maxLength: 30, pattern: "^[a-z0-9]+(-[a-z0-9]+)*$" },
    },
  },
};
