// runReleaseTracker, from the app's cron: the component reads PostHog (GET only), keeps the
// tracker's memory in its tables and queues the digest for the `alerts` destinations;
// posthog-flag-toolkit's callbacks then run here, in the app's action, with PostHog's flags.
import type { PostHogFlag } from "../core/governance/posthogRest.js";
import { checkDays, type ReleaseRule } from "../core/governance/release.js";
import { digestHasNews, type GovernanceDigest } from "../core/governance/releaseDigest.js";
import { PostHogInputError } from "../core/messages.js";
import { alertSettings } from "./alerts.js";
import type { ClientConfig } from "./config.js";
import type { RunActionCtx } from "./types.js";

export type { GovernanceDigest, PostHogFlag, ReleaseRule };

/** The toolkit's callbacks; `onDigestReady` gets the toolkit's lists plus ours, and only when there is news. */
export interface ReleaseTrackerCallbacks {
  onNewRelease?: (flag: PostHogFlag, type: "flag" | "experiment") => void | Promise<void>;
  onStale?: (flag: PostHogFlag, daysSinceRelease: number) => void | Promise<void>;
  onOrphan?: (flag: PostHogFlag) => void | Promise<void>;
  onNamingViolation?: (flag: PostHogFlag) => void | Promise<void>;
  onDigestReady?: (digest: GovernanceDigest) => void | Promise<void>;
}

export interface ReleaseTrackerOptions {
  /** Days after its release a flag is reported stale (default 30). */
  staleThresholdDays?: number;
  /** Days before a stale, overdue or unused flag is reported again (default 30). */
  renotifyEveryDays?: number;
  /** Days without an exposure recorded by this component before a registry flag is unused (default 30). */
  unusedAfterDays?: number;
  /**
   * "constant_for_everyone" (default): released when every evaluation gives the same value, so
   * "staff at 100%" is not a release. "toolkit": every group at 100%, whatever its conditions.
   */
  releaseRule?: ReleaseRule;
  /** Decide and report, but remember nothing: the next run reports the same again. */
  dryRun?: boolean;
  callbacks?: ReleaseTrackerCallbacks;
}

/** Something the run found that needs a person; also kept, open until resolved, for the governance report. */
export interface ReleaseTrackerFinding {
  kind: string;
  /** The flag, or "" for the project. */
  key: string;
  detail: Record<string, unknown>;
}

/** posthog-flag-toolkit's result fields, plus the digest and the findings. */
export interface ReleaseTrackerResult {
  flags_checked: number;
  experiments_checked: number;
  new_flag_releases: number;
  new_experiment_releases: number;
  stale_flags_notified: number;
  orphans: number;
  naming_violations: number;
  digest: GovernanceDigest;
  findings: ReleaseTrackerFinding[];
  dryRun: boolean;
}

const RELEASE_RULES: readonly ReleaseRule[] = ["constant_for_everyone", "toolkit"];

export async function runReleaseTracker(config: ClientConfig, ctx: RunActionCtx, opts: ReleaseTrackerOptions): Promise<ReleaseTrackerResult> {
  const registry = config.options.flags;
  if (registry === undefined) {
    throw new PostHogInputError("flags", "runReleaseTracker needs the flag registry: pass flags: defineFlags(...) to new PostHog(...)");
  }
  if (opts.releaseRule !== undefined && !RELEASE_RULES.includes(opts.releaseRule)) {
    throw new PostHogInputError("releaseRule", `must be "constant_for_everyone" or "toolkit", got ${JSON.stringify(opts.releaseRule)}`);
  }
  for (const name of ["staleThresholdDays", "renotifyEveryDays", "unusedAfterDays"] as const) checkDays(name, opts[name], 0);

  const run = await ctx.runAction(config.component.governance.releases.run, {
    admin: config.adminTarget(),
    registry: registry.keys.map((key) => {
      const { description, owner, sunsetTarget, tags } = registry.flags[key]!;
      return { key, description, owner, ...(sunsetTarget !== undefined ? { sunsetTarget } : {}), ...(tags !== undefined ? { tags: [...tags] } : {}) };
    }),
    naming: { pattern: registry.namingRegex.source, exemptTag: registry.namingExemptTag },
    ...(opts.releaseRule !== undefined ? { releaseRule: opts.releaseRule } : {}),
    ...(opts.staleThresholdDays !== undefined ? { staleThresholdDays: opts.staleThresholdDays } : {}),
    ...(opts.renotifyEveryDays !== undefined ? { renotifyEveryDays: opts.renotifyEveryDays } : {}),
    ...(opts.unusedAfterDays !== undefined ? { unusedAfterDays: opts.unusedAfterDays } : {}),
    ...(opts.dryRun !== undefined ? { dryRun: opts.dryRun } : {}),
    alerts: await alertSettings(config),
  });
  const { flags: flagsJson, findings, ...result } = run;
  const tracked: ReleaseTrackerResult = {
    ...result,
    findings: findings.map(({ kind, key, detail }) => ({ kind, key, detail: JSON.parse(detail) as Record<string, unknown> })),
  };
  await runCallbacks(tracked, JSON.parse(flagsJson) as Record<string, PostHogFlag>, opts.callbacks ?? {});
  return tracked;
}

/** In the toolkit's order: orphans and naming violations (every run), new releases, stale flags, the digest. */
async function runCallbacks(result: ReleaseTrackerResult, flags: Record<string, PostHogFlag>, callbacks: ReleaseTrackerCallbacks): Promise<void> {
  const flagOf = (key: string) => flags[key];
  for (const finding of result.findings) {
    const flag = flagOf(finding.key);
    if (flag === undefined) continue;
    if (finding.kind === "orphan") await callbacks.onOrphan?.(flag);
    if (finding.kind === "naming_violation") await callbacks.onNamingViolation?.(flag);
  }
  const { digest } = result;
  for (const release of [...digest.newFlagReleases, ...digest.newExperimentReleases]) {
    const flag = flagOf(release.key);
    if (flag !== undefined) await callbacks.onNewRelease?.(flag, release.type);
  }
  for (const stale of digest.staleFlags) {
    const flag = flagOf(stale.key);
    if (flag !== undefined) await callbacks.onStale?.(flag, stale.daysSinceRelease);
  }
  if (digestHasNews(digest)) await callbacks.onDigestReady?.(digest);
}
