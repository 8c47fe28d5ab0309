// A Convex client for React tests whose queries and mutations run the real functions in
// convex-test. `<ConvexProvider client={...}>` accepts it: useQuery asks it for
// `watchQuery(query, args)` (then `localQueryResult()` on every render and `onUpdate(cb)` to
// subscribe) and useMutation calls its `mutation(ref, args)`.
//
// convex-test has no subscriptions, so reactivity is approximated the way a deployment behaves
// from the browser's side: every watched query runs again after each mutation or action sent
// through this client, and on demand (`refresh()`, after changing data some other way, for
// example a refresh of the flag definitions). Subscribers hear of a query only when its answer
// changed.
import type { FunctionReference } from "convex/server";
import { getFunctionName } from "convex/server";
import { convexToJson, type Value } from "convex/values";

/** What the client needs from a convex-test instance (`initTestApp()` or `t.withIdentity(...)`). */
export interface ConvexTestRunner {
  query(query: FunctionReference<"query", any>, args?: any): Promise<any>;
  mutation(mutation: FunctionReference<"mutation", any>, args?: any): Promise<any>;
  action(action: FunctionReference<"action", any>, args?: any): Promise<any>;
}

interface WatchedQuery {
  query: FunctionReference<"query", any>;
  args: Record<string, Value>;
  listeners: Set<() => void>;
  /** The last answer as JSON text, to tell a change from a re-run with the same answer. */
  answerJson?: string;
  answer?: unknown;
  error?: Error;
  /** Counts runs, so a slower earlier run never overwrites a later one. */
  runs: number;
}

/** One call this client sent to the backend, for tests that count what the hooks sent. */
export interface SentCall {
  kind: "query" | "mutation" | "action";
  name: string;
  args: Record<string, Value>;
}

export class ConvexTestReactClient {
  private readonly watched = new Map<string, WatchedQuery>();
  /** Every query run, mutation and action, in order. */
  readonly sent: SentCall[] = [];

  constructor(private readonly backend: ConvexTestRunner) {}

  watchQuery(query: FunctionReference<"query", any>, args: Record<string, Value> = {}) {
    const id = `${getFunctionName(query)}:${JSON.stringify(convexToJson(args))}`;
    return {
      onUpdate: (callback: () => void) => {
        let entry = this.watched.get(id);
        if (entry === undefined) {
          entry = { query, args, listeners: new Set(), runs: 0 };
          this.watched.set(id, entry);
          void this.run(entry);
        }
        entry.listeners.add(callback);
        const subscribed = entry;
        return () => {
          subscribed.listeners.delete(callback);
          if (subscribed.listeners.size === 0 && this.watched.get(id) === subscribed) this.watched.delete(id);
        };
      },
      localQueryResult: (): unknown => {
        const entry = this.watched.get(id);
        if (entry?.error) throw entry.error;
        return entry?.answer;
      },
      journal: () => undefined,
    };
  }

  async query(query: FunctionReference<"query", any>, args: Record<string, Value> = {}): Promise<unknown> {
    this.sent.push({ kind: "query", name: getFunctionName(query), args });
    return await this.backend.query(query, args);
  }

  async mutation(mutation: FunctionReference<"mutation", any>, args: Record<string, Value> = {}): Promise<unknown> {
    this.sent.push({ kind: "mutation", name: getFunctionName(mutation), args });
    try {
      return await this.backend.mutation(mutation, args);
    } finally {
      await this.refresh();
    }
  }

  async action(action: FunctionReference<"action", any>, args: Record<string, Value> = {}): Promise<unknown> {
    this.sent.push({ kind: "action", name: getFunctionName(action), args });
    try {
      return await this.backend.action(action, args);
    } finally {
      await this.refresh();
    }
  }

  /** Runs every watched query again and notifies the subscribers of those whose answer changed. */
  async refresh(): Promise<void> {
    await Promise.all([...this.watched.values()].map((entry) => this.run(entry)));
  }

  /** The calls sent to a function, by name ("posthogApi:reportExposure"). */
  callsTo(name: string): SentCall[] {
    return this.sent.filter((call) => call.name === name);
  }

  async close(): Promise<void> {
    this.watched.clear();
  }

  private async run(entry: WatchedQuery): Promise<void> {
    const run = ++entry.runs;
    let answer: unknown;
    let error: Error | undefined;
    try {
      this.sent.push({ kind: "query", name: getFunctionName(entry.query), args: entry.args });
      answer = await this.backend.query(entry.query, entry.args);
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
    }
    if (run !== entry.runs) return;
    const answerJson = error ? undefined : answer === undefined ? "undefined" : JSON.stringify(convexToJson(answer as Value));
    if (!error && !entry.error && answerJson === entry.answerJson) return;
    entry.answer = answer;
    entry.answerJson = answerJson;
    entry.error = error;
    for (const listener of [...entry.listeners]) listener();
  }
}
