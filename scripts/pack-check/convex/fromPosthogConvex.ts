// An app module written against @posthog/convex 2.1.5's public API (its type declarations,
// README and docs): every export, client method and option. Only the import names
// convex-posthog; the pack check compiles it against the packed package and expects 0 errors.
import {
  normalizeError,
  PostHog,
  type BeforeSendFn,
  type FeatureFlagResult,
  type FeatureFlagValue,
  type IdentifyFn,
  type JsonType,
  type PostHogEvent,
} from "convex-posthog";
import type { ComponentApi } from "convex-posthog/_generated/component";
import type { ComponentApi as ComponentApiJs } from "convex-posthog/_generated/component.js";
import { v } from "convex/values";
import { components } from "./_generated/api.js";
import { action, internalAction, mutation, query, type ActionCtx, type MutationCtx, type QueryCtx } from "./_generated/server.js";

// --- the client and its options ---

const addEnvironment: BeforeSendFn = (event) => ({ ...event, properties: { ...event.properties, environment: "prod" } });
function dropInternal(event: PostHogEvent): PostHogEvent | null {
  return event.event.startsWith("internal_") ? null : event;
}
const redact = (event: PostHogEvent) => ({ event: event.event, distinctId: event.distinctId, properties: { ...event.properties, email: undefined } });

// An untyped callback, as in the docs: ctx is the caller's context.
export const posthog = new PostHog(components.posthog, {
  identify: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    if (!identity) return null;
    return { distinctId: identity.subject };
  },
  beforeSend: addEnvironment,
});

// A callback typed with the app's own QueryCtx, declared apart from the client.
async function identifyFromAuth(ctx: QueryCtx): Promise<{ distinctId: string } | null> {
  const identity = await ctx.auth.getUserIdentity();
  return identity ? { distinctId: identity.tokenIdentifier } : null;
}
const identify: IdentifyFn = identifyFromAuth;
export const typedClient = new PostHog(components.posthog, { identify, beforeSend: [dropInternal, redact, addEnvironment] });
export const mutationTyped = new PostHog(components.posthog, {
  identify: async (ctx: MutationCtx) => ({ distinctId: (await ctx.auth.getUserIdentity())?.subject ?? "anonymous" }),
});
export const anyCtxClient = new PostHog(components.posthog, { identify: async (ctx: any) => ({ distinctId: ctx.userId }) });
// Untyped callbacks that look the user up with the rest of the ctx, as 2.x's ctx: any allowed.
export const dbLookupClient = new PostHog(components.posthog, {
  identify: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    const user = identity ? await ctx.db.query("users").first() : null;
    return user ? { distinctId: String(user._id) } : null;
  },
});
const identifyByQuery: IdentifyFn = async (ctx) => {
  const id: string | null = await ctx.runQuery(internalUserId, {});
  return id ? { distinctId: id } : null;
};
declare const internalUserId: Parameters<QueryCtx["runQuery"]>[0];
export const queryLookupClient = new PostHog(components.posthog, { identify: identifyByQuery });
// Hooks are plain functions: unit-tested and chained by hand, as with 2.x's BeforeSendFn.
const sample: PostHogEvent = { event: "signup", distinctId: "u1", properties: { email: "a@b.c" } };
export const redactedSample = addEnvironment(sample)?.properties;
const chained: BeforeSendFn = (event) => {
  const first = dropInternal(event);
  return first ? addEnvironment(first) : null;
};
export const chainedClient = new PostHog(components.posthog, { beforeSend: chained });
// 1.x: keys passed to the constructor.
export const v1Client = new PostHog(components.posthog, {
  apiKey: process.env.POSTHOG_API_KEY,
  personalApiKey: process.env.POSTHOG_PERSONAL_API_KEY,
  host: process.env.POSTHOG_HOST,
});
export const bare = new PostHog(components.posthog);

function clientFor(component: ComponentApi, other: ComponentApiJs): PostHog[] {
  return [new PostHog(component), new PostHog(other)];
}
export const fromComponentApi = clientFor(components.posthog, components.posthog);
export const componentOfClient: ComponentApi = posthog.component;

// --- capturing (mutations and actions) ---

export const createUser = mutation({
  args: { email: v.string(), userId: v.string() },
  handler: async (ctx, args) => {
    const userId = await ctx.db.insert("users", { email: args.email });
    await posthog.capture(ctx, { distinctId: userId, event: "user_created", properties: { email: args.email } });
    await posthog.capture(ctx, { distinctId: args.userId, event: "user_created", properties: { email: args.email } });
    await posthog.capture(ctx, {
      distinctId: "user_123",
      event: "purchase_completed",
      properties: { amount: 99.99, currency: "USD" },
      groups: { company: "acme-corp", seats: 5 },
      sendFeatureFlags: true,
      timestamp: new Date(),
      uuid: "0190b0b0-0000-7000-8000-000000000001",
      disableGeoip: false,
    });
    await posthog.capture(ctx, { event: "signed_in" }); // distinctId from identify
    await posthog.identify(ctx, { distinctId: "user_123", properties: { name: "Jane Doe", plan: "pro" } });
    await posthog.identify(ctx, {
      properties: { $set: { plan: "pro" }, $set_once: { first_seen: "today" }, $anon_distinct_id: "anon-1" },
      disableGeoip: true,
    });
    await posthog.groupIdentify(ctx, {
      groupType: "company",
      groupKey: "acme-corp",
      properties: { industry: "Technology", employees: 500 },
      distinctId: "user_123",
      disableGeoip: true,
    });
    await posthog.alias(ctx, { distinctId: "user_123", alias: "anonymous_456", disableGeoip: true });
    await posthog.alias(ctx, { alias: "anonymous_789" });
    try {
      throw new Error("card declined");
    } catch (error) {
      await posthog.captureException(ctx, { error, distinctId: "user_123", additionalProperties: { plan: "pro" } });
      await posthog.captureException(ctx, { error: "a string error" });
      await posthog.captureException(ctx, { error: { message: "an object error" } });
    }
    const { message, stack, name } = normalizeError(new TypeError("bad"));
    const texts: string[] = [message, stack ?? "", name ?? ""];
    return texts.length;
  },
});

export const captureFromAction = action({
  args: {},
  handler: async (ctx: ActionCtx) => {
    await typedClient.capture(ctx, { distinctId: "u", event: "from_action" });
    await typedClient.identify(ctx, { distinctId: "u" });
    await typedClient.groupIdentify(ctx, { groupType: "company", groupKey: "acme" });
    await typedClient.alias(ctx, { distinctId: "u", alias: "a" });
    await typedClient.captureException(ctx, { error: new Error("x") });
  },
});

// --- local flags (queries, mutations and actions) ---

const flagOptions = {
  groups: { company: "acme-corp" } as Record<string, string>,
  personProperties: { plan: "pro", $device_id: "d-1" } as Record<string, any>,
  groupProperties: { company: { seats: 5 } } as Record<string, Record<string, any>>,
  disableGeoip: true,
};

export const getDiscount = query({
  args: { userId: v.string() },
  handler: async (ctx, args) => {
    const flag = await posthog.getFeatureFlag(ctx, { key: "discount-campaign", distinctId: args.userId });
    if (flag === "variant-a") return { discount: 20 };
    const value: FeatureFlagValue | undefined = await posthog.getFeatureFlag(ctx, { key: "k", ...flagOptions });
    const enabled: boolean | undefined = await posthog.isFeatureEnabled(ctx, { key: "new-onboarding", distinctId: "user_123" });
    const payload: JsonType | null | undefined = await posthog.getFeatureFlagPayload(ctx, { key: "pricing-config", distinctId: "user_123" });
    const matched = await posthog.getFeatureFlagPayload(ctx, { key: "pricing-config", matchValue: "variant-a" });
    const matchedBool = await posthog.getFeatureFlagPayload(ctx, { key: "pricing-config", matchValue: true, ...flagOptions });
    const flags: Record<string, FeatureFlagValue> = await posthog.getAllFlags(ctx, { distinctId: "user_123", flagKeys: ["a"] });
    const { featureFlags, featureFlagPayloads } = await posthog.getAllFlagsAndPayloads(ctx, { distinctId: "user_123", ...flagOptions });
    const payloads: Record<string, JsonType> = featureFlagPayloads;
    return { discount: 0, value, enabled, payload, matched, matchedBool, flags, featureFlags, payloads };
  },
});

const fallback: FeatureFlagResult = { key: "experiment-flag", enabled: false, variant: null, payload: null };

export const experiment = query({
  args: {},
  handler: async (ctx) => {
    const result = await posthog.getFeatureFlagResult(ctx, { key: "experiment-flag", distinctId: "user_123", ...flagOptions });
    if (result) {
      const on: boolean = result.enabled;
      const variant: string | null = result.variant;
      const payload: JsonType | null = result.payload;
      console.log(on, variant, payload);
    }
    const chosen: FeatureFlagResult = result ?? fallback;
    const maybe: FeatureFlagResult | undefined = result;
    return { key: chosen.key, enabled: chosen.enabled, maybe: maybe?.variant ?? null };
  },
});

export const flagsInMutation = mutation({
  args: { userId: v.string() },
  handler: async (ctx, { userId }) => {
    await posthog.isFeatureEnabled(ctx, { key: "beta" });
    // 1.x README: an exposure captured by hand (here reads in mutations send their own).
    const value = await posthog.getFeatureFlag(ctx, { key: "flag-key", distinctId: userId });
    await posthog.capture(ctx, {
      event: "$feature_flag_called",
      distinctId: userId,
      properties: { $feature_flag: "flag-key", $feature_flag_response: value, locally_evaluated: true },
    });
    return await posthog.getAllFlags(ctx, {});
  },
});

// --- remote flags and refresh (actions) ---

export const getContinuityFlag = action({
  args: { userId: v.string() },
  handler: async (ctx, args) => {
    const value: FeatureFlagValue | null = await posthog.evaluateFlag(ctx, {
      key: "my-experience-continuity-flag",
      distinctId: args.userId,
      personProperties: { plan: "pro" },
    });
    const payload: JsonType | null = await posthog.evaluateFlagPayload(ctx, { key: "k", distinctId: args.userId, ...flagOptions });
    const all = await posthog.evaluateAllFlags(ctx, { distinctId: args.userId, flagKeys: ["k"], ...flagOptions });
    const local = await posthog.getFeatureFlag(ctx, { key: "k", distinctId: args.userId });
    const reloaded: unknown = await posthog.reloadFeatureFlags(ctx);
    return { value, payload, all: all.featureFlags, allPayloads: all.featureFlagPayloads, local, reloaded };
  },
});

export const refreshPosthogFlags = internalAction({
  args: {},
  handler: async (ctx) => {
    await posthog.refreshFlagDefinitions(ctx);
  },
});

export const refreshNow = action({
  args: {},
  handler: async (ctx): Promise<unknown> => await posthog.reloadFeatureFlags(ctx),
});
