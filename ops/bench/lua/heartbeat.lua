-- POST /registry/vms/{id}/heartbeat, cycling over pre-registered VMs.
-- Arguments after `--`: the id prefix and the number of VMs; ids are prefix .. 0-padded index.
local report = require("report")

local threads = 0
function setup(thread)
  thread:set("thread_index", threads)
  threads = threads + 1
end

local prefix, count, next_vm

function init(args)
  prefix = args[1]
  count = tonumber(args[2])
  -- Threads start far apart, so no two hammer the same VM in lockstep.
  next_vm = ((thread_index or 0) * 7919) % count
end

function request()
  next_vm = (next_vm + 1) % count
  local path = "/registry/vms/" .. prefix .. string.format("%06d", next_vm) .. "/heartbeat"
  return wrk.format("POST", path, nil, "")
end

done = report.done
