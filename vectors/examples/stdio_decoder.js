#!/usr/bin/env node
// A decoder program for `zre-ref vectors check` (vectors/README.md#self-check), built on codecs.js.
//
//   node vectors/examples/stdio_decoder.js PROTOCOL
//
// Reads one case per line on stdin (frames as hex separated by spaces, `-` = an empty frame, an empty
// line = no frame), answers one line per case on stdout: `ok {json fields}` or
// `error CODE FIELD FRAME OFFSET` (FRAME `-` for a byte-string protocol).
'use strict';
const readline = require('node:readline');
const { VectorError, decode, BYTE_STREAM } = require('./codecs.js');

const protocol = process.argv[2];
const rl = readline.createInterface({ input: process.stdin, terminal: false });
rl.on('line', (line) => {
  const tokens = line.split(' ').filter((t) => t !== '');
  let frames = tokens.map((t) => Buffer.from(t === '-' ? '' : t, 'hex'));
  if (BYTE_STREAM.has(protocol) && frames.length === 0) frames = [Buffer.alloc(0)];
  let answer;
  try {
    answer = `ok ${JSON.stringify(decode(protocol, frames))}`;
  } catch (e) {
    if (!(e instanceof VectorError)) throw e;
    answer = `error ${e.code} ${e.field} ${e.frame === undefined ? '-' : e.frame} ${e.offset}`;
  }
  process.stdout.write(answer + '\n');
});
