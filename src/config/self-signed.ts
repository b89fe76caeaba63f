import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files written by {@link generateSelfSignedCert}. */
export interface SelfSignedCert {
  readonly certFile: string;
  readonly keyFile: string;
  /** The certificate itself: a self-signed cert is its own CA. */
  readonly caFile: string;
}

/**
 * Writes a self-signed RSA-2048 certificate and key (valid 365 days, SAN `IP:127.0.0.1,DNS:localhost`)
 * into `dir` as `<cn>-cert.pem` / `<cn>-key.pem`, using the `openssl` CLI.
 *
 * Synchronous on purpose: it runs once at demo/test setup, never on the serving path. The `openssl` CLI
 * is used instead of a JS implementation because Node's crypto cannot build X.509 certificates.
 *
 * @throws Error with an install hint when `openssl` is not on PATH, or openssl's stderr when it fails.
 */
export function generateSelfSignedCert(dir: string, cn = 'tenantgate'): SelfSignedCert {
  if (!/^[A-Za-z0-9._-]+$/.test(cn)) {
    // cn is used in a file name and in the -subj string, where '/' and '=' have meaning.
    throw new Error(`generateSelfSignedCert: common name must match [A-Za-z0-9._-]+, got ${JSON.stringify(cn)}`);
  }
  mkdirSync(dir, { recursive: true });
  const certFile = join(dir, `${cn}-cert.pem`);
  const keyFile = join(dir, `${cn}-key.pem`);
  const args = [
    'req', '-x509',
    '-newkey', 'rsa:2048',
    '-nodes',
    '-days', '365',
    '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyFile,
    '-out', certFile,
  ];
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') {
      throw new Error(
        'generateSelfSignedCert: the `openssl` command was not found on PATH; ' +
          'install it (Debian/Ubuntu: apt-get install -y openssl) or supply tls.cert_file/key_file yourself',
      );
    }
    const stderr = e.stderr ? e.stderr.toString('utf8').trim() : '';
    throw new Error(`generateSelfSignedCert: openssl req failed: ${stderr || e.message}`);
  }
  return { certFile, keyFile, caFile: certFile };
}
