import { readFileSync } from 'node:fs';
import Ajv from 'ajv';

/** The official OASIS SARIF 2.1.0 schema (draft-04), committed verbatim: no network at test time. */
const schema: object = JSON.parse(
  readFileSync(new URL('../fixtures/sarif/sarif-schema-2.1.0.json', import.meta.url), 'utf8'),
);
const draft04: object = JSON.parse(
  readFileSync(new URL('../../node_modules/ajv/lib/refs/json-schema-draft-04.json', import.meta.url), 'utf8'),
);

/** A validator for SARIF 2.1.0 logs; `errors` is set after a failed validation. */
export function sarifValidator() {
  // Ajv 6 validates draft-04 schemas (the SARIF schema is one) once given the draft-04 meta-schema.
  const ajv = new Ajv({ allErrors: true, schemaId: 'id', meta: false, format: 'full', logger: false });
  ajv.addMetaSchema(draft04);
  return ajv.compile(schema);
}
