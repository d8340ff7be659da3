-- wrk script: posts Alertmanager webhook payloads (one alert each) with a fresh fingerprint per request, so that
-- de-duplication never short-cuts classification. Event types spread over the generated rules.
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer bench-token"
end

function request()
  counter = counter + 1
  local n = counter % 1000
  local body = string.format(
    '{"version":"4","status":"firing","receiver":"reflex","groupLabels":{},"commonLabels":{},' ..
    '"alerts":[{"status":"firing","labels":{"alertname":"Alert%d","instance":"web-%d:9100","service":"svc%d",' ..
    '"severity":"critical","env":"prod"},"annotations":{"summary":"service down on web-%d"},' ..
    '"startsAt":"2026-11-22T01:21:04.264Z","endsAt":"0001-01-01T00:00:00Z",' ..
    '"generatorURL":"http://prometheus:9090/graph","fingerprint":"%d-%08x"}]}',
    n, n % 40, n % 50, n % 40, tid or 0, counter)
  return wrk.format(nil, "/v1/events/alertmanager", nil, body)
end
