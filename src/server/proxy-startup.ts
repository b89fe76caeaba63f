import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { Cap, MariaCap, PROXY_CAPABILITIES, PROXY_MARIADB_CAPABILITIES, DEFAULT_COLLATION_ID } from '../protocol/constants';
import { BackendConnection } from '../backend/backend-connection';
import type { Backend } from '../backend/pool';

/** Announced when no backend could be asked for its version at start. */
export const FALLBACK_VERSION = '5.5.5-10.11.0-MariaDB-tenantgate';

/** What the start-up probe sets on the proxy. */
export interface ProbeHost {
  readonly config: Config;
  readonly backends: Map<string, Backend>;
  readonly log: Logger;
  serverVersion: string;
  serverCaps: number;
  serverMariaCaps: number;
  serverCollation: number;
}

/** Asks the first backend for the handshake to mirror (version, capabilities, collation). */
export async function probeBackend(host: ProbeHost): Promise<void> {
  const first = host.config.backends[0];
  const conn = new BackendConnection(first, 0, DEFAULT_COLLATION_ID, false);
  try {
    await conn.connect();
    const h = conn.handshake;
    host.serverVersion = host.config.server.version ?? h.serverVersion;
    host.serverCollation = h.collation || DEFAULT_COLLATION_ID;
    host.serverCaps = (PROXY_CAPABILITIES & h.capabilities) | Cap.PLUGIN_AUTH | Cap.SECURE_CONNECTION | Cap.PROTOCOL_41;
    // Keep these even if the backend lacks them: the proxy implements them itself.
    host.serverCaps |= Cap.DEPRECATE_EOF | Cap.CONNECT_ATTRS | Cap.PLUGIN_AUTH_LENENC_CLIENT_DATA | Cap.COMPRESS;
    const b = host.backends.get(first.name) as Backend;
    b.serverVersion = h.serverVersion;
    b.serverCaps = h.capabilities;
    b.serverMariaCaps = h.mariaCaps;
    b.serverCollation = h.collation;
    if (!(h.capabilities & Cap.LONG_PASSWORD)) {
      // A MariaDB server: mirror its way of announcing extended capabilities.
      host.serverCaps &= ~Cap.LONG_PASSWORD;
      host.serverMariaCaps = host.config.server.mariadbExtendedCapabilities ? h.mariaCaps & PROXY_MARIADB_CAPABILITIES : 0;
    }
    conn.quit();
  } catch (e) {
    host.serverVersion = host.config.server.version ?? FALLBACK_VERSION;
    host.serverCaps &= ~Cap.LONG_PASSWORD;
    host.serverMariaCaps = host.config.server.mariadbExtendedCapabilities ? MariaCap.EXTENDED_METADATA : 0;
    host.log.warn({ backend: first.name, err: (e as Error).message }, 'backend not reachable at start; announcing a default handshake');
  }
}

export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(require('node:path').join(__dirname, rel), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tenantgate' && pkg.version) return pkg.version;
    } catch {
      // next
    }
  }
  return 'unknown';
}

export function loadRsa(file: string | undefined): { publicPem: string; privateKey: crypto.KeyObject } {
  const privateKey = file
    ? crypto.createPrivateKey(fs.readFileSync(file))
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const publicPem = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  return { publicPem, privateKey };
}
