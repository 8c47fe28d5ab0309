// The snapshot evaluateFlags returns in a mutation or action: posthog-node's
// FeatureFlagEvaluations, with accessors that record the exposure as they read.
//
// posthog-node's accessors are synchronous and queue the `$feature_flag_called` event in
// memory. In Convex an exposure is a write, and a write that is not awaited before the
// function returns may be lost, so `isEnabled` and `getFlag` return promises: awaiting the read
// awaits its exposure. The data fields (`distinctId`, `groups`, `flags`, `unresolvedFlags`) are
// the same plain data a query's snapshot has, so the object also works with `capture({ flags })`
// and `captureExposure`, and JSON.stringify gives the plain snapshot.
import type { ExposureFacts } from "../core/exposures.js";
import type { FlagValue } from "../core/flags/index.js";
import { defineOwn } from "../core/flagContext.js";
import type { RemoteFlagsResult } from "../core/remoteFlags.js";
import { UNRESOLVED_FLAG_REASONS, type Decision, type FlagReadResult, type FlagsSnapshot, type JsonType, type UnresolvedFlagReason } from "./flags.js";
import type { ExposureTarget } from "./types.js";

/** What a snapshot needs from the client to record exposures. */
export interface ExposureRecorder {
  /** Whether a read sends an exposure: the read's option, then the client's, then yes. */
  sends(perRead: boolean | undefined): boolean;
  record(who: ExposureTarget, facts: ExposureFacts): Promise<void>;
}

/** What the /flags answer of the evaluation, if any, said for every flag. */
export interface SnapshotResponse {
  requestId?: string;
  evaluatedAt?: number;
  /** errors_while_computing_flags and quota_limited, in posthog-node's order. */
  errors: string[];
  minimalGate: boolean;
}

/** Why local evaluation left a flag undecided, for a snapshot's unresolvedFlags. */
const UNRESOLVED_REASONS = new Set<string>(UNRESOLVED_FLAG_REASONS);

/**
 * A snapshot's pieces from the decisions of one evaluation: the decided flags with their
 * exposure facts, the undecided ones with a definition, and what the /flags answer said.
 */
export function snapshotParts(decisions: Decision[], answer?: RemoteFlagsResult, minimalGate = false) {
  const flags: Record<string, FlagReadResult> = {};
  const unresolvedFlags: Record<string, UnresolvedFlagReason> = {};
  const facts = new Map<string, ExposureFacts>();
  const response: SnapshotResponse = { errors: [], minimalGate };
  if (answer?.ok) {
    Object.assign(response, { requestId: answer.requestId, evaluatedAt: answer.evaluatedAt });
    if (answer.errorsWhileComputingFlags) response.errors.push("errors_while_computing_flags");
    if (answer.quotaLimited) response.errors.push("quota_limited");
  }
  for (const { result, facts: what } of decisions) {
    if (result.value !== undefined) {
      defineOwn(flags, result.key, result);
      facts.set(result.key, what);
    } else if (UNRESOLVED_REASONS.has(result.reason)) {
      defineOwn(unresolvedFlags, result.key, result.reason as UnresolvedFlagReason);
    }
  }
  return { flags, unresolvedFlags, facts, response };
}

export interface ReadOptions {
  /** Whether this read sends `$feature_flag_called` (default: the client's option, then true). */
  sendFeatureFlagEvents?: boolean;
}

interface Init {
  distinctId: string;
  groups?: Record<string, string>;
  disableGeoip?: boolean;
  flags: Record<string, FlagReadResult>;
  facts: Map<string, ExposureFacts>;
  unresolvedFlags: Record<string, UnresolvedFlagReason>;
  response: SnapshotResponse;
  recorder: ExposureRecorder;
  accessed?: Set<string>;
  isSlice?: boolean;
}

export class FeatureFlagEvaluations implements FlagsSnapshot {
  distinctId: string;
  groups?: Record<string, string>;
  /** Decided flags only. */
  flags: Record<string, FlagReadResult>;
  /**
   * Flags with a stored definition that neither local evaluation nor PostHog decided, with
   * why local evaluation could not. Empty on `only()` / `onlyAccessed()` slices.
   */
  unresolvedFlags: Readonly<Record<string, UnresolvedFlagReason>>;

  readonly #disableGeoip: boolean | undefined;
  readonly #facts: Map<string, ExposureFacts>;
  readonly #response: SnapshotResponse;
  readonly #recorder: ExposureRecorder;
  readonly #accessed: Set<string>;
  readonly #isSlice: boolean;

  /** @internal evaluateFlags builds these. */
  constructor(init: Init) {
    this.distinctId = init.distinctId;
    if (init.groups !== undefined) this.groups = init.groups;
    this.flags = init.flags;
    this.unresolvedFlags = Object.freeze(init.unresolvedFlags);
    this.#disableGeoip = init.disableGeoip;
    this.#facts = init.facts;
    this.#response = init.response;
    this.#recorder = init.recorder;
    this.#accessed = init.accessed ?? new Set();
    this.#isSlice = init.isSlice ?? false;
  }

  /**
   * Whether the flag is enabled (`defaultValue`, else false, when it is not in the snapshot).
   * Records the exposure once per (distinct id, flag, value), unless events are off.
   */
  async isEnabled(key: string, options: ReadOptions & { defaultValue?: boolean } = {}): Promise<boolean> {
    await this.#recordAccess(key, options.sendFeatureFlagEvents);
    return this.#own(key)?.enabled ?? options.defaultValue ?? false;
  }

  /** The flag's value; undefined when it is not in the snapshot. Records the exposure like isEnabled. */
  async getFlag(key: string, options: ReadOptions = {}): Promise<FlagValue | undefined> {
    await this.#recordAccess(key, options.sendFeatureFlagEvents);
    return this.#own(key)?.value;
  }

  /** The payload for the flag's value (undefined when none). Not an access, never an exposure. */
  getFlagPayload(key: string): JsonType | undefined {
    const payload = this.#own(key)?.payload ?? undefined;
    // As posthog-node: a locally evaluated flag keeps only a truthy payload.
    return this.#facts.get(key)?.locallyEvaluated && !payload ? undefined : payload;
  }

  /** The keys of the flags in the snapshot. */
  get keys(): string[] {
    return Object.keys(this.flags);
  }

  /**
   * A copy with only the flags read so far through isEnabled / getFlag (events sent or not),
   * for `capture({ flags })`. Reads on the copy do not report flags it left out.
   */
  onlyAccessed(): FeatureFlagEvaluations {
    return this.#slice([...this.#accessed].filter((key) => this.#own(key) !== undefined));
  }

  /** A copy with only these flags (keys not in the snapshot are dropped, with a warning). */
  only(keys: string[]): FeatureFlagEvaluations {
    const missing = keys.filter((key) => this.#own(key) === undefined);
    if (missing.length > 0) {
      console.warn(
        `[PostHog] FeatureFlagEvaluations.only() was called with flag keys that are not in the evaluation set and will be dropped: ${missing.join(", ")}`,
      );
    }
    return this.#slice(keys.filter((key) => this.#own(key) !== undefined));
  }

  #own(key: string): FlagReadResult | undefined {
    return Object.prototype.hasOwnProperty.call(this.flags, key) ? this.flags[key] : undefined;
  }

  #slice(keys: string[]): FeatureFlagEvaluations {
    const flags: Record<string, FlagReadResult> = {};
    for (const key of keys) defineOwn(flags, key, this.flags[key]!);
    return new FeatureFlagEvaluations({
      distinctId: this.distinctId,
      groups: this.groups,
      disableGeoip: this.#disableGeoip,
      flags,
      facts: this.#facts,
      unresolvedFlags: {},
      response: this.#response,
      recorder: this.#recorder,
      // The copy tracks its own reads from here on.
      accessed: new Set(this.#accessed),
      isSlice: true,
    });
  }

  async #recordAccess(key: string, perRead: boolean | undefined): Promise<void> {
    this.#accessed.add(key);
    if (!this.#recorder.sends(perRead)) return;
    // Without a distinct id there is nobody to attribute the exposure to.
    if (this.distinctId === "") return;
    const flag = this.#own(key);
    // On a slice, a missing key was filtered out, not missing from PostHog.
    if (this.#isSlice && flag === undefined) return;
    const who = { distinctId: this.distinctId, groups: this.groups, disableGeoip: this.#disableGeoip };
    await this.#recorder.record(who, this.#factsOf(key, flag));
  }

  /** posthog-node's snapshot exposure: the flag's own facts, the request's id and errors. */
  #factsOf(key: string, flag: FlagReadResult | undefined): ExposureFacts {
    const { requestId, evaluatedAt, errors, minimalGate } = this.#response;
    if (flag === undefined) {
      const unresolved = Object.prototype.hasOwnProperty.call(this.unresolvedFlags, key);
      const error = [...errors, unresolved ? "local_evaluation_inconclusive" : "flag_missing"].join(",");
      return { key, response: undefined, locallyEvaluated: false, requestId, evaluatedAt, error, minimalGate };
    }
    const own = this.#facts.get(key)!;
    return {
      ...own,
      response: flag.value,
      requestId,
      evaluatedAt: own.locallyEvaluated ? Date.now() : evaluatedAt,
      error: errors.length > 0 ? errors.join(",") : undefined,
      minimalGate,
    };
  }
}
