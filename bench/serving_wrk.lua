-- wrk script of the serving benchmark (bench/serving.py): POSTs one JSON body to the URL
-- given on wrk's command line, and prints one machine-readable summary line at the end.
-- The body comes from the environment (SERVE_BODY), so one script serves every tool.
-- No request()/response() callbacks: those run Lua per request and would slow wrk down.

wrk.method = "POST"
wrk.body = os.getenv("SERVE_BODY") or "{}"
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SERVE_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
