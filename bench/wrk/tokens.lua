-- One request per line of BENCH_TOKENS (cycled), split between wrk's threads.
-- BENCH_METHOD, BENCH_PATH; BENCH_BODY and BENCH_HEADER are format strings where %s is the line.
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  lines = {}
  local n = tonumber(os.getenv("BENCH_THREADS") or "1")
  local i = 0
  local file = os.getenv("BENCH_TOKENS")
  local all = {}
  if file and file ~= "" then
    for line in io.lines(file) do
      if i % n == tid then table.insert(lines, line) end
      table.insert(all, line)
      i = i + 1
    end
  end
  -- fewer lines than threads (one service key): every thread uses them all
  if #lines == 0 then lines = all end
  if #lines == 0 then lines = {""} end
  idx = 0
  method = os.getenv("BENCH_METHOD") or "GET"
  path = os.getenv("BENCH_PATH") or "/"
  body_fmt = os.getenv("BENCH_BODY") or ""
  header_fmt = os.getenv("BENCH_HEADER") or ""
end

function request()
  idx = idx % #lines + 1
  local line = lines[idx]
  local headers = {}
  local body = nil
  if body_fmt ~= "" then
    headers["Content-Type"] = "application/json"
    body = string.format(body_fmt, line)
  end
  if header_fmt ~= "" then
    headers["Authorization"] = string.format(header_fmt, line)
  end
  return wrk.format(method, path, headers, body)
end
