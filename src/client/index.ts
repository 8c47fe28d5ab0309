// The class an app instantiates in convex/posthog.ts. It runs inside the app's own
// functions and is a thin facade: each method forwards to the module that owns its concern.
//   config.ts       options, keys and host, who a call is for (shared by every concern)
//   events.ts       capture, identify, alias, groupIdentify, captureException
//   localFlags.ts   flag reads from the stored definitions (queries, mutations, actions)
//   remoteFlags.ts  flag reads from PostHog's /flags endpoint (actions)
//   exposures.ts    the `$feature_flag_called` events flag reads record
//   admin.ts        flush, status, dead letters, flag definitions refresh, the kill switch
//   flagSync.ts     runFlagSync: the registry synced to PostHog (governance)
//   governanceReport.ts  flagGovernance: the reactive governance report
//   alerts.ts       where governance alerts go (the runners' settings), the alert outbox
//   releaseTracker.ts  runReleaseTracker (flag governance)
//   guardian.ts     runFlagGuardian: watch the registry's guarded flags, alert, turn regressions off
import type { ComponentApi } from "../component/_generated/component.js";
import type { DeadLetter, DeliveryOptions, FlushResult, RefreshResult } from "../component/validators.js";
import { PostHogInputError, type PostHogMessage } from "../core/messages.js";
import type { FlagValue } from "../core/flags/index.js";
import { ClientConfig, type PostHogOptions } from "./config.js";
import * as admin from "./admin.js";
import * as alerts from "./alerts.js";
import type { AlertRow } from "../component/governance/alertValidators.js";
import * as browserApi from "./browserApi.js";
import type { BrowserApi, ExposeApiOptions } from "./browserApi.js";
import type { EnforcementOutcome, KilledFlag, Status } from "./admin.js";
import * as events from "./events.js";
import * as exposures from "./exposures.js";
import * as guardian from "./guardian.js";
import type { GuardianRunResult, RunFlagGuardianOptions } from "./guardian.js";
import * as flagSync from "./flagSync.js";
import type { FlagSyncOptions, FlagSyncResult } from "./flagSync.js";
import * as governanceReport from "./governanceReport.js";
import type { GovernanceReport } from "./governanceReport.js";
import * as localFlags from "./localFlags.js";
import * as releaseTracker from "./releaseTracker.js";
import type { ReleaseTrackerOptions, ReleaseTrackerResult } from "./releaseTracker.js";
import * as remoteFlags from "./remoteFlags.js";
import { FeatureFlagEvaluations } from "./snapshot.js";
import type {
  CaptureArgsOf,
  EventsOption,
  FlagKeyOf,
  FlagPayloadOf,
  FlagValueOf,
  FlagValues,
  FlagValuesAndPayloads,
  FlagsOption,
  TypedAllFlagsArgs,
  TypedFlagArgs,
  TypedFlagEvaluations,
  TypedFlagResult,
  TypedFlagsSnapshot,
} from "./typed.js";
import type { OverrideFeatureFlagsOptions } from "./overrides.js";
import type { FeatureFlagResult, FlagReadResult, FlagReason, FlagsSnapshot, JsonType, UnresolvedFlagReason } from "./flags.js";
import type {
  AliasArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  GroupIdentifyArgs,
  IdentifyArgs,
  MutationOrActionCtx,
  RunActionCtx,
  RunMutationCtx,
  RunQueryCtx,
} from "./types.js";

export { PostHogInputError };
export { toConvexSafe, fromConvexSafe, type ConvexSafe } from "../core/convexSafe.js";
export type { DeadLetter, DeliveryOptions, FlushResult, PostHogMessage, FlagValue, RefreshResult };
export type { FeatureFlagResult, FlagReadResult, FlagReason, FlagsSnapshot, JsonType, OverrideFeatureFlagsOptions, UnresolvedFlagReason };
export { FeatureFlagEvaluations };
/** @posthog/convex's name for a flag's value: true/false or a variant key. */
export type FeatureFlagValue = FlagValue;
export type { EnforcementOutcome, KilledFlag, Status };
export type { GuardianCallbacks, GuardianEvaluation, GuardianRunResult, GuardianSource, RunFlagGuardianOptions } from "./guardian.js";
export { DEFAULT_THRESHOLDS, DEFAULT_SIGNIFICANCE, type GuardianThresholds } from "../core/governance/guardian.js";
export { DEFAULT_HOST, type PostHogOptions } from "./config.js";
export type { AlertsOption } from "./alerts.js";
export { vAlertEvent, type AlertEvent, type AlertRow } from "../component/governance/alertValidators.js";
export { normalizeError } from "./events.js";
export { defineFlags, fromToolkitRegistry, buildNamingRegex, DEFAULT_LIFECYCLES, DEFAULT_NAMING_EXEMPT_TAG } from "../core/flagRegistry.js";
export type {
  AnyFlagRegistry,
  FlagDefinition,
  FlagFinding,
  FlagFindingKind,
  FlagKeyPattern,
  FlagRegistry,
  Guardian,
  ToolkitFlagDefinition,
} from "../core/flagRegistry.js";
export { defineEvents } from "../core/eventTaxonomy.js";
export type { DollarProperties, EventDefinition, EventProperties, EventTaxonomy, TypedEvent } from "../core/eventTaxonomy.js";
export type { RegistryStatus } from "./contracts.js";
export type { FlagSyncCallbacks, FlagSyncOptions, FlagSyncResult, GovernanceFinding } from "./flagSync.js";
export type { GovernanceReport, GovernanceRun, GovernanceTool } from "./governanceReport.js";
export type { PostHogFlag } from "../core/governance/posthogRest.js";
export type {
  GovernanceDigest,
  ReleaseRule,
  ReleaseTrackerCallbacks,
  ReleaseTrackerFinding,
  ReleaseTrackerOptions,
  ReleaseTrackerResult,
} from "./releaseTracker.js";
export type { BrowserApi, BrowserApiCore, BrowserFlagReason, BrowserFlagResult, BrowserFlags, BrowserIdentity, ExposeApiOptions } from "./browserApi.js";
export type {
  CaptureArgsOf,
  FlagKeyOf,
  FlagPayloadOf,
  FlagValueOf,
  FlagValues,
  FlagValuesAndPayloads,
  TypedAllFlagsArgs,
  TypedFlagArgs,
  TypedFlagEvaluations,
  TypedFlagResult,
  TypedFlagsSnapshot,
} from "./typed.js";
export type { BeforeSendEvent, BeforeSendFn, BeforeSendHook, BeforeSendResult, PostHogEvent } from "./beforeSend.js";
export type {
  AliasArgs,
  AllFlagsArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  EventFlagsArgs,
  FlagArgs,
  FlagContext,
  FlagReadOptions,
  GroupIdentifyArgs,
  IdentifyArgs,
  IdentifyCtx,
  IdentifyFn,
  MutationOrActionCtx,
  RunActionCtx,
  RunMutationCtx,
  RunQueryCtx,
} from "./types.js";

/**
 * Flags: the app's flag registry (defineFlags), Events: its event taxonomy (defineEvents);
 * both inferred from the options. Without them every method takes and returns the untyped
 * shapes. `untyped` is the same client without the compile-time checks.
 */
export class PostHog<Flags extends FlagsOption = undefined, Events extends EventsOption = undefined> {
  #config: ClientConfig;
  /** The untyped view lets events outside the taxonomy through. */
  #allowsUndeclaredEvents = false;
  #untyped: PostHog | undefined;

  constructor(
    public component: ComponentApi,
    options: PostHogOptions<Flags, Events> = {},
  ) {
    this.#config = new ClientConfig(component, options);
  }

  /**
   * This client without the registry's and taxonomy's compile-time checks: for flag keys
   * outside the registry and events outside the taxonomy. Same configuration, queue and
   * overrides; declared events are still checked at run time.
   */
  get untyped(): PostHog {
    if (this.#untyped === undefined) {
      const view = new PostHog(this.component);
      view.#config = this.#config;
      view.#allowsUndeclaredEvents = true;
      this.#untyped = view;
    }
    return this.#untyped;
  }

  // --- events (mutations and actions) ---

  /** Queue an event. In a mutation it commits or rolls back with the mutation. */
  async capture(ctx: MutationOrActionCtx, args: CaptureArgsOf<Events>): Promise<void> {
    await events.capture(this.#config, ctx, args as CaptureArgs, this.#allowsUndeclaredEvents);
  }

  async identify(ctx: MutationOrActionCtx, args: IdentifyArgs): Promise<void> {
    await events.identify(this.#config, ctx, args);
  }

  async alias(ctx: MutationOrActionCtx, args: AliasArgs): Promise<void> {
    await events.alias(this.#config, ctx, args);
  }

  /** Set group properties. Without a distinctId PostHog's `$<type>_<key>` is used. */
  async groupIdentify(ctx: MutationOrActionCtx, args: GroupIdentifyArgs): Promise<void> {
    await events.groupIdentify(this.#config, ctx, args);
  }

  /** Capture an Error, a string, or any object with a `message`, as a `$exception` event. */
  async captureException(ctx: MutationOrActionCtx, args: CaptureExceptionArgs): Promise<void> {
    await events.captureException(this.#config, ctx, args);
  }

  // --- operations ---

  /** Deliver everything queued now (including events waiting to retry); say how it went. */
  async flush(ctx: RunActionCtx): Promise<FlushResult> {
    return await admin.flush(this.#config, ctx);
  }

  /** Queue health: pending count and age, dead letters, last delivery outcome, configuration. */
  async status(ctx: RunQueryCtx): Promise<Status> {
    return await admin.status(this.#config, ctx);
  }

  /** Events PostHog rejected permanently (bad key, malformed...), with the error. */
  async listDeadLetters(ctx: RunQueryCtx, args: { limit?: number } = {}): Promise<DeadLetter[]> {
    return await admin.listDeadLetters(this.#config, ctx, args);
  }

  /**
   * Queue dead-lettered events again, to the current host and key: at most 1,000 per call
   * (`limit`, default 1,000), which leaves the calling mutation most of its transaction.
   * Returns how many; call again while it returns 1,000.
   */
  async resendDeadLetters(ctx: MutationOrActionCtx, args: { limit?: number } = {}): Promise<number> {
    return await admin.resendDeadLetters(this.#config, ctx, args);
  }

  /**
   * Fetch flag definitions from PostHog into the component (action). Call it from your
   * own cron; PostHog bills each poll as 10 flag requests. Needs the personal API key.
   */
  async refreshFlagDefinitions(ctx: RunActionCtx, args: { timeoutMs?: number } = {}): Promise<RefreshResult> {
    return await admin.refreshFlagDefinitions(this.#config, ctx, args);
  }

  /**
   * Kill a flag in Convex at once: every read (local, an action's /flags fallback, and remote
   * evaluateFlag) answers false with reason "killed", dependent flags see it false, and every
   * reactive query reading it updates. PostHog is not told; refreshes keep the kill until
   * clearKillSwitch.
   */
  async disableFlagLocally(ctx: MutationOrActionCtx, args: { key: FlagKeyOf<Flags>; reason?: string }): Promise<void> {
    await admin.disableFlagLocally(this.#config, ctx, args);
  }

  /**
   * Kill a flag at once, as disableFlagLocally, and turn it off in PostHog (PATCH active: false)
   * with the admin key (adminApiKey, projectId; see "Kill switch" in the README).
   * - From an action: PostHog is PATCHed now; once it agreed, the definitions are refreshed
   *   (with a personal API key) so the stored ones say inactive too.
   * - From a mutation: the kill is in place and the PATCH is left "pending_patch" for the next
   *   runFlagGuardian run. A mutation cannot make the request, and the admin key is never stored
   *   or scheduled, so nothing else can make it later.
   * A refusal (approval required, dependent flags, missing scope) keeps the kill and is recorded
   * in the governance state, never thrown. The kill stays until clearKillSwitch.
   */
  async disableFlag(ctx: MutationOrActionCtx, args: { key: FlagKeyOf<Flags>; reason?: string }): Promise<EnforcementOutcome> {
    return await admin.disableFlag(this.#config, ctx, args);
  }

  /**
   * Undo disableFlagLocally or disableFlag: the flag evaluates from its definition again, and the
   * guardian forgets the enforcement. PostHog is not touched: a flag disableFlag turned off there
   * stays off until a person re-enables it. Returns whether it was killed.
   */
  async clearKillSwitch(ctx: MutationOrActionCtx, args: { key: FlagKeyOf<Flags> }): Promise<boolean> {
    return await admin.clearKillSwitch(this.#config, ctx, args);
  }

  /** Governance alerts in the outbox, newest first: pending, sent (kept 30 days) and dead, with the last error. */
  async alerts(ctx: RunQueryCtx, args: { status?: "pending" | "sent" | "dead"; limit?: number } = {}): Promise<AlertRow[]> {
    return await alerts.listAlerts(this.#config, ctx, args);
  }

  /**
   * The flag guardian, from the app's cron (action): compares each guarded flag's treatment with
   * its control over the last window, alerts on a regression, and turns off flags declared
   * `guardian: "enforce"` (locally at once, then in PostHog). Needs projectId and the admin key.
   */
  async runFlagGuardian(ctx: RunActionCtx, opts: RunFlagGuardianOptions = {}): Promise<GuardianRunResult> {
    return await guardian.runFlagGuardian(this.#config, ctx, opts);
  }

  /** posthog-node's (and @posthog/convex's) name for refreshFlagDefinitions. */
  async reloadFeatureFlags(ctx: RunActionCtx): Promise<RefreshResult> {
    return await admin.refreshFlagDefinitions(this.#config, ctx, {});
  }

  // --- feature flags (queries, mutations and actions) ---

  /** The flag's value (true/false or a variant key), or undefined if it cannot be decided. */
  async getFeatureFlag<K extends FlagKeyOf<Flags>>(ctx: RunQueryCtx, args: TypedFlagArgs<K>): Promise<FlagValueOf<Flags, K> | undefined> {
    return (await localFlags.getFeatureFlag(this.#config, ctx, args)) as FlagValueOf<Flags, K> | undefined;
  }

  async isFeatureEnabled(ctx: RunQueryCtx, args: TypedFlagArgs<FlagKeyOf<Flags>>): Promise<boolean | undefined> {
    return await localFlags.isFeatureEnabled(this.#config, ctx, args);
  }

  /**
   * Value, payload and the reason: why it has that value, or why it has none. In a mutation
   * or action this read is an exposure: a `$feature_flag_called` event is queued (once per
   * distinct id, flag, response and groups) unless `sendFeatureFlagEvents: false`.
   */
  async getFeatureFlagResult<K extends FlagKeyOf<Flags>>(ctx: RunQueryCtx, args: TypedFlagArgs<K>): Promise<TypedFlagResult<Flags, K>> {
    return (await localFlags.getFeatureFlagResult(this.#config, ctx, args)) as TypedFlagResult<Flags, K>;
  }

  /**
   * The payload for the flag's value: null when there is none, undefined when the flag
   * cannot be decided. With `matchValue`, the payload for that value without evaluating.
   * Never an exposure, as in posthog-node.
   */
  async getFeatureFlagPayload<K extends FlagKeyOf<Flags>>(
    ctx: RunQueryCtx,
    args: TypedFlagArgs<K> & { matchValue?: FlagValueOf<Flags, K> },
  ): Promise<FlagPayloadOf<Flags, K> | null | undefined> {
    return (await localFlags.getFeatureFlagPayload(this.#config, ctx, args)) as FlagPayloadOf<Flags, K> | null | undefined;
  }

  /** Every decidable flag (undecidable ones are left out), as { key: value }. */
  async getAllFlags<K extends FlagKeyOf<Flags> = FlagKeyOf<Flags>>(ctx: RunQueryCtx, args: TypedAllFlagsArgs<K> = {}): Promise<FlagValues<Flags, K>> {
    return (await localFlags.getAllFlags(this.#config, ctx, args)) as FlagValues<Flags, K>;
  }

  /** Values and payloads of every decidable flag; payloads only where truthy, as posthog-node. */
  async getAllFlagsAndPayloads<K extends FlagKeyOf<Flags> = FlagKeyOf<Flags>>(
    ctx: RunQueryCtx,
    args: TypedAllFlagsArgs<K> = {},
  ): Promise<FlagValuesAndPayloads<Flags, K>> {
    return (await localFlags.getAllFlagsAndPayloads(this.#config, ctx, args)) as FlagValuesAndPayloads<Flags, K>;
  }

  /**
   * Evaluate flags once and keep the answers: read values from `snapshot.flags`, pass the
   * snapshot to `capture({ flags })` to stamp `$feature/<key>` on an event with no further
   * evaluation, or to `captureExposure` to record what was shown. Plain data: a query can
   * return it to the client, which passes it to a mutation.
   */
  async evaluateFlags(ctx: RunMutationCtx & RunQueryCtx, args?: TypedAllFlagsArgs<FlagKeyOf<Flags>>): Promise<TypedFlagEvaluations<Flags>>;
  async evaluateFlags(ctx: RunQueryCtx, args?: TypedAllFlagsArgs<FlagKeyOf<Flags>>): Promise<TypedFlagsSnapshot<Flags>>;
  async evaluateFlags(ctx: RunQueryCtx, args: TypedAllFlagsArgs<FlagKeyOf<Flags>> = {}): Promise<TypedFlagsSnapshot<Flags>> {
    return (await localFlags.evaluateFlags(this.#config, ctx, args)) as TypedFlagsSnapshot<Flags>;
  }

  /**
   * Answer flag reads with these values instead of evaluating (handy in tests), as
   * posthog-node: `false` clears; a list of keys sets them to true; `{ flags, payloads }` sets
   * either part; any other object maps keys to values (`undefined`: the flag does not exist).
   * Overridden single-flag reads send no exposure. Kept by this client object, in this isolate.
   */
  overrideFeatureFlags(overrides: OverrideFeatureFlagsOptions): void {
    this.#config.overrides.set(overrides);
  }

  // --- remote evaluation (actions) ---

  /**
   * One flag from PostHog's /flags endpoint: what PostHog knows that local evaluation
   * cannot (experience continuity, static cohorts, stored properties). `null` when the
   * flag does not exist or PostHog could not be reached. An exposure, like getFeatureFlag.
   */
  async evaluateFlag<K extends FlagKeyOf<Flags>>(ctx: RunActionCtx, args: TypedFlagArgs<K>): Promise<FlagValueOf<Flags, K> | null> {
    return (await remoteFlags.evaluateFlag(this.#config, ctx, args)) as FlagValueOf<Flags, K> | null;
  }

  /** As evaluateFlag, with payload and the reason (evaluated_remotely, flag_missing, remote_error, quota_limited). */
  async evaluateFlagResult<K extends FlagKeyOf<Flags>>(ctx: RunActionCtx, args: TypedFlagArgs<K>): Promise<TypedFlagResult<Flags, K>> {
    return (await remoteFlags.evaluateFlagResult(this.#config, ctx, args)) as TypedFlagResult<Flags, K>;
  }

  /** The flag's payload from PostHog's /flags endpoint, or null. Never an exposure. */
  async evaluateFlagPayload<K extends FlagKeyOf<Flags>>(ctx: RunActionCtx, args: TypedFlagArgs<K>): Promise<FlagPayloadOf<Flags, K> | null> {
    return (await remoteFlags.evaluateFlagPayload(this.#config, ctx, args)) as FlagPayloadOf<Flags, K> | null;
  }

  /** Every flag from one /flags request; empty maps when PostHog could not be reached. */
  async evaluateAllFlags<K extends FlagKeyOf<Flags> = FlagKeyOf<Flags>>(
    ctx: RunActionCtx,
    args: TypedAllFlagsArgs<K> = {},
  ): Promise<FlagValuesAndPayloads<Flags, K>> {
    return (await remoteFlags.evaluateAllFlags(this.#config, ctx, args)) as FlagValuesAndPayloads<Flags, K>;
  }

  /**
   * The payload of a remote config flag, from PostHog's remote config endpoint (action; needs
   * the personal or secret API key). Undefined when PostHog cannot be reached or says no.
   */
  async getRemoteConfigPayload(ctx: RunActionCtx, args: { key: string; timeoutMs?: number }): Promise<JsonType | undefined> {
    return await remoteFlags.getRemoteConfigPayload(this.#config, ctx, args);
  }

  // --- exposures ---

  /**
   * Record that a user saw a flag's value read in a query (queries cannot write): pass the
   * result the query returned. Deduplicated like every exposure.
   */
  async captureExposure(
    ctx: MutationOrActionCtx,
    args: { distinctId: string; result: FeatureFlagResult; groups?: Record<string, string>; disableGeoip?: boolean },
  ): Promise<void> {
    await exposures.captureExposure(this.#config, ctx, args);
  }

  // --- the browser ---

  /**
   * Functions for the app to export (e.g. from convex/posthogApi.ts) so its browser reads
   * flags live through Convex: `flags` and `flag` queries, a `reportExposure` mutation (the
   * server evaluates the value it records), `track` (with an event taxonomy) and `refreshHook`,
   * the HTTP action PostHog's webhook calls when a flag changes (route it in convex/http.ts).
   */
  exposeApi<const K extends FlagKeyOf<Flags> = FlagKeyOf<Flags>>(options: ExposeApiOptions<K> = {}): BrowserApi<Flags, Events, K> {
    return browserApi.exposeApi<Flags, Events, K>(this.#config, options);
  }

  // --- flag governance ---

  /**
   * Sync the flag registry to PostHog (action, from the app's cron): create missing flags
   * inactive at 0%, reconcile names and tags, report orphans, naming violations and variant
   * mismatches. Never changes `active` or rollout, never deletes. Needs projectId and a
   * personal API key with feature_flag:write (adminApiKey).
   */
  async runFlagSync(ctx: RunActionCtx, options: FlagSyncOptions = {}): Promise<FlagSyncResult> {
    return await flagSync.runFlagSync(this.#config, ctx, options);
  }

  /** The governance report (reactive): open findings, lifecycle, guardian state, kills, last runs, alerts. */
  async flagGovernance(ctx: RunQueryCtx): Promise<GovernanceReport> {
    return await governanceReport.flagGovernance(this.#config, ctx);
  }

  /**
   * posthog-flag-toolkit's release tracker: flags now released to everyone, ended experiments
   * with their conclusion, stale, overdue and unused flags, orphans and naming violations, and
   * a digest of what is new. Reads PostHog only; remembers in the component's tables, not in
   * PostHog tags. Needs the `flags` registry, the project id and the admin key.
   */
  async runReleaseTracker(ctx: RunActionCtx, opts: ReleaseTrackerOptions = {}): Promise<ReleaseTrackerResult> {
    return await releaseTracker.runReleaseTracker(this.#config, ctx, opts);
  }

  // --- configuration ---

  /** Host and key, read when a method runs (env vars may change between deployments). */
  destination(): { host: string; apiKey: string } {
    return this.#config.destination();
  }

  /** Personal API key for flag definitions; never stored by the component. */
  personalApiKey(): string | undefined {
    return this.#config.personalApiKey();
  }
}
