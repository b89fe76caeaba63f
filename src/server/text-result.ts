import { Cap } from '../protocol/constants';
import { buildEof, buildOk } from '../protocol/ok-err';
import { PacketWriter } from '../protocol/packet-writer';

/** utf8mb4_general_ci: what the proxy's own result sets are encoded in. */
const UTF8MB4 = 45;
const MYSQL_TYPE_VAR_STRING = 0xfd;
const MYSQL_TYPE_LONGLONG = 0x08;

/** One column of a result set the proxy answers itself. */
export interface TextColumn {
  readonly name: string;
  readonly numeric?: boolean;
}

/**
 * The packets of a text-protocol result set the proxy answers itself (SHOW DATABASES, the
 * process list): column count, definitions, rows, terminator, sequence ids from 1. `extMeta`: the
 * client negotiated MariaDB's extended metadata (one more field in each column definition).
 */
export function textResult(columns: readonly TextColumn[], rows: readonly (readonly (string | null)[])[], clientCaps: number, status: number, extMeta: boolean): Buffer[] {
  const out: Buffer[] = [];
  let seq = 1;
  const push = (w: PacketWriter) => out.push(w.finish(seq++ & 0xff));
  const deprecate = (clientCaps & Cap.DEPRECATE_EOF) !== 0;
  push(new PacketWriter(4).lenenc(columns.length));
  for (const c of columns) {
    const w = new PacketWriter(64).lenencString('def').lenencString('').lenencString('').lenencString('').lenencString(c.name).lenencString(c.name);
    if (extMeta) w.lenenc(0);
    if (c.numeric) w.u8(0x0c).u16(63).u32(21).u8(MYSQL_TYPE_LONGLONG).u16(0x20 | 0x01).u8(0).u16(0);
    else w.u8(0x0c).u16(UTF8MB4).u32(256).u8(MYSQL_TYPE_VAR_STRING).u16(0).u8(0).u16(0);
    push(w);
  }
  if (!deprecate) push(buildEof(0, status));
  for (const r of rows) {
    const w = new PacketWriter(64);
    for (const v of r) {
      if (v === null) w.u8(0xfb);
      else w.lenencString(v);
    }
    push(w);
  }
  if (deprecate) push(buildOk({ affectedRows: 0, lastInsertId: 0, status, warnings: 0, info: Buffer.alloc(0), sessionState: null }, clientCaps, 0xfe));
  else push(buildEof(0, status));
  return out;
}
