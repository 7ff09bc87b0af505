// The dashboard's page, style and script, served by pxepool itself (no CDN, no build step).
// Every string that came from a client (hostname, vendor class, file name, MAC) reaches the page
// through textContent only, never as markup; the script is a file of its own so the page's
// Content-Security-Policy allows no inline script at all.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pxepool</title>
<link rel="stylesheet" href="/pxepool/dashboard.css">
</head>
<body>
<header>
  <h1>pxepool <span id="self"></span></h1>
  <span id="conn" data-conn="connecting">connecting…</span>
</header>
<main>
  <section id="pool">
    <h2>Peers</h2>
    <p id="pool-summary"></p>
    <div class="scroll"><table id="peers">
      <thead><tr><th>peer</th><th>state</th><th>health</th><th>tftp</th><th>http</th><th>share</th><th>seen</th><th>config</th></tr></thead>
      <tbody></tbody>
    </table></div>
    <p id="ownership"></p>
  </section>
  <section id="transfers-section">
    <h2>Transfers in progress <span id="transfer-count"></span></h2>
    <ul id="transfers"></ul>
  </section>
  <section id="decisions-section">
    <h2>Recent decisions</h2>
    <form id="filter"><label for="mac">MAC</label> <input id="mac" name="mac" autocomplete="off" spellcheck="false" placeholder="filter, e.g. 52:54:00"> <button type="submit">timeline</button></form>
    <div class="scroll"><table id="decisions">
      <thead><tr><th>time</th><th>client</th><th>what</th><th>why</th><th>file</th><th>host / vendor</th></tr></thead>
      <tbody></tbody>
    </table></div>
  </section>
  <section id="timeline-section">
    <h2>Boot timeline <span id="timeline-mac"></span></h2>
    <p id="verdict">Pick a client: click its MAC above, or type it and press <em>timeline</em>.</p>
    <ol id="timeline"></ol>
    <p id="boot-end"></p>
  </section>
  <section id="assignments-section">
    <h2>Assignments <span id="assign-count"></span></h2>
    <p id="assign-note"></p>
    <div id="assign-controls" hidden>
      <form id="token-form" class="row"><label for="token">API token</label> <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" placeholder="contents of api.tokenFile"> <button type="submit">use</button> <button type="button" id="token-forget">forget</button> <span id="token-state"></span></form>
      <label class="row"><input type="checkbox" id="assign-all"> also clients without an assignment</label>
      <div class="scroll"><table id="assignments">
        <thead><tr><th>client</th><th>UUID</th><th>profile</th><th>mode</th><th>state</th><th>expires</th><th>seen last</th><th>last decision</th><th>last file</th><th>host / vendor</th></tr></thead>
        <tbody></tbody>
      </table></div>
      <form id="assign-form" class="row">
        <label>MAC <input id="assign-mac" autocomplete="off" spellcheck="false" placeholder="52:54:00:12:34:56"></label>
        <label>profile <select id="assign-profile"></select></label>
        <label>mode <select id="assign-mode"><option value="persistent">persistent</option><option value="once">once</option></select></label>
        <label>expires <input id="assign-expires" autocomplete="off" spellcheck="false" placeholder="never, or 12h, 7d, 2026-12-31T00:00Z"></label>
        <label>UUID <input id="assign-uuid" autocomplete="off" spellcheck="false" placeholder="optional"></label>
        <button type="submit" id="assign-set">set</button> <button type="button" id="assign-clear">clear</button>
      </form>
      <p id="assign-result" role="status"></p>
    </div>
  </section>
</main>
<script src="/pxepool/dashboard.js"></script>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { --fg: #1d232a; --muted: #5d6873; --bg: #f6f7f9; --card: #fff; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --line: #d8dee4; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; justify-content: space-between; gap: 1em; padding: .6em 1em; background: var(--card); border-bottom: 1px solid var(--line); }
h1 { font-size: 1.2em; margin: 0; }
h2 { font-size: 1.05em; margin: 0 0 .5em; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 30em), 1fr)); gap: 1em; padding: 1em; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .8em; min-width: 0; }
.scroll { overflow-x: auto; }
#decisions-section, #timeline-section, #assignments-section { grid-column: 1 / -1; }
#assignments-section .scroll { max-height: 50vh; overflow-y: auto; }
.row { display: flex; flex-wrap: wrap; align-items: center; gap: .4em .8em; margin: .4em 0; }
.row label { white-space: nowrap; }
.row input { width: 12em; }
#token { width: 16em; }
input[type="checkbox"] { width: auto; }
.muted { color: var(--muted); }
#decisions-section .scroll { max-height: 60vh; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid var(--line); white-space: nowrap; }
td.wrap { white-space: normal; overflow-wrap: anywhere; min-width: 10em; max-width: 24em; }
th { color: var(--muted); font-weight: 600; font-size: .9em; }
.state { font-weight: 600; }
[data-state="up"] { color: var(--ok); }
[data-state="stepped-back"] { color: var(--warn); }
[data-state="down"] { color: var(--bad); }
[data-conn="live"] { color: var(--ok); }
[data-conn="lost"] { color: var(--bad); }
#transfers { list-style: none; padding: 0; margin: 0; }
#transfers li { margin: .3em 0; }
#transfers .label { font-size: .9em; word-break: break-all; }
progress { width: 100%; height: .8em; }
#timeline li { margin: .2em 0; word-break: break-word; }
.kind-ignore, .kind-held { color: var(--muted); }
.result-bad { color: var(--bad); }
button.mac { font: inherit; background: none; border: none; padding: 0; color: #0969da; cursor: pointer; text-decoration: underline; }
input { font: inherit; padding: .2em .4em; width: 14em; max-width: 60vw; }
@media (max-width: 600px) { body { font-size: 14px; } main { padding: .5em; gap: .5em; } th, td { padding: .2em .3em; } }
`;

export const DASHBOARD_JS = `'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  // Client data is text, always: set as textContent, never parsed as markup; control
  // characters show as '?', as in pxepool's terminal output.
  var CONTROL = new RegExp('[\\u0000-\\u001f\\u007f-\\u009f]', 'g');
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text).replace(CONTROL, '?');
    if (cls) e.className = cls;
    return e;
  }
  function text(node, s) { node.textContent = String(s).replace(CONTROL, '?'); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function size(n) {
    if (n === null || n === undefined) return '?';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(1) + ' MiB';
  }
  function time(ms) { var d = new Date(ms); return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0'); }

  var state = null;
  var lastState = 0;
  var selected = '';

  function peerState(p) {
    if (!p.live) return 'down';
    if (p.steppedBack) return 'stepped-back';
    return 'up';
  }

  function renderPeers() {
    var s = state.status;
    text($('self'), s.name + ' · ' + s.version);
    var body = document.querySelector('#peers tbody');
    clear(body);
    var pool = s.pool;
    if (!pool) {
      $('pool-summary').textContent = 'single server (no pool configured)';
      var tr = el('tr'); tr.dataset.peer = s.name;
      var st = el('td', 'up', 'state'); st.dataset.state = 'up';
      tr.append(el('td', s.name), st, el('td', 'ok'), el('td', s.tftp ? s.tftp.activeTransfers : 0), el('td', s.http ? s.http.active : 0), el('td', '100%'), el('td', 'self'), el('td', '-'));
      body.append(tr);
      $('ownership').textContent = '';
      return;
    }
    $('pool-summary').textContent = pool.live.length + ' of ' + pool.peers.length + ' peers live; config ' + (pool.configAgreement.agree ? 'agrees on every live peer' : 'DIFFERS on ' + pool.configAgreement.mismatches.map(function (m) { return m.peer; }).join(', '));
    pool.peers.forEach(function (p) {
      var tr = el('tr'); tr.dataset.peer = p.name;
      var ps = peerState(p);
      var st = el('td', ps === 'stepped-back' ? 'stepped back' : ps, 'state'); st.dataset.state = ps;
      var seen = p.self ? 'self' : (p.lastSeenMsAgo === null ? 'never' : p.lastSeenMsAgo + ' ms ago');
      var cfg = p.configAgrees === null ? '-' : (p.configAgrees ? 'same' : 'DIFFERENT');
      // A down peer's health and load are what it said last: not shown as if current.
      var last = function (v) { return p.live ? v : '-'; };
      tr.append(el('td', p.name + (p.self ? ' (this)' : '')), st, el('td', last(p.health)), el('td', last(p.tftp)), el('td', last(p.http)), el('td', Math.round(p.expectedShare * 100) + '%'), el('td', seen), el('td', cfg));
      body.append(tr);
    });
    var o = pool.ownership;
    var t = pool.takeovers;
    var reasons = Object.keys(t.byReason).map(function (k) { return k + ' ' + t.byReason[k]; }).join(', ');
    $('ownership').textContent = 'owner for ' + o.owned + ' of ' + o.discovers + ' DISCOVERs seen here (expected ' + Math.round(o.expectedShare * 100) + '%); takeovers ' + t.total + (reasons ? ' (' + reasons + ')' : '');
  }

  function renderTransfers() {
    var list = $('transfers');
    clear(list);
    $('transfer-count').textContent = '(' + state.transfers.length + ')';
    if (state.transfers.length === 0) { list.append(el('li', 'none right now', 'kind-ignore')); return; }
    state.transfers.forEach(function (t) {
      var li = el('li'); li.className = 'transfer';
      li.dataset.protocol = t.protocol;
      li.append(el('div', t.protocol + ' ' + t.file + ' → ' + t.client + ': ' + size(t.bytes) + ' of ' + size(t.size), 'label'));
      var bar = document.createElement('progress');
      if (t.size) { bar.max = t.size; bar.value = Math.min(t.bytes, t.size); }
      li.append(bar);
      list.append(li);
    });
  }

  var WHAT = { offer: 'offered', held: 'held back', ignore: 'ignored', ack: 'answered', file: 'file' };
  function what(e) {
    if (e.kind === 'file') return e.protocol + ' ' + (e.result === 'ok' ? 'sent' : e.result === 'size-probe' ? 'size asked' : 'failed');
    return (e.port === 4011 ? '4011 ' : 'DISCOVER ') + '→ ' + WHAT[e.kind];
  }
  function why(e) {
    var parts = [];
    if (e.reason) parts.push(e.reason);
    if (e.kind !== 'file' && e.rule) parts.push(e.rule);
    if (e.profile) parts.push('profile ' + e.profile);
    if (e.kind === 'file' && e.bytes !== undefined) parts.push(size(e.bytes));
    return parts.join(' · ');
  }
  function pick(mac) { selected = mac; $('mac').value = mac; renderDecisions(); loadTimeline(); }

  function renderDecisions() {
    var body = document.querySelector('#decisions tbody');
    clear(body);
    var f = $('mac').value.trim().toLowerCase();
    state.recent.filter(function (e) { return !f || e.mac.indexOf(f) >= 0; }).slice(0, 60).forEach(function (e) {
      var tr = el('tr', undefined, 'kind-' + e.kind);
      tr.dataset.mac = e.mac;
      tr.dataset.kind = e.kind;
      var b = el('button', e.mac, 'mac'); b.type = 'button';
      b.addEventListener('click', function () { pick(e.mac); });
      var macTd = el('td'); macTd.append(b);
      var who = [e.hostname, e.vendorClass].filter(function (x) { return x; }).join(' / ');
      tr.append(el('td', time(e.at)), macTd, el('td', what(e)), el('td', why(e), 'wrap'), el('td', e.file || '', 'wrap'), el('td', who, 'wrap'));
      body.append(tr);
    });
  }

  function step(e) {
    if (e.kind === 'file') return e.protocol.toUpperCase() + ' ' + e.file + ' → ' + (e.result === 'ok' ? 'ok' : e.result === 'size-probe' ? 'size asked (EDK2)' : 'failed: ' + e.result) + (e.bytes !== undefined ? ' (' + size(e.bytes) + ')' : '');
    if (e.kind === 'ack') return '4011 → ACK' + (e.file ? ', boot file ' + e.file : '');
    if (e.kind === 'offer') return 'DISCOVER → offer' + (e.file ? ' of ' + e.file : '') + (e.reason ? ' (' + e.reason + ')' : '');
    if (e.kind === 'held') return 'DISCOVER → held back' + (e.reason ? ' (' + e.reason + ')' : '');
    return 'ignored' + (e.reason ? ': ' + e.reason : '');
  }

  var timelineBusy = false;
  function loadTimeline() {
    if (!selected || timelineBusy) return;
    timelineBusy = true;
    fetch('/api/v1/explain?mac=' + encodeURIComponent(selected), { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : r.text().then(function (t) { throw new Error(t); }); })
      .then(renderTimeline, function (err) { text($('verdict'), err.message || err); })
      .finally(function () { timelineBusy = false; });
  }
  function renderTimeline(x) {
    text($('timeline-mac'), x.mac);
    text($('verdict'), 'this peer now: ' + x.verdict + ' — ' + x.reason + (x.rank ? '; owner ' + (x.rank.owner || 'none live') + ', order ' + x.rank.order.join(' > ') : ''));
    var ol = $('timeline');
    clear(ol);
    x.events.forEach(function (e) {
      var li = el('li', time(e.at) + '  ' + step(e), 'kind-' + e.kind + (e.kind === 'file' && e.result !== 'ok' && e.result !== 'size-probe' ? ' result-bad' : ''));
      li.dataset.kind = e.kind;
      ol.append(li);
    });
    text($('boot-end'), x.lastBoot ? 'last boot: ' + x.lastBoot : '');
  }

  // Assignments, from the deployments API (/api/v1/clients). Reading it needs the API token
  // unless api.publicRead; changing it always does. The operator types the token in: it is kept
  // in the variable below and nowhere else (no cookie, no storage), and sent only as an
  // Authorization header to /api/v1/clients on this origin (the CSP allows no other).
  var token = '';
  var api = null;
  var apiText = '';
  var list = null;
  var listText = '';
  var listError = '';
  var listBusy = false;
  var listAgain = false;
  function say(node, s, bad) { text(node, s); node.className = bad ? 'result-bad' : ''; }
  function ago(ms) {
    if (typeof ms !== 'number') return '';
    var s = Math.max(0, Math.round(((state ? state.at : Date.now()) - ms) / 1000));
    return s < 120 ? s + ' s ago' : s < 7200 ? Math.round(s / 60) + ' min ago' : s < 172800 ? Math.round(s / 3600) + ' h ago' : Math.round(s / 86400) + ' d ago';
  }
  function isoOf(ms) { return typeof ms === 'number' ? new Date(ms).toISOString().replace(/\\.000Z$/, 'Z') : ''; }

  function call(method, path, body) {
    var used = token;
    var headers = {};
    if (used) headers.authorization = 'Bearer ' + used;
    var init = { method: method, headers: headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) { headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (r) {
      return r.text().then(function (t) {
        var j = null;
        try { j = JSON.parse(t); } catch (e) { j = null; }
        return { status: r.status, body: j, used: used };
      });
    });
  }
  /** What a refused request means, for the operator. A refused token is forgotten. */
  function refused(r) {
    var why = r.body && typeof r.body.error === 'string' ? r.body.error : 'HTTP ' + r.status;
    if (r.status === 401) {
      if (r.used && token === r.used) { token = ''; renderToken(); }
      return r.used ? 'the API refused the token: ' + why + ' — it is forgotten; type the one in api.tokenFile' : 'the API needs the token: ' + why;
    }
    if (r.status === 403) return 'the clients API is off on this peer: ' + why;
    if (r.status === 503) return 'the store is unreachable, nothing was written: ' + why;
    return why + ' (HTTP ' + r.status + ')';
  }
  function renderToken() {
    $('token-state').textContent = token ? 'token set (kept in this page only)' : 'no token';
    $('token-state').className = token ? '' : 'muted';
    var w = api !== null && api.writable && token !== '';
    $('assign-set').disabled = !w;
    $('assign-clear').disabled = !w;
  }

  function loadAssignments() {
    if (api === null) return;
    if (!api.publicRead && !token) { list = null; listText = ''; renderAssignments(); return; }
    if (listBusy) { listAgain = true; return; }
    listBusy = true;
    call('GET', '/api/v1/clients?limit=1000').then(function (r) {
      if (r.status === 200 && r.body && Array.isArray(r.body.clients)) {
        listError = '';
        var text = JSON.stringify(r.body);
        if (text === listText) { renderNote(); return; }
        list = r.body; listText = text;
      } else { list = null; listText = ''; listError = refused(r); }
      renderAssignments();
    }, function (err) { listError = 'could not reach the API: ' + (err.message || err); renderAssignments(); })
      .finally(function () { listBusy = false; if (listAgain) { listAgain = false; loadAssignments(); } });
  }

  function renderNote() {
    var n = $('assign-note');
    if (api === null) { say(n, 'No store configured on this peer: there are no assignments, the rules alone decide (add a store: section, docs/deployments.md).'); return; }
    if (listError) { say(n, listError, true); return; }
    if (!api.writable) {
      say(n, api.publicRead ? 'Read-only: the write API is off on this peer (no api.tokenFile is configured).' : 'The clients API is off on this peer: no api.tokenFile is configured and api.publicRead is false.');
      return;
    }
    if (!token) { say(n, api.publicRead ? 'Read-only: type the API token to set or clear an assignment.' : 'Reading assignments needs the API token (api.publicRead is off): type it below.'); return; }
    say(n, list && list.stale ? 'The store is unreachable: this is this peer\\'s last known copy; changes are refused until it is back.' : 'Click a MAC to edit its assignment.', list && list.stale);
  }

  function stateText(a) {
    if (a.state === 'consumed') return 'used up' + (a.consumedBy ? ' by ' + a.consumedBy : '') + (a.consumedAt ? ' ' + ago(a.consumedAt) : '');
    if (a.state === 'expired') return 'expired';
    return a.mode === 'once' ? 'armed' : 'active';
  }

  function renderAssignments() {
    var section = $('assignments-section');
    section.dataset.store = api === null ? 'none' : 'yes';
    $('assign-controls').hidden = api === null;
    renderNote();
    renderToken();
    var body = document.querySelector('#assignments tbody');
    clear(body);
    if (api === null || list === null) { $('assign-count').textContent = ''; return; }
    var f = $('mac').value.trim().toLowerCase();
    var everyone = $('assign-all').checked;
    var assigned = list.clients.filter(function (c) { return c && c.assignment; }).length;
    $('assign-count').textContent = '(' + assigned + ')';
    var rows = list.clients.filter(function (c) { return c && (everyone || c.assignment) && (!f || String(c.mac).toLowerCase().indexOf(f) >= 0); });
    if (rows.length === 0) { var none = el('tr'); var td = el('td', assigned === 0 ? 'no assignments' : 'none matches the filter', 'muted'); td.colSpan = 10; none.append(td); body.append(none); return; }
    rows.slice(0, 200).forEach(function (c) {
      var a = c.assignment || null;
      var s = c.seen || {};
      var tr = el('tr');
      tr.dataset.mac = c.mac;
      tr.dataset.state = a ? a.state : 'none';
      var b = el('button', c.mac, 'mac'); b.type = 'button';
      b.addEventListener('click', function () { edit(c); });
      var macTd = el('td'); macTd.append(b);
      var decision = [s.decision, s.reason].filter(function (x) { return x; }).join(' · ');
      var file = s.file ? s.file + (s.outcome ? ' → ' + s.outcome : '') : '';
      var who = [s.hostname, s.vendorClass].filter(function (x) { return x; }).join(' / ');
      var st = el('td', a ? stateText(a) : 'none', a && a.state !== 'active' ? 'kind-ignore' : '');
      tr.append(macTd, el('td', (a && a.uuid) || s.uuid || '', 'wrap'), el('td', a ? a.profile : '-', 'profile'), el('td', a ? a.mode : ''), st,
        el('td', a && a.expiresAt ? isoOf(a.expiresAt) : ''), el('td', s.lastSeen ? ago(s.lastSeen) + (s.peer ? ' by ' + s.peer : '') : 'never'),
        el('td', decision, 'wrap'), el('td', file, 'wrap'), el('td', who, 'wrap'));
      body.append(tr);
    });
    if (rows.length > 200) { var more = el('tr'); var m = el('td', (rows.length - 200) + ' more: filter by MAC', 'muted'); m.colSpan = 10; more.append(m); body.append(more); }
  }

  function renderProfiles() {
    var sel = $('assign-profile');
    var was = sel.value;
    clear(sel);
    (api ? api.profiles : []).forEach(function (p) { var o = el('option', p); o.value = p; sel.append(o); });
    if (was) sel.value = was;
  }

  function edit(c) {
    $('assign-mac').value = c.mac;
    var a = c.assignment;
    if (a) {
      $('assign-profile').value = a.profile;
      $('assign-mode').value = a.mode === 'once' ? 'once' : 'persistent';
      $('assign-expires').value = a.expiresAt ? isoOf(a.expiresAt) : '';
      $('assign-uuid').value = a.uuid || '';
    }
  }

  /** 30m, 12h, 7d or an ISO time → epoch ms; '' → none; null: not understood */
  function expiresAt(text) {
    var d = /^(\\d{1,6})([smhd])$/.exec(text);
    if (d) return Date.now() + Number(d[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[d[2]];
    var t = Date.parse(text);
    return isFinite(t) ? t : null;
  }

  function write(method, mac, body, done) {
    var out = $('assign-result');
    say(out, method === 'PUT' ? 'setting…' : 'clearing…');
    call(method, '/api/v1/clients/' + encodeURIComponent(mac), body).then(function (r) {
      if (r.status === 200 && r.body) say(out, done(r.body)); else say(out, refused(r), true);
      loadAssignments();
    }, function (err) { say(out, 'could not reach the API: ' + (err.message || err), true); });
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    token = $('token').value.trim();
    $('token').value = '';
    listError = '';
    say($('assign-result'), '');
    renderAssignments();
    loadAssignments();
  });
  $('token-forget').addEventListener('click', function () {
    token = '';
    if (api && !api.publicRead) { list = null; listText = ''; }
    renderAssignments();
  });
  $('assign-all').addEventListener('change', renderAssignments);
  $('assign-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var out = $('assign-result');
    var mac = $('assign-mac').value.trim();
    if (!mac) { say(out, 'give the client\\'s MAC', true); return; }
    var body = { profile: $('assign-profile').value, mode: $('assign-mode').value };
    var ex = $('assign-expires').value.trim();
    if (ex && ex !== 'never') {
      var t = expiresAt(ex);
      if (t === null) { say(out, 'expires: write 30m, 12h, 7d or a time like 2026-12-31T00:00Z', true); return; }
      body.expires = new Date(t).toISOString();
    }
    var uuid = $('assign-uuid').value.trim();
    if (uuid) body.uuid = uuid;
    write('PUT', mac, body, function (r) {
      var a = r.assignment || {};
      return 'set: ' + r.mac + ' boots ' + a.profile + ' (' + a.mode + (a.expiresAt ? ', until ' + isoOf(a.expiresAt) : '') + ')';
    });
  });
  $('assign-clear').addEventListener('click', function () {
    var mac = $('assign-mac').value.trim();
    if (!mac) { say($('assign-result'), 'give the client\\'s MAC', true); return; }
    write('DELETE', mac, undefined, function (r) { return 'cleared: ' + r.mac + ' (the rules decide again)'; });
  });

  function render() {
    renderPeers();
    renderTransfers();
    renderDecisions();
    var now = JSON.stringify(state.clientsApi || null);
    if (now !== apiText) {
      var first = apiText === '';
      apiText = now;
      api = state.clientsApi || null;
      renderProfiles();
      renderAssignments();
      if (first) loadAssignments();
    }
  }

  function conn(s, text) { var c = $('conn'); c.dataset.conn = s; c.textContent = text; }

  $('filter').addEventListener('submit', function (ev) { ev.preventDefault(); var m = $('mac').value.trim().toLowerCase(); if (m) pick(m); });
  $('mac').addEventListener('input', function () { if (state) { renderDecisions(); renderAssignments(); } });

  var es = new EventSource('/api/v1/events');
  es.addEventListener('state', function (ev) {
    state = JSON.parse(ev.data);
    lastState = Date.now();
    conn('live', 'live');
    render();
  });
  es.addEventListener('error', function () { conn('lost', 'connection lost, retrying…'); });
  setInterval(function () {
    if (lastState && Date.now() - lastState > 4000) conn('lost', 'no update for ' + Math.round((Date.now() - lastState) / 1000) + ' s');
    loadTimeline();
  }, 2000);
  setInterval(loadAssignments, 3000);
})();
`;
