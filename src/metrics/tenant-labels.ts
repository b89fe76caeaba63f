/**
 * Which tenants get their own `tenant` label value. A fleet of 10,000 tenants must not make
 * 10,000 series per metric, so at most `cap` tenants are labelled and every other one is counted
 * under `other`. Slots go to the busiest tenants (by statements) at scrape time, and a tenant keeps
 * its slot for the life of the process: that keeps every labelled counter, and `other`, monotonic
 * (a tenant leaving the labelled set would make `other` jump and `rate()` see a reset).
 */
export class TenantLabels {
  /** Statements per tenant since start, for ranking (plain numbers: cheap on the statement path). */
  private readonly seen = new Map<string, number>();
  private readonly labelled = new Set<string>();

  constructor(readonly cap: number) {}

  /** Counts a statement of `tenant` and returns the label value to record it under. */
  touch(tenant: string): string {
    this.seen.set(tenant, (this.seen.get(tenant) ?? 0) + 1);
    return this.labelled.has(tenant) ? tenant : 'other';
  }

  /** The label value of a tenant without counting a statement. */
  labelOf(tenant: string): string {
    return this.labelled.has(tenant) ? tenant : 'other';
  }

  /** At scrape time: free slots go to the busiest tenants not yet labelled. Returns the labelled set. */
  promote(): ReadonlySet<string> {
    const free = this.cap - this.labelled.size;
    if (free > 0) {
      const candidates = [...this.seen].filter(([t]) => !this.labelled.has(t));
      candidates.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
      for (const [t] of candidates.slice(0, free)) this.labelled.add(t);
    }
    return this.labelled;
  }

  get size(): number {
    return this.labelled.size;
  }
}
