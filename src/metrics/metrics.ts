import * as client from 'prom-client';
import { TenantLabels } from './tenant-labels';
import { PlainBuckets, PlainHistogram } from './plain-histogram';

/** Latency buckets (seconds): sub-millisecond relays up to multi-second reports. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Per-tenant figures of one label value as plain numbers, resolved once per label and copied into
 * prom-client at scrape time (no label hashing or value checks per statement).
 */
interface TenantChildren {
  statements: number;
  errors: number;
  duration: PlainBuckets;
  bytesIn: number;
  bytesOut: number;
}

/**
 * Every metric tenantgate exports, defined in one place. Labels are bounded: command names and
 * backend names from the config, never SQL text or client-supplied values. Gauges that describe
 * pools and sessions are computed at scrape time, so the statement path only bumps counters.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly logins: client.Counter<'result'>;
  readonly commands: client.Counter<'command'>;
  readonly errors: client.Counter<'kind'>;
  /** Sessions pinned because the server reported a state change the proxy did not expect (see session/state-change.ts). */
  readonly serverStatePins: client.Counter;
  /**
   * Per-command counts for the hot path: a plain field increment per statement (a prom-client child's
   * inc() does value checks and a keyed lookup), copied into tenantgate_commands_total at scrape time.
   */
  readonly cmdQuery = new PlainCount();
  readonly cmdExecute = new PlainCount();
  readonly cmdOther = new PlainCount();
  /** Unexpected throws caught on a session's path or by the process safety net: each one is a bug to look at. */
  readonly internalErrors: client.Counter<'where'>;
  readonly statementDuration: PlainHistogram;
  /** Buckets bound once per command (plain typed arrays, exported at scrape time). */
  private readonly durationBy: Record<'query' | 'stmt_execute' | 'other', PlainBuckets>;
  readonly statementErrors: client.Counter<'sqlstate_class'>;
  /** Client bytes counted per statement as plain numbers (exported at scrape time). */
  bytesInN = 0;
  bytesOutN = 0;
  readonly reloads: client.Counter<'result'>;
  readonly connectFailures: client.Counter<'backend'>;
  readonly acquireWait: client.Histogram<'backend'>;
  readonly slowQueries: client.Counter;
  /** Which tenants have their own label (see TenantLabels); replaced when the cap changes. */
  tenantLabels: TenantLabels;
  private readonly tenantStatements: client.Counter<'tenant'>;
  private readonly tenantErrors: client.Counter<'tenant'>;
  private readonly tenantDuration: PlainHistogram;
  private readonly tenantChildren = new Map<string, TenantChildren>();

  constructor(collectors: {
    sessions: () => number;
    backends: () => { name: string; open: number; idle: number; inUse: number; pending: number; drained?: boolean }[];
    /** Tenant identity on borrowed backend connections (counts since start). */
    identity?: () => { hits: number; switches: number; switchMs: number };
    /** Open sessions per tenant (user's tenant; '' for none). */
    tenantSessions?: () => Map<string, number>;
    configVersion?: () => number;
    version?: string;
    tenantLabelCap?: number;
  }) {
    const registers = [this.registry];
    // Counters kept elsewhere (the fast lane's) are folded in before the registry is read.
    const read = this.registry.metrics.bind(this.registry);
    this.registry.metrics = () => {
      this.beforeScrape?.();
      return read();
    };
    client.collectDefaultMetrics({ register: this.registry, prefix: 'tenantgate_' });
    this.logins = new client.Counter({ name: 'tenantgate_logins_total', help: 'Client logins by result', labelNames: ['result'], registers });
    const counts: [string, PlainCount][] = [['query', this.cmdQuery], ['stmt_execute', this.cmdExecute], ['other', this.cmdOther]];
    this.commands = new client.Counter({
      name: 'tenantgate_commands_total', help: 'Client commands by protocol command', labelNames: ['command'], registers,
      collect() {
        this.reset();
        for (const [label, c] of counts) this.inc({ command: label }, c.n);
      },
    });
    this.errors = new client.Counter({ name: 'tenantgate_proxy_errors_total', help: 'Errors raised by the proxy itself (not relayed server errors)', labelNames: ['kind'], registers });
    this.serverStatePins = new client.Counter({
      name: 'tenantgate_server_state_pins_total', registers,
      help: 'Sessions pinned to their backend connection because the server reported a session state change (user variables, temporary tables) that stored code made and the statement does not explain',
    });
    this.internalErrors = new client.Counter({
      name: 'tenantgate_internal_errors_total',
      help: 'Unexpected errors that ended one session (where: code path; uncaught_exception/unhandled_rejection: caught by the process safety net)',
      labelNames: ['where'], registers,
    });
    new client.Gauge({
      name: 'tenantgate_client_sessions', help: 'Open client sessions', registers,
      collect() {
        this.set(collectors.sessions());
      },
    });
    const pool = (name: string, help: string, pick: (b: { open: number; idle: number; inUse: number; pending: number; drained?: boolean }) => number) =>
      new client.Gauge({
        name, help, labelNames: ['backend'], registers,
        collect() {
          this.reset();
          for (const b of collectors.backends()) this.set({ backend: b.name }, pick(b));
        },
      });
    const identity = collectors.identity;
    if (identity) {
      const counter = (name: string, help: string, pick: (v: { hits: number; switches: number; switchMs: number }) => number) =>
        new client.Counter({
          name, help, registers,
          collect() {
            this.reset();
            this.inc(pick(identity()));
          },
        });
      counter('tenantgate_identity_hits_total', 'Tenant statements on a borrowed backend connection already logged in as the tenant account', (v) => v.hits);
      counter('tenantgate_identity_switches_total', 'COM_CHANGE_USER switches of borrowed backend connections to a tenant account', (v) => v.switches);
      counter('tenantgate_identity_switch_seconds_total', 'Time spent in those switches (including re-initialisation)', (v) => v.switchMs / 1000);
    }
    pool('tenantgate_backend_connections_open', 'Open backend connections', (b) => b.open);
    pool('tenantgate_backend_connections_idle', 'Idle pooled backend connections', (b) => b.idle);
    pool('tenantgate_backend_connections_in_use', 'Backend connections serving or pinned to a session', (b) => b.inUse);
    pool('tenantgate_backend_acquire_waiting', 'Statements waiting for a backend connection', (b) => b.pending);
    pool('tenantgate_backend_drained', '1 while an operator has drained the backend (no new statements)', (b) => (b.drained ? 1 : 0));

    this.statementDuration = new PlainHistogram('tenantgate_statement_duration_seconds', 'Client statement latency, command arrival to last response packet', 'command', LATENCY_BUCKETS, this.registry);
    this.durationBy = {
      query: this.statementDuration.child('query'),
      stmt_execute: this.statementDuration.child('stmt_execute'),
      other: this.statementDuration.child('other'),
    };
    this.statementErrors = new client.Counter({ name: 'tenantgate_statement_errors_total', help: 'Statements answered with ERR, by SQLSTATE class (42 = syntax/access, 23 = constraint, 40 = rollback, HY = general, 08 = connection)', labelNames: ['sqlstate_class'], registers });
    const self = this;
    new client.Counter({
      name: 'tenantgate_client_received_bytes_total', help: 'Bytes received from clients (counted per statement)', registers,
      collect() {
        this.reset();
        this.inc(self.bytesInN);
      },
    });
    new client.Counter({
      name: 'tenantgate_client_sent_bytes_total', help: 'Bytes sent to clients (counted per statement)', registers,
      collect() {
        this.reset();
        this.inc(self.bytesOutN);
      },
    });
    this.reloads = new client.Counter({ name: 'tenantgate_config_reloads_total', help: 'Config reloads by result (applied, unchanged, refused)', labelNames: ['result'], registers });
    this.connectFailures = new client.Counter({ name: 'tenantgate_backend_connect_failures_total', help: 'Failed backend connection attempts', labelNames: ['backend'], registers });
    this.acquireWait = new client.Histogram({
      name: 'tenantgate_backend_acquire_wait_seconds', help: 'Wait for a backend connection when none was idle (queued acquires only)', labelNames: ['backend'], buckets: LATENCY_BUCKETS, registers,
    });
    this.slowQueries = new client.Counter({ name: 'tenantgate_slow_queries_total', help: 'Statements over digests.slow_query_ms', registers });
    const cfgVersion = collectors.configVersion;
    new client.Gauge({
      name: 'tenantgate_config_version', help: 'Version of the running config snapshot', registers,
      collect() {
        if (cfgVersion) this.set(cfgVersion());
      },
    });
    new client.Gauge({ name: 'tenantgate_build_info', help: 'Build information (value 1)', labelNames: ['version', 'node'], registers }).set({ version: collectors.version ?? 'unknown', node: process.version }, 1);

    new client.Gauge({
      name: 'tenantgate_fast_lane_sessions', help: 'Client sessions whose statements the native fast lane relays now', registers,
      collect() {
        this.set(self.laneStats ? self.laneStats().attached : 0);
      },
    });
    new client.Counter({
      name: 'tenantgate_fast_lane_statements_total', help: 'Statements relayed by the native fast lane (without the JS path)', registers,
      collect() {
        this.reset();
        this.inc(self.laneStats ? self.laneStats().statements : 0);
      },
    });
    new client.Counter({
      name: 'tenantgate_fast_lane_ejects_total', help: 'Sessions the fast lane gave back to the JS path, by reason', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        if (!self.laneStats) return;
        for (const [reason, n] of self.laneStats().ejects) if (n > 0) this.inc({ reason }, n);
      },
    });

    this.tenantLabels = new TenantLabels(collectors.tenantLabelCap ?? 100);
    // Copied from the plain per-tenant figures at scrape time.
    const perTenant = (name: string, help: string, pick: (c: TenantChildren) => number) =>
      new client.Counter({
        name, help, labelNames: ['tenant'], registers,
        collect() {
          this.reset();
          for (const [label, c] of self.tenantChildren) this.inc({ tenant: label }, pick(c));
        },
      });
    this.tenantStatements = perTenant('tenantgate_tenant_statements_total', 'Statements per tenant (the busiest tenants by label, the rest as tenant="other")', (c) => c.statements);
    this.tenantErrors = perTenant('tenantgate_tenant_errors_total', 'Statements answered with ERR per tenant (capped labels)', (c) => c.errors);
    this.tenantDuration = new PlainHistogram('tenantgate_tenant_statement_duration_seconds', 'Statement latency per tenant (capped labels)', 'tenant', LATENCY_BUCKETS, this.registry);
    perTenant('tenantgate_tenant_received_bytes_total', 'Bytes received from clients per tenant (capped labels)', (c) => c.bytesIn);
    perTenant('tenantgate_tenant_sent_bytes_total', 'Bytes sent to clients per tenant (capped labels)', (c) => c.bytesOut);
    const tenantSessions = collectors.tenantSessions;
    new client.Gauge({
      name: 'tenantgate_tenant_sessions', help: 'Open client sessions per tenant (capped labels)', labelNames: ['tenant'], registers,
      collect() {
        // Scrape time is when label slots are handed out (see TenantLabels).
        self.tenantLabels.promote();
        this.reset();
        if (!tenantSessions) return;
        const out = new Map<string, number>();
        for (const [t, n] of tenantSessions()) {
          if (t === '') continue;
          const l = self.tenantLabels.labelOf(t);
          out.set(l, (out.get(l) ?? 0) + n);
        }
        for (const [l, n] of out) this.set({ tenant: l }, n);
      },
    });
  }

  /** Called before the registry is read (the fast lane folds its counters in). */
  beforeScrape: (() => void) | null = null;
  /** The fast lane's figures (null: off). */
  laneStats: (() => { attached: number; statements: number; ejects: [string, number][] }) | null = null;

  /**
   * Records `count` statements a fast lane relayed (lane-manager.ts fold): `buckets` holds their
   * counts per latency bucket (as PlainBuckets.counts), `seconds` their total duration.
   */
  recordLaneBatch(command: 'query' | 'stmt_execute', tenant: string | null, count: number, seconds: number, buckets: Float64Array, bytesIn: number, bytesOut: number): void {
    this.durationBy[command].addCounts(buckets, count, seconds);
    (command === 'query' ? this.cmdQuery : this.cmdExecute).n += count;
    this.bytesInN += bytesIn;
    this.bytesOutN += bytesOut;
    if (tenant === null) return;
    const label = this.tenantLabels.touch(tenant);
    let c = this.tenantChildren.get(label);
    if (!c) {
      c = { statements: 0, errors: 0, duration: this.tenantDuration.child(label), bytesIn: 0, bytesOut: 0 };
      this.tenantChildren.set(label, c);
    }
    c.statements += count;
    c.duration.addCounts(buckets, count, seconds);
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
  }

  /** Records one finished statement (called once per statement, at its end): plain field updates only. */
  recordStatement(command: 'query' | 'stmt_execute' | 'other', tenant: string | null, seconds: number, bytesIn: number, bytesOut: number, errClass: string): void {
    this.durationBy[command].observe(seconds);
    this.bytesInN += bytesIn;
    this.bytesOutN += bytesOut;
    if (errClass !== '') this.statementErrors.inc({ sqlstate_class: errClass });
    // Per tenant, statements are queries and executes (not prepare, ping, close, ...).
    if (tenant === null || command === 'other') return;
    const label = this.tenantLabels.touch(tenant);
    let c = this.tenantChildren.get(label);
    if (!c) {
      c = { statements: 0, errors: 0, duration: this.tenantDuration.child(label), bytesIn: 0, bytesOut: 0 };
      this.tenantChildren.set(label, c);
    }
    c.statements++;
    if (errClass !== '') c.errors++;
    c.duration.observe(seconds);
    c.bytesIn += bytesIn;
    c.bytesOut += bytesOut;
  }
}

/** A monotonic count kept as a plain number (exported through a prom-client collect()). */
export class PlainCount {
  n = 0;

  inc(): void {
    this.n++;
  }
}
