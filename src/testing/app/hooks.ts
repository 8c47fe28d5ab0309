// Client hooks under test: beforeSend (a list, sync and async) and the identify callback.
import { v } from "convex/values";
import { PostHog } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { mutation } from "./_generated/server.js";

const posthog = new PostHog(components.posthog, {
  identify: async () => ({ distinctId: "from-identify" }),
  beforeSend: [
    (event) => (event.event === "secret" ? null : event),
    async (event) => ({ ...event, properties: { ...event.properties, $set: { hooked: true }, seenUuid: event.uuid } }),
    (event) => {
      if (event.event === "explode") throw new Error("hook failed");
      return event;
    },
    (event) => (event.event === "anonymise" ? { ...event, distinctId: "" } : event),
  ],
  delivery: { flushDelayMs: 60_000 },
});

export const capture = mutation({
  args: { event: v.string(), distinctId: v.optional(v.string()) },
  handler: async (ctx, args) => await posthog.capture(ctx, args),
});

/** Capture with a property bag the test controls (JSON, or a named unserialisable value). */
export const captureOdd = mutation({
  args: { kind: v.string() },
  handler: async (ctx, { kind }) => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const values: Record<string, unknown> = {
      function: () => 1,
      symbol: Symbol("s"),
      bigint: BigInt(10),
      cyclic,
      date: new Date("2024-05-06T07:08:09.123Z"),
      huge: "x".repeat(1_100_000),
    };
    await posthog.capture(ctx, { distinctId: "u", event: "odd", properties: { nested: { $deep: { value: values[kind] } } } });
  },
});
