// Flag functions of the test app. Context objects travel as JSON so tests can use `$` keys.
import { v } from "convex/values";
import { PostHog, fromConvexSafe, toConvexSafe, type FlagContext, type FlagsSnapshot } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

const posthog = new PostHog(components.posthog);
const context = (json: string | undefined): FlagContext => (json ? JSON.parse(json) : {});

export const refresh = action({
  args: { timeoutMs: v.optional(v.number()) },
  handler: async (ctx, args) => await posthog.refreshFlagDefinitions(ctx, args),
});

/** One flag through every single-flag method, plus what the query read. */
export const readFlag = query({
  args: { key: v.string(), context: v.optional(v.string()) },
  handler: async (ctx, args) => {
    const flagArgs = { key: args.key, ...context(args.context) };
    const result = await posthog.getFeatureFlagResult(ctx, flagArgs);
    const metrics = await ctx.meta.getTransactionMetrics();
    return {
      result: JSON.stringify(result),
      value: await posthog.getFeatureFlag(ctx, flagArgs),
      enabled: await posthog.isFeatureEnabled(ctx, flagArgs),
      payload: JSON.stringify(await posthog.getFeatureFlagPayload(ctx, flagArgs)),
      documentsRead: metrics.documentsRead.used,
      bytesRead: metrics.bytesRead.used,
    };
  },
});

/** `calls` reads of one flag in a single query, as a page rendering many flag checks would. */
export const readFlagManyTimes = query({
  args: { key: v.string(), distinctId: v.string(), calls: v.number() },
  handler: async (ctx, { key, distinctId, calls }) => {
    let enabled = 0;
    for (let i = 0; i < calls; i++) if (await posthog.isFeatureEnabled(ctx, { key, distinctId: `${distinctId}-${i}` })) enabled++;
    return enabled;
  },
});

export const payloadFor = query({
  args: { key: v.string(), matchValue: v.union(v.boolean(), v.string()) },
  handler: async (ctx, args) => JSON.stringify(await posthog.getFeatureFlagPayload(ctx, { ...args, distinctId: "any" })),
});

export const allFlags = query({
  args: { context: v.optional(v.string()), flagKeys: v.optional(v.array(v.string())) },
  handler: async (ctx, args) =>
    JSON.stringify(await posthog.getAllFlagsAndPayloads(ctx, { ...context(args.context), flagKeys: args.flagKeys })),
});

/** Every flag, one of the methods that read them all, and what the query read doing it. */
export const allFlagsWithMetrics = query({
  args: { context: v.string(), method: v.union(v.literal("getAllFlags"), v.literal("getAllFlagsAndPayloads"), v.literal("evaluateFlags")) },
  handler: async (ctx, args) => {
    const flagContext = context(args.context);
    const answer =
      args.method === "getAllFlags"
        ? { featureFlags: await posthog.getAllFlags(ctx, flagContext) }
        : args.method === "getAllFlagsAndPayloads"
          ? await posthog.getAllFlagsAndPayloads(ctx, flagContext)
          : await posthog.evaluateFlags(ctx, flagContext);
    const metrics = await ctx.meta.getTransactionMetrics();
    return {
      answer: JSON.stringify(answer),
      bytesRead: metrics.bytesRead.used,
      documentsRead: metrics.documentsRead.used,
      databaseQueries: metrics.databaseQueries.used,
    };
  },
});

/** Flags read in a mutation evaluate the same way. */
export const flagInMutation = mutation({
  args: { key: v.string(), distinctId: v.string() },
  handler: async (ctx, args) => await posthog.getFeatureFlag(ctx, args),
});

export const flagResult = query({
  args: { key: v.string(), context: v.string() },
  handler: async (ctx, args) => JSON.stringify(await posthog.getFeatureFlagResult(ctx, { key: args.key, ...context(args.context) })),
});

/** A flag read in a mutation: an exposure unless sendFeatureFlagEvents is false. */
export const readFlagInMutation = mutation({
  args: { key: v.string(), context: v.string(), sendFeatureFlagEvents: v.optional(v.boolean()), payloadOnly: v.optional(v.boolean()) },
  handler: async (ctx, args) => {
    const flagArgs = { key: args.key, ...context(args.context), sendFeatureFlagEvents: args.sendFeatureFlagEvents };
    if (args.payloadOnly) return JSON.stringify(await posthog.getFeatureFlagPayload(ctx, flagArgs));
    return JSON.stringify(await posthog.getFeatureFlagResult(ctx, flagArgs));
  },
});

const quiet = new PostHog(components.posthog, { sendFeatureFlagEvents: false });
export const readFlagQuietClient = mutation({
  args: { key: v.string(), distinctId: v.string() },
  handler: async (ctx, args) => await quiet.getFeatureFlag(ctx, args),
});

/** What a query hands the browser: a snapshot of flags, returned as JSON. */
export const snapshot = query({
  args: { context: v.string() },
  handler: async (ctx, args) => JSON.stringify(await posthog.evaluateFlags(ctx, context(args.context))),
});

/** The browser reports what it showed: an exposure recorded from a query's result. */
export const reportExposure = mutation({
  args: { distinctId: v.string(), resultJson: v.string() },
  handler: async (ctx, args) => await posthog.captureExposure(ctx, { distinctId: args.distinctId, result: JSON.parse(args.resultJson) }),
});

/** Capture an event stamped with flags: from a snapshot, or evaluated now. */
export const captureWithFlags = mutation({
  args: { distinctId: v.string(), event: v.string(), snapshotJson: v.optional(v.string()), propertiesJson: v.optional(v.string()) },
  handler: async (ctx, args) =>
    await posthog.capture(ctx, {
      distinctId: args.distinctId,
      event: args.event,
      properties: args.propertiesJson ? JSON.parse(args.propertiesJson) : undefined,
      ...(args.snapshotJson ? { flags: JSON.parse(args.snapshotJson) } : { sendFeatureFlags: true }),
    }),
});

/** capture with sendFeatureFlags, and what the whole mutation read (the component's evaluation included). */
export const captureWithFlagsMetrics = mutation({
  args: { distinctId: v.string(), event: v.string() },
  handler: async (ctx, args) => {
    await posthog.capture(ctx, { ...args, sendFeatureFlags: true });
    const metrics = await ctx.meta.getTransactionMetrics();
    return { bytesRead: metrics.bytesRead.used, documentsRead: metrics.documentsRead.used, databaseQueries: metrics.databaseQueries.used };
  },
});

const remoteClient = (timeoutMs?: number) =>
  new PostHog(components.posthog, { featureFlagsRequestTimeoutMs: timeoutMs, featureFlagsRetryDelayMs: 10 });

/** Remote evaluation (actions): one of evaluateFlag, evaluateFlagResult, evaluateFlagPayload, evaluateAllFlags. */
export const remote = action({
  args: { method: v.string(), key: v.optional(v.string()), context: v.string(), flagKeys: v.optional(v.array(v.string())), timeoutMs: v.optional(v.number()) },
  handler: async (ctx, args) => {
    const posthog = remoteClient(args.timeoutMs);
    const flagArgs = { key: args.key ?? "", ...context(args.context) };
    switch (args.method) {
      case "evaluateFlag":
        return JSON.stringify(await posthog.evaluateFlag(ctx, flagArgs));
      case "evaluateFlagResult":
        return JSON.stringify(await posthog.evaluateFlagResult(ctx, flagArgs));
      case "evaluateFlagPayload":
        return JSON.stringify(await posthog.evaluateFlagPayload(ctx, flagArgs));
      default:
        return JSON.stringify(await posthog.evaluateAllFlags(ctx, { ...context(args.context), flagKeys: args.flagKeys }));
    }
  },
});

/** Local reads in an action, which fall back to PostHog for what local evaluation leaves undecided. */
export const readInAction = action({
  args: { method: v.string(), key: v.optional(v.string()), context: v.string(), onlyEvaluateLocally: v.optional(v.boolean()) },
  handler: async (ctx, args) => {
    const posthog = remoteClient();
    const common = { ...context(args.context), onlyEvaluateLocally: args.onlyEvaluateLocally };
    if (args.method === "getAllFlags") return JSON.stringify(await posthog.getAllFlags(ctx, common));
    if (args.method === "captureWithFlags") {
      await posthog.capture(ctx, { distinctId: common.distinctId ?? "u", event: "from action", sendFeatureFlags: true });
      return JSON.stringify(await posthog.flush(ctx));
    }
    return JSON.stringify(await posthog.getFeatureFlagResult(ctx, { key: args.key ?? "", ...common }));
  },
});

/** A snapshot returned as the README shows it: made Convex-safe, payloads with `$` keys included. */
export const safeSnapshot = query({
  args: { context: v.string() },
  handler: async (ctx, args) => toConvexSafe(await posthog.evaluateFlags(ctx, context(args.context))),
});

/** The same snapshot returned as it is, which Convex's value rules refuse when a payload has a `$` key. */
export const rawSnapshot = query({
  args: { context: v.string() },
  handler: async (ctx, args) => await posthog.evaluateFlags(ctx, context(args.context)),
});

/** One flag's result and payload, and getAllFlagsAndPayloads, each made Convex-safe. */
export const safeReads = query({
  args: { key: v.string(), context: v.string() },
  handler: async (ctx, args) => ({
    result: toConvexSafe(await posthog.getFeatureFlagResult(ctx, { key: args.key, ...context(args.context) })),
    payload: toConvexSafe(await posthog.getFeatureFlagPayload(ctx, { key: args.key, ...context(args.context) })),
    all: toConvexSafe(await posthog.getAllFlagsAndPayloads(ctx, context(args.context))),
  }),
});

/** The browser hands the snapshot it got from safeSnapshot back, as it came. */
export const captureWithSafeSnapshot = mutation({
  args: { distinctId: v.string(), event: v.string(), flags: v.any() },
  handler: async (ctx, args) =>
    await posthog.capture(ctx, { distinctId: args.distinctId, event: args.event, flags: fromConvexSafe<FlagsSnapshot>(args.flags) }),
});

/** The local kill switch: kill or clear a flag (mutation), and the killed flags as status shows them. */
export const killFlag = mutation({
  args: { key: v.string(), reason: v.optional(v.string()) },
  handler: async (ctx, args) => await posthog.disableFlagLocally(ctx, args),
});

export const clearKill = mutation({
  args: { key: v.string() },
  handler: async (ctx, args) => await posthog.clearKillSwitch(ctx, args),
});

/** disableFlag from an action: kill, then PATCH PostHog now. */
export const disableFlag = action({
  args: { key: v.string(), reason: v.optional(v.string()) },
  handler: async (ctx, args) => await posthog.disableFlag(ctx, args),
});

/** disableFlag from a mutation: kill, the PATCH left to the next guardian run. */
export const disableFlagInMutation = mutation({
  args: { key: v.string(), reason: v.optional(v.string()) },
  handler: async (ctx, args) => await posthog.disableFlag(ctx, args),
});

/** The governance alert outbox. */
export const alertOutbox = query({
  args: {},
  handler: async (ctx) => await posthog.alerts(ctx),
});

export const killedFlags = query({
  args: {},
  handler: async (ctx) => (await posthog.status(ctx)).killedFlags,
});
