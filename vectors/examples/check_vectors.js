#!/usr/bin/env node
// Run every case of every vector file against the decoders and encoders in codecs.js, the way a
// porter's test suite would (vectors/README.md#consuming-them). Node >= 18, no dependencies.
//
//   node vectors/examples/check_vectors.js [VECTORS_DIR]
//
// Prints one line per failing case and a JSON summary on the last line; exits 1 if any case fails.
// A file holding a case this example cannot check is listed under "uncovered" (and not checked).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { isDeepStrictEqual } = require('node:util');
const { VectorError, decode, encode, endpointHash, CODECS, ZPROTO, decodeGreeting, decodeFrames } = require('./codecs.js');
const curve = require('./curve.js');

const root = process.argv[2] || path.join(__dirname, '..');
const hex = (h) => Buffer.from(h, 'hex');
const files = [];
(function walk(dir) {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.json') && name !== 'schema.json') files.push(p);
  }
})(root);

// Run the decoder; return {fields} or {error: {error, field, frame?, offset}}.
function outcome(protocol, frames) {
  try {
    return { fields: decode(protocol, frames) };
  } catch (e) {
    if (!(e instanceof VectorError)) throw e;
    const error = { error: e.code, field: e.field, offset: e.offset };
    if (e.frame !== undefined) error.frame = e.frame;
    return { error };
  }
}

function sameError(got, want) {
  return got.error === want.error && got.field === want.field && got.offset === want.offset &&
    (want.frame === undefined || got.frame === want.frame);
}

function checkMessage(protocol, c) {
  const frames = c.frames ? c.frames.map(hex) : [hex(c.hex)];
  const got = outcome(protocol, frames);
  const accepted = got.fields !== undefined;
  if (c.result === 'valid' || (c.result === 'acceptable' && accepted)) {
    if (!accepted) return `refused: ${JSON.stringify(got.error)}`;
    if (!isDeepStrictEqual(got.fields, c.fields)) return `fields differ: ${JSON.stringify(got.fields)}`;
    const again = encode(protocol, c.fields).map((b) => b.toString('hex'));
    const want = c.frames || [c.hex];
    if (!isDeepStrictEqual(again, want)) return `encodes to ${JSON.stringify(again)}`;
    return null;
  }
  if (accepted) return `accepted: ${JSON.stringify(got.fields)}`;
  if (!sameError(got.error, c.error)) return `error ${JSON.stringify(got.error)}, want ${JSON.stringify(c.error)}`;
  return null;
}

// ZRE session: udp steps are beacons, tcp steps are ROUTER deliveries (identity first). Sequence
// numbers run per direction; `input` (when given) names each peer's UUID and endpoint.
function checkZreSession(c) {
  const last = {};
  for (const [i, s] of c.steps.entries()) {
    const peer = c.input && c.input[s.from];
    if (s.channel === 'udp') {
      const got = outcome('beacon', [hex(s.hex)]);
      if (!isDeepStrictEqual(got.fields, s.fields)) return `step ${i}: ${JSON.stringify(got)}`;
      if (peer && (got.fields.uuid !== peer.uuid || (got.fields.port !== 0 &&
          !peer.endpoint.endsWith(`:${got.fields.port}`)))) return `step ${i}: not ${s.from}'s beacon`;
      continue;
    }
    if (s.frames[0] !== s.identity || hex(s.identity).length !== 17 || s.frames[1] !== s.hex) {
      return `step ${i}: identity/frames do not match`;
    }
    if (peer && s.identity !== '01' + peer.uuid.toLowerCase()) return `step ${i}: not ${s.from}'s identity`;
    const got = outcome('zre', s.frames.slice(1).map(hex));
    if (!isDeepStrictEqual(got.fields, s.fields)) return `step ${i}: ${JSON.stringify(got)}`;
    if (peer && s.fields.type === 'HELLO' && s.fields.endpoint !== peer.endpoint) return `step ${i}: endpoint`;
    const direction = `${s.from}>${s.to}`;
    if (direction in last && s.fields.sequence !== (last[direction] + 1) % 65536) return `step ${i}: sequence`;
    last[direction] = s.fields.sequence;
  }
  return null;
}

// ZMTP handshake: each side's steps joined are one byte stream: a greeting, then frames, and they
// must say what `input` set up: mechanism, padding (identity length + 1), Socket-Type and Identity
// in READY/INITIATE, PLAIN credentials, and the messages sent once open (vectors/README.md#kinds).
// A side that stops inside its greeting (libzmq-staging's peer) must still be a valid prefix.
const ascii = (text) => Buffer.from(text, 'latin1').toString('hex');
const WITH_IDENTITY = new Set(['REQ', 'DEALER', 'ROUTER']);

function checkSide(side, bytes, setup, sent) {
  const greeting = decodeGreeting(bytes.subarray(0, 64));
  const { frames } = bytes.length > 64 ? decodeFrames(bytes.subarray(64)) : { frames: [] };
  if (!setup) return null;
  const identity = setup.identity || '';
  if (greeting.mechanism !== setup.mechanism) return `${side}: mechanism ${greeting.mechanism}`;
  if (BigInt('0x' + greeting.padding) !== BigInt(identity.length / 2 + 1)) return `${side}: padding`;
  const messages = [];
  let current = [];
  for (const f of frames) {
    if (f.kind === 'command' && (f.name === 'READY' || f.name === 'INITIATE')) {
      const props = Object.fromEntries(f.properties);
      if (props['Socket-Type'] !== ascii(setup.socket_type)) return `${side}: Socket-Type`;
      if (WITH_IDENTITY.has(setup.socket_type) && props.Identity !== identity) return `${side}: Identity`;
    } else if (f.kind === 'command' && f.name === 'HELLO') {
      if (f.username !== setup.username || f.password !== setup.password) return `${side}: credentials`;
    } else if (f.kind === 'message') {
      current.push(f.body);
      if (!f.more) { messages.push(current); current = []; }
    }
  }
  if (!isDeepStrictEqual(messages, sent)) return `${side}: messages ${JSON.stringify(messages)}`;
  return null;
}

function checkZmtpHandshake(c) {
  const sides = {};
  for (const s of c.steps) sides[s.from] = Buffer.concat([sides[s.from] || Buffer.alloc(0), hex(s.hex)]);
  for (const [side, bytes] of Object.entries(sides)) {
    if (bytes.length < 64) {
      try { decodeGreeting(bytes); } catch (e) {
        if (e.code === 'truncated') continue;
        return `${side}: ${e.message}`;
      }
      return `${side}: a ${bytes.length}-byte greeting decoded`;
    }
    const sent = c.input ? c.input.messages.filter((m) => m.from === side).map((m) => m.frames) : [];
    let why;
    try { why = checkSide(side, bytes, c.input && c.input[side], sent); } catch (e) {
      if (!(e instanceof VectorError)) throw e;
      why = `${side}: ${e.message}`;
    }
    if (why) return why;
  }
  return null;
}

// Functions, by the first two parts of the id or by protocol; each returns the output (or throws a
// VectorError) for the case's input.
const h = (x) => Buffer.from(x, 'hex');
const FUNCTIONS = {
  'zrelog.hash': (i) => ({ signed_char: endpointHash(h(i.utf8_hex), true),
    unsigned_char: endpointHash(h(i.utf8_hex), false) }),
  z85: (i) => ('binary' in i ? { z85: curve.z85Encode(h(i.binary)) }
    : { binary: curve.z85Decode(i.z85).toString('hex') }),
  x25519: (i) => {
    if ('alice_secret' in i) {
      const [a, b] = [h(i.alice_secret), h(i.bob_secret)];
      const alicePublic = curve.x25519Base(a);
      return { alice_public: alicePublic.toString('hex'), bob_public: curve.x25519Base(b).toString('hex'),
        shared: curve.x25519(b, alicePublic).toString('hex') };
    }
    let [k, u] = [h(i.scalar), h(i.u)];
    for (let n = 0; n < (i.iterations || 1); n++) [k, u] = [curve.x25519(k, u), k];
    return { u: k.toString('hex') };
  },
  'nacl-box': (i) => {
    const key = () => ('key' in i ? h(i.key) : curve.beforenm(h(i.public_key), h(i.secret_key)));
    if ('tag' in i || ('key' in i && !('nonce' in i))) return { tag: curve.poly1305(h(i.key), h(i.message)).toString('hex') };
    if ('box' in i) return { message: curve.secretboxOpen(h(i.box), h(i.nonce), key()).toString('hex') };
    if ('message' in i) return { box: curve.secretbox(h(i.message), h(i.nonce), key()).toString('hex') };
    return { key: key().toString('hex') };
  },
};
// CURVE refusals (curve/invalid.json): replay the named transcript through the mechanism's checks
// in curve.js up to the named state, then feed the case's body to the side in that state
// (vectors/README.md#curve; errors from spec/curve.md#errors).
const TRANSCRIPTS = {};  // id -> transcript case, from every file (filled below)
const OPENED = { 'server-open': [], 'server-open-after-first': [0], 'server-open-after-second': [1] };

function curveRefusal(i) {
  const t = TRANSCRIPTS[i.transcript];
  if (!t) throw new Error(`no transcript ${i.transcript}`);
  const [client, server] = [t.input.client, t.input.server];
  const bodies = (from, command) => t.steps.filter((s) => s.from === from && s.command === command)
    .map((s) => h(s.body));
  const [clientEphemeral, serverEphemeral] = [h(client.ephemeral_secret), h(server.ephemeral_secret)];
  const body = h(i.body);
  const accepted = { accepted: true };
  if (i.state === 'server-expect-hello') return curve.serverOnHello(body, h(server.secret_key)) && accepted;
  const hello = curve.serverOnHello(bodies('client', 'HELLO')[0], h(server.secret_key));
  const welcomeFor = (b) => curve.clientOnWelcome(b, h(client.server_key), clientEphemeral);
  if (i.state === 'client-expect-welcome') return welcomeFor(body) && accepted;
  const welcome = welcomeFor(bodies('server', 'WELCOME')[0]);
  const initiateFor = (b) => curve.serverOnInitiate(b, { cookieKey: h(server.cookie_key),
    clientEphemeral: hello.clientEphemeral, serverEphemeralSecret: serverEphemeral,
    serverKey: h(server.public_key), lastNonce: hello.nonce });
  if (i.state === 'server-expect-initiate') return initiateFor(body) && accepted;
  const initiate = initiateFor(bodies('client', 'INITIATE')[0]);
  if (i.state === 'client-expect-ready') {
    return curve.clientOnReady(body, curve.beforenm(welcome.serverEphemeral, clientEphemeral)) && accepted;
  }
  if (!(i.state in OPENED)) throw new Error(`unknown state ${i.state}`);
  const session = curve.beforenm(hello.clientEphemeral, serverEphemeral);
  let last = initiate.nonce;
  const sent = bodies('client', 'MESSAGE');
  for (const n of OPENED[i.state]) last = curve.onMessage(sent[n], session, last, 'CurveZMQMESSAGEC').nonce;
  return curve.onMessage(body, session, last, 'CurveZMQMESSAGEC') && accepted;
}
FUNCTIONS['zmtp-curve'] = curveRefusal;

// `<protocol>.ids.*`: the message name -> id table of a zproto protocol
const idTable = (protocol) => Object.fromEntries(
  Object.entries(ZPROTO[protocol].messages).map(([id, [name]]) => [name, Number(id)]));

function checkFunction(fn, c) {
  let got;
  try { got = { output: fn(c.input) }; } catch (e) {
    if (!(e instanceof VectorError)) throw e;
    got = { error: { error: e.code, field: e.field, offset: e.offset } };
  }
  if (c.result === 'invalid') {
    return got.error && sameError(got.error, c.error) ? null : `got ${JSON.stringify(got)}`;
  }
  return isDeepStrictEqual(got.output, c.output) ? null : `got ${JSON.stringify(got)}`;
}

// CURVE transcript: greetings with mechanism CURVE; each command step's frame holds its body
// (commands in command frames, MESSAGE in data frames); every box opens to its plaintext with its
// shared key, and that key is beforenm of the two keys the box names (spec/curve.md#key-schedule);
// each box travels in the body, or inside another box of the step (the cookie, the vouch).
function checkCurveHandshake(c) {
  const side = (who) => c.input[who];
  const keys = {
    C: [h(side('client').public_key), h(side('client').secret_key)],
    S: [h(side('server').public_key), h(side('server').secret_key)],
    "C'": [curve.x25519Base(h(side('client').ephemeral_secret)), h(side('client').ephemeral_secret)],
    "S'": [curve.x25519Base(h(side('server').ephemeral_secret)), h(side('server').ephemeral_secret)],
  };
  for (const [i, s] of c.steps.entries()) {
    if (!s.command) {
      if (decodeGreeting(h(s.hex)).mechanism !== 'CURVE') return `step ${i}: not a CURVE greeting`;
      continue;
    }
    const body = h(s.body);
    const flags = (s.command === 'MESSAGE' ? 0 : 4) | (body.length > 255 ? 2 : 0);
    const size = body.length > 255 ? Buffer.from(BigInt(body.length).toString(16).padStart(16, '0'), 'hex')
      : Buffer.from([body.length]);
    if (!h(s.hex).equals(Buffer.concat([Buffer.from([flags]), size, body]))) return `step ${i}: frame`;
    if (body.subarray(1, 1 + body[0]).toString('latin1') !== s.command) return `step ${i}: name`;
    for (const b of s.boxes) {
      const [from, to] = b.key.split(' ')[1] === '->' ? [b.key.split(' ')[0], b.key.split(' ')[2]] : [];
      const shared = from ? curve.beforenm(keys[to][0], keys[from][1]) : h(side('server').cookie_key);
      if (!shared.equals(h(b.shared_key))) return `step ${i}: ${b.name} shared key`;
      if (!curve.secretboxOpen(h(b.box), h(b.nonce), shared).equals(h(b.plaintext))) return `step ${i}: ${b.name}`;
      const inside = s.boxes.some((other) => h(other.plaintext).includes(h(b.box)));  // cookie, vouch
      if (!body.includes(h(b.box)) && !inside) return `step ${i}: ${b.name} is not in the body`;
    }
  }
  return null;
}

const UNCOVERED = Symbol('uncovered');

function checkCase(protocol, c) {
  const kind = c.kind || 'message';
  if (kind === 'message') return checkMessage(protocol, c);
  if (kind === 'transcript' && protocol === 'zre') return checkZreSession(c);
  if (kind === 'transcript' && protocol === 'zmtp-handshake') return checkZmtpHandshake(c);
  if (kind === 'transcript' && protocol === 'zmtp-curve') return checkCurveHandshake(c);
  if (kind === 'function' && c.id.split('.')[1] === 'ids' && protocol in ZPROTO) {
    return isDeepStrictEqual(c.output, idTable(protocol)) ? null : 'ids differ';
  }
  const fn = FUNCTIONS[c.id.split('.').slice(0, 2).join('.')] || FUNCTIONS[protocol];
  if (kind === 'function' && fn) return checkFunction(fn, c);
  return UNCOVERED;
}

// A file counts as covered when every case in it has a check; `uncovered` lists the others.
const summary = { files: 0, cases: 0, failed: [], uncovered: [] };
const KNOWN = new Set([...Object.keys(CODECS), 'zmtp-handshake', ...Object.keys(FUNCTIONS), 'zmtp-curve']);
const docs = files.map((file) => [file, JSON.parse(fs.readFileSync(file, 'utf8'))]);
for (const [, doc] of docs) {
  for (const c of doc.cases || []) if (doc.protocol === 'zmtp-curve' && c.kind === 'transcript') TRANSCRIPTS[c.id] = c;
}
for (const [file, doc] of docs) {
  const rel = path.relative(root, file);
  if (!KNOWN.has(doc.protocol)) {
    summary.uncovered.push(rel);
    continue;
  }
  if (doc.schema !== 'zre-ref-vectors/2') {
    summary.failed.push(`${rel}: schema ${doc.schema}, this example reads zre-ref-vectors/2`);
    continue;
  }
  const verdicts = doc.cases.map((c) => [c.id, checkCase(doc.protocol, c)]);
  if (verdicts.some(([, why]) => why === UNCOVERED)) {
    summary.uncovered.push(rel);
    continue;
  }
  summary.files += 1;
  for (const [id, why] of verdicts) {
    summary.cases += 1;
    if (why) {
      summary.failed.push(id);
      console.log(`FAIL ${id}: ${why}`);
    }
  }
}
console.log(JSON.stringify(summary));
process.exit(summary.failed.length ? 1 : 0);
