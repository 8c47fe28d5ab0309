// Test-app functions for the posthog-node parity tests: any client method, called from a
// query, mutation or action with client options and flag overrides given as JSON.
import { v } from "convex/values";
import { PostHog, type FeatureFlagEvaluations, type OverrideFeatureFlagsOptions, type PostHogOptions } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

const callArgs = {
  method: v.string(),
  /** JSON of the method's args; `error` (a string) becomes an Error for captureException. */
  args: v.optional(v.string()),
  /** JSON of PostHogOptions (without functions). */
  options: v.optional(v.string()),
  /** JSON of overrideFeatureFlags' argument. */
  overrides: v.optional(v.string()),
};

function clientFor(options: string | undefined, overrides: string | undefined): PostHog {
  const posthog = new PostHog(components.posthog, options ? (JSON.parse(options) as PostHogOptions) : {});
  if (overrides !== undefined) posthog.overrideFeatureFlags(JSON.parse(overrides) as OverrideFeatureFlagsOptions);
  return posthog;
}

function argsOf(json: string | undefined): Record<string, unknown> {
  const args = json ? (JSON.parse(json) as Record<string, unknown>) : {};
  if (typeof args.error === "string") args.error = new Error(args.error);
  // JSON cannot say "present but undefined": `undefinedPersonProperties` names such keys.
  if (Array.isArray(args.undefinedPersonProperties)) {
    const personProperties = { ...(args.personProperties as Record<string, unknown>) };
    for (const key of args.undefinedPersonProperties as string[]) personProperties[key] = undefined;
    args.personProperties = personProperties;
    delete args.undefinedPersonProperties;
  }
  return args;
}

async function call(ctx: object, { method, args, options, overrides }: { method: string; args?: string; options?: string; overrides?: string }) {
  const posthog = clientFor(options, overrides) as unknown as Record<string, (ctx: object, args: unknown) => Promise<unknown>>;
  const result = await posthog[method]!.call(posthog, ctx, argsOf(args));
  return JSON.stringify(result ?? null);
}

export const callInQuery = query({ args: callArgs, handler: async (ctx, args) => await call(ctx, args) });
export const callInMutation = mutation({ args: callArgs, handler: async (ctx, args) => await call(ctx, args) });
export const callInAction = action({ args: callArgs, handler: async (ctx, args) => await call(ctx, args) });

/** One read through a snapshot's accessors. */
const vRead = v.object({
  method: v.union(v.literal("isEnabled"), v.literal("getFlag"), v.literal("getFlagPayload")),
  key: v.string(),
  sendFeatureFlagEvents: v.optional(v.boolean()),
  /** Read from the snapshot's `only(...)` / `onlyAccessed()` slice instead. */
  slice: v.optional(v.union(v.literal("onlyAccessed"), v.array(v.string()))),
});
const snapshotArgs = {
  /** JSON of evaluateFlags' args. */
  args: v.string(),
  reads: v.array(vRead),
  options: v.optional(v.string()),
  overrides: v.optional(v.string()),
  /** Then capture this event with `flags: snapshot.onlyAccessed()` (or `only(keys)`). */
  captureEvent: v.optional(v.string()),
  captureOnly: v.optional(v.array(v.string())),
};

async function readSnapshot(
  ctx: Parameters<PostHog["evaluateFlags"]>[0] & Parameters<PostHog["capture"]>[0],
  { args, reads, options, overrides, captureEvent, captureOnly }: {
    args: string;
    reads: Array<{ method: "isEnabled" | "getFlag" | "getFlagPayload"; key: string; sendFeatureFlagEvents?: boolean; slice?: "onlyAccessed" | string[] }>;
    options?: string;
    overrides?: string;
    captureEvent?: string;
    captureOnly?: string[];
  },
) {
  const posthog = clientFor(options, overrides);
  const snapshot: FeatureFlagEvaluations = await posthog.evaluateFlags(ctx, argsOf(args));
  const values: unknown[] = [];
  for (const read of reads) {
    const from = read.slice === undefined ? snapshot : read.slice === "onlyAccessed" ? snapshot.onlyAccessed() : snapshot.only(read.slice);
    const value =
      read.method === "getFlagPayload"
        ? from.getFlagPayload(read.key)
        : await from[read.method](read.key, { sendFeatureFlagEvents: read.sendFeatureFlagEvents });
    values.push(value ?? null);
  }
  if (captureEvent !== undefined) {
    const flags = captureOnly ? snapshot.only(captureOnly) : snapshot.onlyAccessed();
    await posthog.capture(ctx, { distinctId: snapshot.distinctId, event: captureEvent, flags });
  }
  return JSON.stringify({
    values,
    keys: snapshot.keys,
    unresolvedFlags: snapshot.unresolvedFlags,
    accessed: snapshot.onlyAccessed().keys,
    plain: JSON.parse(JSON.stringify(snapshot)),
  });
}

export const snapshotInMutation = mutation({ args: snapshotArgs, handler: async (ctx, args) => await readSnapshot(ctx, args) });
export const snapshotInAction = action({ args: snapshotArgs, handler: async (ctx, args) => await readSnapshot(ctx, args) });

/** A mutation returning its snapshot spread: the plain data Convex can return. */
export const spreadSnapshot = mutation({
  args: { args: v.string() },
  handler: async (ctx, args) => ({ ...(await clientFor(undefined, undefined).evaluateFlags(ctx, argsOf(args.args))) }),
});
