-- wrk script for bench/serving.sh: POST the JSON body in $BODY_FILE to the target URL.
-- With DELAY_MS set, each connection waits that long between requests (a paced, fixed-rate run).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE")))
wrk.body = f:read("*a")
f:close()
local pause = tonumber(os.getenv("DELAY_MS") or "0")
if pause > 0 then
    function delay()
        return pause
    end
end
