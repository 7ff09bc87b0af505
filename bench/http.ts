// HTTP delivery against nginx (issue 20): kernel- and initrd-sized downloads from pxepool's HTTP
// server (`pxepool serve`, ProxyDHCP and TFTP off, its defaults otherwise) and from Debian's
// nginx (sendfile on, no access log, one worker per core), the same files from the same
// directory on 127.0.0.1, alternating rounds; curl is the client (one download, then 100 at
// once with --parallel; all from 127.0.0.1, so pxepool's per-address connection cap is raised). Prints MB/s per server and the ratio.
// Usage: node bench/http.ts [--rounds 3] [--kernel-mib 30] [--initrd-mib 60] [--parallel 100] [--files 200]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadavg, median } from './lib/report.ts';

const { values: a } = parseArgs({ options: {
  rounds: { type: 'string', default: '3' }, 'kernel-mib': { type: 'string', default: '30' }, 'initrd-mib': { type: 'string', default: '60' },
  parallel: { type: 'string', default: '100' }, files: { type: 'string', default: '200' },
} });
if (!existsSync('/usr/sbin/nginx')) {
  console.error('bench:http needs nginx (Debian package nginx: apt-get install nginx; the install does not start it where policy-rc.d forbids)');
  process.exit(2);
}
const rounds = Math.min(Number(a.rounds), 10);
const par = Math.min(Number(a.parallel), 200);
const nFiles = Math.min(Number(a.files), 1000);
const MiB = 1024 * 1024;
const dir = mkdtempSync(path.join(os.tmpdir(), 'pxepool-httpbench-'));
const root = path.join(dir, 'root');
execFileSync('mkdir', ['-p', root]);
// nginx's workers run as www-data: the tree must be readable by others, as a boot tree is.
chmodSync(dir, 0o755);
const fill = (n: number, seed: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * seed + 7) & 255; return b; };
writeFileSync(path.join(root, 'vmlinuz'), fill(Number(a['kernel-mib']) * MiB, 31));
writeFileSync(path.join(root, 'initrd.img'), fill(Number(a['initrd-mib']) * MiB, 17));

const PXE_PORT = 18080 + (process.pid % 1000);
const NGINX_PORT = 19080 + (process.pid % 1000);
const started: ChildProcess[] = [];
const stopAll = (): void => { for (const c of started) c.kill('SIGTERM'); };
process.once('SIGINT', () => { stopAll(); process.exit(130); });

async function waitUp(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try { execFileSync('curl', ['-sf', '-o', '/dev/null', `http://127.0.0.1:${port}/vmlinuz`, '-r', '0-0']); return; } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`nothing on 127.0.0.1:${port}`);
}

const cfg = path.join(dir, 'pxepool.yaml');
writeFileSync(cfg, `server: { proxyDhcp: "off" }\nroot: ${root}\ntftp: { enabled: false }\nhttp: { port: ${PXE_PORT}, maxPerAddress: 256, maxConnections: 1024 }\nlog: { level: warn }\nprofiles: {}\ndefault: ignore\n`);
const pxe = spawn(process.execPath, [path.join(import.meta.dirname, '../src/cli/main.ts'), 'serve', '--config', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
started.push(pxe);
const ncfg = path.join(dir, 'nginx.conf');
writeFileSync(ncfg, `daemon off; worker_processes auto; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_timeout 5;
  client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;
  server { listen 127.0.0.1:${NGINX_PORT}; root ${root}; } }
`);
const ngx = spawn('/usr/sbin/nginx', ['-c', ncfg, '-p', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
started.push(ngx);

/** curl's total bytes and wall time for `urls`, at most `max` at once */
function run(port: number, urls: string[], max: number): { mbps: number; seconds: number } {
  const t0 = process.hrtime.bigint();
  const args = max > 1 ? ['-s', '--no-progress-meter', '-Z', '--parallel-max', String(max), '-o', '/dev/null'] : ['-s', '-o', '/dev/null'];
  const list = urls.flatMap((u, i) => (i === 0 ? [`http://127.0.0.1:${port}/${u}`] : ['-o', '/dev/null', `http://127.0.0.1:${port}/${u}`]));
  execFileSync('curl', [...args, ...list], { timeout: 600_000, maxBuffer: 1 << 20 });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = urls.reduce((s, u) => s + (u === 'vmlinuz' ? Number(a['kernel-mib']) : Number(a['initrd-mib'])) * MiB, 0);
  return { mbps: bytes / MiB / seconds, seconds };
}

try {
  await Promise.all([waitUp(PXE_PORT), waitUp(NGINX_PORT)]);
  const before = loadavg();
  const single = ['vmlinuz', 'initrd.img'];
  const many = Array.from({ length: nFiles }, (_, i) => (i % 3 === 0 ? 'initrd.img' : 'vmlinuz'));
  const rows: Record<string, { pxepool: number[]; nginx: number[] }> = { '1 client (kernel + initrd)': { pxepool: [], nginx: [] }, [`${par} at once (${nFiles} downloads)`]: { pxepool: [], nginx: [] } };
  // warm both (page cache, pxepool's file cache)
  run(PXE_PORT, single, 1); run(NGINX_PORT, single, 1);
  for (let r = 0; r < rounds; r++) {
    const order: ['pxepool' | 'nginx', number][] = r % 2 === 0 ? [['pxepool', PXE_PORT], ['nginx', NGINX_PORT]] : [['nginx', NGINX_PORT], ['pxepool', PXE_PORT]];
    for (const [name, port] of order) {
      rows['1 client (kernel + initrd)']![name].push(run(port, single, 1).mbps);
      rows[`${par} at once (${nFiles} downloads)`]![name].push(run(port, many, par).mbps);
    }
  }
  console.log(`HTTP delivery, ${new Date().toISOString()}, ${os.cpus().length} cores, loadavg before ${before}, after ${loadavg()}`);
  console.log('| | pxepool MB/s | nginx MB/s | ratio |');
  console.log('|---|---|---|---|');
  for (const [row, v] of Object.entries(rows)) {
    const p = median(v.pxepool);
    const n = median(v.nginx);
    console.log(`| ${row} | ${p.toFixed(0)} (${v.pxepool.map((x) => x.toFixed(0)).join(', ')}) | ${n.toFixed(0)} (${v.nginx.map((x) => x.toFixed(0)).join(', ')}) | ${(p / n).toFixed(2)}× |`);
  }
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}
