/**
 * One COM_QUERY statement after the proxy's KILL handling — a lone query, or one statement of a
 * multi-statement batch the proxy split (batch-run.ts): a plain diagnostics statement is answered
 * from the session's captured diagnostics; a tenant's statement goes through isolation and routing
 * (tenantQuery), diagnostics statements included; anything else to a backend. A diagnostics
 * statement of a session without diagnostics runs on a connection whose diagnostics area is
 * cleared first (it may hold another session's warnings).
 */
import { Q, type QueryInfo } from '../classify/lexer';
import type { Frame } from '../protocol/framer';
import type { ClientSession } from './client-session';
import { parseDiagStatement } from './diagnostics';
import { answerDiagnostics } from './prepared-diagnostics';
import { Resp } from './result-relay';
import { tenantQuery } from './tenant-statement';

export function routeQuery(s: ClientSession, f: Frame, info: QueryInfo): void {
  let clearDiag = false;
  if (info.flags & Q.READS_DIAGNOSTICS && !(info.flags & Q.MULTI)) {
    const ds = parseDiagStatement(f.payload, 1);
    const diag = s.st.diag;
    if (ds && diag) return answerDiagnostics(s, ds, diag, false);
    clearDiag = diag === null;
  }
  if (s.tenant) return tenantQuery(s, f, info, clearDiag);
  s.runner.forward(Resp.QUERY, f, info, null, clearDiag);
}
