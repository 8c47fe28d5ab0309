// The app's onAlert functions for the client's alert tests: they keep what they are called
// with in this process.
import { vAlertEvent, type AlertEvent } from "../../client/index.js";
import { internalAction, internalMutation } from "./_generated/server.js";

export const receivedAlerts: Array<{ via: "mutation" | "action"; event: AlertEvent }> = [];

export const onAlert = internalMutation({
  args: vAlertEvent,
  handler: async (_ctx, event) => {
    receivedAlerts.push({ via: "mutation", event });
  },
});

export const onAlertAction = internalAction({
  args: vAlertEvent,
  handler: async (_ctx, event) => {
    receivedAlerts.push({ via: "action", event });
  },
});
