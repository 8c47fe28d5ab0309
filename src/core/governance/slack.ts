// Slack incoming-webhook bodies (Block Kit) for governance alerts. The guardian's message keeps
// posthog-flag-toolkit's layout (an attachment with a colour bar: a headline section, a section
// of four fields, a row of buttons); the others follow it. Pure: the alert outbox sends them.
import { fmtPct } from "./guardian.js";
import type { GovernanceDigest } from "./releaseDigest.js";

export const CRITICAL_COLOR = "#DC2626";
export const WARNING_COLOR = "#EAB308";

/** The rates shown in a guardian alert; absent or null shows as "—". */
export interface GuardianAlertMetrics {
  treatmentErrorRate?: number | null;
  controlErrorRate?: number | null;
  treatmentPublishSuccessRate?: number | null;
  controlPublishSuccessRate?: number | null;
}

/** The toolkit's GuardianAlertOptions, plus `dryRun` and a run link that is not Inngest's. */
export interface GuardianSlackOptions {
  severity: "warning" | "critical";
  flagKey: string;
  flagName: string;
  decision: "regression_detected" | "auto_disabled";
  /** The flag was turned off. */
  enforced: boolean;
  /** The run was a dry run. Without it, a regression that was not enforced was only monitored. */
  dryRun?: boolean;
  reason: string;
  metrics: GuardianAlertMetrics;
  posthogFlagUrl: string;
  /** A link to the run that decided: a second button, only when given. */
  runUrl?: string;
  /** The second button's text (default "Open run"; the toolkit's was "Inngest run"). */
  runLabel?: string;
}

/** A Slack message body: what is POSTed as JSON to the webhook. */
export interface SlackMessage {
  attachments: Array<{ color: string; blocks: SlackBlock[] }>;
}

export type SlackBlock =
  | { type: "section"; text: SlackText }
  | { type: "section"; fields: SlackText[] }
  | { type: "actions"; elements: SlackButton[] };

export interface SlackText {
  type: "mrkdwn";
  text: string;
}

export interface SlackButton {
  type: "button";
  text: { type: "plain_text"; text: string };
  url: string;
}

/** The flag's page in PostHog's app. */
export function posthogFlagUrl(appHost: string, projectId: string | number, flagId: string | number): string {
  return `${appHost.replace(/\/+$/, "")}/project/${projectId}/feature_flags/${flagId}`;
}

/**
 * The guardian's alert. Enforced: `<!channel>` and "FLAG AUTO-DISABLED". Otherwise a warning
 * that says "dry-run" only for a real dry run (the toolkit said it for every unenforced
 * regression) and "monitor mode" for a flag the guardian only watches.
 */
export function guardianSlackMessage(opts: GuardianSlackOptions): SlackMessage {
  const headline = opts.enforced
    ? "<!channel> :rotating_light: *FLAG AUTO-DISABLED*"
    : `:warning: *Regression detected (${opts.dryRun ? "dry-run" : "monitor mode"})*`;
  const { metrics } = opts;
  const buttons = [button("Open in PostHog", opts.posthogFlagUrl)];
  if (opts.runUrl) buttons.push(button(opts.runLabel ?? "Open run", opts.runUrl));
  return message(opts.severity === "critical" ? CRITICAL_COLOR : WARNING_COLOR, [
    section(`${headline}\n${flagLine(opts.flagKey, opts.flagName)}`),
    {
      type: "section",
      fields: [
        mrkdwn(`*Reason*\n${escape(opts.reason)}`),
        mrkdwn(`*Decision*\n${opts.decision}`),
        mrkdwn(`*Error rate*\nTreatment: ${fmtPct(metrics.treatmentErrorRate)}\nControl: ${fmtPct(metrics.controlErrorRate)}`),
        mrkdwn(
          `*Publish success*\nTreatment: ${fmtPct(metrics.treatmentPublishSuccessRate)}\nControl: ${fmtPct(metrics.controlPublishSuccessRate)}`,
        ),
      ],
    },
    { type: "actions", elements: buttons },
  ]);
}

/** Why PostHog did not turn a flag off that the guardian disabled. */
export type EnforcementRefusal =
  /** An approval policy covers disabling: a change request was opened (or already was). */
  | { kind: "approval_required"; changeRequestId?: string | number }
  /** Other active flags depend on it. */
  | { kind: "dependants"; dependants: string[] }
  /** The admin API key lacks a scope. */
  | { kind: "missing_scope"; scope: string }
  /** Anything else PostHog answered. */
  | { kind: "failed"; error: string };

export interface EnforcementSlackOptions {
  flagKey: string;
  flagName?: string;
  refusal: EnforcementRefusal;
  posthogFlagUrl: string;
}

/** A kill PostHog refused. The local kill stays, so the app is safe; PostHog still serves the flag. */
export function enforcementSlackMessage(opts: EnforcementSlackOptions): SlackMessage {
  const { refusal } = opts;
  const why =
    refusal.kind === "approval_required"
      ? `PostHog requires an approval to disable it${refusal.changeRequestId !== undefined ? `: change request ${escape(String(refusal.changeRequestId))}` : ""}.`
      : refusal.kind === "dependants"
        ? `Other flags depend on it: ${refusal.dependants.map((key) => `\`${escape(key)}\``).join(", ")}.`
        : refusal.kind === "missing_scope"
          ? `The admin API key is missing the scope \`${escape(refusal.scope)}\`.`
          : `PostHog answered: ${escape(refusal.error)}`;
  return message(CRITICAL_COLOR, [
    section(`<!channel> :no_entry: *PostHog did not disable the flag*\n${flagLine(opts.flagKey, opts.flagName ?? "")}`),
    section(`${why}\nThe flag stays off in this app (local kill switch) until the kill is cleared; PostHog still serves it to other clients.`),
    { type: "actions", elements: [button("Open in PostHog", opts.posthogFlagUrl)] },
  ]);
}

/** Items listed per digest section before "…and N more" (a section holds 3,000 characters). */
const DIGEST_LIST_LIMIT = 20;

/** The release tracker's digest: one section per list that has anything in it. */
export function digestSlackMessage(digest: GovernanceDigest, opts: { title?: string } = {}): SlackMessage {
  const days = (n: number) => `${n} day${n === 1 ? "" : "s"}`;
  const lists: Array<[string, string[]]> = [
    ["New releases", digest.newFlagReleases.map((f) => flagItem(f.key, f.name))],
    ["Released by an experiment", digest.newExperimentReleases.map((f) => flagItem(f.key, f.name))],
    ["Stale (released, still in code?)", digest.staleFlags.map((f) => `${flagItem(f.key, f.name)}: released ${days(f.daysSinceRelease)} ago`)],
    [
      "Concluded experiments",
      digest.concludedExperiments.map((e) => `${flagItem(e.key, e.name)}: ${escape(e.conclusion ?? "no conclusion")}, ${e.rollout.replace("_", " ")}`),
    ],
    ["Past their sunset date", digest.overdueSunsets.map((f) => `\`${escape(f.key)}\`: due ${escape(f.sunsetTarget)}, ${days(f.daysOverdue)} overdue`)],
    [
      "Unused",
      digest.unusedFlags.map((f) =>
        f.lastExposureAt === undefined ? `\`${escape(f.key)}\`: never seen` : `\`${escape(f.key)}\`: last seen ${new Date(f.lastExposureAt).toISOString().slice(0, 10)}`,
      ),
    ],
    ["In PostHog, not in the registry", digest.orphans.map((f) => `\`${escape(f.key)}\``)],
    ["Naming violations", digest.namingViolations.map((f) => `\`${escape(f.key)}\``)],
  ];
  const blocks: SlackBlock[] = [section(`:clipboard: *${escape(opts.title ?? "Feature flag digest")}*`)];
  for (const [title, items] of lists) {
    if (items.length === 0) continue;
    const shown = items.slice(0, DIGEST_LIST_LIMIT).map((item) => `• ${item}`);
    if (items.length > DIGEST_LIST_LIMIT) shown.push(`…and ${items.length - DIGEST_LIST_LIMIT} more`);
    blocks.push(section(`*${title}* (${items.length})\n${shown.join("\n")}`));
  }
  return message(WARNING_COLOR, blocks);
}

export interface FindingSlackOptions {
  /** Which tool found it: "sync", "releases", "guardian". */
  source: string;
  /** What it is: "orphan", "scope_missing", ... */
  kind: string;
  /** The flag, or "" for the project. */
  key: string;
  /** One line for a person. */
  summary: string;
  posthogFlagUrl?: string;
}

/** One governance finding that needs a person. */
export function findingSlackMessage(opts: FindingSlackOptions): SlackMessage {
  const subject = opts.key === "" ? "*Project*" : `*Flag*: \`${escape(opts.key)}\``;
  const blocks: SlackBlock[] = [
    section(`:mag: *${escape(opts.kind)}* (${escape(opts.source)})\n${subject}\n${escape(opts.summary)}`),
  ];
  if (opts.posthogFlagUrl) blocks.push({ type: "actions", elements: [button("Open in PostHog", opts.posthogFlagUrl)] });
  return message(WARNING_COLOR, blocks);
}

function message(color: string, blocks: SlackBlock[]): SlackMessage {
  return { attachments: [{ color, blocks }] };
}

function section(text: string): SlackBlock {
  return { type: "section", text: mrkdwn(text) };
}

function mrkdwn(text: string): SlackText {
  return { type: "mrkdwn", text };
}

function button(text: string, url: string): SlackButton {
  return { type: "button", text: { type: "plain_text", text }, url };
}

/** The toolkit's flag line; the name is left out when there is none. */
function flagLine(key: string, name: string): string {
  return `*Flag*: ${flagItem(key, name)}`;
}

function flagItem(key: string, name: string): string {
  return name === "" || name === key ? `\`${escape(key)}\`` : `\`${escape(key)}\` — ${escape(name)}`;
}

/**
 * Slack reads `&`, `<` and `>` as markup (`<!channel>`, links): text from PostHog or the app
 * is escaped so a flag name cannot ping a channel. (The toolkit sent it as it was.)
 */
function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
