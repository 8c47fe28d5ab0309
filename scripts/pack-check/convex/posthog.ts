import { PostHog } from "convex-posthog";
import { v } from "convex/values";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

export const posthog = new PostHog(components.posthog, {});

export const track = mutation({
  args: { userId: v.string() },
  handler: async (ctx, { userId }) => {
    await posthog.capture(ctx, { distinctId: userId, event: "signed in", properties: { $set: { plan: "pro" } } });
    await posthog.identify(ctx, { distinctId: userId, properties: { email: "a@example.com" } });
  },
});

export const flush = action({ args: {}, handler: async (ctx) => await posthog.flush(ctx) });
export const health = query({ args: {}, handler: async (ctx) => (await posthog.status(ctx)).pending });
