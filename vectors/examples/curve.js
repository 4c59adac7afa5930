// CurveZMQ primitives for the vectors in vectors/curve/, written from spec/curve.md: Z85, X25519
// (Node's crypto), HSalsa20/XSalsa20, Poly1305 and NaCl's box/secretbox in the layout CurveZMQ
// sends (tag, then ciphertext). Node >= 18, no dependencies. Used by check_vectors.js.
'use strict';
const crypto = require('node:crypto');
const { VectorError } = require('./codecs.js');

// ---- Z85 (spec/curve.md#z85) --------------------------------------------------------------
const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

function z85Encode(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let v = bytes.readUInt32BE(i);
    const group = [];
    for (let k = 0; k < 5; k++) { group.unshift(Z85[v % 85]); v = Math.floor(v / 85); }
    out += group.join('');
  }
  return out;
}

function z85Decode(text) {  // errors name the field `z85` (the input's name), at the start of the bad group
  if (text.length % 5) throw new VectorError('length-overflow', 'z85', text.length - (text.length % 5));
  const out = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let v = 0;
    for (let k = 0; k < 5; k++) {
      const d = Z85.indexOf(text[i + k]);
      if (d < 0) throw new VectorError('bad-value', 'z85', i);
      v = v * 85 + d;
    }
    if (v > 0xffffffff) throw new VectorError('bad-value', 'z85', i);
    out.writeUInt32BE(v, (i / 5) * 4);
  }
  return out;
}

// ---- X25519 (RFC 7748), through Node's crypto: raw keys wrapped in their DER headers --------
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI = Buffer.from('302a300506032b656e032100', 'hex');

function x25519(scalar, u) {
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([PKCS8, scalar]), format: 'der', type: 'pkcs8' });
  const publicKey = crypto.createPublicKey({ key: Buffer.concat([SPKI, u]), format: 'der', type: 'spki' });
  try {
    return crypto.diffieHellman({ privateKey, publicKey });
  } catch (e) {
    return Buffer.alloc(32);  // OpenSSL refuses an all-zero result; say so the same way
  }
}
const BASE = Buffer.concat([Buffer.from([9]), Buffer.alloc(31)]);
const x25519Base = (scalar) => x25519(scalar, BASE);

// ---- Salsa20 core, HSalsa20, XSalsa20 (Bernstein) -----------------------------------------
const SIGMA = Buffer.from('expand 32-byte k');
const rotl = (v, n) => ((v << n) | (v >>> (32 - n))) >>> 0;

// 20 rounds over the 16-word state built from key, 16-byte input and constants
function salsaRounds(key, input) {
  const w = new Uint32Array(16);
  const c = (i) => SIGMA.readUInt32LE(4 * i);
  [w[0], w[5], w[10], w[15]] = [c(0), c(1), c(2), c(3)];
  for (let i = 0; i < 4; i++) { w[1 + i] = key.readUInt32LE(4 * i); w[11 + i] = key.readUInt32LE(16 + 4 * i); }
  for (let i = 0; i < 4; i++) w[6 + i] = input.readUInt32LE(4 * i);
  const x = Uint32Array.from(w);
  const quarter = (a, b, c2, d) => {
    x[b] ^= rotl((x[a] + x[d]) >>> 0, 7); x[c2] ^= rotl((x[b] + x[a]) >>> 0, 9);
    x[d] ^= rotl((x[c2] + x[b]) >>> 0, 13); x[a] ^= rotl((x[d] + x[c2]) >>> 0, 18);
  };
  for (let r = 0; r < 10; r++) {
    quarter(0, 4, 8, 12); quarter(5, 9, 13, 1); quarter(10, 14, 2, 6); quarter(15, 3, 7, 11);
    quarter(0, 1, 2, 3); quarter(5, 6, 7, 4); quarter(10, 11, 8, 9); quarter(15, 12, 13, 14);
  }
  return [w, x];
}

function hsalsa20(key, input16) {
  const [, x] = salsaRounds(key, input16);
  const out = Buffer.alloc(32);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((idx, i) => out.writeUInt32LE(x[idx], 4 * i));
  return out;
}

// XSalsa20 keystream XOR: subkey = HSalsa20(key, nonce[0:16]), then Salsa20 with nonce[16:24]
function xsalsa20Xor(key, nonce, data) {
  const subkey = hsalsa20(key, nonce.subarray(0, 16));
  const out = Buffer.alloc(data.length);
  const input = Buffer.alloc(16);
  nonce.copy(input, 0, 16, 24);
  for (let block = 0; block * 64 < data.length; block++) {
    input.writeUInt32LE(block >>> 0, 8);
    input.writeUInt32LE(Math.floor(block / 2 ** 32), 12);
    const [w, x] = salsaRounds(subkey, input);
    const stream = Buffer.alloc(64);
    for (let i = 0; i < 16; i++) stream.writeUInt32LE((x[i] + w[i]) >>> 0, 4 * i);
    for (let i = 0; i < 64 && block * 64 + i < data.length; i++) out[block * 64 + i] = data[block * 64 + i] ^ stream[i];
  }
  return out;
}

// ---- Poly1305 (RFC 8439 section 2.5), with BigInt ------------------------------------------
const P1305 = (1n << 130n) - 5n;
const leInt = (b) => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);

function poly1305(key, message) {
  const r = leInt(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  const s = leInt(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const chunk = message.subarray(i, i + 16);
    acc = ((acc + leInt(chunk) + (1n << BigInt(8 * chunk.length))) * r) % P1305;
  }
  acc = (acc + s) & ((1n << 128n) - 1n);
  const tag = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) { tag[i] = Number(acc & 0xffn); acc >>= 8n; }
  return tag;
}

// ---- NaCl secretbox and box in CurveZMQ's layout: tag (16) | ciphertext ---------------------
function secretbox(message, nonce, key) {
  const stream = xsalsa20Xor(key, nonce, Buffer.concat([Buffer.alloc(32), message]));
  const cipher = stream.subarray(32);
  return Buffer.concat([poly1305(stream.subarray(0, 32), cipher), cipher]);
}

function secretboxOpen(box, nonce, key) {
  if (box.length < 16) throw new VectorError('bad-box', 'box', 0);
  const keystream = xsalsa20Xor(key, nonce, Buffer.alloc(32));
  const tag = poly1305(keystream, box.subarray(16));
  if (!crypto.timingSafeEqual(tag, box.subarray(0, 16))) throw new VectorError('bad-box', 'box', 0);
  return xsalsa20Xor(key, nonce, Buffer.concat([Buffer.alloc(32), box.subarray(16)])).subarray(32);
}

function beforenm(publicKey, secretKey) {
  const shared = x25519(secretKey, publicKey);
  if (shared.equals(Buffer.alloc(32))) throw new VectorError('bad-box', 'public_key', 0);
  return hsalsa20(shared, Buffer.alloc(16));
}

// ---- The ZMTP CURVE mechanism's checks (spec/curve.md#commands, #errors) ------------------
// Each function takes a command body as the named side sees it in one state, and returns what that
// side learns, or throws the refusal: the first failing check, in the order of spec/curve.md#errors.
const latin1 = (text) => Buffer.from(text, 'latin1');
const nonce24 = (prefix, tail) => Buffer.concat([latin1(prefix), tail]);

function exactSize(body, size) {
  if (body.length !== size) throw new VectorError('length-overflow', 'body', 0);
}
function minSize(body, size) {
  if (body.length < size) throw new VectorError('truncated', 'body', body.length);
}
function rising(body, offset, last) {  // a short nonce must be strictly above the peer's last one
  const value = body.readBigUInt64BE(offset);
  if (value <= last) throw new VectorError('bad-nonce', 'short_nonce', offset);
  return value;
}
// open a box (field = its name in the transcripts), or compute a shared key, refusing at `offset`
function openAt(box, nonce, key, field, offset) {
  try { return secretboxOpen(box, nonce, key); } catch (e) {
    if (e instanceof VectorError) throw new VectorError('bad-box', field, offset);
    throw e;
  }
}
function sharedAt(publicKey, secretKey, field, offset) {
  try { return beforenm(publicKey, secretKey); } catch (e) {
    if (e instanceof VectorError) throw new VectorError('bad-box', field, offset);
    throw e;
  }
}
function holds(plain, want, field, offset) {
  if (!plain.equals(want)) throw new VectorError('bad-value', field, offset);
}

// server in expect-hello, holding its long-term secret s -> { clientEphemeral, nonce }
function serverOnHello(body, serverSecret) {
  exactSize(body, 200);
  if (body[6] !== 1 || body[7] !== 0) throw new VectorError('bad-version', 'version', 6);
  const nonZero = body.subarray(8, 80).findIndex((b) => b !== 0);
  if (nonZero >= 0) throw new VectorError('bad-value', 'padding', 8 + nonZero);
  const clientEphemeral = body.subarray(80, 112);
  const helloKey = sharedAt(clientEphemeral, serverSecret, 'client_ephemeral', 80);
  const plain = openAt(body.subarray(120), nonce24('CurveZMQHELLO---', body.subarray(112, 120)),
    helloKey, 'hello-box', 120);
  holds(plain, Buffer.alloc(64), 'hello-box', 120);
  return { clientEphemeral, nonce: body.readBigUInt64BE(112) };
}

// client in expect-welcome, holding S and its ephemeral secret c' -> { serverEphemeral, cookie }
function clientOnWelcome(body, serverKey, clientEphemeralSecret) {
  exactSize(body, 168);
  const plain = openAt(body.subarray(24), nonce24('WELCOME-', body.subarray(8, 24)),
    beforenm(serverKey, clientEphemeralSecret), 'welcome-box', 24);
  const serverEphemeral = plain.subarray(0, 32);
  sharedAt(serverEphemeral, clientEphemeralSecret, 'server_ephemeral', 24);
  return { serverEphemeral, cookie: plain.subarray(32, 128) };
}

// server in expect-initiate: { cookieKey, clientEphemeral, serverEphemeralSecret, serverKey,
// lastNonce } -> { clientKey, nonce, metadata } (metadata and the allow-list are left to the caller)
function serverOnInitiate(body, st) {
  minSize(body, 257);
  const cookie = openAt(body.subarray(25, 105), nonce24('COOKIE--', body.subarray(9, 25)), st.cookieKey,
    'cookie', 25);
  holds(cookie, Buffer.concat([st.clientEphemeral, st.serverEphemeralSecret]), 'cookie', 25);
  const nonce = rising(body, 105, st.lastNonce);
  const session = sharedAt(st.clientEphemeral, st.serverEphemeralSecret, 'client_ephemeral', 80);
  const plain = openAt(body.subarray(113), nonce24('CurveZMQINITIATE', body.subarray(105, 113)), session,
    'initiate-box', 113);
  const clientKey = plain.subarray(0, 32);
  const vouchKey = sharedAt(clientKey, st.serverEphemeralSecret, 'client_key', 113);
  const vouch = openAt(plain.subarray(48, 128), nonce24('VOUCH---', plain.subarray(32, 48)), vouchKey,
    'vouch', 113);
  holds(vouch, Buffer.concat([st.clientEphemeral, st.serverKey]), 'vouch', 113);
  return { clientKey, nonce, metadata: plain.subarray(128) };
}

// client in expect-ready, holding the session key -> { nonce, metadata }
function clientOnReady(body, session) {
  minSize(body, 30);
  const metadata = openAt(body.subarray(14), nonce24('CurveZMQREADY---', body.subarray(6, 14)), session,
    'ready-box', 14);
  return { nonce: body.readBigUInt64BE(6), metadata };
}

// either side once open: the session key, the peer's last short nonce and the peer's MESSAGE
// prefix ('CurveZMQMESSAGEC' from a client) -> { nonce, flags, frame }
function onMessage(body, session, lastNonce, prefix) {
  minSize(body, 33);
  const nonce = rising(body, 8, lastNonce);
  const plain = openAt(body.subarray(16), nonce24(prefix, body.subarray(8, 16)), session, 'message-box', 16);
  return { nonce, flags: plain[0], frame: plain.subarray(1) };
}

module.exports = { z85Encode, z85Decode, x25519, x25519Base, hsalsa20, poly1305, secretbox,
  secretboxOpen, beforenm, serverOnHello, clientOnWelcome, serverOnInitiate, clientOnReady, onMessage };
