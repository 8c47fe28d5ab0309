/* eslint-disable */
/**
 * Generated `api` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type * as definitionPacks from "../definitionPacks.js";
import type * as definitions from "../definitions.js";
import type * as delivery from "../delivery.js";
import type * as events from "../events.js";
import type * as exposures from "../exposures.js";
import type * as flags from "../flags.js";
import type * as governance_alertValidators from "../governance/alertValidators.js";
import type * as governance_alerts from "../governance/alerts.js";
import type * as governance_enforcement from "../governance/enforcement.js";
import type * as governance_guardian from "../governance/guardian.js";
import type * as governance_records from "../governance/records.js";
import type * as governance_releases from "../governance/releases.js";
import type * as governance_report from "../governance/report.js";
import type * as governance_rest from "../governance/rest.js";
import type * as governance_sync from "../governance/sync.js";
import type * as governance_tables from "../governance/tables.js";
import type * as governance_tallies from "../governance/tallies.js";
import type * as killList from "../killList.js";
import type * as killSwitch from "../killSwitch.js";
import type * as status from "../status.js";
import type * as validators from "../validators.js";

import type {
  ApiFromModules,
  FilterApi,
  FunctionReference,
} from "convex/server";
import { anyApi, componentsGeneric } from "convex/server";

const fullApi: ApiFromModules<{
  definitionPacks: typeof definitionPacks;
  definitions: typeof definitions;
  delivery: typeof delivery;
  events: typeof events;
  exposures: typeof exposures;
  flags: typeof flags;
  "governance/alertValidators": typeof governance_alertValidators;
  "governance/alerts": typeof governance_alerts;
  "governance/enforcement": typeof governance_enforcement;
  "governance/guardian": typeof governance_guardian;
  "governance/records": typeof governance_records;
  "governance/releases": typeof governance_releases;
  "governance/report": typeof governance_report;
  "governance/rest": typeof governance_rest;
  "governance/sync": typeof governance_sync;
  "governance/tables": typeof governance_tables;
  "governance/tallies": typeof governance_tallies;
  killList: typeof killList;
  killSwitch: typeof killSwitch;
  status: typeof status;
  validators: typeof validators;
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

export const components = componentsGeneric() as unknown as {};
