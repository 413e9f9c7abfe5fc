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
-- flags bit 3: the body is packed, a binary form of its JSON value (src/core/packed.ts, whose
--   header comment is the format); it is shown as the JSON text JSON.stringify writes for that
--   value, under distlab.body_json like a JSON body. A packed body that does not decode is shown
--   as "Body (packed, malformed)" with the reason (field distlab.body_error, an expert info).
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
f.packed = ProtoField.bool("distlab.flags.packed_body", "Packed body", 8, nil, 0x08)
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
f.body_error = ProtoField.string("distlab.body_error", "Body (packed, malformed)")
f.auth = ProtoField.bytes("distlab.auth", "Auth trailer")
f.key_id = ProtoField.string("distlab.auth.key_id", "Key id")
f.signed_at = ProtoField.uint64("distlab.auth.signed_at", "Signing time (ms since epoch)", base.DEC)
f.nonce = ProtoField.string("distlab.auth.nonce", "Nonce")
f.mac = ProtoField.bytes("distlab.auth.mac", "HMAC-SHA256")
f.crc = ProtoField.uint32("distlab.crc", "CRC-32", base.HEX)

local MAX_HEADER = 4096
local MAX_FRAME = 1024 * 1024

local e_malformed = ProtoExpert.new("distlab.malformed_body", "Malformed packed body",
  expert.group.MALFORMED, expert.severity.ERROR)
local e_raw_packed = ProtoExpert.new("distlab.raw_and_packed", "Body flagged raw and packed",
  expert.group.MALFORMED, expert.severity.ERROR)
local e_bad_utf8 = ProtoExpert.new("distlab.bad_utf8", "Invalid UTF-8 in a packed string",
  expert.group.MALFORMED, expert.severity.WARN)
distlab.experts = { e_malformed, e_raw_packed, e_bad_utf8 }

-- Packed body (flags bit 3). The known shapes of 0x0c objects by id, each its keys in order. This
-- must match SHAPES in src/core/packed.ts id for id and key for key: the ids are on the wire, so a
-- shape is only ever appended there, and must then be appended here too.
local PACKED_SHAPES = {
  [0] = { "seq", "u" },
  [1] = { "s", "n", "u", "i", "h", "p", "g", "c" },
  [2] = { "s", "n", "u", "i", "h", "p", "g", "c", "f" },
  [3] = { "s", "m", "f", "t" },
  [4] = { "seq", "t", "u" },
  [5] = { "n", "h", "p" },
  [6] = { "u" },
  [7] = { "seq" },
  [8] = { "s", "q", "b", "m" },
  [9] = { "s", "q", "c" },
  [10] = { "s", "b" },
  [11] = { "m" },
  [12] = { "o", "q", "v", "s", "t", "h" },
  [13] = { "i", "h" },
  [14] = { "i" },
}
-- Deepest nesting of arrays and objects distlab decodes (MAX_JSON_DEPTH in src/core/frame.ts).
local PACKED_MAX_DEPTH = 64

local JSON_ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t",
}

-- A string as JSON.stringify writes it: ", \ and control characters escaped, the rest as it is.
local function json_string(s)
  local body = s:gsub('[%c"\\]', function(c)
    local e = JSON_ESCAPES[c]
    if e then return e end
    local b = c:byte()
    if b < 0x20 then return string.format("\\u%04x", b) end
    return c -- DEL: %c matches it, JSON leaves it
  end)
  return '"' .. body .. '"'
end

-- A finite number as JavaScript writes it (Number.prototype.toString, which JSON.stringify uses):
-- the fewest significant digits that read back as the same double, in plain notation from 1e-6 up
-- to below 1e21, in exponent notation (1e+21, 1.5e-7) outside that.
local function js_number(v)
  if v == 0 then return "0" end -- -0 too
  if v < 0 then return "-" .. js_number(-v) end
  local sci
  for p = 0, 16 do
    sci = string.format("%." .. p .. "e", v)
    if tonumber(sci) == v then break end
  end
  local int, frac, exp = sci:match("^(%d)%.?(%d*)e([-+]%d+)$")
  local digits = (int .. frac):gsub("0+$", "")
  local k = #digits
  local n = tonumber(exp) + 1 -- v = 0.<digits> * 10^n
  if k <= n and n <= 21 then return digits .. string.rep("0", n - k) end
  if 0 < n and n <= 21 then return digits:sub(1, n) .. "." .. digits:sub(n + 1) end
  if -6 < n and n <= 0 then return "0." .. string.rep("0", -n) .. digits end
  local e = n - 1
  local mant = k == 1 and digits or (digits:sub(1, 1) .. "." .. digits:sub(2))
  return mant .. "e" .. (e < 0 and "-" or "+") .. math.abs(e)
end

-- The bytes of s with every ill-formed UTF-8 sequence replaced by U+FFFD as the WHATWG decoder
-- does (what distlab's decoder, Buffer.toString('utf8'), gives), and how many were replaced.
local function utf8_repaired(s)
  if not s:find("[\128-\255]") then return s, 0 end
  local out, bad = {}, 0
  local keep = 1 -- start of the bytes not yet copied to out
  local i, len = 1, #s
  local need, lower, upper, seq_start = 0, 0x80, 0xBF, 1
  while i <= len do
    local b = s:byte(i)
    if need == 0 then
      if b >= 0xC2 and b <= 0xDF then
        need = 1
      elseif b >= 0xE0 and b <= 0xEF then
        need = 2
        if b == 0xE0 then lower = 0xA0 elseif b == 0xED then upper = 0x9F end
      elseif b >= 0xF0 and b <= 0xF4 then
        need = 3
        if b == 0xF0 then lower = 0x90 elseif b == 0xF4 then upper = 0x8F end
      elseif b >= 0x80 then
        out[#out + 1] = s:sub(keep, i - 1)
        out[#out + 1] = "\239\191\189"
        bad = bad + 1
        keep = i + 1
      end
      seq_start = i
      i = i + 1
    elseif b < lower or b > upper then
      -- the sequence so far becomes one U+FFFD, and this byte is read again
      out[#out + 1] = s:sub(keep, seq_start - 1)
      out[#out + 1] = "\239\191\189"
      bad = bad + 1
      keep = i
      need, lower, upper = 0, 0x80, 0xBF
    else
      lower, upper = 0x80, 0xBF
      need = need - 1
      i = i + 1
    end
  end
  if need > 0 then
    out[#out + 1] = s:sub(keep, seq_start - 1)
    out[#out + 1] = "\239\191\189"
    bad = bad + 1
  else
    out[#out + 1] = s:sub(keep)
  end
  return table.concat(out), bad
end

-- The JSON text of a packed body (TvbRange), or nil and why it is malformed. Every length is
-- checked against the bytes left before it is used and the nesting is bounded, so a hostile body
-- costs time in proportion to its size and cannot raise a Lua error past this function.
-- Returns json, nil, bad_utf8 on success; nil, reason on failure.
local function packed_to_json(range)
  local s = range:raw()
  local len = #s
  local pos = 1 -- next byte to read, 1-based
  local out = {}
  local bad_utf8 = 0

  local function fail(what) error({ packed = what .. " at body byte " .. (pos - 1) }, 0) end
  local function need(n, what) if pos + n - 1 > len then fail(what .. " runs past the body") end end
  local function uint(n)
    local v = 0
    for i = pos, pos + n - 1 do v = v * 256 + s:byte(i) end
    pos = pos + n
    return v
  end
  -- A length of one byte (short) or four, checked to be there.
  local function length(short, what)
    local n = short and 1 or 4
    need(n, what)
    return uint(n)
  end
  local function string_value(tag)
    local n = length(tag == 0x07, "a string length")
    need(n, "a string")
    local str = s:sub(pos, pos + n - 1)
    if tag == 0x07 then
      if str:find("[\128-\255]") then fail("an ASCII string has a byte over 0x7f") end
    else
      local fixed
      str, fixed = utf8_repaired(str)
      bad_utf8 = bad_utf8 + fixed
    end
    pos = pos + n
    out[#out + 1] = json_string(str)
  end

  local value
  value = function(depth)
    need(1, "a value")
    local tag = uint(1)
    if tag == 0x00 then
      out[#out + 1] = "null"
    elseif tag == 0x01 then
      out[#out + 1] = "false"
    elseif tag == 0x02 then
      out[#out + 1] = "true"
    elseif tag == 0x03 or tag == 0x04 or tag == 0x05 then
      local n = tag == 0x03 and 1 or tag == 0x04 and 2 or 4
      need(n, "an integer")
      out[#out + 1] = string.format("%d", uint(n))
    elseif tag == 0x06 then
      need(8, "a number")
      local v = range:range(pos - 1, 8):float()
      if v ~= v or v == math.huge or v == -math.huge then fail("a number is not finite") end
      pos = pos + 8
      out[#out + 1] = js_number(v)
    elseif tag == 0x07 or tag == 0x08 then
      string_value(tag)
    elseif tag >= 0x09 and tag <= 0x0c then
      if depth >= PACKED_MAX_DEPTH then
        pos = pos - 1
        fail("the body nests deeper than " .. PACKED_MAX_DEPTH)
      end
      if tag == 0x09 or tag == 0x0a then
        local count_at = pos
        local n = length(tag == 0x09, "an array length")
        -- every item takes a byte at least
        if n > len - pos + 1 then
          pos = count_at
          fail("an array of " .. n .. " items runs past the body")
        end
        out[#out + 1] = "["
        for i = 1, n do
          if i > 1 then out[#out + 1] = "," end
          value(depth + 1)
        end
        out[#out + 1] = "]"
      elseif tag == 0x0b then
        need(2, "an object size")
        local n = uint(2)
        -- every member takes three bytes at least: key tag, key length, value
        if n * 3 > len - pos + 1 then
          pos = pos - 2
          fail("an object of " .. n .. " members runs past the body")
        end
        out[#out + 1] = "{"
        for i = 1, n do
          if i > 1 then out[#out + 1] = "," end
          need(1, "a key")
          local ktag = uint(1)
          if ktag ~= 0x07 and ktag ~= 0x08 then
            pos = pos - 1
            fail("a key is not a string")
          end
          string_value(ktag)
          out[#out + 1] = ":"
          value(depth + 1)
        end
        out[#out + 1] = "}"
      else
        need(1, "a shape")
        local id = uint(1)
        local keys = PACKED_SHAPES[id]
        if not keys then
          pos = pos - 1
          fail("unknown shape " .. id)
        end
        out[#out + 1] = "{"
        for i, key in ipairs(keys) do
          if i > 1 then out[#out + 1] = "," end
          out[#out + 1] = json_string(key) .. ":"
          value(depth + 1)
        end
        out[#out + 1] = "}"
      end
    else
      pos = pos - 1
      fail(string.format("unknown tag 0x%02x", tag))
    end
  end

  local ok, err = pcall(function()
    value(0)
    if pos <= len then fail((len - pos + 1) .. " bytes after the value") end
  end)
  if ok then return table.concat(out), nil, bad_utf8 end
  if type(err) == "table" and err.packed then return nil, err.packed end
  return nil, "cannot be read (" .. tostring(err) .. ")"
end

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
  ft:add(f.packed, flags)
  t:add(f.hlen, tvb(4, 2))
  local proto, mtype, src, dst = "?", "?", "?", "?"
  local malformed = false
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
  local raw_body = bit.band(flags:uint(), 1) == 1
  local packed_body = bit.band(flags:uint(), 8) == 8
  local body = tvb(6 + hlen + 4, blen)
  if raw_body then
    if blen > 0 then t:add(f.body, body) end
    if packed_body then
      ft:add_proto_expert_info(e_raw_packed,
        "Flags say the body is raw and packed: distlab refuses the frame")
    end
  elseif packed_body then
    local json, why, bad_utf8 = packed_to_json(body)
    if json then
      local bt = t:add(f.body_json, body, json)
      if bad_utf8 > 0 then
        bt:add_proto_expert_info(e_bad_utf8,
          string.format("%d ill-formed UTF-8 sequence(s) shown as U+FFFD, as distlab reads them",
            bad_utf8))
      end
    else
      -- an empty body is malformed too: a packed body is one value, a byte at least
      local at = blen > 0 and body or tvb(6 + hlen, 4)
      if blen > 0 then t:add(f.body, body) end
      local et = t:add(f.body_error, at, why)
      et:add_proto_expert_info(e_malformed, "Malformed packed body: " .. why)
      malformed = true
    end
  elseif blen > 0 then
    t:add(f.body_json, body, body:string(ENC_UTF_8)) -- JSON text is UTF-8 (read as ASCII by default)
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
  if malformed then info = info .. " [malformed body]" end
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
