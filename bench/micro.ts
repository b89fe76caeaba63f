/**
 * `npm run bench:micro [-- filter]`: loads every bench/micro/*.bench.js file; each registers and runs
 * its benches through the harness at load time. A filter (substring) limits which benches run.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { allResults, setFilter, sinkValue } from './micro/harness';

function main(): void {
  const filter = process.argv[2];
  setFilter(filter);
  const dir = join(__dirname, 'micro');
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.js')).sort();
  process.stdout.write(`micro benches (node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'})${filter ? `, filter '${filter}'` : ''}\n`);
  for (const f of files) {
    process.stdout.write(`\n# ${f.replace(/\.js$/, '.ts')}\n`);
    require(join(dir, f));
  }
  if (allResults().length === 0) process.stdout.write('\nno bench matched\n');
  // Printing the sink keeps every measured result observable.
  process.stdout.write(`\n(sink ${sinkValue()})\n`);
}

main();
