// Flag definitions grown to a given size, as large projects have them: long targeting lists
// (emails, ids) and JSON payloads. Deterministic, for the scale tests and the benchmark.
import type { DefinitionsResponse } from "./conformance.js";
import type { FlagDefinition } from "../core/flags/index.js";
import { Random } from "./random.js";

const DOMAINS = ["gmail.com", "acme.com", "globex.io", "initech.com", "hooli.xyz", "example.org"];

/**
 * Each flag grown to about `bytes` of JSON: a payload of about a third of it for each value the
 * flag can take, and a first release condition on a list of emails for the rest.
 */
export function growFlags(project: DefinitionsResponse, bytes: number, seed = 31_337): DefinitionsResponse {
  const random = new Random(seed);
  const flags = project.flags.map((flag): FlagDefinition => {
    const filters = { ...flag.filters };
    const slots = filters.multivariate?.variants?.map((variant) => variant.key) ?? ["true"];
    const copy = `Release notes ${flag.key}: `.padEnd(Math.round(bytes / 3 / slots.length), `${flag.key} lorem ipsum dolor `);
    filters.payloads = Object.fromEntries(slots.map((slot) => [slot, JSON.stringify({ variant: slot, copy, limit: random.int(1, 500) })]));
    const emails: string[] = [];
    const list = { properties: [{ key: "email", type: "person", operator: "exact", value: emails }], rollout_percentage: 100 };
    filters.groups = [list, ...(filters.groups ?? [])];
    const grown = { ...flag, filters };
    let size = JSON.stringify(grown).length;
    while (size < bytes) {
      const email = `${random.next().toString(36).slice(2, 8)}.${random.int(1, 99_999)}@${random.pick(DOMAINS)}`;
      emails.push(email);
      size += email.length + 3;
    }
    return grown;
  });
  return { ...project, flags };
}
