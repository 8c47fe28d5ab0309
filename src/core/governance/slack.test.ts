// The Slack bodies, pinned as the exact JSON a webhook receives.
import { expect, test } from "vitest";
import { buildDigest } from "./releaseDigest.js";
import {
  digestSlackMessage,
  enforcementSlackMessage,
  findingSlackMessage,
  guardianSlackMessage,
  posthogFlagUrl,
  type GuardianSlackOptions,
} from "./slack.js";

const url = "https://us.posthog.com/project/7/feature_flags/42";

const regression: GuardianSlackOptions = {
  severity: "critical",
  flagKey: "release_studio_new-editor",
  flagName: "New editor",
  decision: "auto_disabled",
  enforced: true,
  reason: "error rate ratio 3.20x (3.20% vs 1.00%)",
  metrics: { treatmentErrorRate: 0.032, controlErrorRate: 0.01, treatmentPublishSuccessRate: null },
  posthogFlagUrl: url,
};

test("posthogFlagUrl is the flag's page in the app", () => {
  expect(posthogFlagUrl("https://eu.posthog.com/", 7, 42)).toBe("https://eu.posthog.com/project/7/feature_flags/42");
  expect(posthogFlagUrl("https://us.posthog.com", "7", "42")).toBe(url);
});

test("an enforced kill: the toolkit's layout, red, @channel, one button", () => {
  expect(guardianSlackMessage(regression)).toEqual({
    attachments: [
      {
        color: "#DC2626",
        blocks: [
          {
            type: "section",
            text: { type: "mrkdwn", text: "<!channel> :rotating_light: *FLAG AUTO-DISABLED*\n*Flag*: `release_studio_new-editor` — New editor" },
          },
          {
            type: "section",
            fields: [
              { type: "mrkdwn", text: "*Reason*\nerror rate ratio 3.20x (3.20% vs 1.00%)" },
              { type: "mrkdwn", text: "*Decision*\nauto_disabled" },
              { type: "mrkdwn", text: "*Error rate*\nTreatment: 3.20%\nControl: 1.00%" },
              { type: "mrkdwn", text: "*Publish success*\nTreatment: —\nControl: —" },
            ],
          },
          { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open in PostHog" }, url }] },
        ],
      },
    ],
  });
});

test("not enforced: 'dry-run' only for a dry run, 'monitor mode' otherwise, yellow, no @channel", () => {
  const warning = { ...regression, severity: "warning" as const, decision: "regression_detected" as const, enforced: false };
  const headline = (opts: GuardianSlackOptions) => (guardianSlackMessage(opts).attachments[0]!.blocks[0] as { text: { text: string } }).text.text;
  expect(headline({ ...warning, dryRun: true })).toBe(":warning: *Regression detected (dry-run)*\n*Flag*: `release_studio_new-editor` — New editor");
  expect(headline(warning)).toBe(":warning: *Regression detected (monitor mode)*\n*Flag*: `release_studio_new-editor` — New editor");
  expect(headline({ ...warning, dryRun: false })).toContain("(monitor mode)");
  expect(guardianSlackMessage(warning).attachments[0]!.color).toBe("#EAB308");
});

test("a run link adds the second button; text from PostHog cannot ping a channel", () => {
  const message = guardianSlackMessage({ ...regression, flagName: "<!channel> & co", runUrl: "https://dashboard.convex.dev/run/1" });
  const [head, , actions] = message.attachments[0]!.blocks;
  expect(head).toEqual({
    type: "section",
    text: { type: "mrkdwn", text: "<!channel> :rotating_light: *FLAG AUTO-DISABLED*\n*Flag*: `release_studio_new-editor` — &lt;!channel&gt; &amp; co" },
  });
  expect(actions).toEqual({
    type: "actions",
    elements: [
      { type: "button", text: { type: "plain_text", text: "Open in PostHog" }, url },
      { type: "button", text: { type: "plain_text", text: "Open run" }, url: "https://dashboard.convex.dev/run/1" },
    ],
  });
});

test("a refused kill says why, and that the local kill stays", () => {
  const second = (refusal: Parameters<typeof enforcementSlackMessage>[0]["refusal"]) =>
    (enforcementSlackMessage({ flagKey: "k", refusal, posthogFlagUrl: url }).attachments[0]!.blocks[1] as { text: { text: string } }).text.text.split("\n")[0];
  expect(enforcementSlackMessage({ flagKey: "k", flagName: "K", refusal: { kind: "approval_required", changeRequestId: 17 }, posthogFlagUrl: url })).toEqual({
    attachments: [
      {
        color: "#DC2626",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: "<!channel> :no_entry: *PostHog did not disable the flag*\n*Flag*: `k` — K" } },
          {
            type: "section",
            text: {
              type: "mrkdwn",
              text:
                "PostHog requires an approval to disable it: change request 17.\n" +
                "The flag stays off in this app (local kill switch) until the kill is cleared; PostHog still serves it to other clients.",
            },
          },
          { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open in PostHog" }, url }] },
        ],
      },
    ],
  });
  expect(second({ kind: "approval_required" })).toBe("PostHog requires an approval to disable it.");
  expect(second({ kind: "dependants", dependants: ["a", "b"] })).toBe("Other flags depend on it: `a`, `b`.");
  expect(second({ kind: "missing_scope", scope: "feature_flag:write" })).toBe("The admin API key is missing the scope `feature_flag:write`.");
  expect(second({ kind: "failed", error: "HTTP 500" })).toBe("PostHog answered: HTTP 500");
});

test("the digest lists what is in it, sorted, and nothing else", () => {
  const digest = buildDigest([
    { kind: "stale", key: "b", name: "B", daysSinceRelease: 31 },
    { kind: "new_release", key: "z", name: "Z", type: "flag" },
    { kind: "new_release", key: "a", name: "", type: "flag" },
    { kind: "orphan", key: "o" },
    { kind: "unused", key: "u" },
    { kind: "unused", key: "v", lastExposureAt: Date.UTC(2026, 0, 2) },
    { kind: "concluded_experiment", key: "e", name: "Exp", conclusion: "won", rollout: "rolled_back" },
  ]);
  expect(digestSlackMessage(digest)).toEqual({
    attachments: [
      {
        color: "#EAB308",
        blocks: [
          { type: "section", text: { type: "mrkdwn", text: ":clipboard: *Feature flag digest*" } },
          { type: "section", text: { type: "mrkdwn", text: "*New releases* (2)\n• `a`\n• `z` — Z" } },
          { type: "section", text: { type: "mrkdwn", text: "*Stale (released, still in code?)* (1)\n• `b` — B: released 31 days ago" } },
          { type: "section", text: { type: "mrkdwn", text: "*Concluded experiments* (1)\n• `e` — Exp: won, rolled back" } },
          { type: "section", text: { type: "mrkdwn", text: "*Unused* (2)\n• `u`: never seen\n• `v`: last seen 2026-01-02" } },
          { type: "section", text: { type: "mrkdwn", text: "*In PostHog, not in the registry* (1)\n• `o`" } },
        ],
      },
    ],
  });
});

test("a long digest list is cut at 20 items", () => {
  const digest = buildDigest(Array.from({ length: 25 }, (_, i) => ({ kind: "orphan" as const, key: `f${String(i).padStart(2, "0")}` })));
  const text = (digestSlackMessage(digest).attachments[0]!.blocks[1] as { text: { text: string } }).text.text;
  expect(text.split("\n")).toHaveLength(22);
  expect(text).toMatch(/^\*In PostHog, not in the registry\* \(25\)\n• `f00`\n/);
  expect(text.endsWith("• `f19`\n…and 5 more")).toBe(true);
});

test("a finding names its flag or the project", () => {
  expect(findingSlackMessage({ source: "sync", kind: "scope_missing", key: "", summary: "needs experiment:read" })).toEqual({
    attachments: [
      { color: "#EAB308", blocks: [{ type: "section", text: { type: "mrkdwn", text: ":mag: *scope_missing* (sync)\n*Project*\nneeds experiment:read" } }] },
    ],
  });
  expect(findingSlackMessage({ source: "sync", kind: "orphan", key: "x", summary: "not in the registry", posthogFlagUrl: url }).attachments[0]!.blocks).toEqual([
    { type: "section", text: { type: "mrkdwn", text: ":mag: *orphan* (sync)\n*Flag*: `x`\nnot in the registry" } },
    { type: "actions", elements: [{ type: "button", text: { type: "plain_text", text: "Open in PostHog" }, url }] },
  ]);
});
