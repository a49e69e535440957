// The Herald console: every figure and action comes from the admin API
// (/admin/v1/…) of the node that serves the page, called with the admin key
// that the login form keeps in this tab's sessionStorage.
const KEY = 'herald.adminKey';
const REFRESH_MS = 2000;
const $ = (sel) => document.querySelector(sel);

/**
 * el builds an element: attrs are attributes (data-* ones keep true and false as
 * text, others are boolean when true), class, or onclick; children are nodes or text.
 */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    const data = k.startsWith('data-');
    if (v === undefined || v === null || (v === false && !data)) continue;
    if (k === 'class') e.className = v;
    else if (k === 'onclick') e.addEventListener('click', v);
    else e.setAttribute(k, v === true && !data ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

class Refused extends Error {}

/** api calls the admin API with the key; it resolves with the JSON answer or throws its problem. */
async function api(method, path, body) {
  const key = sessionStorage.getItem(KEY) || '';
  const res = await fetch('/admin/v1' + path, {
    method,
    headers: { Authorization: 'Bearer ' + key, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  let data = null;
  try {
    data = await res.json();
  } catch {
    // no JSON body
  }
  if (res.status === 401) throw new Refused((data && data.detail) || 'the admin key was refused');
  if (!res.ok) {
    const err = new Error((data && (data.detail || data.title)) || `HTTP ${res.status}`);
    err.status = res.status;
    err.data = data;
    throw err;
  }
  return data;
}

const fmtTime = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '—');
function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ---- login ----

function showLogin(message) {
  stopFleet();
  $('#app').hidden = true;
  $('#logout').hidden = true;
  $('#login').hidden = false;
  $('#login-error').textContent = message || '';
  $('#who').textContent = '';
  $('#key').focus();
}

async function enter() {
  try {
    const node = await api('GET', '/node');
    $('#login').hidden = true;
    $('#app').hidden = false;
    $('#logout').hidden = false;
    $('#who').textContent = `answered by ${node.node}${node.region ? ' in ' + node.region : ''} (${(node.roles || []).join(', ')})`;
    startFleet();
  } catch (err) {
    sessionStorage.removeItem(KEY);
    showLogin(err instanceof Refused ? 'Refused: ' + err.message : 'The admin API cannot be reached: ' + err.message);
  }
}

$('#login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(KEY, $('#key').value.trim());
  $('#key').value = '';
  enter();
});
$('#logout').addEventListener('click', () => {
  sessionStorage.removeItem(KEY);
  showLogin('');
});

/** guard runs an action and shows a refused key as a return to the login form. */
async function guard(fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Refused) showLogin('Refused: ' + err.message);
    else throw err;
  }
}

// ---- fleet ----

let fleetTimer = null;
let fleetRun = 0; // the refresh loop that may go on; a new login starts a new one
let previous = new Map(); // edge -> {connects, disconnects, at}
const draining = new Set(); // edges whose drain awaits confirmation

function stopFleet() {
  clearTimeout(fleetTimer);
  fleetTimer = null;
  fleetRun++;
}

function startFleet() {
  stopFleet();
  const run = fleetRun;
  const tick = async () => {
    await guard(refreshFleet);
    if (run !== fleetRun || $('#app').hidden) return;
    fleetTimer = setTimeout(tick, REFRESH_MS);
  };
  tick();
}

function rate(prev, now, field) {
  if (!prev || now.at <= prev.at) return '—';
  return ((now[field] - prev[field]) / ((now.at - prev.at) / 1000)).toFixed(2);
}

async function refreshFleet() {
  let fleet;
  try {
    fleet = await api('GET', '/fleet');
    $('#fleet-error').textContent = '';
  } catch (err) {
    if (err instanceof Refused) throw err;
    $('#fleet-error').textContent = 'The fleet cannot be read: ' + err.message;
    return;
  }
  $('#fleet-at').textContent = `as of ${fmtTime(fleet.at)}, refreshed every ${REFRESH_MS / 1000} s${fleet.truncated ? ' (truncated)' : ''}`;
  const rows = fleet.edges.map((n) => {
    const prev = previous.get(n.node);
    const now = { connects: n.connects_total, disconnects: n.disconnects_total, at: n.at };
    if (n.error) {
      return el('tr', { 'data-edge': n.node, 'data-error': 'true' }, el('td', {}, n.node), el('td', { colspan: 7, class: 'bad' }, n.error));
    }
    previous.set(n.node, now);
    const links = (n.links || []).map((l) =>
      el('span', { class: 'pill ' + (l.up ? 'up' : 'down'), 'data-link': l.edge }, `${l.edge} ${l.up ? 'up' : 'down'} · ${l.queue} · ${l.pending}`),
    );
    const lag = Object.entries(n.lag || {}).map(([p, v]) => el('span', { class: 'pill', 'data-priority': p }, `${p} ${v}`));
    const isEdge = (n.roles || []).includes('edge');
    let action = null;
    if (isEdge) {
      action = draining.has(n.node)
        ? el('span', { class: 'actions' },
            el('button', { class: 'danger', 'data-action': 'confirm-drain', onclick: () => drain(n.node) }, `Drain ${n.node}?`),
            el('button', { class: 'secondary', onclick: () => { draining.delete(n.node); refreshFleet(); } }, 'Cancel'))
        : el('button', { class: 'secondary', 'data-action': 'drain', onclick: () => { draining.add(n.node); refreshFleet(); } }, 'Drain…');
    }
    return el('tr', { 'data-edge': n.node, 'data-connections': n.connections, 'data-ready': n.ready, 'data-rates': Boolean(prev) },
      el('td', {}, n.node, isEdge ? null : el('span', { class: 'muted' }, ` (${(n.roles || []).join(', ')})`)),
      el('td', { class: n.ready ? 'ok' : 'bad' }, n.ready ? 'ready' : 'draining'),
      el('td', { class: 'num connections' }, n.connections),
      el('td', { class: 'num' }, rate(prev, now, 'connects')),
      el('td', { class: 'num' }, rate(prev, now, 'disconnects')),
      el('td', {}, links.length ? links : el('span', { class: 'muted' }, 'none')),
      el('td', {}, lag.length ? lag : el('span', { class: 'muted' }, '—')),
      el('td', {}, action),
    );
  });
  $('#fleet tbody').replaceChildren(...rows);
}

async function drain(edge) {
  draining.delete(edge);
  await guard(async () => {
    try {
      await api('POST', `/edges/${encodeURIComponent(edge)}/drain`);
      $('#fleet-error').textContent = `${edge} is draining: its devices are told to reconnect over its drain window, then it exits.`;
    } catch (err) {
      if (err instanceof Refused) throw err;
      $('#fleet-error').textContent = `Draining ${edge} failed: ${err.message}`;
    }
    await refreshFleet();
  });
}

// ---- device ----

async function lookupDevice(account, device) {
  const out = $('#device');
  out.replaceChildren(el('p', { class: 'muted' }, 'Looking up…'));
  let d;
  try {
    d = await api('GET', `/devices/${encodeURIComponent(account)}/${encodeURIComponent(device)}`);
  } catch (err) {
    if (err instanceof Refused) throw err;
    out.replaceChildren(el('p', { class: 'error' }, err.message));
    return;
  }
  const rows = [
    ['state', el('span', { class: d.connected ? 'ok' : 'bad' }, d.connected ? (d.connected_in ? `connected in region ${d.connected_in}` : 'connected') : 'not connected')],
  ];
  if (d.connected) {
    rows.push(['edge', el('span', { class: 'device-edge' }, d.edge)], ['session', d.session], ['since', fmtTime(d.since)]);
    if (d.live) {
      rows.push(
        ['protocol', d.live.protocol === 'sse' ? 'SSE' : 'WebSocket'],
        ['lifetime left', fmtDuration(d.live.lifetime_left_ms) + ` of ${fmtDuration(d.live.lifetime_ms)}`],
        ['send queue', d.live.queue],
      );
      if (d.live.platform) rows.push(['platform', d.live.platform]);
    } else if (d.live_error) {
      rows.push(['live', el('span', { class: 'bad' }, d.live_error)]);
    }
  }
  if (d.region) rows.push(['region', d.region]);
  if (d.listed) {
    rows.push(['listed', `yes, created ${fmtTime(Date.parse(d.listed.created))}`], ['last seen', d.listed.last_seen ? fmtTime(Date.parse(d.listed.last_seen)) : 'never']);
    for (const f of ['platform', 'name', 'app_version']) if (d.listed[f]) rows.push([f.replace('_', ' '), d.listed[f]]);
  } else {
    rows.push(['listed', d.list_error ? el('span', { class: 'bad' }, d.list_error) : 'not in the account\'s device list']);
  }
  if (d.pending !== undefined) rows.push(['pending', `${d.pending} stored message${d.pending === 1 ? '' : 's'} (${d.pending_bytes} bytes)`]);
  else if (d.inbox_error) rows.push(['pending', el('span', { class: 'bad' }, d.inbox_error)]);
  const status = el('p', { class: 'device-status' });
  const actions = el('div', { class: 'actions' },
    el('button', { class: 'secondary', onclick: () => guard(() => lookupDevice(account, device)) }, 'Refresh'),
    el('button', { 'data-action': 'test-push', onclick: () => guard(() => testPush(account, device, status)) }, 'Send a test push'),
    d.connected ? el('button', { class: 'danger', 'data-action': 'disconnect', title: 'Closes the connection with 4003 (removed): the SDKs do not reconnect by themselves', onclick: () => guard(() => disconnect(account, device, status)) }, 'Disconnect') : null,
  );
  out.replaceChildren(
    el('div', { 'data-account': account, 'data-device': device, 'data-connected': d.connected, 'data-edge': d.edge || '' },
      el('dl', {}, rows.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      actions, status),
  );
}

async function disconnect(account, device, status) {
  try {
    const r = await api('POST', `/devices/${encodeURIComponent(account)}/${encodeURIComponent(device)}/disconnect`);
    status.textContent = `Disconnected from ${r.edge} with 4003 (removed): the device's SDK does not reconnect by itself.`;
  } catch (err) {
    if (err instanceof Refused) throw err;
    status.textContent = 'Disconnect failed: ' + err.message;
    return;
  }
  setTimeout(() => guard(() => lookupDevice(account, device)), 300);
}

async function testPush(account, device, status) {
  try {
    const r = await api('POST', '/push', { to: { account, device }, type: 'notification.v1', payload: { title: 'Test', body: 'from the Herald console' } });
    status.replaceChildren(el('span', { 'data-push-id': r.id }, `Test push ${r.id}: ${r.results.map((x) => `${x.device} ${x.status}`).join(', ')}`));
  } catch (err) {
    if (err instanceof Refused) throw err;
    status.textContent = 'Test push failed: ' + err.message;
  }
}

$('#device-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard(() => lookupDevice($('#device-account').value.trim(), $('#device-id').value.trim()));
});

// ---- message ----

async function followMessage(id) {
  const out = $('#message');
  out.replaceChildren(el('p', { class: 'muted' }, 'Looking up…'));
  let m;
  try {
    m = await api('GET', `/messages/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof Refused) throw err;
    out.replaceChildren(el('p', { class: 'error' }, err.message));
    return;
  }
  const head = el('dl', {},
    el('dt', {}, 'status'), el('dd', { class: 'message-status' }, m.status),
    el('dt', {}, m.topic ? 'topic' : 'account'), el('dd', {}, m.topic || m.account || '—'),
    el('dt', {}, 'priority'), el('dd', {}, m.priority || '—'),
    el('dt', {}, 'accepted'), el('dd', {}, fmtTime(m.accepted)),
  );
  const rows = [el('tr', {}, el('td', {}, '—'), el('td', {}, 'accepted'), el('td', {}, fmtTime(m.accepted)), el('td', {}, '0 ms'))];
  const outcomeClass = (st) => (['delivered', 'acked', 'published'].includes(st) ? 'ok' : st === 'queued' ? '' : 'bad');
  for (const d of m.devices || []) {
    // Every step the device went through (its history), or its latest outcome.
    const steps = d.history && d.history.length ? d.history : [{ status: d.status, at: d.at, error: d.error }];
    steps.forEach((step, i) => {
      // The device's first row carries its latest outcome; each row its step.
      const attrs = i === 0 ? { 'data-device': d.device, 'data-status': d.status, 'data-step': step.status } : { 'data-step': step.status };
      rows.push(el('tr', attrs,
        el('td', {}, i === 0 ? d.device : ''),
        el('td', { class: outcomeClass(step.status) }, step.status + (step.error ? ` (${step.error})` : '')),
        el('td', {}, fmtTime(step.at)),
        el('td', {}, m.accepted && step.at ? `${step.at - m.accepted} ms` : '—')));
    });
  }
  if (m.topic && m.at) rows.push(el('tr', { 'data-status': m.status }, el('td', {}, m.topic), el('td', {}, m.status), el('td', {}, fmtTime(m.at)), el('td', {}, `${m.at - m.accepted} ms`)));
  out.replaceChildren(
    el('div', { 'data-message': m.id, 'data-status': m.status },
      head,
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'device'), el('th', {}, 'outcome'), el('th', {}, 'at'), el('th', {}, 'after accepted'))), el('tbody', {}, rows)),
      el('p', { class: 'muted' }, 'Each device\'s steps, the first time each was seen: queued, delivered, acked, offline, expired…'),
      m.trace_url ? el('p', {}, el('a', { href: m.trace_url, target: '_blank', rel: 'noopener' }, 'Trace of this message')) : null,
      el('button', { class: 'secondary', onclick: () => guard(() => followMessage(id)) }, 'Refresh')),
  );
}

$('#message-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard(() => followMessage($('#message-id').value.trim()));
});

// ---- push ----

$('#push-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  guard(async () => {
    const out = $('#push');
    let payload;
    try {
      payload = JSON.parse($('#push-payload').value);
    } catch (err) {
      out.replaceChildren(el('p', { class: 'error' }, 'The payload is not JSON: ' + err.message));
      return;
    }
    const to = { account: $('#push-account').value.trim() };
    if ($('#push-device').value.trim()) to.device = $('#push-device').value.trim();
    try {
      const r = await api('POST', '/push', { to, type: $('#push-type').value.trim(), payload });
      out.replaceChildren(el('p', { 'data-push-id': r.id }, `Message ${r.id}: `, r.results.length ? r.results.map((x) => `${x.device} ${x.status}${x.error ? ' (' + x.error + ')' : ''}`).join(', ') : 'no device'));
    } catch (err) {
      if (err instanceof Refused) throw err;
      out.replaceChildren(el('p', { class: 'error' }, err.message));
    }
  });
});

// ---- start ----

if (sessionStorage.getItem(KEY)) await enter();
else showLogin('');
document.body.dataset.ready = 'true';
