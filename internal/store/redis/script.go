package redis

import (
	"strconv"
	"strings"

	"github.com/abuseguard/abuseguard/internal/limit"
)

// batchScript applies a batch of limit ops, one per key, in order, with the
// arithmetic of internal/limit (GCRA, CountQuota, AcquireSlot, ReleaseSlot)
// and, for local-first, the sync ops that add counts unconditionally.
//
// A key's value is "EXPIRES N" (unix nanoseconds, count). Lua numbers are
// doubles, exact only below 2^53, and unix nanoseconds are about 2^60, so
// instants are split into seconds and nanoseconds and the arithmetic runs
// on durations relative to now, which are exact up to 104 days.
//
// ARGV[1] is now, ARGV[2] the TTL slack in milliseconds; then five
// arguments per key: kind, a, b, c, stop. The reply has one entry per
// applied op: the key's value before a check ("" when absent), or, after
// a sync, its value and the share reserved ("EXPIRES N SHARE"). A refused
// check whose stop is "1" ends the batch; a sync's stop argument is
// "WANT,NODES,SLOT" (see localFirst).
const batchScript = `
local B = 1000000000
local function parse(s)
  local n = #s
  if n <= 9 then return 0, tonumber(s) end
  return tonumber(string.sub(s, 1, n - 9)), tonumber(string.sub(s, n - 8))
end
local function rel(h, l, nh, nl) return (h - nh) * B + (l - nl) end
local function abs(nh, nl, d)
  local dh = math.floor(d / B)
  local dl = d - dh * B
  if dl < 0 then dl = dl + B; dh = dh - 1 end
  if dl >= B then dl = dl - B; dh = dh + 1 end
  local h, l = nh + dh, nl + dl
  if l >= B then l = l - B; h = h + 1 end
  if h == 0 then return string.format('%d', l) end
  return string.format('%d%09d', h, l)
end
local nh, nl = parse(ARGV[1])
local slack = tonumber(ARGV[2])
local out = {}
local function put(k, d, n)
  redis.call('SET', k, abs(nh, nl, d) .. ' ' .. string.format('%d', n), 'PX', math.floor(d / 1000000) + 1 + slack)
end
for i = 1, #KEYS do
  local k = KEYS[i]
  local j = 2 + (i - 1) * 5
  local kind, a, b, c, stop = ARGV[j + 1], ARGV[j + 2], ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]
  local v = redis.call('GET', k)
  local e, n = nil, 0
  if v then
    local sp = string.find(v, ' ', 1, true)
    local eh, el = parse(string.sub(v, 1, sp - 1))
    e = rel(eh, el, nh, nl)
    n = tonumber(string.sub(v, sp + 1))
  else
    v = ''
  end
  local ok = true
  if kind == 'r' then
    local interval, burst, cost = tonumber(a), tonumber(b), tonumber(c)
    local tat = 0
    if e and e > 0 then tat = e end
    local newtat = tat + interval * cost
    if newtat - interval * burst > 0 then ok = false else put(k, newtat, 0) end
    out[i] = v
  elseif kind == 'q' then
    local eh, el = parse(a)
    local pend = rel(eh, el, nh, nl)
    local quota, cost = tonumber(b), tonumber(c)
    if not e or e <= 0 then e, n = pend, 0 end
    if n + cost > quota then ok = false else put(k, e, n + cost) end
    out[i] = v
  elseif kind == 'a' then
    local slots, lease = tonumber(a), tonumber(b)
    if not e or e <= 0 then n = 0 end
    if n >= slots then ok = false else put(k, lease, n + 1) end
    out[i] = v
  elseif kind == 'l' then
    if not e or e <= 0 or n <= 1 then
      redis.call('DEL', k)
    else
      redis.call('SET', k, string.sub(v, 1, string.find(v, ' ', 1, true)) .. string.format('%d', n - 1), 'KEEPTTL')
    end
    out[i] = ''
  elseif kind == 'R' or kind == 'Q' then
    -- a sync: add c (what the node admitted unreserved, less its unused
    -- lease), then reserve the node's share of what is left.
    local want, nodes, slot = string.match(stop, '(%d+),(%d+),(%d+)')
    want, nodes, slot = tonumber(want), tonumber(nodes), tonumber(slot)
    local room, used
    if kind == 'R' then
      local interval, burst = tonumber(a), tonumber(b)
      local tat = 0
      if e and e > 0 then tat = e end
      tat = tat + tonumber(c)
      if tat < 0 then tat = 0 end
      room = math.floor((interval * burst - tat) / interval)
      if room < 0 then room = 0 end
      local share = math.floor(room / nodes)
      if slot < room % nodes then share = share + 1 end
      if share > want then share = want end
      tat = tat + share * interval
      if tat > 0 then put(k, tat, 0) else redis.call('DEL', k) end
      out[i] = abs(nh, nl, tat) .. ' 0 ' .. string.format('%d', share)
    else
      local eh, el = parse(a)
      local pend = rel(eh, el, nh, nl)
      local quota = tonumber(b)
      if not e or e <= 0 then e, n = pend, 0 end
      n = n + tonumber(c)
      if n < 0 then n = 0 end
      room = quota - n
      if room < 0 then room = 0 end
      local share = math.floor(room / nodes)
      if slot < room % nodes then share = share + 1 end
      if share > want then share = want end
      n = n + share
      put(k, e, n)
      out[i] = abs(nh, nl, e) .. ' ' .. string.format('%d', n) .. ' ' .. string.format('%d', share)
    end
  end
  if not ok and stop == '1' then return out end
end
return out
`

// Script op kinds, as the script spells them.
const (
	kindRate     = "r"
	kindQuota    = "q"
	kindAcquire  = "a"
	kindRelease  = "l"
	kindSyncRate = "R"
	kindSyncQ    = "Q"
)

// appendOpArgs appends op's five script arguments to args.
func appendOpArgs(args []string, op *limit.Op) []string {
	stop := "0"
	if op.Stop {
		stop = "1"
	}
	switch op.Kind {
	case limit.OpRate:
		return append(args, kindRate, itoa(int64(op.Rate.Interval)), itoa(op.Rate.Burst), itoa(op.Cost), stop)
	case limit.OpQuota:
		return append(args, kindQuota, itoa(op.PeriodEnd), itoa(op.Quota), itoa(op.Cost), stop)
	case limit.OpAcquire:
		return append(args, kindAcquire, itoa(op.Slots), itoa(int64(op.Lease)), "0", stop)
	}
	return append(args, kindRelease, "0", "0", "0", "0")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// parseSync reads a sync's reply: the key's state after the sync and the
// share (requests) reserved for this node.
func parseSync(v string) (limit.State, int64, bool) {
	i := strings.LastIndexByte(v, ' ')
	if i < 0 {
		return limit.State{}, 0, false
	}
	share, err := strconv.ParseInt(v[i+1:], 10, 64)
	st, ok := parseState(v[:i])
	return st, share, ok && err == nil
}

// parseState reads a key's value as the script writes it; "" is the
// zero State (an absent key).
func parseState(v string) (limit.State, bool) {
	if v == "" {
		return limit.State{}, true
	}
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			e, err1 := strconv.ParseInt(v[:i], 10, 64)
			n, err2 := strconv.ParseInt(v[i+1:], 10, 64)
			return limit.State{Expires: e, N: n}, err1 == nil && err2 == nil
		}
	}
	return limit.State{}, false
}
