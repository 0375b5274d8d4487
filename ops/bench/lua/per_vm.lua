-- One request per pre-registered VM, cycling over them: heartbeats (P2, P9, P10) or reads (P13).
-- Arguments after `--`: the id prefix, the number of VMs, and optionally the method (POST) and
-- what follows the VM's path ("/heartbeat"; "" for the VM itself). Ids are prefix .. 0-padded
-- index.
local report = require("report")

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local prefix, count, method, suffix, next_vm

function init(args)
  prefix = args[1]
  count = tonumber(args[2])
  method = args[3] or "POST"
  suffix = args[4] or "/heartbeat"
  -- Threads start far apart, so no two hammer the same VM in lockstep.
  next_vm = ((thread_index or 0) * 7919) % count
end

function request()
  next_vm = (next_vm + 1) % count
  local path = "/registry/vms/" .. prefix .. string.format("%06d", next_vm) .. suffix
  return wrk.format(method, path, nil, "")
end

done = report.done
