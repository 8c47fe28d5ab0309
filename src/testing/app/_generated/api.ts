/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type * as alerts from "../alerts.js";
import type * as compat from "../compat.js";
import type * as events from "../events.js";
import type * as flagSync from "../flagSync.js";
import type * as flags from "../flags.js";
import type * as guardian from "../guardian.js";
import type * as hooks from "../hooks.js";
import type * as http from "../http.js";
import type * as parity from "../parity.js";
import type * as posthogApi from "../posthogApi.js";
import type * as realConvex from "../realConvex.js";
import type * as releases from "../releases.js";
import type * as tallies from "../tallies.js";
import type * as typed from "../typed.js";

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import { anyApi, componentsGeneric } from "convex/server";

const fullApi: ApiFromModules<{
  alerts: typeof alerts;
  compat: typeof compat;
  events: typeof events;
  flagSync: typeof flagSync;
  flags: typeof flags;
  guardian: typeof guardian;
  hooks: typeof hooks;
  http: typeof http;
  parity: typeof parity;
  posthogApi: typeof posthogApi;
  realConvex: typeof realConvex;
  releases: typeof releases;
  tallies: typeof tallies;
  typed: typeof typed;
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
  posthog: import("../../../component/_generated/component.js").ComponentApi<"posthog">;
};
