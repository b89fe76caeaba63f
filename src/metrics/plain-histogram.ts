import type * as client from 'prom-client';

/**
 * Histogram counts kept in a typed array per label value and handed to prom-client only at scrape
 * time: a statement costs a short bucket search and three number writes, where a prom-client
 * histogram child's observe() validates the value and looks the bucket up through label objects.
 */
export class PlainBuckets {
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Adds `count` observations already bucketed like {@link counts} (summing to `sum`). */
  addCounts(c: Float64Array, count: number, sum: number): void {
    const k = this.counts;
    for (let i = 0; i < k.length; i++) k[i]! += c[i] as number;
    this.sum += sum;
    this.count += count;
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

type Series = { labels: Record<string, string>; buckets: PlainBuckets };

/**
 * A Prometheus histogram registered as a custom collector: each series is a PlainBuckets filled on
 * the statement path, read into the exposition format when the registry is scraped.
 */
export class PlainHistogram {
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(readonly name: string, readonly help: string, private readonly labelName: string, readonly bounds: readonly number[], registry: client.Registry) {
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** The buckets of one label value (resolve once and keep the result: this allocates on first use). */
  child(label: string): PlainBuckets {
    let s = this.series.get(label);
    if (!s) {
      s = { labels: { [this.labelName]: label }, buckets: new PlainBuckets(this.bounds) };
      this.series.set(label, s);
    }
    return s.buckets;
  }

  /** prom-client's collector interface (called at scrape time only). */
  get(): { name: string; help: string; type: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[]; aggregator: string } {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const { labels, buckets } of this.series.values()) {
      let cum = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cum += buckets.counts[i]!;
        values.push({ metricName: this.name + '_bucket', labels: { ...labels, le: i < this.bounds.length ? this.bounds[i]! : '+Inf' }, value: cum });
      }
      values.push({ metricName: this.name + '_sum', labels, value: buckets.sum });
      values.push({ metricName: this.name + '_count', labels, value: buckets.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: this.aggregator };
  }

  reset(): void {
    this.series.clear();
  }
}
