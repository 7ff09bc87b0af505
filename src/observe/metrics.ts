// Prometheus metrics for one pxepool process. One registry per server instance so tests can
// run several servers in one process without clashing.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

/**
 * Increments of a labelled counter kept as plain numbers per label combination and handed to
 * the counter when it is read (a scrape, or get()): prom-client hashes and checks the labels on
 * every inc(), which the DHCP path would pay for every packet. `key` names the combination
 * (e.g. the label values joined); `labels` makes its labels the first time it is seen.
 */
export class CounterTally<L extends string> {
  readonly #pending = new Map<string, { labels: LabelValues<L>; n: number }>();
  #target: Counter<L> | undefined;

  /** the counter the counts go to (set once the counter exists: its collect() calls flush) */
  into(counter: Counter<L>): void {
    this.#target = counter;
  }

  inc(key: string, labels: () => LabelValues<L>): void {
    const e = this.#pending.get(key);
    if (e !== undefined) e.n++;
    else this.#pending.set(key, { labels: labels(), n: 1 });
  }

  /** hand the counts over (to `into`'s counter, or to `to`) and start again from zero */
  flush(to: ((labels: LabelValues<L>, n: number) => void) | undefined = this.#target ? (l, n) => this.#target!.inc(l, n) : undefined): void {
    if (to === undefined) return;
    for (const e of this.#pending.values()) {
      if (e.n === 0) continue;
      const n = e.n;
      e.n = 0;
      to(e.labels, n);
    }
  }
}

export interface Metrics {
  registry: Registry;
  /** read at scrape time; the serve app points them at the running servers */
  sources: { tftpActive: () => number; dashboardStreams: () => number; clientMacs: () => number };
  dhcpRequests: Counter<'port' | 'type'>;
  dhcpReplies: Counter<'port' | 'type' | 'firmware'>;
  /** the hot path's increments of dhcpRequests and dhcpReplies (folded in at every read) */
  dhcpRequestsTally: CounterTally<'port' | 'type'>;
  dhcpRepliesTally: CounterTally<'port' | 'type' | 'firmware'>;
  dhcpDropped: Counter<'port' | 'reason'>;
  dhcp6Replies: Counter<'port'>;
  dhcp6Dropped: Counter<'port' | 'reason'>;
  dhcpMalformed: Counter<'reason'>;
  dhcpLatency: Histogram<'port'>;
  tftpTransfers: Counter<'result'>;
  tftpBytes: Counter;
  tftpRequests: Counter<'outcome'>;
  tftpActive: Gauge;
  httpRequests: Counter<'code'>;
  httpBytes: Counter;
  httpRefused: Counter<'reason'>;
  configReloads: Counter<'result'>;
  dashboardStreams: Gauge;
  clientMacs: Gauge;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'pxepool_' });
  const r = [registry];
  const sources = { tftpActive: () => 0, dashboardStreams: () => 0, clientMacs: () => 0 };
  const dhcpRequestsTally = new CounterTally<'port' | 'type'>();
  const dhcpRepliesTally = new CounterTally<'port' | 'type' | 'firmware'>();
  const dhcpRequests = new Counter({ name: 'pxepool_dhcp_requests_total', help: 'DHCP packets received', labelNames: ['port', 'type'], registers: r, collect() { dhcpRequestsTally.flush(); } });
  const dhcpReplies = new Counter({ name: 'pxepool_dhcp_replies_total', help: 'ProxyDHCP offers and acks sent', labelNames: ['port', 'type', 'firmware'], registers: r, collect() { dhcpRepliesTally.flush(); } });
  dhcpRequestsTally.into(dhcpRequests);
  dhcpRepliesTally.into(dhcpReplies);
  return {
    registry,
    sources,
    dhcpRequests,
    dhcpReplies,
    dhcpRequestsTally,
    dhcpRepliesTally,
    dhcpDropped: new Counter({ name: 'pxepool_dhcp_dropped_total', help: 'DHCP packets not answered, by reason (policy = ignored by policy)', labelNames: ['port', 'reason'], registers: r }),
    dhcpMalformed: new Counter({ name: 'pxepool_dhcp_malformed_total', help: 'malformed DHCP packets, by parse failure', labelNames: ['reason'], registers: r }),
    dhcp6Replies: new Counter({ name: 'pxepool_dhcp6_replies_total', help: 'ProxyDHCPv6 Advertises (547) and Replies (4011) sent', labelNames: ['port'], registers: r }),
    dhcp6Dropped: new Counter({ name: 'pxepool_dhcp6_dropped_total', help: 'DHCPv6 messages not answered, by reason (malformed ones by parse failure as malformed:<reason>)', labelNames: ['port', 'reason'], registers: r }),
    dhcpLatency: new Histogram({
      name: 'pxepool_dhcp_decision_seconds', help: 'time from packet received to reply sent or dropped', labelNames: ['port'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05], registers: r,
    }),
    tftpTransfers: new Counter({ name: 'pxepool_tftp_transfers_total', help: 'finished TFTP transfers by result', labelNames: ['result'], registers: r }),
    tftpBytes: new Counter({ name: 'pxepool_tftp_bytes_total', help: 'file bytes sent over TFTP', registers: r }),
    tftpRequests: new Counter({ name: 'pxepool_tftp_requests_total', help: 'datagrams on the TFTP port, by what became of them (started, duplicate, refused, malformed, stray, closing)', labelNames: ['outcome'], registers: r }),
    tftpActive: new Gauge({ name: 'pxepool_tftp_active_transfers', help: 'TFTP transfers in progress', registers: r, collect() { this.set(sources.tftpActive()); } }),
    httpRequests: new Counter({ name: 'pxepool_http_requests_total', help: 'HTTP requests by status code', labelNames: ['code'], registers: r }),
    httpBytes: new Counter({ name: 'pxepool_http_bytes_total', help: 'bytes sent over HTTP (bodies)', registers: r }),
    httpRefused: new Counter({ name: 'pxepool_http_refused_connections_total', help: 'HTTP connections closed at once: one address past its share (per-address) or every slot taken (total)', labelNames: ['reason'], registers: r }),
    configReloads: new Counter({ name: 'pxepool_config_reloads_total', help: 'config reloads by result', labelNames: ['result'], registers: r }),
    dashboardStreams: new Gauge({ name: 'pxepool_dashboard_streams', help: 'dashboards connected to the live event stream (/api/v1/events)', registers: r, collect() { this.set(sources.dashboardStreams()); } }),
    clientMacs: new Gauge({ name: 'pxepool_client_events_macs', help: 'clients (MACs) whose recent events this peer keeps for explain and the dashboard', registers: r, collect() { this.set(sources.clientMacs()); } }),
  };
}
