"""`zre-ref wireshark-dissector > zre.lua`: a Wireshark Lua dissector made from the declarations.

The message tables (signature, id, version byte, fields and their wire types) are generated from
the same :class:`~zre_ref.codec.Protocol` declarations the codecs use, so the dissector cannot
drift from the code; a small fixed Lua runtime walks them. It dissects:

* ZRE beacons on UDP (port 5670, and any 22- or 54-byte datagram starting ``ZRE`` 0x01/0x03),
* ZMTP 3.x framing on TCP (greeting, commands with READY properties, frames, reassembled across
  segments), found heuristically from the greeting (spec/zmtp.md#greeting),
* every declared protocol (ZRE, ZRE/LOG, ZPIPES, ZGOSSIP, and any declared later) in the first
  frame of a message, recognised by its two signature bytes (and version byte, if it has one); the
  frames after it, up to the last with MORE, are its content. ZPIPES and ZGOSSIP share AA A0: the
  one with a version byte is tried first, and the preference ``zre_zmtp.sig_aaa0`` can force one.

Wireshark 4.0 (Debian 12) has no ZMTP dissector of its own; later versions ship ``zmtp``, so this
one is named ``zre_zmtp`` and the two can coexist. Use: ``tshark -X lua_script:zre.lua -r f.pcap``
or copy zre.lua into Wireshark's personal plugins folder.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import codec
from .codec import Protocol

#: Modules whose module-level :class:`Protocol` objects the dissector covers (missing ones skipped)
DECLARATION_MODULES = (
    "zre_ref.zre.messages",
    "zre_ref.zrelog.messages",
    "zre_ref.zpipes.messages",
    "zre_ref.zgossip.messages",
)

#: The ZRE discovery port (spec/zre.md#beacon)
BEACON_PORT = 5670


def declared_protocols() -> list[Protocol]:
    """Every :class:`Protocol` declared in :data:`DECLARATION_MODULES`, in that order."""
    out: list[Protocol] = []
    for name in DECLARATION_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not (name + ".").startswith(exc.name + "."):
                raise  # a real import error inside an existing module
            continue
        out.extend(v for v in vars(mod).values() if isinstance(v, Protocol) and v not in out)
    return out


def _wire_kind(kind: codec.FieldType[Any]) -> tuple[str, int]:
    """(Lua reader name, fixed size or 0) of a field type."""
    if isinstance(kind, codec._Uint):
        return f"u{8 * kind.size}", kind.size
    if isinstance(kind, codec.Octets):
        return "octets", kind.size
    names = {codec.STRING: "string", codec.LONGSTR: "longstr", codec.STRINGS: "strings",
             codec.HASH: "hash", codec.CHUNK: "chunk"}
    for known, name in names.items():
        if kind is known:
            return name, 0
    raise ValueError(f"no Lua reader for wire type {kind.describe()}")


_PROTOFIELD = {"u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
               "string": "string", "longstr": "string", "strings": "string", "hash": "string",
               "chunk": "bytes", "octets": "bytes"}


def _lua_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _protocol_table(p: Protocol) -> tuple[list[str], list[str]]:
    """Lua lines declaring ``p``'s ProtoFields, and the lines of its message table."""
    fields: dict[str, str] = {}  # filter name -> reader kind
    decl = [f"local P_{p.name} = Proto({_lua_str(p.name)}, {_lua_str(p.name.upper())})",
            f"local F_{p.name} = {{}}"]
    names = ", ".join(f"[{ms.id}] = {_lua_str(ms.name)}" for ms in sorted(
        p.by_id.values(), key=lambda m: m.id))
    decl.append(f"F_{p.name}.id = ProtoField.uint8({_lua_str(p.name + '.id')}, \"Message id\", "
                f"base.DEC, {{{names}}})")
    decl.append(f"F_{p.name}.type = ProtoField.string({_lua_str(p.name + '.type')}, \"Message\")")
    decl.append(f"F_{p.name}.version = ProtoField.uint8({_lua_str(p.name + '.version')}, \"Version\")")
    decl.append(f"F_{p.name}.content = ProtoField.bytes({_lua_str(p.name + '.content')}, "
                "\"Content frame\")")
    msgs: list[str] = []
    for ms in sorted(p.by_id.values(), key=lambda m: m.id):
        entries = []
        for f in ms.fields:
            kind, size = _wire_kind(f.kind)
            key = f.name if fields.get(f.name, kind) == kind else f"{ms.name.lower()}.{f.name}"
            if key not in fields:
                fields[key] = kind
                label = f.name.replace("_", " ").capitalize()
                extra = ", base.DEC" if kind.startswith("u") else ""
                decl.append(f"F_{p.name}[{_lua_str(key)}] = ProtoField.{_PROTOFIELD[kind]}("
                            f"{_lua_str(p.name + '.' + key)}, {_lua_str(label)}{extra})")
                if kind in ("strings", "hash"):  # the u32 count; each item is a `key` field
                    decl.append(f"F_{p.name}[{_lua_str(key + '.count')}] = ProtoField.uint32("
                                f"{_lua_str(p.name + '.' + key + '.count')}, "
                                f"{_lua_str(label + ' count')})")
            entries.append(f"{{{_lua_str(f.name)}, {_lua_str(kind)}, {size}, {_lua_str(key)}}}")
        has_frames = "true" if ms.frames_field is not None else "false"
        msgs.append(f"    [{ms.id}] = {{name = {_lua_str(ms.name)}, frames = {has_frames}, "
                    f"fields = {{{', '.join(entries)}}}}},")
    version = "nil" if p.version is None else str(p.version)
    table = [f"table.insert(PROTOCOLS, {{proto = P_{p.name}, f = F_{p.name}, name = "
             f"{_lua_str(p.name.upper())}, sig = {p.signature}, version = {version}, messages = {{",
             *msgs, "}})",
             f"P_{p.name}.fields = F_{p.name}"]
    return decl, table


def generate() -> str:
    """The whole Lua dissector, as text."""
    decls: list[str] = []
    tables: list[str] = []
    covered = []
    # where protocols share a signature (ZPIPES and ZGOSSIP: AA A0), the one with a version byte
    # to check is tried first; a preference can force either (SHARED, below)
    protocols = sorted(declared_protocols(), key=lambda p: p.version is None)
    shared: dict[int, list[str]] = {}
    for p in protocols:
        d, t = _protocol_table(p)
        decls += d
        tables += t
        covered.append(f"{p.name.upper()} (0x{p.signature:04X})")
        shared.setdefault(p.signature, []).append(p.name.upper())
    shared_lua = ", ".join(f"[{sig}] = {{{', '.join(_lua_str(n) for n in names)}}}"
                           for sig, names in shared.items() if len(names) > 1)
    head = [
        "-- Wireshark dissector for ZRE beacons, ZMTP 3.x framing and " + ", ".join(covered) + ".",
        "-- Generated by `zre-ref wireshark-dissector` from zre_ref's message declarations:",
        "-- do not edit; regenerate. Load: tshark -X lua_script:zre.lua, or copy it into",
        "-- Wireshark's personal Lua plugins folder.",
        "local PROTOCOLS = {}",
        f"local SHARED = {{{shared_lua}}}  -- signature -> protocols that use it",
        f"local BEACON_PORT = {BEACON_PORT}",
    ]
    return "\n".join(head + decls + tables) + "\n" + _RUNTIME


#: The fixed part: walks PROTOCOLS. Every read is bounds-checked against the frame it is in.
_RUNTIME = r"""
-- ---------------------------------------------------------------------------------------------
-- runtime (fixed): beacons, ZMTP framing, and a walker over the generated PROTOCOLS tables
local beacon = Proto("zre_beacon", "ZRE beacon")
local bf = {
  prefix = ProtoField.string("zre_beacon.prefix", "Prefix"),
  version = ProtoField.uint8("zre_beacon.version", "Version", base.DEC,
                             {[1] = "plain", [3] = "CURVE (with public key)"}),
  uuid = ProtoField.bytes("zre_beacon.uuid", "UUID"),
  port = ProtoField.uint16("zre_beacon.port", "Port (0: leaving)"),
  key = ProtoField.bytes("zre_beacon.public_key", "CURVE public key"),
}
beacon.fields = bf

local function is_beacon(tvb)
  local n = tvb:len()
  if n ~= 22 and n ~= 54 then return false end
  if tvb(0, 3):string() ~= "ZRE" then return false end
  local v = tvb(3, 1):uint()
  return (v == 1 and n == 22) or (v == 3 and n == 54)
end

function beacon.dissector(tvb, pinfo, tree)
  if not is_beacon(tvb) then return 0 end
  pinfo.cols.protocol:set("ZRE-BEACON")
  local t = tree:add(beacon, tvb(), "ZRE beacon")
  t:add(bf.prefix, tvb(0, 3))
  t:add(bf.version, tvb(3, 1))
  t:add(bf.uuid, tvb(4, 16))
  t:add(bf.port, tvb(20, 2))
  if tvb:len() == 54 then t:add(bf.key, tvb(22, 32)) end
  pinfo.cols.info:set(string.format("Beacon v%d uuid=%s port=%d", tvb(3, 1):uint(),
                      tostring(tvb(4, 16):bytes()), tvb(20, 2):uint()))
  return tvb:len()
end

local zmtp = Proto("zre_zmtp", "ZMTP 3.x (zre-ref)")
local zf = {
  greeting = ProtoField.bytes("zre_zmtp.greeting", "Greeting"),
  major = ProtoField.uint8("zre_zmtp.greeting.major", "Major version"),
  minor = ProtoField.uint8("zre_zmtp.greeting.minor", "Minor version"),
  mechanism = ProtoField.string("zre_zmtp.greeting.mechanism", "Mechanism"),
  as_server = ProtoField.uint8("zre_zmtp.greeting.as_server", "As server"),
  flags = ProtoField.uint8("zre_zmtp.flags", "Flags", base.HEX),
  more = ProtoField.bool("zre_zmtp.flags.more", "More", 8, nil, 0x01),
  long = ProtoField.bool("zre_zmtp.flags.long", "Long", 8, nil, 0x02),
  command = ProtoField.bool("zre_zmtp.flags.command", "Command", 8, nil, 0x04),
  size = ProtoField.uint64("zre_zmtp.size", "Body size"),
  body = ProtoField.bytes("zre_zmtp.body", "Body"),
  cmd = ProtoField.string("zre_zmtp.command", "Command name"),
  prop = ProtoField.string("zre_zmtp.property", "Property"),
}
zmtp.fields = zf
local ex_trunc = ProtoExpert.new("zre_zmtp.truncated", "Field runs past the end of its frame",
                                 expert.group.MALFORMED, expert.severity.ERROR)
local ex_unknown = ProtoExpert.new("zre_zmtp.unknown_id", "Unknown message id",
                                   expert.group.MALFORMED, expert.severity.WARN)
zmtp.experts = {ex_trunc, ex_unknown}

-- a signature several protocols share: "guess" tries them in order (a version byte decides),
-- or the user names one (Preferences > Protocols > ZRE_ZMTP, or tshark -o zre_zmtp.sig_aaa0:...)
local function shared_pref(sig) return string.format("sig_%04x", sig) end
for sig, names in pairs(SHARED) do
  local choices = {{1, "guess", 0}}
  for i, n in ipairs(names) do table.insert(choices, {i + 1, n, i}) end
  zmtp.prefs[shared_pref(sig)] = Pref.enum(string.format("Signature 0x%04X is", sig), 0,
                                           "Which protocol frames with this signature carry",
                                           choices, false)
end

-- the first summary of a packet replaces TCP's text, the next ones are appended
local function info(pinfo, text)
  if pinfo.private.zre_fresh ~= "1" then
    pinfo.cols.info:set(text)
    pinfo.private.zre_fresh = "1"
  else
    pinfo.cols.info:append(", " .. text)
  end
end

-- one field of a declared message; returns the new offset or nil when the frame is too short
local function read_field(tvb, off, t, f, spec)
  local name, kind, size, key = spec[1], spec[2], spec[3], spec[4]
  local n = tvb:len()
  local function need(k) return off + k <= n end
  if kind == "u8" or kind == "u16" or kind == "u32" then
    if not need(size) then return nil end
    t:add(f[key], tvb(off, size))
    return off + size, tvb(off, size):uint()
  elseif kind == "u64" then
    if not need(8) then return nil end
    t:add(f[key], tvb(off, 8))
    return off + 8, tostring(tvb(off, 8):uint64())
  elseif kind == "octets" then
    if not need(size) then return nil end
    t:add(f[key], tvb(off, size))
    return off + size, tostring(tvb(off, size):bytes())
  elseif kind == "string" or kind == "longstr" or kind == "chunk" then
    local w = (kind == "string") and 1 or 4
    if not need(w) then return nil end
    local len = tvb(off, w):uint()
    if not need(w + len) then return nil end
    if kind == "chunk" then
      local item = t:add(f[key], tvb:range(off + w, len))  -- the bytes after the length
      if len == 0 then item:set_text(name .. ": (empty)") end
      return off + w + len, len .. " bytes"
    end
    local s = len > 0 and tvb(off + w, len):string(ENC_UTF_8) or ""
    t:add(f[key], tvb(off, w + len), s)
    return off + w + len, s
  elseif kind == "strings" or kind == "hash" then
    if not need(4) then return nil end
    local count = tvb(off, 4):uint()
    local start = off
    off = off + 4
    local parts = {}
    local sub = t:add(f[key .. ".count"], tvb(start, 4))
    for i = 1, count do  -- each item needs >= 4 bytes: a hostile count ends at the frame's end
      local k, item = "", off
      if kind == "hash" then
        if not need(1) then return nil end
        local kl = tvb(off, 1):uint()
        if not need(1 + kl) then return nil end
        k = (kl > 0 and tvb(off + 1, kl):string(ENC_UTF_8) or "") .. "="
        off = off + 1 + kl
      end
      if not need(4) then return nil end
      local vl = tvb(off, 4):uint()
      if not need(4 + vl) then return nil end
      local v = k .. (vl > 0 and tvb(off + 4, vl):string(ENC_UTF_8) or "")
      sub:add(f[key], tvb(item, off + 4 + vl - item), v)
      table.insert(parts, v)
      off = off + 4 + vl
    end
    return off, table.concat(parts, ",")
  end
  return nil
end

-- a frame's body that starts with a declared signature; returns the protocol or nil
local function dissect_message(body, pinfo, tree)
  if body:len() < 3 then return nil end
  local sig = body(0, 2):uint()
  local only = nil
  if SHARED[sig] ~= nil then
    local choice = zmtp.prefs[shared_pref(sig)]
    if choice > 0 then only = SHARED[sig][choice] end
  end
  for _, p in ipairs(PROTOCOLS) do
    local m = p.messages[body(2, 1):uint()]
    if p.sig == sig and m ~= nil and (only == nil or only == p.name) and (p.version == nil or
        (body:len() > 3 and body(3, 1):uint() == p.version)) then
      pinfo.cols.protocol:set(p.name)
      local t = tree:add(p.proto, body(), p.name .. " " .. m.name)
      t:add(p.f.id, body(2, 1))
      t:add(p.f.type, body(2, 1), m.name)
      local off = 3
      if p.version ~= nil then t:add(p.f.version, body(3, 1)); off = 4 end
      local summary = {m.name}
      for _, spec in ipairs(m.fields) do
        local nxt, shown = read_field(body, off, t, p.f, spec)
        if nxt == nil then
          t:add_proto_expert_info(ex_trunc, spec[1] .. " runs past the end of the frame")
          break
        end
        if spec[1] == "sequence" then table.insert(summary, "seq=" .. shown) end
        off = nxt
      end
      info(pinfo, table.concat(summary, " "))
      return p, m
    end
  end
  return nil
end

local function dissect_command(body, pinfo, t)
  if body:len() < 1 then return end
  local nl = body(0, 1):uint()
  if 1 + nl > body:len() then t:add_proto_expert_info(ex_trunc); return end
  local name = body(1, nl):string()
  t:add(zf.cmd, body(0, 1 + nl), name)
  info(pinfo, name)
  local off = 1 + nl
  if name ~= "READY" then return end
  while off < body:len() do  -- metadata: name (u8 length) + value (u32 length)
    local kl = body(off, 1):uint()
    if off + 1 + kl + 4 > body:len() then t:add_proto_expert_info(ex_trunc); return end
    local vl = body(off + 1 + kl, 4):uint()
    if off + 1 + kl + 4 + vl > body:len() then t:add_proto_expert_info(ex_trunc); return end
    local v = vl > 0 and body(off + 5 + kl, vl):string() or ""
    if body(off + 1, kl):string() == "Identity" and vl > 0 then
      v = tostring(body(off + 5 + kl, vl):bytes())  -- binary: as hex
    end
    t:add(zf.prop, body(off, 5 + kl + vl), body(off + 1, kl):string() .. "=" .. v)
    off = off + 5 + kl + vl
  end
end

-- length of the PDU (greeting or frame) at off, or nil/-1 when more bytes are needed first
local function pdu_length(tvb, off)
  local left = tvb:len() - off
  if left < 2 then return nil end
  local b = tvb(off, 1):uint()
  if b == 0xFF then  -- a greeting starts with 0xFF; frame flags never are 0xFF
    return 64
  end
  if bit32.band(b, 0x02) ~= 0 then
    if left < 9 then return nil end
    local size = tvb(off + 1, 8):uint64()
    if size > UInt64(0x7FFFFFFF) then return -1 end  -- beyond what we reassemble
    return 9 + size:tonumber()
  end
  return 2 + tvb(off + 1, 1):uint()
end

-- Content frames: a message's frames after the first may come in later segments. While a message
-- with MORE is open in one direction, its next frames are its content. The first pass records
-- what each frame continued, so that a re-dissection (a click in Wireshark) shows the same.
local open_msg = {}  -- direction -> {p, m} of the message whose frames are still coming
local seen = {}      -- "packet:call:offset" -> {p, m} or false, from the first pass

function zmtp.init()
  open_msg = {}
  seen = {}
end

local function direction(pinfo)
  return tostring(pinfo.src) .. ":" .. pinfo.src_port .. ">" .. tostring(pinfo.dst) .. ":" .. pinfo.dst_port
end

local function dissect_pdu(tvb, pinfo, tree, key)
  if tvb(0, 1):uint() == 0xFF then
    local t = tree:add(zmtp, tvb(), "ZMTP greeting")
    t:add(zf.greeting, tvb(0, 10))
    t:add(zf.major, tvb(10, 1))
    t:add(zf.minor, tvb(11, 1))
    t:add(zf.mechanism, tvb(12, 20), tvb(12, 20):stringz())
    t:add(zf.as_server, tvb(32, 1))
    info(pinfo, string.format("Greeting %d.%d %s", tvb(10, 1):uint(), tvb(11, 1):uint(),
                              tvb(12, 20):stringz()))
    return
  end
  local flags = tvb(0, 1):uint()
  local head = bit32.band(flags, 0x02) ~= 0 and 9 or 2
  local t = tree:add(zmtp, tvb(), "ZMTP frame")
  local ft = t:add(zf.flags, tvb(0, 1))
  ft:add(zf.more, tvb(0, 1))
  ft:add(zf.long, tvb(0, 1))
  ft:add(zf.command, tvb(0, 1))
  t:add(zf.size, tvb(1, head - 1))
  if tvb:len() > head then t:add(zf.body, tvb(head)) end
  if bit32.band(flags, 0x04) ~= 0 then
    dissect_command(tvb(head):tvb(), pinfo, t)
    return
  end
  local dir = direction(pinfo)
  local cont
  if pinfo.visited then
    cont = seen[key] or nil
  else
    cont = open_msg[dir]
    seen[key] = cont or false
  end
  local current = cont
  if cont ~= nil then  -- a content frame of the message before it
    local ct = tree:add(cont.p.proto, tvb(), cont.p.name .. " " .. cont.m.name .. " content")
    local item = ct:add(cont.p.f.content, tvb:range(head, tvb:len() - head))
    if tvb:len() == head then item:set_text("Content frame: (empty)") end
  else
    local p, m = dissect_message(tvb(head):tvb(), pinfo, tree)
    if p ~= nil then current = {p = p, m = m} end
  end
  if not pinfo.visited then
    open_msg[dir] = (bit32.band(flags, 0x01) ~= 0) and current or nil
  end
end

function zmtp.dissector(tvb, pinfo, tree)
  pinfo.cols.protocol:set("ZMTP")
  local call = (tonumber(pinfo.private.zre_calls) or 0) + 1
  pinfo.private.zre_calls = tostring(call)
  local off, n = 0, tvb:len()
  while off < n do
    local len = pdu_length(tvb, off)
    if len == nil then
      pinfo.desegment_offset = off
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      return n
    end
    if len < 0 then return n end
    if off + len > n then
      pinfo.desegment_offset = off
      pinfo.desegment_len = off + len - n
      return n
    end
    dissect_pdu(tvb(off, len):tvb(), pinfo, tree, pinfo.number .. ":" .. call .. ":" .. off)
    off = off + len
  end
  return off
end

local function zmtp_heuristic(tvb, pinfo, tree)
  -- a ZMTP 3.x greeting: 0xFF, 8 bytes of padding, then a byte with bit 0 set (0x7F in practice);
  -- a first segment shorter than 10 bytes is taken on its 0xFF and reassembled from there
  local n = tvb:len()
  if n < 1 or tvb(0, 1):uint() ~= 0xFF then return false end
  if n >= 10 and bit32.band(tvb(9, 1):uint(), 0x01) == 0 then return false end
  pinfo.conversation = zmtp
  zmtp.dissector(tvb, pinfo, tree)
  return true
end

local function beacon_heuristic(tvb, pinfo, tree)
  if not is_beacon(tvb) then return false end
  beacon.dissector(tvb, pinfo, tree)
  return true
end

zmtp:register_heuristic("tcp", zmtp_heuristic)
beacon:register_heuristic("udp", beacon_heuristic)
DissectorTable.get("udp.port"):add(BEACON_PORT, beacon)
"""
