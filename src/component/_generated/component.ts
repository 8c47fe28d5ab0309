/* eslint-disable */
/**
 * Generated `ComponentApi` utility.
 *
 * THIS CODE IS AUTOMATICALLY GENERATED.
 *
 * To regenerate, run `npx convex dev`.
 * @module
 */

import type { FunctionReference } from "convex/server";

/**
 * A utility for referencing a Convex component's exposed API.
 *
 * Useful when expecting a parameter like `components.myComponent`.
 * Usage:
 * ```ts
 * async function myFunction(ctx: QueryCtx, component: ComponentApi) {
 *   return ctx.runQuery(component.someFile.someQuery, { ...args });
 * }
 * ```
 */
export type ComponentApi<Name extends string | undefined = string | undefined> =
  {
    definitions: {
      refresh: FunctionReference<
        "action",
        "internal",
        {
          apiKey: string;
          host: string;
          personalApiKey: string;
          timeoutMs?: number;
        },
        {
          cohortsChanged?: number;
          cohortsRemoved?: number;
          error?: string;
          flagsChanged?: number;
          flagsRemoved?: number;
          httpStatus?: number;
          result: string;
        },
        Name
      >;
    };
    delivery: {
      flush: FunctionReference<
        "action",
        "internal",
        {
          options?: {
            batchSize?: number;
            flushDelayMs?: number;
            maxBatchWaitMs?: number;
            requestTimeoutMs?: number;
            retryInitialDelayMs?: number;
            retryMaxDelayMs?: number;
          };
        },
        { deadLettered: number; delivered: number; retrying: number },
        Name
      >;
    };
    events: {
      enqueue: FunctionReference<
        "mutation",
        "internal",
        {
          destination: { apiKey: string; host: string };
          event: string;
          message: string;
          options?: {
            batchSize?: number;
            flushDelayMs?: number;
            maxBatchWaitMs?: number;
            requestTimeoutMs?: number;
            retryInitialDelayMs?: number;
            retryMaxDelayMs?: number;
          };
          uuid: string;
        },
        null,
        Name
      >;
      listDeadLetters: FunctionReference<
        "query",
        "internal",
        { limit?: number },
        Array<{
          attempts: number;
          deadLetteredAt: number;
          error: string;
          event: string;
          host: string;
          id: string;
          uuid: string;
        }>,
        Name
      >;
      resendDeadLetters: FunctionReference<
        "mutation",
        "internal",
        {
          destination: { apiKey: string; host: string };
          limit?: number;
          options?: {
            batchSize?: number;
            flushDelayMs?: number;
            maxBatchWaitMs?: number;
            requestTimeoutMs?: number;
            retryInitialDelayMs?: number;
            retryMaxDelayMs?: number;
          };
        },
        number,
        Name
      >;
    };
    exposures: {
      record: FunctionReference<
        "mutation",
        "internal",
        {
          dedupKey: string;
          dedupWindowMs?: number;
          destination: { apiKey: string; host: string };
          event: string;
          message: string;
          minimal?: boolean;
          options?: {
            batchSize?: number;
            flushDelayMs?: number;
            maxBatchWaitMs?: number;
            requestTimeoutMs?: number;
            retryInitialDelayMs?: number;
            retryMaxDelayMs?: number;
          };
          uuid: string;
        },
        boolean,
        Name
      >;
    };
    flags: {
      evaluate: FunctionReference<
        "query",
        "internal",
        { context: string; keys?: Array<string> },
        string,
        Name
      >;
      minimalFlagCalledEvents: FunctionReference<
        "query",
        "internal",
        {},
        boolean,
        Name
      >;
      payloadFor: FunctionReference<
        "query",
        "internal",
        { key: string; matchValue: boolean | string },
        string,
        Name
      >;
      servedFlags: FunctionReference<
        "query",
        "internal",
        { keys: Array<string> },
        string,
        Name
      >;
    };
    governance: {
      alerts: {
        configure: FunctionReference<
          "mutation",
          "internal",
          {
            delivery?: {
              maxAttempts?: number;
              requestTimeoutMs?: number;
              retryInitialDelayMs?: number;
              retryMaxDelayMs?: number;
            };
            onAlert?: { handle: string; type: "mutation" | "action" };
            slackWebhookUrl?: string;
          },
          boolean,
          Name
        >;
        list: FunctionReference<
          "query",
          "internal",
          { limit?: number; status?: "pending" | "sent" | "dead" },
          Array<{
            attempts: number;
            createdAt: number;
            dedupKey: string;
            destination: "slack" | "callback";
            key?: string;
            kind: string;
            lastError?: string;
            nextAttemptAt?: number;
            sentAt?: number;
            status: "pending" | "sent" | "dead";
          }>,
          Name
        >;
      };
      enforcement: {
        disableFlagAtNextRun: FunctionReference<
          "mutation",
          "internal",
          { key: string; reason?: string },
          {
            changeRequestId?: string;
            dependents?: Array<string>;
            detail?: string;
            enforcement:
              | "pending_patch"
              | "patched"
              | "approval_requested"
              | "blocked_by_dependents"
              | "scope_missing"
              | "failed";
            key: string;
          },
          Name
        >;
        disableFlagNow: FunctionReference<
          "action",
          "internal",
          {
            admin: {
              apiKey: string;
              appHost: string;
              environmentId: string;
              projectId: string;
            };
            alerts?: {
              delivery?: {
                maxAttempts?: number;
                requestTimeoutMs?: number;
                retryInitialDelayMs?: number;
                retryMaxDelayMs?: number;
              };
              onAlert?: { handle: string; type: "mutation" | "action" };
              slackWebhookUrl?: string;
            };
            key: string;
            reason?: string;
          },
          {
            changeRequestId?: string;
            dependents?: Array<string>;
            detail?: string;
            enforcement:
              | "pending_patch"
              | "patched"
              | "approval_requested"
              | "blocked_by_dependents"
              | "scope_missing"
              | "failed";
            key: string;
          },
          Name
        >;
      };
      guardian: {
        run: FunctionReference<
          "action",
          "internal",
          {
            admin: {
              apiKey: string;
              appHost: string;
              environmentId: string;
              projectId: string;
            };
            alerts?: {
              delivery?: {
                maxAttempts?: number;
                requestTimeoutMs?: number;
                retryInitialDelayMs?: number;
                retryMaxDelayMs?: number;
              };
              onAlert?: { handle: string; type: "mutation" | "action" };
              slackWebhookUrl?: string;
            };
            dryRun?: boolean;
            significance?: number | false;
            source?: "local" | "hogql" | "both";
            successEvent?: { event: string; property: string };
            thresholds?: {
              cooldownMinutes?: number;
              errorRateRatioThreshold?: number;
              minSampleSize?: number;
              minUniqueUsers?: number;
              publishSuccessDropThreshold?: number;
              windowMinutes?: number;
            };
            watch: Array<{
              key: string;
              mode: "monitor" | "enforce";
              variants?: Array<string>;
            }>;
          },
          {
            auto_disabled: number;
            dryRun: boolean;
            evaluations: Array<{
              comparison: { control: string; treatment: string };
              decision:
                | "insufficient_data"
                | "no_regression"
                | "regression_detected"
                | "auto_disabled";
              enforced: boolean;
              enforcement?: {
                changeRequestId?: string;
                dependents?: Array<string>;
                detail?: string;
                enforcement:
                  | "pending_patch"
                  | "patched"
                  | "approval_requested"
                  | "blocked_by_dependents"
                  | "scope_missing"
                  | "failed";
                key: string;
              };
              flag: {
                active: boolean;
                id: number;
                key: string;
                name: string | null;
              };
              key: string;
              metrics: {
                control: {
                  errorRate: number | null;
                  eventCount: number;
                  publishSuccessRate: number | null;
                  publishTotal?: number;
                  uniqueUsers: number;
                };
                treatment: {
                  errorRate: number | null;
                  eventCount: number;
                  publishSuccessRate: number | null;
                  publishTotal?: number;
                  uniqueUsers: number;
                };
              };
              mode: "monitor" | "enforce";
              pValue?: number;
              reason: string;
              source: "local" | "hogql";
            }>;
            findings: Array<{ detail: string; key: string; kind: string }>;
            finishedEnforcements: Array<{
              changeRequestId?: string;
              dependents?: Array<string>;
              detail?: string;
              enforcement:
                | "pending_patch"
                | "patched"
                | "approval_requested"
                | "blocked_by_dependents"
                | "scope_missing"
                | "failed";
              key: string;
            }>;
            flags_evaluated: number;
            outcomes: Array<{
              decision:
                | "insufficient_data"
                | "no_regression"
                | "regression_detected"
                | "auto_disabled";
              flag_key: string;
              reason: string;
            }>;
            regressions_detected: number;
            status: "ok" | "skipped" | "failed";
          },
          Name
        >;
      };
      releases: {
        run: FunctionReference<
          "action",
          "internal",
          {
            admin: {
              apiKey: string;
              appHost: string;
              environmentId: string;
              projectId: string;
            };
            alerts?: {
              delivery?: {
                maxAttempts?: number;
                requestTimeoutMs?: number;
                retryInitialDelayMs?: number;
                retryMaxDelayMs?: number;
              };
              onAlert?: { handle: string; type: "mutation" | "action" };
              slackWebhookUrl?: string;
            };
            dryRun?: boolean;
            naming: { exemptTag: string; pattern: string };
            registry: Array<{
              description: string;
              key: string;
              owner: string;
              sunsetTarget?: string;
              tags?: Array<string>;
            }>;
            releaseRule?: "constant_for_everyone" | "toolkit";
            renotifyEveryDays?: number;
            staleThresholdDays?: number;
            unusedAfterDays?: number;
          },
          {
            digest: {
              concludedExperiments: Array<{
                conclusion: string | null;
                key: string;
                name: string;
                rollout: "shipped" | "rolled_back" | "undecided";
              }>;
              namingViolations: Array<{ key: string }>;
              newExperimentReleases: Array<{
                key: string;
                name: string;
                type: "flag" | "experiment";
              }>;
              newFlagReleases: Array<{
                key: string;
                name: string;
                type: "flag" | "experiment";
              }>;
              orphans: Array<{ key: string }>;
              overdueSunsets: Array<{
                daysOverdue: number;
                key: string;
                sunsetTarget: string;
              }>;
              staleFlags: Array<{
                daysSinceRelease: number;
                key: string;
                name: string;
              }>;
              unusedFlags: Array<{ key: string; lastExposureAt?: number }>;
            };
            dryRun: boolean;
            experiments_checked: number;
            findings: Array<{ detail: string; key: string; kind: string }>;
            flags: string;
            flags_checked: number;
            naming_violations: number;
            new_experiment_releases: number;
            new_flag_releases: number;
            orphans: number;
            stale_flags_notified: number;
          },
          Name
        >;
      };
      report: {
        get: FunctionReference<
          "query",
          "internal",
          {},
          {
            alerts: {
              dead: { count: number; truncated: boolean };
              pending: { count: number; truncated: boolean };
            };
            findings: Array<{
              detail: string;
              firstSeenAt: number;
              key: string;
              kind: string;
              lastSeenAt: number;
              source: "sync" | "releases" | "guardian";
            }>;
            findingsTruncated: boolean;
            guardian: Array<{
              changeRequestId?: string;
              cooldownUntil?: number;
              dependents?: Array<string>;
              enforcement?:
                | "pending_patch"
                | "patched"
                | "approval_requested"
                | "blocked_by_dependents"
                | "scope_missing"
                | "failed";
              enforcementDetail?: string;
              key: string;
              killReason?: string;
              killSource?: "guardian" | "manual";
              killedAt?: number;
              lastDecision?: string;
              lastEvaluatedAt?: number;
              lastMetrics?: string;
              lastReason?: string;
              mode: "monitor" | "enforce";
              populationChangedAt?: number;
              populationHash?: string;
            }>;
            killed: Array<{ at: number; key: string; reason?: string }>;
            lastRuns: Array<{
              dryRun?: boolean;
              error?: string;
              finishedAt?: number;
              result?: string;
              startedAt: number;
              status: string;
              tool: "sync" | "releases" | "guardian";
            }>;
            lifecycle: Array<{
              experimentConclusion?: string;
              experimentId?: number;
              key: string;
              lastStaleNoticeAt?: number;
              lastSunsetNoticeAt?: number;
              lastUnusedNoticeAt?: number;
              posthogId?: number;
              releaseKind?: "flag" | "experiment";
              releasedAt?: number;
              releasedValue?: string;
              usageWatchedSince?: number;
            }>;
          },
          Name
        >;
      };
      sync: {
        run: FunctionReference<
          "action",
          "internal",
          {
            admin: {
              apiKey: string;
              appHost: string;
              environmentId: string;
              projectId: string;
            };
            createUsageDashboards: boolean;
            dryRun: boolean;
            registry: {
              flags: Array<{
                description: string;
                guardian?: "monitor" | "enforce";
                key: string;
                owner: string;
                tags?: Array<string>;
                variants?: Array<string>;
              }>;
              namingExemptTag: string;
              namingPattern: string;
            };
          },
          {
            created: number;
            created_keys: Array<string>;
            dry_run: boolean;
            findings: Array<{ detail: string; key: string; kind: string }>;
            forCallbacks: {
              flags: any;
              patches: Array<{
                key: string;
                patch: { name?: string; tags?: Array<string> };
              }>;
            };
            naming_violation_keys: Array<string>;
            naming_violations: number;
            orphan_keys: Array<string>;
            orphans: number;
            posthog_size: number;
            reconciled: number;
            reconciled_keys: Array<string>;
            registry_size: number;
            status: "ok" | "failed" | "skipped";
            variant_mismatches: Array<{
              code: Array<string>;
              key: string;
              posthog: Array<string>;
            }>;
          },
          Name
        >;
      };
      tallies: {
        usage: FunctionReference<
          "query",
          "internal",
          { keys: Array<string> },
          Array<{ key: string; lastExposureAt: number | null }>,
          Name
        >;
        windowMetrics: FunctionReference<
          "query",
          "internal",
          { from: number; keys: Array<string>; to: number },
          Array<{
            key: string;
            variants: Array<{
              events: number;
              exceptions: number;
              successTotal: number;
              successes: number;
              uniqueUsers: number;
              usersCapped: boolean;
              variant: string;
            }>;
          }>,
          Name
        >;
      };
    };
    killSwitch: {
      clear: FunctionReference<
        "mutation",
        "internal",
        { key: string },
        boolean,
        Name
      >;
      kill: FunctionReference<
        "mutation",
        "internal",
        { key: string; reason?: string },
        null,
        Name
      >;
      list: FunctionReference<
        "query",
        "internal",
        {},
        Array<{ at: number; key: string; reason?: string }>,
        Name
      >;
    };
    status: {
      get: FunctionReference<
        "query",
        "internal",
        {},
        {
          countsTruncated: boolean;
          deadLettered: number;
          flags: {
            cohortCount: number;
            definitionsAgeMs: number | null;
            definitionsConfirmedAt: number | null;
            flagCount: number;
            lastRefresh: null | {
              at: number;
              error?: string;
              httpStatus?: number;
              result: string;
            };
          };
          lastDelivery: null | {
            at: number;
            error?: string;
            events: number;
            httpStatus?: number;
            result: "delivered" | "retrying" | "dead_lettered";
          };
          lastSuccessAt: number | null;
          oldestPendingAgeMs: number | null;
          oldestPendingAt: number | null;
          pending: number;
        },
        Name
      >;
    };
  };
