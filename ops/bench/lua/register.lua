-- POST /registry/vms with a unique id per request: `prefix-<thread>-<counter>`.
-- Argument after `--`: the id prefix, unique to the run so that repeated runs never collide.
local report = require("report")

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local prefix, counter
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  prefix = args[1] .. "-" .. tostring(thread_index or 0) .. "-"
  counter = 0
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  local body = '{"id":"' .. id .. '","name":"bench-' .. counter .. '","role":"worker",' ..
    '"address":"' .. id .. '.vm.vers.sh","registeredBy":"bench",' ..
    '"services":[{"name":"pi-rpc","port":3001}],"metadata":{"task":"bench"}}'
  return wrk.format("POST", "/registry/vms", headers, body)
end

done = report.done
