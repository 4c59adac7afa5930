#!/usr/bin/env node
// zre-conformance agent for zyre.js (npm zyre.js), agent protocol v1 (spec/conformance.md#agents).
//
//   zre-conformance run --agent zyre.js --netns
//
// Finds zyre.js through NODE_PATH, ZYRE_JS_PATH, ./node_modules or ./.interop-js/node_modules.
// zyre.js carries one content frame per SHOUT/WHISPER: multi-frame content is answered
// "unsupported" on send. Logs go to stderr; stdout carries only protocol lines.
'use strict';

const path = require('path');
const readline = require('readline');

function loadZyre() {
  const tries = [];
  if (process.env.ZYRE_JS_PATH) tries.push(process.env.ZYRE_JS_PATH);
  tries.push('zyre.js');
  for (const base of [process.cwd(), __dirname]) {
    let dir = base;
    for (let i = 0; i < 6; i += 1) {
      tries.push(path.join(dir, 'node_modules', 'zyre.js'));
      tries.push(path.join(dir, '.interop-js', 'node_modules', 'zyre.js'));
      dir = path.dirname(dir);
    }
  }
  for (const t of tries) {
    try {
      return { Zyre: require(t), where: t };
    } catch (e) {
      if (e.code !== 'MODULE_NOT_FOUND') throw e;
    }
  }
  throw new Error('zyre.js not found; npm install zyre.js (tried ' + tries.join(', ') + ')');
}

const { Zyre, where } = loadZyre();
let zyreVersion = '?';
try {
  zyreVersion = require(path.join(path.dirname(require.resolve(where)), 'package.json')).version;
} catch (e) {
  zyreVersion = '?';
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}
function logErr(...args) {
  process.stderr.write('zyre.js-agent: ' + args.join(' ') + '\n');
}
const up = (id) => String(id).toUpperCase();
const hexOf = (buf) => (Buffer.isBuffer(buf) ? buf.toString('hex') : Buffer.from(String(buf)).toString('hex'));

let node = null;
let me = null;

function wire(z) {
  z.setEncoding('raw');
  z.on('connect', (id, name, headers) => {
    const peer = z.getPeer(id);
    emit({ event: 'ENTER', peer: up(id), name, headers: headers || {}, endpoint: (peer && peer.endpoint) || '' });
  });
  z.on('disconnect', (id, name) => emit({ event: 'EXIT', peer: up(id), name }));
  z.on('expired', (id, name) => emit({ event: 'EXIT', peer: up(id), name }));
  z.on('join', (id, name, group) => emit({ event: 'JOIN', peer: up(id), name, group }));
  z.on('leave', (id, name, group) => emit({ event: 'LEAVE', peer: up(id), name, group }));
  z.on('whisper', (id, name, msg) => emit({ event: 'WHISPER', peer: up(id), name, content: [hexOf(msg)] }));
  z.on('shout', (id, name, msg, group) => emit({ event: 'SHOUT', peer: up(id), name, group, content: [hexOf(msg)] }));
}

function oneFrame(content) {
  if (content.length > 1) return null;
  return content.length ? Buffer.from(content[0], 'hex') : Buffer.alloc(0);
}

const handlers = {
  async hello() {
    return {
      implementation: 'zyre.js',
      version: zyreVersion,
      protocol: 1,
      protocols: ['zre/2'],
      capabilities: ['beacon', 'beacon-interval', 'beacon-stop', 'timers', 'headers', 'peers'],
      timers: { evasive_ms: 5000, expired_ms: 30000, beacon_interval_ms: 1000, reap_interval_ms: 1000 },
    };
  },
  async start(msg) {
    if (node) throw new Error('already started');
    if (!msg.beacon) return { unsupported: true, argument: 'beacon' };
    const opts = {
      name: msg.name,
      headers: msg.headers || {},
      iface: msg.beacon.interface || '127.0.0.1',
      bport: msg.beacon.port,
    };
    if (msg.beacon.interval_ms) opts.binterval = msg.beacon.interval_ms;
    if (msg.evasive_ms) opts.evasive = msg.evasive_ms;
    if (msg.expired_ms) opts.expired = msg.expired_ms;
    const z = new Zyre(opts);
    wire(z);
    await z.start();
    // zyre.js cannot join before start; joining at once gets the groups into most HELLOs
    for (const g of msg.groups || []) z.join(g);
    node = z;
    me = { uuid: up(z.getIdentity()), name: msg.name };
    return { uuid: me.uuid, endpoint: z._zyreNode._endpoint };
  },
  async join(msg) { node.join(msg.group); return {}; },
  async leave(msg) { node.leave(msg.group); return {}; },
  async shout(msg) {
    const frame = oneFrame(msg.content);
    if (frame === null) return { unsupported: true, argument: 'content' };
    node.shout(msg.group, frame);
    return {};
  },
  async whisper(msg) {
    const frame = oneFrame(msg.content);
    if (frame === null) return { unsupported: true, argument: 'content' };
    node.whisper(msg.peer.toLowerCase(), frame);
    return {};
  },
  async peers() {
    const all = node.getPeers();
    return { peers: Object.keys(all).map((id) => ({ peer: up(id), name: all[id].name, endpoint: all[id].endpoint || '' })) };
  },
  async stop() {
    const z = node;
    node = null;
    await z.stop();
    return {};
  },
};

const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    logErr('not JSON:', line);
    return;
  }
  queue = queue.then(async () => {
    const h = handlers[msg.cmd];
    if (!h) { emit({ id: msg.id, ok: false, unsupported: true, argument: 'cmd' }); return; }
    if (msg.cmd !== 'hello' && msg.cmd !== 'start' && !node) {
      emit({ id: msg.id, ok: false, error: 'not started' });
      return;
    }
    try {
      const res = await h(msg);
      if (res.unsupported) emit({ id: msg.id, ok: false, unsupported: true, argument: res.argument });
      else emit({ id: msg.id, ok: true, ...res });
    } catch (e) {
      logErr('command', msg.cmd, 'failed:', e && e.stack ? e.stack : e);
      emit({ id: msg.id, ok: false, error: String(e && e.message ? e.message : e) });
    }
  });
});
rl.on('close', () => {
  queue.then(async () => {
    if (node) {
      try { await node.stop(); } catch (e) { logErr('stop at exit failed:', e); }
    }
    process.exit(0);
  });
});
