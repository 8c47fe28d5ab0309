// The release tracker's digest, built from its findings: the toolkit's `DigestPayload` lists,
// plus concluded experiments, overdue sunsets and unused flags. Each list is sorted by key and
// holds a flag once, so the same findings always give the same digest (and the same alert
// dedup key). Pure: no Convex runtime.

import type { ExperimentRollout } from "./experiments.js";
import type { OverdueSunset } from "./release.js";

export interface NewRelease {
  key: string;
  name: string;
  type: "flag" | "experiment";
}

export interface StaleFlagInfo {
  key: string;
  name: string;
  daysSinceRelease: number;
}

export interface OrphanFlag {
  key: string;
}

export interface NamingViolation {
  key: string;
}

/** posthog-flag-toolkit's digest. */
export interface DigestPayload {
  newFlagReleases: NewRelease[];
  newExperimentReleases: NewRelease[];
  staleFlags: StaleFlagInfo[];
  orphans: OrphanFlag[];
  namingViolations: NamingViolation[];
}

export interface ConcludedExperimentInfo {
  key: string;
  name: string;
  conclusion: string | null;
  rollout: ExperimentRollout;
}

export interface UnusedFlag {
  key: string;
  /** Epoch ms of the last exposure this component recorded; absent when it never saw one. */
  lastExposureAt?: number;
}

export interface GovernanceDigest extends DigestPayload {
  concludedExperiments: ConcludedExperimentInfo[];
  overdueSunsets: OverdueSunset[];
  unusedFlags: UnusedFlag[];
}

export type ReleaseFinding =
  | ({ kind: "new_release" } & NewRelease)
  | ({ kind: "stale" } & StaleFlagInfo)
  | ({ kind: "orphan" } & OrphanFlag)
  | ({ kind: "naming_violation" } & NamingViolation)
  | ({ kind: "concluded_experiment" } & ConcludedExperimentInfo)
  | ({ kind: "overdue_sunset" } & OverdueSunset)
  | ({ kind: "unused" } & UnusedFlag);

type FindingOf<K extends ReleaseFinding["kind"]> = Omit<Extract<ReleaseFinding, { kind: K }>, "kind">;

/**
 * The digest of `findings`. A flag released by its experiment's end is listed once, as an
 * experiment release (the toolkit can report it twice); within a list the first finding for a
 * key wins, except that concluded experiments are told apart by name too.
 */
export function buildDigest(findings: readonly ReleaseFinding[]): GovernanceDigest {
  const pick = <K extends ReleaseFinding["kind"]>(kind: K): FindingOf<K>[] =>
    findings.filter((finding): finding is Extract<ReleaseFinding, { kind: K }> => finding.kind === kind).map(withoutKind);

  const releases = pick("new_release");
  const experimentReleases = uniqueByKey(releases.filter((release) => release.type === "experiment"));
  const releasedByExperiment = new Set(experimentReleases.map((release) => release.key));
  return {
    newFlagReleases: uniqueByKey(releases.filter((release) => release.type === "flag" && !releasedByExperiment.has(release.key))),
    newExperimentReleases: experimentReleases,
    staleFlags: uniqueByKey(pick("stale")),
    orphans: uniqueByKey(pick("orphan")),
    namingViolations: uniqueByKey(pick("naming_violation")),
    concludedExperiments: uniqueByKey(pick("concluded_experiment"), (experiment) => `${experiment.key}\u0000${experiment.name}`),
    overdueSunsets: uniqueByKey(pick("overdue_sunset")),
    unusedFlags: uniqueByKey(pick("unused")),
  };
}

/** Whether the digest has anything to say; the toolkit sends no empty digest. */
export function digestHasNews(digest: GovernanceDigest): boolean {
  return Object.values(digest).some((list: unknown[]) => list.length > 0);
}

/** The toolkit's five lists only, for its `onDigestReady` callback. */
export function toToolkitDigest(digest: GovernanceDigest): DigestPayload {
  const { newFlagReleases, newExperimentReleases, staleFlags, orphans, namingViolations } = digest;
  return { newFlagReleases, newExperimentReleases, staleFlags, orphans, namingViolations };
}

function withoutKind<T extends { kind: string }>(finding: T): Omit<T, "kind"> {
  const { kind: _kind, ...rest } = finding;
  return rest;
}

/** The first item of each identity, sorted by identity (code-unit order, the same everywhere). */
function uniqueByKey<T extends { key: string }>(items: readonly T[], identity: (item: T) => string = (item) => item.key): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(identity(item))) seen.set(identity(item), item);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, item]) => item);
}
