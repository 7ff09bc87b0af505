// pxepool's TFTP server alone, at its default settings, as a child process of the benchmark so
// that its CPU time and peak RSS are measured the same way as the other servers'.
// Usage: node bench/lib/pxepool-server.ts ROOT PORT
import { startTftpServer } from '../../src/tftp/server.ts';

const [root, port] = process.argv.slice(2);
if (!root || !port) {
  console.error('usage: pxepool-server.ts ROOT PORT');
  process.exit(2);
}
// PXEPOOL_BENCH_DEBUG=1: per-second totals of transfers and retransmissions on stderr.
const debug = process.env.PXEPOOL_BENCH_DEBUG === '1';
let done = 0;
let retransmits = 0;
let packets = 0;
const server = await startTftpServer({
  host: '127.0.0.1',
  port: Number(port),
  root,
  onTransfer: (r) => {
    done++;
    retransmits += r.retransmits;
    packets += r.packets;
  },
});
if (debug) {
  setInterval(() => {
    if (done) process.stderr.write(`pxepool: ${done} transfers, ${packets} packets, ${retransmits} retransmits\n`);
  }, 1000).unref();
}
process.stdout.write(`ready ${server.port}\n`);
const stop = () => void server.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
