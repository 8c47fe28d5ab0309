/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type * as analytics from "../analytics.js";
import type * as crons from "../crons.js";
import type * as flags from "../flags.js";
import type * as governance from "../governance.js";
import type * as http from "../http.js";
import type * as orders from "../orders.js";
import type * as posthog from "../posthog.js";
import type * as posthogApi from "../posthogApi.js";

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import { anyApi, componentsGeneric } from "convex/server";

const fullApi: ApiFromModules<{
  analytics: typeof analytics;
  crons: typeof crons;
  flags: typeof flags;
  governance: typeof governance;
  http: typeof http;
  orders: typeof orders;
  posthog: typeof posthog;
  posthogApi: typeof posthogApi;
}> = anyApi as any;

/**
 * A utility for referencing Convex functions in your app's public API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = api.myModule.myFunction;
 * ```
 */
export const api: FilterApi<
  typeof fullApi,
  FunctionReference<any, "public">
> = anyApi as any;

/**
 * A utility for referencing Convex functions in your app's internal API.
 *
 * Usage:
 * ```js
 * const myFunctionReference = internal.myModule.myFunction;
 * ```
 */
export const internal: FilterApi<
  typeof fullApi,
  FunctionReference<any, "internal">
> = anyApi as any;

export const components = componentsGeneric() as unknown as {
  posthog: import("convex-posthog/_generated/component.js").ComponentApi<"posthog">;
};
