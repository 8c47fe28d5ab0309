// The release tracker (issue 10): flags PostHog now serves the same to everyone, experiments that
// ended and how, flags stale since their release, past their sunset date or without exposures,
// and a digest of what is new. Its memory is the flagLifecycle table, never PostHog tags (a paid
// feature that silently disappears without the licence): this action only reads PostHog.
//
// One mutation (`settle`) decides what is new, records it and queues the digest alert in the
// same transaction, so a run that crashes after it reports nothing twice, and one that crashes
// before it recorded nothing.
import { v, type Infer } from "convex/values";
import { api, internal } from "../_generated/api.js";
import type { Doc } from "../_generated/dataModel.js";
import { action, internalMutation, type ActionCtx } from "../_generated/server.js";
import { concludedExperiment, type ConcludedExperiment } from "../../core/governance/experiments.js";
import type { PostHogExperiment, PostHogFlag } from "../../core/governance/posthogRest.js";
import { checkDays, daysSince, isReleasedToEveryone, isStale, overdueSunset, releasedValue } from "../../core/governance/release.js";
import { buildDigest, digestHasNews, type GovernanceDigest, type ReleaseFinding } from "../../core/governance/releaseDigest.js";
import { digestSlackMessage } from "../../core/governance/slack.js";
import { configureAlerts, queueAlerts } from "./alerts.js";
import { recordAllFindings } from "./records.js";
import { describeFailure, listAllFlags, listExperiments, vAdminTarget, type AdminTarget } from "./rest.js";
import { vAlertSettings } from "./tables.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** The default of every day count: stale after, renotify every, unused after. */
const DEFAULT_DAYS = 30;
/** Lifecycles meant to stay on for good (kill switches, plan tiers): never stale. */
const LONG_LIVED_LIFECYCLES = new Set(["ops", "tier"]);
/** What this tool reports as findings; a complete run resolves those it no longer sees. */
const FINDING_KINDS = ["orphan", "naming_violation", "stale", "overdue_sunset", "unused", "experiments_unavailable"];

export const vReleaseRule = v.union(v.literal("constant_for_everyone"), v.literal("toolkit"));

/** A registry flag, as the tracker needs it. */
export const vTrackedFlag = v.object({
  key: v.string(),
  description: v.string(),
  owner: v.string(),
  sunsetTarget: v.optional(v.string()),
  tags: v.optional(v.array(v.string())),
});

const vNewRelease = v.object({ key: v.string(), name: v.string(), type: v.union(v.literal("flag"), v.literal("experiment")) });
const vRollout = v.union(v.literal("shipped"), v.literal("rolled_back"), v.literal("undecided"));
const vConcluded = v.object({ key: v.string(), name: v.string(), conclusion: v.union(v.string(), v.null()), rollout: vRollout });
const vOverdue = v.object({ key: v.string(), sunsetTarget: v.string(), daysOverdue: v.number() });
const vUnused = v.object({ key: v.string(), lastExposureAt: v.optional(v.number()) });

export const vGovernanceDigest = v.object({
  newFlagReleases: v.array(vNewRelease),
  newExperimentReleases: v.array(vNewRelease),
  staleFlags: v.array(v.object({ key: v.string(), name: v.string(), daysSinceRelease: v.number() })),
  orphans: v.array(v.object({ key: v.string() })),
  namingViolations: v.array(v.object({ key: v.string() })),
  concludedExperiments: v.array(vConcluded),
  overdueSunsets: v.array(vOverdue),
  unusedFlags: v.array(vUnused),
});
({}) as GovernanceDigest satisfies Infer<typeof vGovernanceDigest>;

const vFinding = v.object({ kind: v.string(), key: v.string(), detail: v.string() });

export const vReleaseTrackerRun = v.object({
  flags_checked: v.number(),
  experiments_checked: v.number(),
  new_flag_releases: v.number(),
  new_experiment_releases: v.number(),
  stale_flags_notified: v.number(),
  orphans: v.number(),
  naming_violations: v.number(),
  digest: vGovernanceDigest,
  /** What the run found that needs a person (also kept in governanceFindings, unless a dry run). */
  findings: v.array(vFinding),
  /** The PostHog flags the digest and findings name, by key, JSON (PostHog's fields may start with `$`). */
  flags: v.string(),
  dryRun: v.boolean(),
});
export type ReleaseTrackerRun = Infer<typeof vReleaseTrackerRun>;

type Finding = Infer<typeof vFinding>;

/**
 * Track releases. Reads every flag and experiment of the project (GET only); records what is
 * new in flagLifecycle, findings in governanceFindings, and the run in governanceRuns. A dry
 * run records the run and nothing else.
 */
export const run = action({
  args: {
    admin: vAdminTarget,
    registry: v.array(vTrackedFlag),
    /** The registry's naming rule: the regex source and the tag that exempts a flag from it. */
    naming: v.object({ pattern: v.string(), exemptTag: v.string() }),
    releaseRule: v.optional(vReleaseRule),
    staleThresholdDays: v.optional(v.number()),
    renotifyEveryDays: v.optional(v.number()),
    unusedAfterDays: v.optional(v.number()),
    dryRun: v.optional(v.boolean()),
    /** Where the digest goes (the client's `alerts` option); stored when it changed. */
    alerts: v.optional(vAlertSettings),
  },
  returns: vReleaseTrackerRun,
  handler: async (ctx, args): Promise<ReleaseTrackerRun> => {
    const options = {
      rule: args.releaseRule ?? "constant_for_everyone",
      staleAfterDays: checkDays("staleThresholdDays", args.staleThresholdDays, DEFAULT_DAYS),
      renotifyEveryDays: checkDays("renotifyEveryDays", args.renotifyEveryDays, DEFAULT_DAYS),
      unusedAfterDays: checkDays("unusedAfterDays", args.unusedAfterDays, DEFAULT_DAYS),
      dryRun: args.dryRun ?? false,
    };
    const runId = await ctx.runMutation(internal.governance.records.startRun, { tool: "releases", dryRun: options.dryRun });
    try {
      const outcome = await track(ctx, args.admin, args.registry, args.naming, options, args.alerts);
      const { digest: _digest, findings: _findings, flags: _flags, ...counts } = outcome;
      await ctx.runMutation(internal.governance.records.finishRun, { runId, status: "ok", result: JSON.stringify(counts) });
      return outcome;
    } catch (error) {
      await ctx.runMutation(internal.governance.records.finishRun, { runId, status: "failed", error: errorText(error) });
      throw error;
    }
  },
});

interface TrackOptions {
  rule: Infer<typeof vReleaseRule>;
  staleAfterDays: number;
  renotifyEveryDays: number;
  unusedAfterDays: number;
  dryRun: boolean;
}

async function track(
  ctx: ActionCtx,
  admin: AdminTarget,
  registry: Infer<typeof vTrackedFlag>[],
  naming: { pattern: string; exemptTag: string },
  options: TrackOptions,
  alerts: Infer<typeof vAlertSettings> | undefined,
): Promise<ReleaseTrackerRun> {
  const listed = await listAllFlags(admin);
  if (!listed.ok) throw new Error(`release tracker: listing PostHog's flags failed: ${describeFailure(listed.failure)}`);
  const flags = listed.data.filter((flag) => !flag.deleted);
  const experimentsAnswer = await listExperiments(admin);
  const findings: Finding[] = [];
  if (!experimentsAnswer.ok) {
    // Without experiment:read there is nothing to learn about experiments; say so instead of "none ended".
    const detail = JSON.stringify({ error: describeFailure(experimentsAnswer.failure) });
    findings.push({ kind: "experiments_unavailable", key: "", detail });
  }
  const experiments = experimentsAnswer.ok ? experimentsAnswer.data : [];

  // The sender records exposures into flagUsage only while a release tracker asks for them.
  if (!options.dryRun) await ctx.runMutation(internal.governance.tallies.trackUsage, { on: true });
  const lastExposures = await ctx.runQuery(api.governance.tallies.usage, { keys: registry.map((definition) => definition.key) });

  const now = Date.now();
  const plan = planRun(flags, experiments, registry, naming, options, now, lastExposures);
  const settled = await ctx.runMutation(internal.governance.releases.settle, {
    now,
    dryRun: options.dryRun,
    ...(alerts !== undefined ? { alerts } : {}),
    staleAfterDays: options.staleAfterDays,
    renotifyEveryDays: options.renotifyEveryDays,
    unusedAfterDays: options.unusedAfterDays,
    ...plan.candidates,
  });
  findings.push(...plan.findings, ...settled.findings);
  if (!options.dryRun) {
    await recordAllFindings(ctx, { source: "releases", findings, complete: true, kinds: FINDING_KINDS });
  }

  const digest = settled.digest;
  const digestKeys = Object.values(digest).flatMap((list: { key: string }[]) => list.map((item) => item.key));
  const named = new Set([...findings.map((finding) => finding.key), ...digestKeys]);
  return {
    flags_checked: flags.length,
    experiments_checked: experiments.length,
    new_flag_releases: digest.newFlagReleases.length,
    new_experiment_releases: digest.newExperimentReleases.length,
    stale_flags_notified: digest.staleFlags.length,
    orphans: plan.findings.filter((finding) => finding.kind === "orphan").length,
    naming_violations: plan.findings.filter((finding) => finding.kind === "naming_violation").length,
    digest,
    findings,
    flags: JSON.stringify(Object.fromEntries(flags.filter((flag) => named.has(flag.key)).map((flag) => [flag.key, flag]))),
    dryRun: options.dryRun,
  };
}

type SettleCandidates = Omit<Infer<typeof vSettleArgs>, "now" | "dryRun" | "staleAfterDays" | "renotifyEveryDays" | "unusedAfterDays">;

/** What PostHog's answers say, before looking at what the tracker remembers. Pure. */
function planRun(
  flags: PostHogFlag[],
  experiments: PostHogExperiment[],
  registry: Infer<typeof vTrackedFlag>[],
  naming: { pattern: string; exemptTag: string },
  options: TrackOptions,
  now: number,
  lastExposures: { key: string; lastExposureAt: number | null }[],
): { candidates: SettleCandidates; findings: Finding[] } {
  const namingRegex = new RegExp(naming.pattern);
  const registered = new Map(registry.map((definition) => [definition.key, definition]));
  const flagsByKey = new Map(flags.map((flag) => [flag.key, flag]));
  const nameOf = (flag: PostHogFlag) => flag.name || flag.key;

  const releases: Infer<typeof vReleaseCandidate>[] = [];
  for (const flag of flags) {
    if (!isReleasedToEveryone(flag, options.rule)) continue;
    const value = releasedValue(flag);
    const valueField = value !== undefined ? { value: JSON.stringify(value) } : {};
    releases.push({ key: flag.key, name: nameOf(flag), posthogId: flag.id, type: "flag", ...valueField });
  }

  const concluded: Infer<typeof vConcludedCandidate>[] = [];
  for (const experiment of experiments) {
    if (typeof experiment.feature_flag_key !== "string" || experiment.feature_flag_key === "") continue;
    const flag = flagsByKey.get(experiment.feature_flag_key);
    const ended: ConcludedExperiment | undefined = concludedExperiment(experiment, flag, now, options.rule);
    if (ended === undefined) continue;
    concluded.push({ experimentId: ended.experimentId, key: ended.key, name: ended.name, conclusion: ended.conclusion, rollout: ended.rollout });
    if (ended.release && flag !== undefined) {
      const value = releasedValue(flag);
      releases.push({
        key: flag.key,
        name: nameOf(flag),
        posthogId: flag.id,
        type: "experiment",
        experimentId: ended.experimentId,
        ...(ended.conclusion !== null ? { conclusion: ended.conclusion } : {}),
        ...(value !== undefined ? { value: JSON.stringify(value) } : {}),
      });
    }
  }

  const released = new Set(releases.map((release) => release.key));
  const staleCandidates = flags
    .filter((flag) => !LONG_LIVED_LIFECYCLES.has(namingRegex.exec(flag.key)?.[1] ?? ""))
    .filter((flag) => released.has(flag.key) || flag.status === "STALE" || isStale(flag, now))
    .map((flag) => ({
      key: flag.key,
      name: nameOf(flag),
      releasedNow: released.has(flag.key),
      // PostHog's own STALE counts from creation: it does not know when a flag reached everyone.
      ...(flag.status === "STALE" || isStale(flag, now) ? { posthogStaleDays: daysSince(flag.created_at, now) } : {}),
    }));

  const overdue = registry.flatMap((definition) => overdueSunset(definition, now) ?? []);
  const lastExposureOf = new Map(lastExposures.map((usage) => [usage.key, usage.lastExposureAt]));
  const usage = registry.flatMap((definition) => {
    const flag = flagsByKey.get(definition.key);
    if (flag === undefined || !flag.active) return [];
    const lastExposureAt = lastExposureOf.get(definition.key) ?? undefined;
    return [{ key: definition.key, createdAt: Date.parse(flag.created_at), ...(lastExposureAt !== undefined ? { lastExposureAt } : {}) }];
  });

  const findings: Finding[] = [];
  for (const flag of flags) {
    if (!registered.has(flag.key)) {
      findings.push({ kind: "orphan", key: flag.key, detail: JSON.stringify({ posthogId: flag.id, name: flag.name }) });
    }
    const exempt = (flag.tags ?? []).includes(naming.exemptTag) || (registered.get(flag.key)?.tags ?? []).includes(naming.exemptTag);
    if (!exempt && !namingRegex.test(flag.key)) {
      findings.push({ kind: "naming_violation", key: flag.key, detail: JSON.stringify({ posthogId: flag.id, pattern: naming.pattern }) });
    }
  }
  const keysOf = (kind: string) => findings.filter((finding) => finding.kind === kind).map((finding) => finding.key);
  const owners = Object.fromEntries(registry.map((definition) => [definition.key, definition.owner]));
  return {
    candidates: {
      releases,
      concluded,
      staleCandidates,
      overdue,
      usage,
      orphans: keysOf("orphan"),
      namingViolations: keysOf("naming_violation"),
      owners: JSON.stringify(owners),
    },
    findings,
  };
}

const vReleaseCandidate = v.object({
  key: v.string(),
  name: v.string(),
  posthogId: v.number(),
  type: v.union(v.literal("flag"), v.literal("experiment")),
  /** The value everyone gets, JSON (absent under the toolkit's rule when there is none). */
  value: v.optional(v.string()),
  experimentId: v.optional(v.number()),
  conclusion: v.optional(v.string()),
});

const vConcludedCandidate = v.object({
  experimentId: v.number(),
  key: v.string(),
  name: v.string(),
  conclusion: v.union(v.string(), v.null()),
  rollout: vRollout,
});

const vSettleArgs = v.object({
  now: v.number(),
  dryRun: v.boolean(),
  alerts: v.optional(vAlertSettings),
  staleAfterDays: v.number(),
  renotifyEveryDays: v.number(),
  unusedAfterDays: v.number(),
  /** Flags released to everyone now, and experiments that shipped (flags first, then experiments). */
  releases: v.array(vReleaseCandidate),
  concluded: v.array(vConcludedCandidate),
  /** Flags released now or stale by PostHog's rule, outside the long-lived lifecycles. */
  staleCandidates: v.array(
    v.object({ key: v.string(), name: v.string(), releasedNow: v.boolean(), posthogStaleDays: v.optional(v.number()) }),
  ),
  overdue: v.array(vOverdue),
  /** Registry flags active in PostHog, whose exposures the component should be seeing. */
  usage: v.array(v.object({ key: v.string(), createdAt: v.number(), lastExposureAt: v.optional(v.number()) })),
  orphans: v.array(v.string()),
  namingViolations: v.array(v.string()),
  /** Registry owners by key, JSON, for the findings' details. */
  owners: v.string(),
});

/**
 * Decide what is new against flagLifecycle and record it, in one transaction: new releases
 * (first detection), concluded experiments (each experiment and conclusion once), stale,
 * overdue and unused flags (again only every `renotifyEveryDays`). Orphans and naming
 * violations are news when no open finding has them yet. A dry run decides the same and
 * writes nothing.
 */
export const settle = internalMutation({
  args: vSettleArgs.fields,
  returns: v.object({ digest: vGovernanceDigest, findings: v.array(vFinding) }),
  handler: async (ctx, args) => {
    const { now, dryRun } = args;
    const renotifyMs = args.renotifyEveryDays * DAY_MS;
    const rows = new Map((await ctx.db.query("flagLifecycle").collect()).map((row) => [row.key, row]));
    const changes = new Map<string, Partial<Doc<"flagLifecycle">>>();
    const change = (key: string, fields: Partial<Doc<"flagLifecycle">>) => changes.set(key, { ...changes.get(key), ...fields });
    const news: ReleaseFinding[] = [];
    const findings: Finding[] = [];
    const owners = JSON.parse(args.owners) as Record<string, string>;
    const withOwner = (key: string, detail: Record<string, unknown>) =>
      JSON.stringify(owners[key] !== undefined ? { ...detail, owner: owners[key] } : detail);
    const due = (last: number | undefined) => last === undefined || now - last >= renotifyMs;

    for (const experiment of args.concluded) {
      const row = rows.get(experiment.key);
      if (row?.experimentId === experiment.experimentId && (row.experimentConclusion ?? null) === experiment.conclusion) continue;
      const { experimentId: _id, ...info } = experiment;
      news.push({ kind: "concluded_experiment", ...info });
      change(experiment.key, {
        experimentId: experiment.experimentId,
        ...(experiment.conclusion !== null ? { experimentConclusion: experiment.conclusion } : { experimentConclusion: undefined }),
      });
    }

    // An experiment's release wins over the same flag's own, so it is listed once, as the experiment's.
    const releases = [...args.releases.filter((r) => r.type === "experiment"), ...args.releases.filter((r) => r.type === "flag")];
    for (const release of releases) {
      if (rows.get(release.key)?.releasedAt !== undefined || changes.get(release.key)?.releasedAt !== undefined) continue;
      news.push({ kind: "new_release", key: release.key, name: release.name, type: release.type });
      change(release.key, {
        posthogId: release.posthogId,
        releasedAt: now,
        releaseKind: release.type,
        ...(release.value !== undefined ? { releasedValue: release.value } : {}),
        ...(release.experimentId !== undefined ? { experimentId: release.experimentId } : {}),
        ...(release.conclusion !== undefined ? { experimentConclusion: release.conclusion } : {}),
      });
    }

    for (const candidate of args.staleCandidates) {
      const row = rows.get(candidate.key);
      const releasedAt = row?.releasedAt ?? changes.get(candidate.key)?.releasedAt;
      const releasedDays = candidate.releasedNow && releasedAt !== undefined ? daysSince(releasedAt, now) : undefined;
      const daysSinceRelease =
        releasedDays !== undefined && releasedDays >= args.staleAfterDays ? releasedDays : candidate.posthogStaleDays;
      if (daysSinceRelease === undefined) continue;
      findings.push({ kind: "stale", key: candidate.key, detail: withOwner(candidate.key, { daysSinceRelease }) });
      if (!due(row?.lastStaleNoticeAt)) continue;
      news.push({ kind: "stale", key: candidate.key, name: candidate.name, daysSinceRelease });
      change(candidate.key, { lastStaleNoticeAt: now });
    }

    for (const sunset of args.overdue) {
      const { sunsetTarget, daysOverdue } = sunset;
      findings.push({ kind: "overdue_sunset", key: sunset.key, detail: withOwner(sunset.key, { sunsetTarget, daysOverdue }) });
      if (!due(rows.get(sunset.key)?.lastSunsetNoticeAt)) continue;
      news.push({ kind: "overdue_sunset", ...sunset });
      change(sunset.key, { lastSunsetNoticeAt: now });
    }

    const unusedAfterMs = args.unusedAfterDays * DAY_MS;
    for (const { key, createdAt, lastExposureAt } of args.usage) {
      const row = rows.get(key);
      const watchedSince = row?.usageWatchedSince ?? now;
      if (row?.usageWatchedSince === undefined) change(key, { usageWatchedSince: now });
      // Unused only after N days of watching a flag at least N days old, with no exposure in them.
      if (now - Math.max(watchedSince, createdAt, lastExposureAt ?? 0) < unusedAfterMs) continue;
      const unused = lastExposureAt !== undefined ? { key, lastExposureAt } : { key };
      findings.push({ kind: "unused", key, detail: withOwner(key, unused) });
      if (!due(row?.lastUnusedNoticeAt)) continue;
      news.push({ kind: "unused", ...unused });
      change(key, { lastUnusedNoticeAt: now });
    }

    const openOf = async (kind: string) => {
      const found = await ctx.db
        .query("governanceFindings")
        .withIndex("by_source_kind_key", (q) => q.eq("source", "releases").eq("kind", kind))
        .filter((q) => q.eq(q.field("resolvedAt"), undefined))
        .collect();
      return new Set(found.map((finding) => finding.key));
    };
    const openOrphans = await openOf("orphan");
    for (const key of args.orphans) if (!openOrphans.has(key)) news.push({ kind: "orphan", key });
    const openViolations = await openOf("naming_violation");
    for (const key of args.namingViolations) if (!openViolations.has(key)) news.push({ kind: "naming_violation", key });

    const digest = buildDigest(news);
    if (!dryRun) {
      for (const [key, fields] of changes) {
        const row = rows.get(key);
        if (row !== undefined) await ctx.db.patch(row._id, fields);
        else await ctx.db.insert("flagLifecycle", { key, ...withoutUndefined(fields) });
      }
      // Queued with the state it reports, so a digest is neither lost nor sent twice.
      if (args.alerts !== undefined) await configureAlerts(ctx, args.alerts);
      if (digestHasNews(digest)) await queueAlerts(ctx, [digestAlert(digest, now)]);
    }
    return { digest, findings };
  },
});

/** One digest a day at most: the dedup key is the UTC date. */
function digestAlert(digest: GovernanceDigest, now: number) {
  const counts = Object.entries(digest)
    .filter(([, list]: [string, unknown[]]) => list.length > 0)
    .map(([name, list]: [string, unknown[]]) => `${name}: ${list.length}`);
  return {
    dedupKey: `digest:${new Date(now).toISOString().slice(0, 10)}`,
    kind: "digest" as const,
    slack: digestSlackMessage(digest),
    event: { kind: "digest" as const, reason: `release tracker digest (${counts.join(", ")})`, detail: digest },
  };
}

function withoutUndefined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
