-- Plain GET of the URL's path (GET /health, /registry/discover/infra, /registry/vms).
local report = require("report")

done = report.done
