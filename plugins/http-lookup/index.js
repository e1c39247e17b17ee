// http-lookup: the "define <word>" command asks a dictionary service for a word's definition.
//
// The service lives at the setting lookup.url (e.g. "http://127.0.0.1:8080/dict") and answers
//   GET <lookup.url>/define?word=<word>
// with 200 and the definition, as text/plain or as JSON {"definition": "..."}; 404 when it has none.
// Only the hosts the manifest lists may be fetched from: the capability refuses any other.

import { fetch } from "ivmhost:http.fetch";
import { get } from "ivmhost:settings";

// The capability's errors arrive as "<Python exception>: <message>". CapabilityDenied is the host
// refusing the URL (a host not granted, a scheme other than http/https); anything else failed on
// the way (refused connection, unknown host, timeout).
function failure(error, url) {
  const match = /^(\w+): ([^]*)$/.exec(error.message);
  if (match?.[1] === "CapabilityDenied") return `define: not allowed to fetch ${url}: ${match[2]}`;
  return `define: could not reach the dictionary service at ${url}: ${match?.[2] ?? error.message}`;
}

function definitionOf(response) {
  const type = Object.entries(response.headers)
    .find(([name]) => name.toLowerCase() === "content-type")?.[1] ?? "";
  if (!type.includes("json")) return response.text.trim();
  const definition = JSON.parse(response.text).definition;
  if (typeof definition !== "string") throw new TypeError('the JSON answer has no "definition" string');
  return definition.trim();
}

async function define(word) {
  if (word === "" || /\s/.test(word)) return "define: give one word (define serendipity)";
  const base = get("lookup.url");
  if (typeof base !== "string" || base === "") {
    return "define: the setting lookup.url is not set; set it to the dictionary service's URL";
  }
  const url = `${base.replace(/\/+$/, "")}/define?word=${encodeURIComponent(word)}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json, text/plain" } });
  } catch (error) {
    return failure(error, url);
  }
  if (response.status === 404) return `define: no definition found for "${word}"`;
  if (!response.ok) return `define: the dictionary service answered ${response.status} for "${word}"`;
  let definition;
  try {
    definition = definitionOf(response);
  } catch (error) {
    return `define: the dictionary service's answer for "${word}" is unreadable: ${error.message}`;
  }
  return definition === "" ? `define: the dictionary service has an empty definition for "${word}"` : `${word}: ${definition}`;
}

export function commands() {
  return [{ name: "define", help: "define <word>: look the word up in the dictionary service (setting lookup.url)" }];
}

export function run_command(name, args, note) {
  if (name !== "define") return undefined;
  return define((args ?? "").trim());
}
