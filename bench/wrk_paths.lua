-- wrk script: GET PREFIX..address, cycling through the addresses in BENCH_ADDRESSES (one per
-- line), each thread starting at its own offset; prints latency percentiles as JSON at the end.
local addresses = {}
for line in io.lines(os.getenv("BENCH_ADDRESSES")) do addresses[#addresses + 1] = line end
local prefix = os.getenv("BENCH_PREFIX") or "/api/v1/lookup/"
local counter = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("counter", thread_count * 7919)
end

function request()
  counter = counter + 1
  local address = addresses[(counter % #addresses) + 1]
  return wrk.format("GET", prefix .. address)
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
