/**
 * The algorithms of lib/rate-limit/algorithms.ts as Lua scripts for Redis: the same arithmetic on
 * the same doubles (Lua's numbers, like JavaScript's), step for step, so a counter on Upstash
 * answers exactly what the Durable Object's `take` answers. A script runs atomically on its one key:
 * read the state, compute, write it back (only when it changed), reply. A refused ask takes nothing.
 *
 * State: one hash per counter, CounterState's numbers in one-letter fields beside its expiresAt (e):
 * fixed-window w (window), n (used); sliding-window w, c (current), p (previous); token-bucket
 * t (tokens), r (refilledAt). A state whose expiresAt has come is read as none, as the object reads
 * it, and PEXPIREAT drops the key then, as the object's alarm deletes its state.
 *
 * Time: the caller's clock, passed in ARGV[6] (as @upstash/ratelimit passes it): a script stays
 * deterministic, as Upstash asks of scripts it runs with key locking and replicates, and Workers'
 * clocks are kept in sync by the platform, so isolates judge a counter alike.
 */
import type { LimitSpec, RateLimitAlgorithm } from "../../lib/rate-limit/algorithms.ts";
import type { Grant } from "../../lib/rate-limit/decision.ts";

/**
 * What every script starts with. The shebang's flag is Upstash's: lock only the declared key, not the
 * whole database, so takes on other keys run in parallel (the script touches KEYS[1] and nothing else).
 */
const PRELUDE = `#!lua flags=allow-key-locking
-- KEYS[1]: the counter. ARGV: limit, windowMs, refill, ask (a whole number, at least 1), partial ("1" or "0"), now (epoch ms).
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local refill = tonumber(ARGV[3])
local ask = tonumber(ARGV[4])
local partial = ARGV[5] == "1"
local now = tonumber(ARGV[6])

-- algorithms.ts grant(): all of ask, or (partial) what is left, or nothing.
local function grant(available)
  if available <= 0 then return 0 end
  if available >= ask then return ask end
  if partial then return available end
  return 0
end

-- The stored fields as numbers, expiresAt first; nil when there are none or they have expired.
local function load(fields)
  local values = redis.call("HMGET", key, unpack(fields))
  local state = {}
  for i = 1, #fields do
    state[i] = tonumber(values[i])
    if state[i] == nil then return nil end
  end
  if state[1] <= now then return nil end
  return state
end

-- Writes the new state, expiresAt first, and its expiry; nothing when it equals the stored one.
local function save(fields, prior, state)
  if prior ~= nil then
    local same = true
    for i = 1, #fields do
      if prior[i] ~= state[i] then same = false end
    end
    if same then return end
  end
  local args = {}
  for i = 1, #fields do
    args[2 * i - 1] = fields[i]
    args[2 * i] = state[i]
  end
  redis.call("HSET", key, unpack(args))
  redis.call("PEXPIREAT", key, state[1])
end
`;

/** Each algorithm's body, after the prelude; it replies {granted, remaining, resetAt, retryAt}. */
const BODIES: Record<RateLimitAlgorithm, string> = {
  "fixed-window": `
local fields = { "e", "w", "n" }
local window = math.floor(now / size)
local prior = load(fields)
local used = 0
if prior ~= nil and prior[2] == window then used = prior[3] end
local granted = grant(limit - used)
local ending = (window + 1) * size
save(fields, prior, { ending, window, used + granted })
return { granted, limit - used - granted, ending, ending }
`,
  "sliding-window": `
local fields = { "e", "w", "c", "p" }
local window = math.floor(now / size)
local prior = load(fields)
local current = 0
local previous = 0
if prior ~= nil then
  if prior[2] == window then
    current = prior[3]
    previous = prior[4]
  elseif prior[2] == window - 1 then
    previous = prior[3]
  end
end
-- JavaScript's % on doubles is C's fmod.
local elapsed = math.fmod(now, size) / size
local weighted = math.floor((1 - elapsed) * previous)
local granted = grant(limit - weighted - current)
current = current + granted
local ending = (window + 1) * size
-- slidingRetryAt(limit, window * size, size, previous, current)
local start = window * size
local retryAt
if current < limit then
  if previous <= 0 then
    retryAt = start
  else
    retryAt = start + math.max(0, math.floor((1 - (limit - current) / previous) * size) + 1)
  end
else
  retryAt = start + size + math.floor((1 - limit / current) * size) + 1
end
save(fields, prior, { ending + size, window, current, previous })
return { granted, math.max(0, limit - weighted - current), ending, retryAt }
`,
  "token-bucket": `
local fields = { "e", "t", "r" }
local prior = load(fields)
local tokens = limit
local refilledAt = now
if prior ~= nil then
  tokens = prior[2]
  refilledAt = prior[3]
  if now >= refilledAt + size then
    local refills = math.floor((now - refilledAt) / size)
    tokens = math.min(limit, tokens + refills * refill)
    refilledAt = refilledAt + refills * size
  end
end
local granted = grant(tokens)
tokens = tokens - granted
local nextRefill = refilledAt + size
local refillsToFull = math.ceil((limit - tokens) / refill)
save(fields, prior, { refilledAt + math.max(1, refillsToFull) * size, tokens, refilledAt })
return { granted, tokens, nextRefill, nextRefill }
`,
};

/** The Lua script of one algorithm. */
export function limitScript(algorithm: RateLimitAlgorithm): string {
  return PRELUDE + BODIES[algorithm];
}

/** The script's ARGV for one take at `now` (epoch ms). */
export function limitScriptArgs(spec: LimitSpec, ask: number, partial: boolean, now: number): string[] {
  // algorithms.ts take(): an ask is a whole number, at least 1.
  return [
    String(spec.limit),
    String(spec.windowMs),
    String(spec.refill),
    String(Math.max(1, Math.floor(ask))),
    partial ? "1" : "0",
    String(Math.floor(now)),
  ];
}

/** The script's reply as a grant; throws on anything else (a proxy's page, a changed script). */
export function grantOfReply(reply: unknown): Grant {
  if (!Array.isArray(reply) || reply.length !== 4 || !reply.every((n) => typeof n === "number" && Number.isFinite(n))) {
    throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
  }
  const [granted, remaining, resetAt, retryAt] = reply as [number, number, number, number];
  return { granted, remaining, resetAt, retryAt };
}
