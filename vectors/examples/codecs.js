// Decoders and encoders for every protocol in vectors/, written from spec/ alone (no zre-ref code).
// They follow the rules of spec/README.md (codec core, JSON form, errors): a decoder returns the
// JSON form of vectors/ schema 2, or throws a VectorError {code, field, frame, offset}.
// Node >= 18, no dependencies. Used by check_vectors.js and stdio_decoder.js in this folder.
'use strict';

class VectorError extends Error {
  constructor(code, field, offset, frame) {
    super(`${code}: ${field} at offset ${offset}` + (frame === undefined ? '' : ` of frame ${frame}`));
    this.code = code;
    this.field = field;
    this.offset = offset;
    this.frame = frame;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// ---- the zproto codec core (spec/README.md#codec-core) -------------------------------------
// Each message: [name, [[field, type], ...]]; types as in the spec tables.
const ZRE_MESSAGES = {
  1: ['HELLO', [['sequence', 'number-2'], ['endpoint', 'string'], ['groups', 'strings'],
    ['status', 'number-1'], ['name', 'string'], ['headers', 'hash']]],
  2: ['WHISPER', [['sequence', 'number-2'], ['content', 'frames']]],
  3: ['SHOUT', [['sequence', 'number-2'], ['group', 'string'], ['content', 'frames']]],
  4: ['JOIN', [['sequence', 'number-2'], ['group', 'string'], ['status', 'number-1']]],
  5: ['LEAVE', [['sequence', 'number-2'], ['group', 'string'], ['status', 'number-1']]],
  6: ['PING', [['sequence', 'number-2']]],
  7: ['PING-OK', [['sequence', 'number-2']]],
  8: ['ELECT', [['sequence', 'number-2'], ['group', 'string'], ['challenger_id', 'string']]],
  9: ['LEADER', [['sequence', 'number-2'], ['group', 'string'], ['leader_id', 'string']]],
  10: ['GOODBYE', [['sequence', 'number-2']]],
};
const ZRELOG_MESSAGES = {
  1: ['LOG', [['level', 'number-1'], ['event', 'number-1'], ['node', 'number-2'],
    ['peer', 'number-2'], ['time', 'number-8'], ['data', 'string']]],
};
const reason = [['reason', 'string']];
const ZPIPES_MESSAGES = {
  1: ['INPUT', [['pipename', 'string']]], 2: ['INPUT-OK', []], 3: ['INPUT-FAILED', reason],
  4: ['OUTPUT', [['pipename', 'string']]], 5: ['OUTPUT-OK', []], 6: ['OUTPUT-FAILED', reason],
  7: ['READ', [['size', 'number-4'], ['timeout', 'number-4']]], 8: ['READ-OK', [['chunk', 'chunk']]],
  9: ['READ-END', []], 10: ['READ-TIMEOUT', []], 11: ['READ-FAILED', reason],
  12: ['WRITE', [['chunk', 'chunk'], ['timeout', 'number-4']]], 13: ['WRITE-OK', []],
  14: ['WRITE-TIMEOUT', []], 15: ['WRITE-FAILED', reason], 16: ['CLOSE', []], 17: ['CLOSE-OK', []],
  18: ['CLOSE-FAILED', reason], 19: ['PING', []], 20: ['PING-OK', []], 21: ['INVALID', []],
};
const ZGOSSIP_MESSAGES = {
  1: ['HELLO', []], 2: ['PUBLISH', [['key', 'string'], ['value', 'longstr'], ['ttl', 'number-4']]],
  3: ['PING', []], 4: ['PONG', []], 5: ['INVALID', []],
};
const ZPROTO = {
  zre: { signature: [0xaa, 0xa1], version: 2, messages: ZRE_MESSAGES },
  zgossip: { signature: [0xaa, 0xa0], version: 1, messages: ZGOSSIP_MESSAGES },
  zrelog: { signature: [0xaa, 0xa2], version: null, messages: ZRELOG_MESSAGES },
  zpipes: { signature: [0xaa, 0xa0], version: null, messages: ZPIPES_MESSAGES },
};

// A cursor over one frame; every read names the field it reads, for the error.
class Reader {
  constructor(buf, frame) { this.buf = buf; this.pos = 0; this.frame = frame; }
  remaining() { return this.buf.length - this.pos; }
  fail(code, field, offset) { throw new VectorError(code, field, offset, this.frame); }
  need(n, field, start) { if (this.remaining() < n) this.fail('truncated', field, start); }
  uint(size, field) {
    const start = this.pos;
    this.need(size, field, start);
    let v = 0n;
    for (let i = 0; i < size; i++) v = (v << 8n) | BigInt(this.buf[this.pos + i]);
    this.pos += size;
    return v;
  }
  sized(prefix, field) {  // a length prefix, then that many octets
    const start = this.pos;
    const n = Number(this.uint(prefix, field));
    if (n > this.remaining()) this.fail('length-overflow', field, start);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return [out, start];
  }
  text(prefix, field) {
    const [raw, start] = this.sized(prefix, field);
    try { return utf8.decode(raw); } catch (e) { return this.fail('invalid-utf8', field, start); }
  }
  count(field, minItemSize) {  // spec/README.md#count-prefix: count x smallest item size
    const start = this.pos;
    const n = Number(this.uint(4, field));
    if (n * minItemSize > this.remaining()) this.fail('length-overflow', field, start);
    return n;
  }
}

function pullField(r, name, type) {
  switch (type) {
    case 'number-1': return Number(r.uint(1, name));
    case 'number-2': return Number(r.uint(2, name));
    case 'number-4': return Number(r.uint(4, name));
    case 'number-8': return r.uint(8, name).toString();  // JSON: a decimal string
    case 'string': return r.text(1, name);
    case 'longstr': return r.text(4, name);
    case 'chunk': return Buffer.from(r.sized(4, name)[0]).toString('hex');
    case 'strings': {
      const n = r.count(name, 4);
      const out = [];
      for (let i = 0; i < n; i++) out.push(r.text(4, `${name}[${i}]`));
      return out;
    }
    case 'hash': {
      const n = r.count(name, 5);
      const out = [];
      for (let i = 0; i < n; i++) out.push([r.text(1, `${name}[${i}].key`), r.text(4, `${name}[${i}].value`)]);
      return out;
    }
    default: throw new Error(`unknown type ${type}`);
  }
}

function decodeZproto(protocol, frames) {
  const p = ZPROTO[protocol];
  if (frames.length === 0) throw new VectorError('frame-count', 'frames', 0, 0);
  const r = new Reader(frames[0], 0);
  r.need(2, 'signature', 0);
  if (r.buf[0] !== p.signature[0] || r.buf[1] !== p.signature[1]) r.fail('bad-signature', 'signature', 0);
  r.pos = 2;
  const id = Number(r.uint(1, 'id'));
  const msg = p.messages[id];
  if (!msg) r.fail('unknown-id', 'id', 2);
  const out = { type: msg[0] };
  if (p.version !== null) {
    const version = Number(r.uint(1, 'version'));
    if (version !== p.version) r.fail('bad-version', 'version', 3);
    out.version = version;
  }
  let hasFrames = false;
  for (const [name, type] of msg[1]) {
    if (type === 'frames') {
      out[name] = frames.slice(1).map((f) => Buffer.from(f).toString('hex'));
      hasFrames = true;
    } else {
      out[name] = pullField(r, name, type);
    }
  }
  if (r.remaining() > 0) r.fail('trailing-bytes', 'end', r.pos);
  if (!hasFrames && frames.length > 1) throw new VectorError('frame-count', 'frames', 0, 1);
  return out;
}

function uintBytes(size, value) {
  const out = Buffer.alloc(size);
  let v = BigInt(value);
  for (let i = size - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}

function pushField(type, value) {
  const sized = (prefix, raw) => Buffer.concat([uintBytes(prefix, raw.length), raw]);
  switch (type) {
    case 'number-1': return uintBytes(1, value);
    case 'number-2': return uintBytes(2, value);
    case 'number-4': return uintBytes(4, value);
    case 'number-8': return uintBytes(8, value);
    case 'string': return sized(1, Buffer.from(value, 'utf8'));
    case 'longstr': return sized(4, Buffer.from(value, 'utf8'));
    case 'chunk': return sized(4, Buffer.from(value, 'hex'));
    case 'strings': return Buffer.concat([uintBytes(4, value.length), ...value.map((s) => pushField('longstr', s))]);
    case 'hash': return Buffer.concat([uintBytes(4, value.length),
      ...value.flatMap(([k, v]) => [pushField('string', k), pushField('longstr', v)])]);
    default: throw new Error(`unknown type ${type}`);
  }
}

function encodeZproto(protocol, fields) {
  const p = ZPROTO[protocol];
  const id = Object.keys(p.messages).find((k) => p.messages[k][0] === fields.type);
  const parts = [Buffer.from(p.signature), Buffer.from([Number(id)])];
  if (p.version !== null) parts.push(Buffer.from([p.version]));
  let content = [];
  for (const [name, type] of p.messages[id][1]) {
    if (type === 'frames') content = fields[name].map((h) => Buffer.from(h, 'hex'));
    else parts.push(pushField(type, fields[name]));
  }
  return [Buffer.concat(parts), ...content];
}

// ---- the UDP beacon (spec/zre.md#beacon) -----------------------------------------------------
const BEACON_LAYOUT = [['prefix', 0, 3], ['version', 3, 1], ['uuid', 4, 16], ['port', 20, 2], ['public_key', 22, 32]];

function decodeBeacon(b) {
  const fail = (code, field, offset) => { throw new VectorError(code, field, offset); };
  const prefix = Buffer.from('ZRE');
  for (let i = 0; i < Math.min(3, b.length); i++) if (b[i] !== prefix[i]) fail('bad-beacon-prefix', 'prefix', 0);
  if (b.length < 4) fail('bad-beacon-size', b.length < 3 ? 'prefix' : 'version', b.length < 3 ? 0 : 3);
  const version = b[3];
  if (version !== 1 && version !== 3) fail('bad-beacon-version', 'version', 3);
  const size = version === 1 ? 22 : 54;
  if (b.length < size) {
    const [field, start] = BEACON_LAYOUT.find(([, s, n]) => b.length < s + n);
    fail('bad-beacon-size', field, start);
  }
  if (b.length > size) fail('bad-beacon-size', 'end', size);
  const out = { version, uuid: b.subarray(4, 20).toString('hex').toUpperCase(), port: b.readUInt16BE(20) };
  if (version === 3) out.public_key = b.subarray(22, 54).toString('hex');
  return out;
}

function encodeBeacon(f) {
  const parts = [Buffer.from('ZRE'), Buffer.from([f.version]), Buffer.from(f.uuid, 'hex'), uintBytes(2, f.port)];
  if (f.version === 3) parts.push(Buffer.from(f.public_key, 'hex'));
  return Buffer.concat(parts);
}

// ---- ZMTP 3.x greeting (spec/zmtp.md#greeting) -----------------------------------------------
const GREETING_LAYOUT = [['signature', 0, 10], ['major', 10, 1], ['minor', 11, 1], ['mechanism', 12, 20],
  ['as_server', 32, 1], ['filler', 33, 31]];
const MECHANISM_CHAR = /^[A-Z0-9\-_.+]{1,20}$/;

function decodeGreeting(b) {
  const fail = (code, field, offset) => { throw new VectorError(code, field, offset); };
  if (b.length >= 1 && b[0] !== 0xff) fail('bad-signature', 'signature', 0);
  if (b.length >= 10 && (b[9] & 1) === 0) fail('bad-signature', 'signature', 0);
  if (b.length < 64) {
    const [field, start] = GREETING_LAYOUT.find(([, s, n]) => b.length < s + n);
    fail('truncated', field, start);
  }
  if (b[10] < 3) fail('bad-version', 'major', 10);
  const mech = b.subarray(12, 32);
  let end = mech.length;
  while (end > 0 && mech[end - 1] === 0) end--;
  const name = mech.subarray(0, end).toString('latin1');
  if (!MECHANISM_CHAR.test(name)) fail('bad-value', 'mechanism', 12);
  if (b[32] > 1) fail('bad-value', 'as_server', 32);
  if (b.length > 64) fail('trailing-bytes', 'end', 64);
  return { major: b[10], minor: b[11], mechanism: name, as_server: b[32] === 1,
    padding: b.subarray(1, 9).toString('hex') };
}

function encodeGreeting(g) {
  const out = Buffer.alloc(64);
  out[0] = 0xff;
  Buffer.from(g.padding, 'hex').copy(out, 1);
  out[9] = 0x7f;
  out[10] = g.major;
  out[11] = g.minor;
  Buffer.from(g.mechanism, 'latin1').copy(out, 12);
  out[32] = g.as_server ? 1 : 0;
  return out;
}

// ---- ZMTP 3.x frames and commands (spec/zmtp.md#frames, #commands) --------------------------
const MAX_FRAME_SIZE = (1n << 63n) - 1n;
const PROPERTY_NAME = /^[A-Za-z0-9\-_.+]+$/;

function decodeCommand(body, base) {
  const fail = (code, field, offset) => { throw new VectorError(code, field, offset); };
  if (body.length < 1) fail('truncated', 'name', base);
  const n = body[0];
  if (n === 0) fail('bad-value', 'name', base);
  if (1 + n > body.length) fail('length-overflow', 'name', base);
  const name = body.subarray(1, 1 + n).toString('latin1');
  let pos = 1 + n;
  const out = { name };
  const rest = () => body.subarray(pos).toString('hex');
  const short = (field) => {  // a 1-octet length, then that many octets
    if (pos >= body.length) fail('truncated', field, base + pos);
    const len = body[pos];
    if (pos + 1 + len > body.length) fail('length-overflow', field, base + pos);
    const v = body.subarray(pos + 1, pos + 1 + len).toString('hex');
    pos += 1 + len;
    return v;
  };
  const noTrailing = () => { if (pos !== body.length) fail('trailing-bytes', 'end', base + pos); };
  switch (name) {
    case 'READY': case 'INITIATE': {
      const props = [];
      for (let i = 0; pos < body.length; i++) {
        const key = `properties[${i}].key`;
        const klen = body[pos];
        if (klen === 0) fail('bad-value', key, base + pos);
        if (pos + 1 + klen > body.length) fail('length-overflow', key, base + pos);
        const k = body.subarray(pos + 1, pos + 1 + klen).toString('latin1');
        if (!PROPERTY_NAME.test(k)) fail('bad-value', key, base + pos);
        pos += 1 + klen;
        const value = `properties[${i}].value`;
        if (body.length - pos < 4) fail('truncated', value, base + pos);
        const vlen = body.readUInt32BE(pos);
        if (vlen > body.length - pos - 4) fail('length-overflow', value, base + pos);
        props.push([k, body.subarray(pos + 4, pos + 4 + vlen).toString('hex')]);
        pos += 4 + vlen;
      }
      out.properties = props;
      break;
    }
    case 'SUBSCRIBE': case 'CANCEL': out.topic = rest(); break;
    case 'PING':
      if (body.length - pos < 2) fail('truncated', 'ttl', base + pos);
      out.ttl = body.readUInt16BE(pos);
      pos += 2;
      out.context = rest();
      break;
    case 'PONG': out.context = rest(); break;
    case 'ERROR': out.reason = short('reason'); noTrailing(); break;
    case 'HELLO': out.username = short('username'); out.password = short('password'); noTrailing(); break;
    case 'WELCOME': noTrailing(); break;
    default: out.data = rest();
  }
  return out;
}

function decodeFrames(b) {
  const fail = (code, field, offset) => { throw new VectorError(code, field, offset); };
  if (b.length === 0) fail('truncated', 'flags', 0);
  const frames = [];
  let pos = 0;
  while (pos < b.length) {
    const flags = b[pos];
    if (flags & 0xf8) fail('bad-value', 'flags', pos);
    const more = (flags & 1) !== 0;
    const long = (flags & 2) !== 0;
    const command = (flags & 4) !== 0;
    if (more && command) fail('bad-value', 'flags', pos);
    const hlen = long ? 9 : 2;
    if (b.length - pos < hlen) fail('truncated', 'size', pos + 1);
    const size = long ? b.readBigUInt64BE(pos + 1) : BigInt(b[pos + 1]);
    if (size > MAX_FRAME_SIZE || size > BigInt(b.length - pos - hlen)) fail('length-overflow', 'body', pos + 1);
    const body = b.subarray(pos + hlen, pos + hlen + Number(size));
    if (command) frames.push({ kind: 'command', long, size: Number(size), ...decodeCommand(body, pos + hlen) });
    else frames.push({ kind: 'message', more, long, size: Number(size), body: body.toString('hex') });
    pos += hlen + Number(size);
  }
  return { frames };
}

function encodeCommand(f) {
  const h = (x) => Buffer.from(x || '', 'hex');
  const short = (x) => Buffer.concat([Buffer.from([h(x).length]), h(x)]);
  let data;
  switch (f.name) {
    case 'READY': case 'INITIATE':
      data = Buffer.concat(f.properties.flatMap(([k, v]) => [Buffer.from([k.length]), Buffer.from(k, 'latin1'),
        uintBytes(4, h(v).length), h(v)]));
      break;
    case 'SUBSCRIBE': case 'CANCEL': data = h(f.topic); break;
    case 'PING': data = Buffer.concat([uintBytes(2, f.ttl), h(f.context)]); break;
    case 'PONG': data = h(f.context); break;
    case 'ERROR': data = short(f.reason); break;
    case 'HELLO': data = Buffer.concat([short(f.username), short(f.password)]); break;
    case 'WELCOME': data = Buffer.alloc(0); break;
    default: data = h(f.data);
  }
  return Buffer.concat([Buffer.from([f.name.length]), Buffer.from(f.name, 'latin1'), data]);
}

function encodeFrames(f) {
  return Buffer.concat(f.frames.flatMap((fr) => {
    const body = fr.kind === 'command' ? encodeCommand(fr) : Buffer.from(fr.body, 'hex');
    const flags = (fr.kind === 'command' ? 4 : 0) | (fr.more ? 1 : 0) | (fr.long ? 2 : 0);
    const size = fr.long ? uintBytes(8, body.length) : Buffer.from([body.length]);
    return [Buffer.from([flags]), size, body];
  }));
}

// ---- one interface for every protocol: input is a list of frames (hex protocols: one frame) --
const BYTE_STREAM = new Set(['beacon', 'zmtp-greeting', 'zmtp-frame']);
const CODECS = {
  zre: [(fr) => decodeZproto('zre', fr), (f) => encodeZproto('zre', f)],
  zrelog: [(fr) => decodeZproto('zrelog', fr), (f) => encodeZproto('zrelog', f)],
  zpipes: [(fr) => decodeZproto('zpipes', fr), (f) => encodeZproto('zpipes', f)],
  zgossip: [(fr) => decodeZproto('zgossip', fr), (f) => encodeZproto('zgossip', f)],
  beacon: [(fr) => decodeBeacon(fr[0]), (f) => [encodeBeacon(f)]],
  'zmtp-greeting': [(fr) => decodeGreeting(fr[0]), (f) => [encodeGreeting(f)]],
  'zmtp-frame': [(fr) => decodeFrames(fr[0]), (f) => [encodeFrames(f)]],
};

function decode(protocol, frames) { return CODECS[protocol][0](frames); }
function encode(protocol, fields) { return CODECS[protocol][1](fields); }

// ---- the ZRE/LOG endpoint hash (spec/zrelog.md#endpoint-hash) --------------------------------
function endpointHash(bytes, signedChar) {
  let h = 0;
  for (const byte of bytes) {
    const c = signedChar && byte >= 0x80 ? (byte - 0x100) & 0xffff : byte;
    h = ((33 * h) ^ c) & 0xffff;
  }
  return h;
}

module.exports = { VectorError, decode, encode, endpointHash, BYTE_STREAM, ZPROTO, CODECS,
  decodeGreeting, decodeFrames };
