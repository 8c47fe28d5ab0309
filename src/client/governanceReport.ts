// flagGovernance: the governance report as one reactive read for a dashboard: open findings,
// the release tracker's lifecycle rows, the guardian's state, killed flags, each tool's last
// run and the alert outbox. The component stores details as JSON text; they arrive parsed.
import type { ClientConfig } from "./config.js";
import { parseDetail, type GovernanceFinding } from "./flagSync.js";
import type { RunQueryCtx } from "./types.js";

export type GovernanceTool = "sync" | "releases" | "guardian";

export interface GovernanceReport {
  /** Open findings (at most 500: `findingsTruncated` says when there are more). */
  findings: (GovernanceFinding & { source: GovernanceTool; since: number; lastSeenAt: number })[];
  findingsTruncated: boolean;
  /** The release tracker's memory per flag; `releasedValue` is the value everyone gets. */
  lifecycle: {
    key: string;
    posthogId?: number;
    releasedAt?: number;
    releasedValue?: unknown;
    releaseKind?: "flag" | "experiment";
    experimentId?: number;
    experimentConclusion?: string;
    lastStaleNoticeAt?: number;
    lastSunsetNoticeAt?: number;
    lastUnusedNoticeAt?: number;
  }[];
  /** The guardian's state per watched flag: its last decision and metrics, cooldown, enforcement. */
  guardian: {
    key: string;
    mode: "monitor" | "enforce";
    lastEvaluatedAt?: number;
    lastDecision?: string;
    lastReason?: string;
    lastMetrics?: unknown;
    cooldownUntil?: number;
    enforcement?: string;
    enforcementDetail?: string;
    killedAt?: number;
    killReason?: string;
  }[];
  /** Flags killed in Convex (false in every read until cleared). */
  killed: { key: string; reason?: string; at: number }[];
  /** The last run of each tool that has run; `result` is the run's result object. */
  lastRuns: Partial<Record<GovernanceTool, GovernanceRun>>;
  /** Alerts waiting to be delivered, and alerts given up on (counted up to 500). */
  alerts: { pending: { count: number; truncated: boolean }; dead: { count: number; truncated: boolean } };
}

export interface GovernanceRun {
  startedAt: number;
  finishedAt?: number;
  status: string;
  dryRun?: boolean;
  result?: unknown;
  error?: string;
}

export async function flagGovernance(config: ClientConfig, ctx: RunQueryCtx): Promise<GovernanceReport> {
  const report = await ctx.runQuery(config.component.governance.report.get, {});
  const lastRuns: Partial<Record<GovernanceTool, GovernanceRun>> = {};
  for (const { tool, result, ...run } of report.lastRuns) lastRuns[tool] = { ...run, ...(result !== undefined ? { result: parseDetail(result) } : {}) };
  return {
    findings: report.findings.map(({ source, kind, key, detail, firstSeenAt, lastSeenAt }) => ({
      source,
      kind,
      key,
      detail: parseDetail(detail),
      since: firstSeenAt,
      lastSeenAt,
    })),
    findingsTruncated: report.findingsTruncated,
    lifecycle: report.lifecycle.map(({ releasedValue, ...row }) => ({ ...row, ...(releasedValue !== undefined ? { releasedValue: parseDetail(releasedValue) } : {}) })),
    guardian: report.guardian.map(({ lastMetrics, ...row }) => ({ ...row, ...(lastMetrics !== undefined ? { lastMetrics: parseDetail(lastMetrics) } : {}) })),
    killed: report.killed,
    lastRuns,
    alerts: report.alerts,
  };
}
