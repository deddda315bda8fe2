// Validate an AsyncAPI document with the official AsyncAPI tooling and fail on
// any diagnostic of severity error.
//
// 1. @asyncapi/parser parses and lints the document (spec schema, bindings,
//    references, AsyncAPI 3 rules) with @asyncapi/avro-schema-parser registered.
// 2. The parser's AsyncAPI 3 ruleset does not run a custom format's validate(),
//    so every multi-format schema is also checked here: its schemaFormat must be
//    one the Avro schema parser handles, and that parser's validate() (avsc)
//    must accept the schema.
//
// Usage: node validate.mjs <asyncapi.yaml>
// Prints one JSON object: {"errors": [...], "warnings": [...], "channels": N,
// "operations": N, "messages": N, "avroSchemas": N}; exits 1 on any error.
import { readFileSync } from "node:fs";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";
import { AvroSchemaParser } from "@asyncapi/avro-schema-parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs <asyncapi.yaml>");
  process.exit(2);
}
const avro = AvroSchemaParser();
const parser = new Parser();
parser.registerSchemaParser(avro);
const { document, diagnostics } = await parser.parse(readFileSync(path, "utf8"), { source: path });
const show = (d) => `${d.code}: ${d.message} at ${JSON.stringify(d.path)}`;
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(show);
const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(show);

let avroSchemas = 0;
async function walk(node, where) {
  if (Array.isArray(node)) {
    for (const [i, v] of node.entries()) await walk(v, [...where, i]);
    return;
  }
  if (node === null || typeof node !== "object") return;
  if (typeof node.schemaFormat === "string" && "schema" in node) {
    if (!avro.getMimeTypes().includes(node.schemaFormat)) {
      errors.push(`schema-format: no parser for ${node.schemaFormat} at ${JSON.stringify(where)}`);
    } else {
      avroSchemas += 1;
      const original = node["x-parser-original-payload"] ?? node.schema;
      for (const d of await avro.validate({ data: original, path: [...where, "schema"] })) {
        errors.push(`avro-schema: ${d.message} at ${JSON.stringify(where)}`);
      }
    }
  }
  for (const [k, v] of Object.entries(node)) {
    if (k !== "x-parser-original-payload") await walk(v, [...where, k]);
  }
}
if (document) await walk(document.json(), []);

console.log(
  JSON.stringify({
    errors,
    warnings,
    channels: document ? document.channels().length : 0,
    operations: document ? document.operations().length : 0,
    messages: document ? document.messages().length : 0,
    avroSchemas,
  }),
);
process.exit(errors.length || !document ? 1 : 0);
