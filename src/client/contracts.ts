// The app's flag registry and event taxonomy at run time. The compiler checks calls against
// them; these check what it cannot see: properties built at run time, and what PostHog serves.
import type { ServedFlag } from "../component/flags.js";
import { checkDefinitions, checkServedFlag, type FlagFinding } from "../core/flagRegistry.js";
import { PostHogInputError } from "../core/messages.js";
import type { ClientConfig } from "./config.js";
import type { FlagReadResult } from "./flags.js";
import type { CaptureArgs, RunQueryCtx } from "./types.js";

/**
 * Whether a capture goes ahead under the taxonomy: yes without one or when it conforms. A
 * breach throws a PostHogInputError naming the path, or (onInvalidEvent) is dropped or sent
 * with a warning. `allowUndeclared`: the untyped escape hatch, for events outside the taxonomy.
 */
export function acceptsEvent(config: ClientConfig, args: CaptureArgs, allowUndeclared: boolean): boolean {
  const taxonomy = config.options.events;
  if (taxonomy === undefined) return true;
  const declared = taxonomy.names.includes(args.event);
  if (allowUndeclared && !declared) return true;
  const problems = taxonomy.check(args.event, args.properties);
  if (problems.length === 0) return true;
  const handling = config.options.onInvalidEvent ?? "throw";
  const what = `event "${args.event}" breaks the event taxonomy: ${problems.join("; ")}`;
  // The escape hatch helps only with undeclared events: it still checks declared ones.
  const hint = declared ? "" : " (posthog.untyped.capture sends events outside the taxonomy)";
  if (handling === "throw") throw new PostHogInputError("event", `${what}${hint}`);
  console.warn(`PostHog: ${what}; ${handling === "drop" ? "dropped" : "sent anyway"}`);
  return handling === "send";
}

/**
 * A read's results against the registry: a variant or payload the registry does not declare is
 * returned unchanged (the caller's type would lie otherwise) and warned about once.
 */
export function reportServed(config: ClientConfig, results: Iterable<{ key: string; value: FlagReadResult["value"]; payload: unknown }>): void {
  const registry = config.options.flags;
  if (registry === undefined) return;
  for (const result of results) {
    // Keys outside the registry are read through posthog.untyped on purpose.
    if (!Object.prototype.hasOwnProperty.call(registry.flags, result.key)) continue;
    for (const finding of checkServedFlag(registry, result.key, { value: result.value, payload: result.payload })) {
      config.warnOnce(`PostHog: flag "${finding.key}" (${finding.kind}): ${finding.detail}; see status().registry`);
    }
  }
}

/** What status reports about the registry: PostHog's stored definitions compared with it. */
export interface RegistryStatus {
  /** Whether definitions are loaded to compare with (the comparison needs refreshFlagDefinitions). */
  definitions: "loaded" | "not_loaded" | "quota_limited";
  findings: FlagFinding[];
}

export async function registryStatus(config: ClientConfig, ctx: RunQueryCtx): Promise<RegistryStatus | undefined> {
  const registry = config.options.flags;
  if (registry === undefined) return undefined;
  const answer = JSON.parse(await ctx.runQuery(config.component.flags.servedFlags, { keys: [...registry.keys] })) as
    | { state: "not_loaded" | "quota_limited" }
    | { state: "loaded"; served: ServedFlag[] };
  if (answer.state !== "loaded") return { definitions: answer.state, findings: [] };
  const inPostHog = answer.served.filter((flag) => flag.found).map((flag) => ({ key: flag.key, variants: flag.variants ?? null, payloads: flag.payloads ?? {} }));
  return { definitions: "loaded", findings: checkDefinitions(registry, inPostHog) };
}
