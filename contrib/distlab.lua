-- Wireshark dissector for distlab frames (see src/core/frame.ts).
--
--   magic "DL" (2) | version (1) | flags (1) | header length (2) | header |
--   body length (4) | body | [auth trailer] | CRC-32 of everything before it (4)   all big-endian
--
-- One frame per UDP datagram; over TCP each frame has a 4-byte big-endian length prefix.
-- flags bit 0: the body is raw bytes, otherwise JSON.
-- flags bit 1: sealed with the cluster key; the auth trailer is key id length (1) | key id |
--   signing time, ms since the epoch (6) | nonce length (1) | nonce | HMAC-SHA256 (32), the MAC
--   over every byte before it.
-- flags bit 2: the header is binary: id | proto | type | src | dst, each length (1) | ASCII bytes,
--   then ts as a float64 (8), then ttl (1) when one byte is left; otherwise the header is JSON.
--
-- Use:  wireshark -X lua_script:contrib/distlab.lua capture.pcap
--       tshark -X lua_script:contrib/distlab.lua -r capture.pcap -Y distlab
-- or copy this file into your personal plugins folder (Help > About > Folders).
-- Port 7000 (distlab's frame port) is registered; frames on other ports are found heuristically.

local distlab = Proto("distlab", "distlab frame")

local f = distlab.fields
f.length = ProtoField.uint32("distlab.length", "Stream length prefix", base.DEC)
f.magic = ProtoField.string("distlab.magic", "Magic")
f.version = ProtoField.uint8("distlab.version", "Version", base.DEC)
f.flags = ProtoField.uint8("distlab.flags", "Flags", base.HEX)
f.raw = ProtoField.bool("distlab.flags.raw", "Raw body", 8, nil, 0x01)
f.sealed = ProtoField.bool("distlab.flags.sealed", "Sealed (cluster key)", 8, nil, 0x02)
f.binary = ProtoField.bool("distlab.flags.binary_header", "Binary header", 8, nil, 0x04)
f.hlen = ProtoField.uint16("distlab.header_length", "Header length", base.DEC)
f.header = ProtoField.string("distlab.header", "Header (JSON)")
f.header_bin = ProtoField.bytes("distlab.header_binary", "Header (binary)")
f.id = ProtoField.string("distlab.id", "Message id")
f.proto = ProtoField.string("distlab.proto", "Protocol")
f.type = ProtoField.string("distlab.type", "Type")
f.src = ProtoField.string("distlab.src", "Source node")
f.dst = ProtoField.string("distlab.dst", "Destination")
f.ts = ProtoField.double("distlab.ts", "Sender time (ms since epoch)")
f.ttl = ProtoField.uint8("distlab.ttl", "TTL", base.DEC)
f.blen = ProtoField.uint32("distlab.body_length", "Body length", base.DEC)
f.body = ProtoField.bytes("distlab.body", "Body")
f.body_json = ProtoField.string("distlab.body_json", "Body (JSON)")
f.auth = ProtoField.bytes("distlab.auth", "Auth trailer")
f.key_id = ProtoField.string("distlab.auth.key_id", "Key id")
f.signed_at = ProtoField.uint64("distlab.auth.signed_at", "Signing time (ms since epoch)", base.DEC)
f.nonce = ProtoField.string("distlab.auth.nonce", "Nonce")
f.mac = ProtoField.bytes("distlab.auth.mac", "HMAC-SHA256")
f.crc = ProtoField.uint32("distlab.crc", "CRC-32", base.HEX)

local MAX_HEADER = 4096
local MAX_FRAME = 1024 * 1024

-- A small reader of the flat JSON header: string and number fields only, which is all it holds.
local function json_field(json, key)
  local s = json:match('"' .. key .. '"%s*:%s*"(.-[^\\])"') or json:match('"' .. key .. '"%s*:%s*""')
  if s then return s end
  return json:match('"' .. key .. '"%s*:%s*(-?[%d%.eE+]+)')
end

-- Dissects one frame at offset 0 of tvb; returns its length, or 0 when it is not a frame.
local function dissect_frame(tvb, pinfo, tree)
  local len = tvb:len()
  if len < 14 or tvb(0, 2):string() ~= "DL" then return 0 end
  local hlen = tvb(4, 2):uint()
  if hlen > MAX_HEADER or 6 + hlen + 4 + 4 > len then return 0 end
  local blen = tvb(6 + hlen, 4):uint()
  local body_end = 6 + hlen + 4 + blen
  local sealed = bit.band(tvb(3, 1):uint(), 2) == 2
  local tlen = 0
  if sealed then
    if body_end + 1 > len then return 0 end
    local klen = tvb(body_end, 1):uint()
    if klen < 1 or klen > 16 or body_end + 1 + klen + 6 + 1 > len then return 0 end
    local nlen = tvb(body_end + 1 + klen + 6, 1):uint()
    if nlen < 1 or nlen > 32 then return 0 end
    tlen = 1 + klen + 6 + 1 + nlen + 32
  end
  local total = body_end + tlen + 4
  if total > len then return 0 end

  local t = tree:add(distlab, tvb(0, total))
  t:add(f.magic, tvb(0, 2))
  t:add(f.version, tvb(2, 1))
  local flags = tvb(3, 1)
  local ft = t:add(f.flags, flags)
  ft:add(f.raw, flags)
  ft:add(f.sealed, flags)
  ft:add(f.binary, flags)
  t:add(f.hlen, tvb(4, 2))
  local proto, mtype, src, dst = "?", "?", "?", "?"
  if bit.band(flags:uint(), 4) == 4 then
    -- binary header: five length-prefixed ASCII strings, ts (float64), [ttl]
    local ht = t:add(f.header_bin, tvb(6, hlen))
    local o = 6
    local hend = 6 + hlen
    local values = {}
    local fields = { f.id, f.proto, f.type, f.src, f.dst }
    for i = 1, 5 do
      if o >= hend then break end
      local n = tvb(o, 1):uint()
      if n < 1 or o + 1 + n > hend then break end
      values[i] = tvb(o + 1, n):string()
      ht:add(fields[i], tvb(o + 1, n))
      o = o + 1 + n
    end
    proto = values[2] or "?"
    mtype = values[3] or "?"
    src = values[4] or "?"
    dst = values[5] or "?"
    if values[5] and o + 8 <= hend then
      ht:add(f.ts, tvb(o, 8))
      if o + 9 == hend then ht:add(f.ttl, tvb(o + 8, 1)) end
    end
  else
    local header = tvb(6, hlen):string()
    local ht = t:add(f.header, tvb(6, hlen))
    proto = json_field(header, "proto") or "?"
    mtype = json_field(header, "type") or "?"
    src = json_field(header, "src") or "?"
    dst = json_field(header, "dst") or "?"
    local id = json_field(header, "id") or ""
    ht:add(f.id, tvb(6, hlen), id)
    ht:add(f.proto, tvb(6, hlen), proto)
    ht:add(f.type, tvb(6, hlen), mtype)
    ht:add(f.src, tvb(6, hlen), src)
    ht:add(f.dst, tvb(6, hlen), dst)
    local ts = tonumber(json_field(header, "ts") or "")
    if ts then ht:add(f.ts, tvb(6, hlen), ts) end
    local ttl = tonumber(json_field(header, "ttl") or "")
    if ttl then ht:add(f.ttl, tvb(6, hlen), ttl) end
  end
  t:add(f.blen, tvb(6 + hlen, 4))
  if blen > 0 then
    local body = tvb(6 + hlen + 4, blen)
    if bit.band(flags:uint(), 1) == 1 then
      t:add(f.body, body)
    else
      t:add(f.body_json, body)
    end
  end
  if sealed then
    local at = t:add(f.auth, tvb(body_end, tlen))
    local klen = tvb(body_end, 1):uint()
    at:add(f.key_id, tvb(body_end + 1, klen))
    at:add(f.signed_at, tvb(body_end + 1 + klen, 6), tvb(body_end + 1 + klen, 6):uint64())
    local nlen = tvb(body_end + 1 + klen + 6, 1):uint()
    at:add(f.nonce, tvb(body_end + 1 + klen + 7, nlen))
    at:add(f.mac, tvb(body_end + tlen - 32, 32))
  end
  t:add(f.crc, tvb(total - 4, 4))
  t:append_text(string.format(": %s/%s %s -> %s", proto, mtype, src, dst))

  pinfo.cols.protocol = "distlab"
  local info = string.format("%s %s %s → %s", proto, mtype, src, dst)
  if tostring(pinfo.cols.info) ~= "" and pinfo.private["distlab_seen"] == "1" then
    pinfo.cols.info:append(" | " .. info)
  else
    pinfo.cols.info = info
    pinfo.private["distlab_seen"] = "1"
  end
  return total
end

-- TCP: frames behind 4-byte length prefixes, possibly several per segment or split across them.
local function dissect_stream(tvb, pinfo, tree)
  local offset = 0
  local len = tvb:len()
  while offset < len do
    if len - offset < 4 then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = DESEGMENT_ONE_MORE_SEGMENT
      return len
    end
    local flen = tvb(offset, 4):uint()
    if flen < 14 or flen > MAX_FRAME then return offset end
    if len - offset < 4 + flen then
      pinfo.desegment_offset = offset
      pinfo.desegment_len = 4 + flen - (len - offset)
      return len
    end
    local sub = tvb(offset + 4, flen):tvb()
    local t = tree:add(distlab, tvb(offset, 4 + flen), "distlab stream frame")
    t:add(f.length, tvb(offset, 4))
    if dissect_frame(sub, pinfo, t) == 0 then return offset end
    offset = offset + 4 + flen
  end
  return offset
end

function distlab.dissector(tvb, pinfo, tree)
  if pinfo.port_type == 2 then -- TCP
    return dissect_stream(tvb, pinfo, tree)
  end
  return dissect_frame(tvb, pinfo, tree)
end

local function heuristic_udp(tvb, pinfo, tree)
  if tvb:len() < 14 or tvb(0, 2):string() ~= "DL" then return false end
  return dissect_frame(tvb, pinfo, tree) > 0
end

local function heuristic_tcp(tvb, pinfo, tree)
  if tvb:len() < 6 or tvb(4, 2):string() ~= "DL" then return false end
  dissect_stream(tvb, pinfo, tree)
  return true
end

DissectorTable.get("udp.port"):add(7000, distlab)
DissectorTable.get("tcp.port"):add(7000, distlab)
distlab:register_heuristic("udp", heuristic_udp)
distlab:register_heuristic("tcp", heuristic_tcp)
