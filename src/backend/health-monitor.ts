/**
 * Probes one backend on its own dedicated connection (never a pooled one, so an exhausted pool
 * cannot make a healthy server look dead, and probes never queue behind client statements).
 * Each probe: connect if needed, COM_PING, one SELECT of read_only and the GTID positions, and
 * `SHOW ALL SLAVES STATUS`. It produces a plain {@link HealthSample}; judging it is
 * `nextHealth`'s job. Every probe is bounded by one deadline, so nothing here can hang.
 */
import { Com, DEFAULT_COLLATION_ID } from '../protocol/constants';
import { BackendConnection, BackendQueryError } from './backend-connection';
import type { InternalResult } from './internal-exchange';
import type { HealthSample, ReplicationChannel } from './health-state';

/**
 * A backend as the monitor needs it; structurally the config's `BackendConfig`, so either that or
 * a copy with the monitor's own credentials can be passed.
 */
export interface MonitoredBackend {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly connectTimeoutMs: number;
}

/** Probe options (`monitor.*` in config). */
export interface MonitorOptions {
  /** Bound of one whole probe, connect included (`monitor.timeout_ms`). */
  readonly timeoutMs: number;
  /**
   * Account to probe with (`monitor.user`/`monitor.password`); defaults to the backend's. It needs
   * no table privileges, but `SHOW ALL SLAVES STATUS` needs `SLAVE MONITOR` (MariaDB ≥ 10.5.9) or
   * `REPLICATION CLIENT`/`SUPER` on older servers; without it a replica is reported as `stopped`
   * with the server's error as the reason.
   */
  readonly user?: string;
  readonly password?: string;
}

/**
 * Receives each sample and answers the delay (ms) before the next probe, so the policy that
 * judged the sample (backoff while down) also paces the probes.
 */
export type SampleListener = (sample: HealthSample) => number;

const STATE_SQL = 'SELECT @@global.read_only, @@global.gtid_current_pos, @@global.gtid_binlog_pos, @@global.gtid_slave_pos';
const ER_PARSE_ERROR = 1064;
const ER_SPECIFIC_ACCESS_DENIED = 1227;

/** The probe loop of one backend. */
export class HealthMonitor {
  private conn: BackendConnection | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private probing = false;
  /** At most one early probe on a dropped connection between two regular ones: no reconnect loop. */
  private earlyProbeUsed = false;
  private lastReachable = false;
  private slaveStatusSql = 'SHOW ALL SLAVES STATUS';

  constructor(
    readonly backend: MonitoredBackend,
    private readonly opts: MonitorOptions,
    private readonly onSample: SampleListener,
  ) {}

  /** Starts probing at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0, 'interval');
  }

  /** Stops probing and closes the monitor's connection. */
  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.conn;
    this.conn = null;
    if (c) c.quit();
  }

  private schedule(delayMs: number, trigger: HealthSample['trigger']): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runProbe(trigger);
    }, delayMs);
    // A monitor alone must not keep the process alive.
    this.timer.unref();
  }

  private async runProbe(trigger: HealthSample['trigger']): Promise<void> {
    if (!this.running || this.probing) return;
    this.probing = true;
    if (trigger === 'interval') this.earlyProbeUsed = false;
    let sample: HealthSample;
    try {
      sample = await this.probe(trigger);
    } finally {
      this.probing = false;
    }
    if (!this.running) return;
    this.lastReachable = sample.reachable;
    let delay: number;
    try {
      delay = this.onSample(sample);
    } catch {
      delay = this.opts.timeoutMs;
    }
    // setTimeout treats NaN and anything above 2^31-1 ms as 1 ms: that would be hammering.
    this.schedule(Number.isFinite(delay) ? Math.min(Math.max(0, delay), 3_600_000) : this.opts.timeoutMs, 'interval');
  }

  /** One probe. Never rejects: failures become an unreachable sample. */
  private async probe(trigger: HealthSample['trigger']): Promise<HealthSample> {
    const at = Date.now();
    const deadline = at + this.opts.timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // Destroying the socket rejects whatever the probe is waiting for.
      this.conn?.destroy(new Error(`probe timed out after ${this.opts.timeoutMs} ms`));
    }, this.opts.timeoutMs);
    try {
      const conn = await this.connection(deadline);
      const t0 = process.hrtime.bigint();
      await conn.command(Buffer.from([Com.PING]), 'ok');
      const pingMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const st = await conn.query(STATE_SQL);
      const row = st.rows[0] ?? [];
      const cell = (i: number): string | null => (row[i] ? (row[i] as Buffer).toString('utf8') : null);
      let replication: ReplicationChannel[] | null = null;
      let replicationError: string | null = null;
      try {
        replication = parseSlaveStatus(await this.slaveStatus(conn));
      } catch (e) {
        if (!(e instanceof BackendQueryError)) throw e;
        replicationError = `${e.errno} ${e.message}`;
        // A GRANT of global privileges reaches only new connections: reconnect next time, so fixing
        // the monitor account takes effect within one interval.
        if (e.errno === ER_SPECIFIC_ACCESS_DENIED) this.dropConnection();
      }
      return {
        backend: this.backend.name,
        at,
        trigger,
        reachable: true,
        error: null,
        pingMs,
        readOnly: cell(0) === null ? null : cell(0) !== '0',
        gtidCurrentPos: cell(1),
        gtidBinlogPos: cell(2),
        gtidSlavePos: cell(3),
        replication,
        replicationError,
        gtidLagS: null,
      };
    } catch (e) {
      const c = this.conn;
      this.conn = null;
      c?.destroy();
      const msg = timedOut ? `probe timed out after ${this.opts.timeoutMs} ms` : (e as Error).message;
      return {
        backend: this.backend.name,
        at,
        trigger,
        reachable: false,
        error: msg,
        pingMs: null,
        readOnly: null,
        gtidCurrentPos: null,
        gtidBinlogPos: null,
        gtidSlavePos: null,
        replication: null,
        replicationError: null,
        gtidLagS: null,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private async slaveStatus(conn: BackendConnection): Promise<InternalResult> {
    try {
      return await conn.query(this.slaveStatusSql);
    } catch (e) {
      // MySQL has no SHOW ALL SLAVES STATUS; fall back once and remember.
      if (e instanceof BackendQueryError && e.errno === ER_PARSE_ERROR && this.slaveStatusSql !== 'SHOW SLAVE STATUS') {
        this.slaveStatusSql = 'SHOW SLAVE STATUS';
        return conn.query(this.slaveStatusSql);
      }
      throw e;
    }
  }

  /** Closes the kept connection quietly (not a lost connection: no early probe). */
  private dropConnection(): void {
    const c = this.conn;
    this.conn = null;
    c?.quit();
  }

  private async connection(deadline: number): Promise<BackendConnection> {
    if (this.conn && !this.conn.closed) return this.conn;
    const b = this.backend;
    const cfg = {
      name: b.name,
      host: b.host,
      port: b.port,
      user: this.opts.user ?? b.user,
      password: this.opts.password ?? b.password,
      connectTimeoutMs: Math.max(1, Math.min(b.connectTimeoutMs, deadline - Date.now())),
      // Pool settings are irrelevant to a lone monitor connection.
      minConnections: 0,
      maxConnections: 1,
      idleTimeoutMs: 0,
      acquireTimeoutMs: 0,
      maxPreparedPerConnection: 0,
      // The probe bounds itself with its own deadline.
      readTimeoutMs: 0,
      idleInTransactionTimeoutMs: 0,
      validateAfterIdleMs: 0,
    };
    const conn = new BackendConnection(cfg, 0, DEFAULT_COLLATION_ID, false);
    this.conn = conn;
    await conn.connect();
    conn.onClose(() => this.onConnectionLost(conn));
    return conn;
  }

  /**
   * The kept connection dropped between probes (server killed or restarted, network cut): probe
   * at once instead of waiting for the interval, so a dead replica leaves rotation in milliseconds
   * rather than up to one interval later.
   */
  private onConnectionLost(conn: BackendConnection): void {
    if (this.conn === conn) this.conn = null;
    if (!this.running || this.probing || this.earlyProbeUsed || !this.lastReachable) return;
    this.earlyProbeUsed = true;
    this.schedule(0, 'connection_lost');
  }
}

/**
 * `SHOW ALL SLAVES STATUS` (or `SHOW SLAVE STATUS`) rows → channels, by column name so column
 * order and extra columns do not matter. Pure.
 */
export function parseSlaveStatus(res: { columns: readonly { name: string }[]; rows: readonly (readonly (Buffer | null)[])[] }): ReplicationChannel[] {
  const idx = new Map<string, number>();
  res.columns.forEach((c, i) => idx.set(c.name.toLowerCase(), i));
  const out: ReplicationChannel[] = [];
  for (const row of res.rows) {
    const get = (name: string): string | null => {
      const i = idx.get(name);
      const v = i === undefined ? null : row[i];
      return v ? v.toString('utf8') : null;
    };
    const io = (get('slave_io_running') ?? 'No').toLowerCase();
    const sbm = get('seconds_behind_master');
    out.push({
      name: get('connection_name') ?? '',
      io: io === 'yes' ? 'yes' : io === 'connecting' ? 'connecting' : 'no',
      sqlRunning: (get('slave_sql_running') ?? 'No').toLowerCase() === 'yes',
      secondsBehindMaster: sbm === null ? null : Number(sbm),
      lastIoError: get('last_io_error') ?? '',
      lastSqlError: get('last_sql_error') ?? '',
    });
  }
  return out;
}
