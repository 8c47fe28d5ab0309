// Stand-ins for an app's `onAlert` function, registered into the component's test modules
// (alerts.test.ts) so a function handle can point at them: they keep what they are called
// with in this process, and fail on demand.
import { vAlertEvent, type AlertEvent } from "../component/governance/alerts.js";
import { internalAction, internalMutation } from "../component/_generated/server.js";

export const received: Array<{ via: "mutation" | "action"; event: AlertEvent }> = [];
let failuresLeft = 0;

/** Make the next `n` calls throw. */
export function failNext(n: number): void {
  failuresLeft = n;
}

export function resetSink(): void {
  received.length = 0;
  failuresLeft = 0;
}

function receive(via: "mutation" | "action", event: AlertEvent): null {
  if (failuresLeft > 0) {
    failuresLeft -= 1;
    throw new Error("the pager is down");
  }
  received.push({ via, event });
  return null;
}

export const onAlertMutation = internalMutation({ args: vAlertEvent, handler: async (_ctx, event) => receive("mutation", event) });
export const onAlertAction = internalAction({ args: vAlertEvent, handler: async (_ctx, event) => receive("action", event) });
