// A browser file as an app writes it, against the packed package's ./react entry (compiled
// with skipLibCheck off, so the published declarations are checked too).
import { makeFunctionReference } from "convex/server";
import { createElement } from "react";
import { fromConvexSafe, type ConvexSafe } from "convex-posthog";
import { toBootstrap, useFeatureFlag, useFeatureFlags, usePostHogFlagSync } from "convex-posthog/react";

type Key = "checkout_button" | "new_search";
type Answer = { key: Key; value?: "control" | "blue" | boolean; enabled: boolean; variant: "control" | "blue" | null; payload: ConvexSafe<{ color: string } | null>; reason: string };
type Flags = { distinctID: string | null; isIdentifiedID: boolean; featureFlags: { checkout_button?: "control" | "blue" | false; new_search?: boolean }; featureFlagPayloads: { checkout_button?: ConvexSafe<{ color: string }> }; reasons: Record<string, string> };
const posthogApi = {
  flags: makeFunctionReference<"query", { keys?: Key[]; anonymousId?: string }, Flags>("posthogApi:flags"),
  flag: makeFunctionReference<"query", { key: Key; anonymousId?: string }, Answer>("posthogApi:flag"),
  reportExposure: makeFunctionReference<"mutation", { key: Key; anonymousId?: string }, boolean | string | null>("posthogApi:reportExposure"),
};

export function CheckoutButton(props: { posthog: { updateFlags(flags: Record<string, boolean | string>, payloads?: Record<string, any>): void } }) {
  usePostHogFlagSync(posthogApi, props.posthog);
  const { value, payload, loading } = useFeatureFlag(posthogApi, "checkout_button", { exposure: "manual" });
  const variant: "control" | "blue" | false | undefined = value;
  const color: string | undefined = payload?.color;
  const flags = useFeatureFlags(posthogApi, { keys: ["new_search"] });
  const search: boolean | undefined = flags?.featureFlags.new_search;
  return createElement("button", { disabled: loading || search === false }, `${variant} ${color}`);
}

export const bootstrap = (answer: Flags) => toBootstrap(answer);
export const decoded = (payload: ConvexSafe<{ color: string }>) => fromConvexSafe(payload).color;
