// Module-level caches for parsing filter values (regexes, dates, semvers). An isolate evaluates
// the same few definitions over and over, so these hit almost always; the bound only protects
// memory against context values that vary per call.

export class BoundedCache<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(private readonly limit: number) {}

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  set(key: K, value: V): V {
    // Dropping everything is crude but O(1) and keeps the hot entries re-cached within a call.
    if (this.entries.size >= this.limit) this.entries.clear();
    this.entries.set(key, value);
    return value;
  }
}
