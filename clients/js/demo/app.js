// The Herald demo: devices of one account as panes of a page. A player reacts to
// playback.control.v1 and acknowledges it; a remote sends it and shows the
// receipts. herald dev serves this page at /demo/, the SDK at /demo/sdk/, and
// stands in for an app's backend at /demo/api/ (device tokens, REST pushes, the
// device list).
//
// URL parameters: ?account=A opens account A; &device=D&role=player|remote opens
// just that device (a second tab, a phone); &role=R alone opens a new device of
// that role.
//
// The live score: every pane subscribes to the topic scores.live (its token's
// topics claim grants it), and the server panel publishes scores to it, which
// reach every subscribed device whatever its account. A pane of a second
// account (a guest's TV) shows that the topic crosses accounts.
//
// A notification pushed to a device whose tab is closed is answered queued and
// waits in the device's inbox; the device gets it when a tab of it opens again.
// Each device keeps its resume cursor (the seq of the last stored message it
// got) in localStorage, which outlives the tab, and connects with it.

const ID_RE = /^[A-Za-z0-9._:@-]{1,128}$/;
const ACCOUNT_KEY = 'herald-demo-account';
const CURSOR_KEY = 'herald-demo-cursor'; // + ':' + account + ':' + device
const TITLE = 'Big Buck Bunny';
const DURATION_MS = 596_000;
const LOG_MAX = 300;
const SCORE_TOPIC = 'scores.live';

const $ = (sel) => document.querySelector(sel);

/** h builds an element: h('button', {class: 'x', onclick}, 'text', child). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children.flat().filter((c) => c !== undefined && c !== null && c !== false));
  return el;
}

function randomSuffix(n = 4) {
  const abc = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return Array.from(bytes, (b) => abc[b % abc.length]).join('');
}

function fmtTime(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function clock(d = new Date()) {
  return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function shortId(id) {
  return id && id.length > 10 ? '…' + id.slice(-6) : id || '?';
}

function fromText(from) {
  if (!from) return '?';
  if (from.device) return from.device;
  if (from.service) return 'service ' + from.service;
  return '?';
}

function pageURL(params) {
  const u = new URL(location.pathname, location.origin);
  for (const [k, v] of Object.entries(params)) if (v) u.searchParams.set(k, v);
  return u.toString();
}

// ---- the log --------------------------------------------------------------

const logEl = $('#log');

/** log adds a line at the top: kind is a CSS class and a data attribute for tests. */
function log(kind, who, text, extra = {}) {
  const li = h('li', { class: kind, dataset: { kind, ...extra } },
    h('time', {}, clock()), ' ', who ? h('b', {}, who) : '', who ? ' ' : '', text);
  logEl.prepend(li);
  while (logEl.children.length > LOG_MAX) logEl.lastElementChild.remove();
  return li;
}

// ---- backend calls (herald dev's /demo/api/) -------------------------------

/** api calls a demo endpoint and returns its JSON; a problem becomes an Error. */
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  const r = await fetch(new URL('api/' + path, location.href), init);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || data.title || `HTTP ${r.status}`);
    err.status = r.status;
    err.code = data.code;
    throw err;
  }
  return data;
}

// ---- the account and its device list ------------------------------------

const params = new URLSearchParams(location.search);
let account = params.get('account') || localStorage.getItem(ACCOUNT_KEY) || 'demo-' + randomSuffix();
if (!ID_RE.test(account)) {
  showFatal(`"${account}" is not a valid account id (1 to 128 characters of A-Z a-z 0-9 . _ : @ -); using a new one.`);
  account = 'demo-' + randomSuffix();
}
localStorage.setItem(ACCOUNT_KEY, account);
if (params.get('account') !== account) {
  params.set('account', account);
  history.replaceState(null, '', '?' + params.toString());
}
$('#account').value = account;
$('#share-link').href = pageURL({ account, role: 'remote' });
document.title = `Herald demo · ${account}`;

/** devices: the account's device list, id → {id, platform, name, online}. */
const devices = new Map();
let refreshTimer = 0;

async function refreshDevices() {
  try {
    const data = await api('devices?account=' + encodeURIComponent(account));
    const seen = new Set();
    for (const d of data.devices || []) {
      seen.add(d.id);
      devices.set(d.id, { ...devices.get(d.id), ...d });
    }
    for (const id of devices.keys()) if (!seen.has(id)) devices.delete(id);
    renderDevices();
  } catch (err) {
    log('error', 'page', 'device list: ' + err.message);
  }
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshDevices, 250);
}

function renderDevices() {
  const list = $('#device-list');
  const sorted = [...devices.values()].sort((a, b) => a.id.localeCompare(b.id));
  list.replaceChildren(...(sorted.length ? sorted.map((d) => {
    const local = panes.has(d.id);
    return h('li', { dataset: { device: d.id, online: String(!!d.online) } },
      h('span', { class: 'dot', title: d.online ? 'online' : 'offline' }),
      h('span', { class: 'id' }, d.id),
      h('span', { class: 'meta' }, [d.platform, d.online ? 'online' : 'offline'].filter(Boolean).join(' · ')),
      local ? h('span', { class: 'tag' }, 'this page') : '');
  }) : [h('li', { class: 'empty' }, 'none yet')]));
  const targets = sorted.map((d) => d.id);
  fillSelect($('#push-to'), [['', 'every device of the account'], ...targets.map((id) => [id, label(id)])]);
  for (const p of panes.values()) if (!p.guest) p.updateTargets(targets);
  const add = $('#add-device');
  if (document.activeElement !== add && (panes.has(add.value) || devices.has(add.value))) suggestDevice();
}

function label(id) {
  const d = devices.get(id);
  return d && !d.online ? `${id} (offline)` : id;
}

/** fillSelect replaces a select's options and keeps its value when it still exists. */
function fillSelect(sel, options) {
  const keep = sel.value;
  sel.replaceChildren(...options.map(([v, text]) => h('option', { value: v }, text)));
  if (options.some(([v]) => v === keep)) sel.value = keep;
}

const presenceSeen = new Set();

function onPresence(p, by) {
  const d = devices.get(p.device) || { id: p.device };
  d.online = p.online;
  if (p.platform) d.platform = p.platform;
  devices.set(p.device, d);
  renderDevices();
  scheduleRefresh();
  const key = `${p.device}/${p.online}/${p.ts}`;
  if (!presenceSeen.has(key)) {
    presenceSeen.add(key);
    log('presence', by, `presence: ${p.device} is ${p.online ? 'online' : 'offline'}`, { device: p.device });
  }
}

// ---- resume cursors ---------------------------------------------------------

const cursorKey = (acct, device) => `${CURSOR_KEY}:${acct}:${device}`;

/** readCursor returns the device's saved resume cursor, 0 when it has none. */
function readCursor(acct, device) {
  const n = Number(localStorage.getItem(cursorKey(acct, device)));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** saveCursor keeps seq as the device's cursor when it is above the saved one. */
function saveCursor(acct, device, seq) {
  if (seq > readCursor(acct, device)) localStorage.setItem(cursorKey(acct, device), String(seq));
}

// ---- panes: devices on this page ----------------------------------------

/**
 * panes: pane key → Pane, the devices connected from this page. A device of
 * the page's account is keyed by its id, one of another account by
 * account/id ('/' is in no id).
 */
const panes = new Map();
const paneKey = (acct, device) => (acct === account ? device : `${acct}/${device}`);
let sdk = null;

/** guestAccount is the second account of the live score demo: another account's TV on this page. */
const guestAccount = account.length <= 122 ? `${account}-guest` : 'guest-' + randomSuffix();

class Pane {
  constructor(device, role, acct = account) {
    this.device = device;
    this.role = role;
    this.account = acct;
    this.key = paneKey(acct, device);
    this.guest = acct !== account;
    this.welcomes = 0;
    this.unsubs = [];
    this.sent = new Map(); // message id → {t0, action, seen: Set of receipt keys}
    this.who = this.guest ? `${device}@${acct}` : device; // the name in the log
    this.el = h('article', { class: `card pane ${role}${this.guest ? ' guest' : ''}`, dataset: { device, role, account: acct, state: 'idle', welcomes: '0' } });
    this.badge = h('span', { class: 'badge' }, 'idle');
    const header = h('header', {},
      h('strong', { class: 'name' }, device),
      h('span', { class: 'role' }, role),
      this.guest ? h('span', { class: 'acct', title: `A device of another account: ${acct}` }, acct) : '',
      this.badge,
      h('span', { class: 'spacer' }),
      h('a', {
        class: 'small', href: pageURL({ account: acct, device, role }), target: '_blank', rel: 'noopener',
        title: 'Move this device to a new tab', onclick: () => setTimeout(() => removePane(this.key), 0),
      }, '↗'),
      h('button', { type: 'button', class: 'small', title: 'Disconnect and remove', onclick: () => removePane(this.key) }, '×'));
    this.toast = h('div', { class: 'toast', hidden: true, role: 'status' });
    this.score = h('div', { class: 'score', dataset: { topic: SCORE_TOPIC, status: 'unsubscribed' }, title: `Messages of the topic ${SCORE_TOPIC}` },
      h('span', { class: 'label' }, 'Live score'), h('span', { class: 'value' }, '–'));
    this.el.append(header, role === 'player' ? this.buildPlayer() : this.buildRemote(), this.score, this.toast);
  }

  // -- the player --

  buildPlayer() {
    this.player = { state: 'stopped', position: 0, volume: 50, title: TITLE, since: 0 };
    this.ui = {
      icon: h('div', { class: 'icon', 'aria-hidden': 'true' }, '■'),
      state: h('div', { class: 'player-state' }, 'stopped'),
      title: h('div', { class: 'title' }, TITLE),
      fill: h('div', { class: 'fill' }),
      times: h('div', { class: 'times' }),
      volume: h('div', { class: 'volume' }),
      volFill: h('div', { class: 'fill' }),
    };
    const u = this.ui;
    this.timer = setInterval(() => this.renderPlayer(), 250);
    const body = h('div', {},
      h('div', { class: 'screen' }, u.title, u.icon, u.state,
        h('div', { class: 'bar' }, u.fill), u.times,
        h('div', { class: 'volrow' }, u.volume, h('div', { class: 'bar vol' }, u.volFill))),
      h('p', { class: 'hint' }, 'Obeys playback.control.v1 from any sibling and acknowledges each message.'));
    this.renderPlayer();
    return body;
  }

  position() {
    const p = this.player;
    const pos = p.state === 'playing' ? p.position + (performance.now() - p.since) : p.position;
    return Math.min(pos, DURATION_MS);
  }

  apply(payload) {
    const p = this.player;
    p.position = this.position();
    p.since = performance.now();
    switch (payload.action) {
      case 'play': p.state = 'playing'; break;
      case 'pause': p.state = 'paused'; break;
      case 'stop': p.state = 'stopped'; p.position = 0; break;
      case 'seek': p.position = Math.min(Math.max(0, payload.position_ms | 0), DURATION_MS); break;
      case 'volume': p.volume = Math.min(Math.max(0, payload.volume | 0), 100); break;
    }
    if (payload.title_id) p.title = payload.title_id;
    this.renderPlayer();
  }

  renderPlayer() {
    const p = this.player;
    const u = this.ui;
    const pos = this.position();
    if (p.state === 'playing' && pos >= DURATION_MS) { p.state = 'stopped'; p.position = 0; }
    u.icon.textContent = { playing: '▶', paused: '❚❚', stopped: '■' }[p.state];
    u.state.textContent = p.state;
    u.title.textContent = p.title;
    this.el.dataset.player = p.state;
    this.el.dataset.volume = String(p.volume);
    u.fill.style.width = (100 * pos / DURATION_MS).toFixed(2) + '%';
    u.times.textContent = `${fmtTime(pos)} / ${fmtTime(DURATION_MS)}`;
    u.volume.textContent = `volume ${p.volume}%`;
    u.volFill.style.width = p.volume + '%';
  }

  // -- the remote --

  buildRemote() {
    this.target = h('select', { class: 'target', 'aria-label': 'Send to' });
    fillSelect(this.target, [['*', 'all other devices']]);
    const action = (a, text, title) => h('button', { type: 'button', dataset: { action: a }, title, onclick: () => this.control({ action: a }) }, text);
    const seekOut = h('output', {}, '0:00');
    const seek = h('input', {
      type: 'range', min: 0, max: DURATION_MS, step: 1000, value: 0, dataset: { action: 'seek' }, 'aria-label': 'Seek',
      oninput: () => { seekOut.textContent = fmtTime(+seek.value); },
      onchange: () => this.control({ action: 'seek', position_ms: +seek.value }),
    });
    const volOut = h('output', {}, '50%');
    const vol = h('input', {
      type: 'range', min: 0, max: 100, step: 1, value: 50, dataset: { action: 'volume' }, 'aria-label': 'Volume',
      oninput: () => { volOut.textContent = vol.value + '%'; },
      onchange: () => this.control({ action: 'volume', volume: +vol.value }),
    });
    this.last = h('div', { class: 'last' }, 'Nothing sent yet.');
    return h('div', { class: 'remote-body' },
      h('label', { class: 'to' }, 'Send to ', this.target),
      h('div', { class: 'buttons' },
        action('play', '▶ Play'), action('pause', '❚❚ Pause'), action('stop', '■ Stop')),
      h('label', { class: 'slider' }, h('span', {}, 'Seek'), seek, seekOut),
      h('label', { class: 'slider' }, h('span', {}, 'Volume'), vol, volOut),
      this.last,
      h('p', { class: 'hint' }, 'Each button sends playback.control.v1 device to device; the receipts come back below and in the log.'));
  }

  updateTargets(ids) {
    if (!this.target) return;
    fillSelect(this.target, [['*', 'all other devices'], ...ids.filter((id) => id !== this.device).map((id) => [id, label(id)])]);
  }

  async control(payload) {
    if (!this.client || this.client.state !== 'open') {
      this.last.textContent = `Not connected (${this.client ? this.client.state : 'no client'}): nothing sent.`;
      log('error', this.who, `${payload.action} not sent: the connection is ${this.client ? this.client.state : 'missing'}`);
      return;
    }
    const to = this.target.value === '*' ? { siblings: true } : { device: this.target.value };
    const toText = to.siblings ? 'all other devices' : to.device;
    const id = sdk.newMessageId();
    const t0 = performance.now();
    this.sent.set(id, { t0, action: payload.action, seen: new Set() });
    const detail = payload.action === 'seek' ? ' ' + fmtTime(payload.position_ms) : payload.action === 'volume' ? ` ${payload.volume}%` : '';
    log('sent', this.who, `sent ${payload.action}${detail} to ${toText} (${shortId(id)})`, { id });
    this.last.textContent = `${payload.action}${detail} → ${toText}: waiting for the receipt…`;
    try {
      const receipt = await this.client.send(to, 'playback.control.v1', payload, { id, ack: true });
      this.onReceipt(receipt);
    } catch (err) {
      const msg = errText(err);
      this.last.textContent = `${payload.action} failed: ${msg}`;
      log('error', this.who, `${payload.action} (${shortId(id)}) failed: ${msg}`, { id });
    }
  }

  onReceipt(r) {
    const s = this.sent.get(r.id);
    const results = r.results || [];
    const key = JSON.stringify(results.map((x) => [x.device, x.status]));
    if (s) {
      if (s.seen.has(key)) return;
      s.seen.add(key);
    }
    const ms = s ? Math.round(performance.now() - s.t0) : null;
    const text = results.length
      ? results.map((x) => `${x.device} ${x.status}${x.error ? ' (' + x.error.code + ')' : ''}`).join(', ')
      : 'no targets';
    const statuses = results.map((x) => x.status).join(' ');
    log('receipt', this.who, `receipt ${shortId(r.id)}: ${text}${ms !== null ? ` in ${ms} ms` : ''}`, { id: r.id, statuses });
    if (this.last && s) this.last.textContent = `${s.action} → ${text}${ms !== null ? ` (${ms} ms)` : ''}`;
  }

  // -- every device --

  onMessage(m) {
    const age = typeof m.ts === 'number' ? Math.max(0, Date.now() - m.ts) : null;
    const from = fromText(m.from);
    // A stored message (it has a seq) waited in the inbox while no tab of the
    // device was open: its cursor moves past it, for the next tab.
    const after = (age !== null ? ` after ${age} ms` : '') + (m.seq ? ', stored while offline' : '');
    if (m.seq) {
      saveCursor(this.account, this.device, m.seq);
      this.el.dataset.cursor = String(m.seq);
    }
    if (m.topic) {
      // Shown by the topic's handler (showScore); only logged here.
      log('msg', this.who, `${m.type} "${m.payload?.title}" on topic ${m.topic} from ${from}${after}`, { id: m.id, topic: m.topic });
    } else if (m.type === 'playback.control.v1' && this.role === 'player') {
      this.apply(m.payload || {});
      log('msg', this.who, `${m.payload?.action} from ${from}${after} (${shortId(m.id)})`, { id: m.id });
    } else if (m.type === 'notification.v1') {
      this.showToast(m.payload || {});
      log('msg', this.who, `notification "${m.payload?.title}" from ${from}${after}`, { id: m.id });
    } else {
      log('msg', this.who, `${m.type} from ${from}${after} (${shortId(m.id)})`, { id: m.id });
    }
    if (m.ack) {
      m.acknowledge();
      log('ack', this.who, `acked ${shortId(m.id)}`, { id: m.id });
    }
  }

  /** showScore shows a message of the score topic (its handler from onTopic). */
  showScore(m) {
    const d = m.payload?.data || {};
    const text = d.home !== undefined && d.away !== undefined ? `${d.home} – ${d.away}` : m.payload?.title || '?';
    this.score.querySelector('.value').textContent = text;
    this.score.dataset.score = text;
    this.score.dataset.id = m.id;
    this.score.classList.remove('flash');
    void this.score.offsetWidth; // restart the animation
    this.score.classList.add('flash');
  }

  /** onSubs shows the answer to a subscription to the score topic, sent after each welcome. */
  onSubs(s) {
    for (const r of s.results) {
      if (r.topic !== SCORE_TOPIC) continue;
      this.score.dataset.status = r.status;
      log('subs', this.who, `${r.status} to topic ${r.topic}`, { status: r.status });
    }
  }

  showToast(n) {
    this.toast.replaceChildren(h('strong', {}, n.title || ''), n.body ? h('span', {}, n.body) : '');
    this.toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { this.toast.hidden = true; }, 8000);
  }

  setState(s) {
    this.el.dataset.state = s;
    this.badge.textContent = s;
    this.badge.className = 'badge ' + s;
  }

  start() {
    const after = readCursor(this.account, this.device);
    this.el.dataset.cursor = String(after);
    const c = new sdk.HeraldClient({
      url: location.origin,
      after,
      // The token's topics claim lets the device subscribe to the score topic.
      token: () => api('token', { account: this.account, device: this.device, topics: [SCORE_TOPIC] }).then((r) => r.token),
      hello: {
        platform: this.role,
        name: this.role === 'player' ? `Player ${this.device}` : `Remote ${this.device}`,
        app_version: 'demo',
        capabilities: this.role === 'player' ? ['playback'] : ['remote'],
      },
      presence: true,
    });
    this.client = c;
    this.unsubs.push(
      c.on('state', (s, err) => {
        this.setState(typeof s === 'string' ? s : c.state);
        if (s === 'closed' && err) {
          log('error', this.who, 'closed: ' + errText(err));
          this.badge.title = errText(err);
        }
      }),
      c.on('welcome', (w) => {
        this.welcomes++;
        this.el.dataset.welcomes = String(this.welcomes);
        const life = w.lifetime_ms ? `, lifetime ${Math.round(w.lifetime_ms / 1000)} s` : '';
        log('welcome', this.who, `connected to ${w.edge} (${w.session}${life})`);
        if (!this.guest) scheduleRefresh();
      }),
      c.on('message', (m) => this.onMessage(m)),
      c.onTopic(SCORE_TOPIC, (m) => this.showScore(m)),
      c.on('subs', (s) => this.onSubs(s)),
      c.on('receipt', (r) => this.onReceipt(r)),
      // The device list is the page account's: a guest's siblings are not in it.
      c.on('presence', (p) => { if (!this.guest) onPresence(p, this.who); }),
      c.on('reconnect', (r) => log('reconnect', this.who,
        `the edge asks to reconnect${r?.reason ? ' (' + r.reason + ')' : ''}${r?.after_ms !== undefined ? ` after ${r.after_ms} ms` : ''}`)),
      c.on('error', (err) => log('error', this.who, errText(err))),
    );
    this.setState(c.state);
    // Subscribed once connected; the client subscribes again after every
    // welcome by itself, and each answer is a subs event (onSubs).
    c.connect()
      .then(() => c.subscribe(SCORE_TOPIC))
      .catch((err) => log('error', this.who, errText(err)));
  }

  destroy() {
    clearInterval(this.timer);
    clearTimeout(this.toastTimer);
    for (const u of this.unsubs) if (typeof u === 'function') u();
    this.client?.close();
    this.el.remove();
  }
}

function errText(err) {
  if (!err) return 'unknown error';
  const msg = err.message || String(err);
  // The SDK's errors already name their code ("herald: CODE: ...").
  const code = err.code && !msg.includes(err.code) ? `${err.code}: ` : '';
  return code + msg;
}

// The devices of this tab survive a reload (sessionStorage is per tab).
const storeKey = () => `herald-demo-panes:${account}`;

function savePanes() {
  if (single) return;
  sessionStorage.setItem(storeKey(), JSON.stringify([...panes.values()].map((p) =>
    ({ device: p.device, role: p.role, ...(p.guest ? { account: p.account } : {}) }))));
}

function addPane(device, role, acct = account) {
  for (const [what, id] of [['device', device], ['account', acct]]) {
    if (!ID_RE.test(id)) {
      log('error', 'page', `"${id}" is not a valid ${what} id (1 to 128 characters of A-Z a-z 0-9 . _ : @ -)`);
      return null;
    }
  }
  const key = paneKey(acct, device);
  if (panes.has(key)) {
    panes.get(key).el.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    return panes.get(key);
  }
  const p = new Pane(device, role === 'remote' ? 'remote' : 'player', acct);
  panes.set(key, p);
  $('#panes').append(p.el);
  if (!p.guest) p.updateTargets([...devices.keys()]);
  savePanes();
  if (sdk) p.start();
  renderDevices();
  suggestDevice();
  return p;
}

function removePane(key) {
  const p = panes.get(key);
  if (!p) return;
  panes.delete(key);
  p.destroy();
  savePanes();
  renderDevices();
  scheduleRefresh();
}

function suggestDevice() {
  const role = $('#add-role').value;
  const base = role === 'remote' ? 'phone' : 'tv';
  let id = base;
  for (let i = 2; panes.has(id) || devices.has(id); i++) id = `${base}-${i}`;
  $('#add-device').value = id;
}

// ---- wiring -------------------------------------------------------------

function showFatal(text) {
  const el = $('#fatal');
  el.textContent = text;
  el.hidden = false;
}

$('#account-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const a = $('#account').value.trim();
  if (!ID_RE.test(a)) return showFatal(`"${a}" is not a valid account id (1 to 128 characters of A-Z a-z 0-9 . _ : @ -).`);
  localStorage.setItem(ACCOUNT_KEY, a);
  location.search = '?account=' + encodeURIComponent(a);
});

$('#new-account').addEventListener('click', () => {
  const a = 'demo-' + randomSuffix();
  localStorage.setItem(ACCOUNT_KEY, a);
  location.search = '?account=' + encodeURIComponent(a);
});

$('#add-role').addEventListener('change', suggestDevice);

$('#add-form').addEventListener('submit', (e) => {
  e.preventDefault();
  addPane($('#add-device').value.trim(), $('#add-role').value);
});

$('#add-tab').addEventListener('click', () => {
  const device = $('#add-device').value.trim();
  if (!ID_RE.test(device)) return log('error', 'page', `"${device}" is not a valid device id`);
  window.open(pageURL({ account, device, role: $('#add-role').value }), '_blank', 'noopener');
});

$('#refresh').addEventListener('click', refreshDevices);

$('#add-guest').addEventListener('click', () => {
  let id = 'tv';
  for (let i = 2; panes.has(paneKey(guestAccount, id)); i++) id = `tv-${i}`;
  addPane(id, 'player', guestAccount);
});

$('#score-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const home = Math.max(0, Math.floor(Number($('#score-home').value)) || 0);
  const away = Math.max(0, Math.floor(Number($('#score-away').value)) || 0);
  const payload = { title: `Home ${home} – ${away} Away`, body: 'Live score', data: { home: String(home), away: String(away) } };
  const t0 = performance.now();
  const button = e.submitter || $('#score-form button[type="submit"]');
  button.disabled = true;
  try {
    const r = await api('publish', { topic: SCORE_TOPIC, type: 'notification.v1', payload, timeout_ms: 5000 });
    const ms = Math.round(performance.now() - t0);
    const plural = (n, one) => `${n} ${one}${n === 1 ? '' : 's'}`;
    const extra = (r.dropped ? `, ${r.dropped} dropped` : '') +
      (r.failed?.length ? `, ${plural(r.failed.length, 'edge')} failed (${r.failed.map((f) => f.error).join('; ')})` : '');
    log('publish', 'server', `score ${home} – ${away} to ${SCORE_TOPIC} (${shortId(r.id)}): ${plural(r.devices, 'device')} on ${plural(r.edges, 'edge')}${extra} in ${ms} ms`,
      { id: r.id, devices: String(r.devices), edges: String(r.edges) });
  } catch (err) {
    log('error', 'server', 'publish failed: ' + errText(err));
  } finally {
    button.disabled = false;
  }
});
$('#clear-log').addEventListener('click', () => logEl.replaceChildren());

$('#push-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const device = $('#push-to').value;
  const payload = { title: $('#push-title').value };
  const body = $('#push-body').value;
  if (body) payload.body = body;
  const to = device ? { account, device } : { account };
  const t0 = performance.now();
  const button = e.submitter || $('#push-form button');
  button.disabled = true;
  try {
    const r = await api('push', { to, type: 'notification.v1', payload, timeout_ms: 5000 });
    const ms = Math.round(performance.now() - t0);
    const results = (r.results || []).map((x) => `${x.device} ${x.status}${x.error ? ' (' + x.error + ')' : ''}` +
      (x.status === 'queued' ? ' (stored: it arrives when the device connects)' : '')).join(', ') || 'no device online';
    log('push', 'server', `push ${shortId(r.id)} to ${device || 'every device'}: ${results} in ${ms} ms`, { id: r.id });
  } catch (err) {
    log('error', 'server', 'push failed: ' + errText(err));
  } finally {
    button.disabled = false;
  }
});

// ---- start --------------------------------------------------------------

const single = params.has('device') || params.has('role');
let initial;
if (single) {
  const role = params.get('role') === 'remote' ? 'remote' : 'player';
  initial = [{ device: params.get('device') || `${role === 'remote' ? 'phone' : 'tv'}-${randomSuffix()}`, role }];
} else {
  try {
    initial = JSON.parse(sessionStorage.getItem(storeKey()) || 'null');
  } catch {
    initial = null;
  }
  if (!Array.isArray(initial) || initial.length === 0) {
    const s = randomSuffix(3);
    initial = [{ device: `tv-${s}`, role: 'player' }, { device: `phone-${s}`, role: 'remote' }];
  }
}

try {
  sdk = await import('./sdk/index.js');
} catch (err) {
  showFatal('The SDK did not load (./sdk/index.js): ' + (err.message || err) + '. Build it with: cd clients/js && npm run build');
}
for (const { device, role, account: acct } of initial) addPane(device, role, typeof acct === 'string' ? acct : account);
suggestDevice();
refreshDevices();
setInterval(refreshDevices, 15_000);
document.body.dataset.ready = 'true';
