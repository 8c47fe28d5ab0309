import { httpRouter } from "convex/server";
import { PostHogInputError } from "convex-posthog";
import { httpAction } from "./_generated/server.js";
import { posthog } from "./posthog.js";
import { refreshHook } from "./posthogApi.js";

const http = httpRouter();

/**
 * A partner shop posts its sales here; the partner fulfils them, so only the analytics event is
 * recorded. The body is JSON from outside the type system: the event taxonomy's run-time check
 * refuses properties of the wrong type (`properties.amount: expected number, got string`)
 * before anything is queued.
 */
http.route({
  path: "/webhooks/partner-order",
  method: "POST",
  handler: httpAction(async (ctx, request) => {
    const order = await request.json();
    try {
      await posthog.capture(ctx, {
        distinctId: order.customerId,
        event: "order placed",
        properties: { item: order.item, amount: order.amount, channel: "partner" },
      });
    } catch (error) {
      if (error instanceof PostHogInputError) return new Response(error.message, { status: 400 });
      throw error;
    }
    return new Response(null, { status: 202 });
  }),
});

/**
 * PostHog calls this when a flag changes (a webhook destination sending
 * `Authorization: Bearer <POSTHOG_WEBHOOK_SECRET>`): the definitions refresh at once, so every
 * open page's flags query re-runs within seconds instead of at the next cron tick.
 */
http.route({ path: "/posthog/flags-changed", method: "POST", handler: refreshHook });

export default http;
