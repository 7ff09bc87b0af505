// The relay's UDP edge on loopback: forwarding, replies, host-file reload by SIGHUP-style call
// and by file change, a bad file keeping the old table, no packet lost across reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { discover, encode } from '../../src/dhcp/pxe-client.ts';
import { parseDhcp, newReply, serializeDhcp } from '../../src/dhcp/packet.ts';
import { encodeU8, Opt, MessageType } from '../../src/dhcp/options.ts';
import { parseRelayConfig } from '../../src/relay/config.ts';
import { startRelay } from '../../src/relay/relay.ts';
import { udpPeer } from '../lib/udp.ts';

const base = 20000 + (process.pid % 20000);
const PORTS = { listen: base, server: base + 1, client: base + 2 };

function logSink() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter((l) => l !== '')); cb(); } });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('relay edge on loopback: steering, replies, reloads', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-relay-'));
  const hosts = join(dir, 'relay.hosts');
  writeFileSync(hosts, '02:00:00:00:00:0a  127.0.0.3  # pinned\n');
  const cfg = parseRelayConfig({ dhcpServers: ['127.0.0.2'], hostsFiles: [hosts], default: '127.0.0.4' });
  assert.ok(cfg.ok);
  const { lines, logger } = logSink();
  const relay = await startRelay({ config: cfg.value, logger, debug: true, iface: { name: 'lo', address: '127.0.0.1', prefix: 8 }, ports: PORTS, debounceMs: 50 });
  const dhcp = await udpPeer('127.0.0.2', PORTS.server);
  const pinned = await udpPeer('127.0.0.3', PORTS.server);
  const dflt = await udpPeer('127.0.0.4', PORTS.server);
  const client = await udpPeer('127.0.0.1', PORTS.client);
  try {
    const ask = async (mac: string, xid: number) => client.send(encode(discover({ kind: 'ovmf', mac }, { xid })), PORTS.listen, '127.0.0.1');
    const byXid = (xid: number) => (m: Buffer) => m.readUInt32BE(4) === xid;

    await ask('02:00:00:00:00:0a', 1);
    const atDhcp = await dhcp.next(byXid(1));
    const atPinned = await pinned.next(byXid(1));
    assert.ok(atDhcp && atPinned, 'request reached DHCP server and pinned PXE server');
    const fwd = parseDhcp(atPinned.msg);
    assert.ok(fwd.ok);
    assert.equal(fwd.packet.giaddr, '127.0.0.1');
    assert.equal(fwd.packet.hops, 1);
    assert.equal(atPinned.rinfo.port, PORTS.listen, 'sent from the relay port');
    assert.equal(await dflt.next(byXid(1), 200), undefined);
    assert.ok(lines.some((l) => /host .*relay\.hosts:1 \(02:00:00:00:00:0a\) → 127\.0\.0\.3/.test(l)), 'debug log says why');

    // A server's reply to giaddr goes to the client (ciaddr set: unicast to it).
    const rep = newReply(fwd.packet);
    rep.ciaddr = '127.0.0.1';
    rep.yiaddr = '127.0.0.1';
    rep.options.push({ code: Opt.MessageType, data: encodeU8(MessageType.Offer) });
    await pinned.send(serializeDhcp(rep), PORTS.listen, '127.0.0.1');
    const back = await client.next(byXid(1));
    assert.ok(back, 'reply relayed to the client');
    assert.equal(parseDhcp(back.msg).ok, true);

    // SIGHUP-style reload: the client moves to the default when its line goes.
    writeFileSync(hosts, '02:00:00:00:00:0b  127.0.0.3\n');
    assert.equal(await relay.reload(), true);
    await ask('02:00:00:00:00:0a', 2);
    assert.ok(await dflt.next(byXid(2)));

    // A bad file keeps the old table and logs file:line.
    writeFileSync(hosts, '02:00:00:00:00:0a  127.0.0.3\nzz:zz  127.0.0.3\n');
    assert.equal(await relay.reload(), false);
    assert.ok(lines.some((l) => /relay\.hosts:2: "zz:zz" is not a MAC address/.test((JSON.parse(l) as { msg: string }).msg)), 'file:line error logged');
    await ask('02:00:00:00:00:0a', 3);
    assert.ok(await dflt.next(byXid(3)), 'still the old table');

    // File change (atomic replace, as editors do) is picked up by the watcher, while a stream
    // of requests keeps flowing: every one of them is forwarded.
    let sent = 0;
    const flood = (async () => {
      for (let i = 0; i < 200; i++) {
        await ask('02:00:00:00:00:0c', 1000 + i);
        sent++;
        if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const tmp = join(dir, 'relay.hosts.new');
    writeFileSync(tmp, '02:00:00:00:00:0a  127.0.0.3\n');
    renameSync(tmp, hosts);
    await flood;
    await waitUntil(async () => {
      await ask('02:00:00:00:00:0a', 5000);
      return (await pinned.next(byXid(5000), 100)) !== undefined;
    }, 5000, 'watcher reload');
    let got = 0;
    for (let i = 0; i < 200; i++) if (await dhcp.next(byXid(1000 + i), 1000)) got++;
    assert.equal(got, sent, 'no request lost during reloads');
    assert.ok((await relay.metrics.registry.getSingleMetricAsString('pxepool_relay_hostfile_reloads_total')).includes('result="ok"'));
  } finally {
    await relay.close();
    for (const p of [dhcp, pinned, dflt, client]) await p.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
