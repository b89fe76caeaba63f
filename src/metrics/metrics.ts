import * as client from 'prom-client';

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
  /**
   * Per-command counts for the hot path: a plain field increment per statement (a prom-client child's
   * inc() does value checks and a keyed lookup), copied into tenantgate_commands_total at scrape time.
   */
  readonly cmdQuery = new PlainCount();
  readonly cmdExecute = new PlainCount();
  readonly cmdOther = new PlainCount();
  /** Unexpected throws caught on a session's path or by the process safety net: each one is a bug to look at. */
  readonly internalErrors: client.Counter<'where'>;

  constructor(collectors: {
    sessions: () => number;
    backends: () => { name: string; open: number; idle: number; inUse: number; pending: number }[];
    /** Tenant identity on borrowed backend connections (counts since start). */
    identity?: () => { hits: number; switches: number; switchMs: number };
  }) {
    const registers = [this.registry];
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
    const pool = (name: string, help: string, pick: (b: { open: number; idle: number; inUse: number; pending: number }) => number) =>
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
  }
}

/** A monotonic count kept as a plain number (exported through a prom-client collect()). */
export class PlainCount {
  n = 0;

  inc(): void {
    this.n++;
  }
}
