"""Drive the hub with wrk: one Lua script that knows every benchmark scenario.

wrk is an event-driven C load generator, so on a two-core machine it takes a small share of
the CPU the hub needs; a Python client would be the bottleneck long before the hub. Each run
is bounded by its duration; latencies are per response as wrk measures them (closed loop:
with C connections, a saturated hub's p50 is about C / throughput).
https://github.com/wg/wrk/blob/master/SCRIPTING
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.dataset import PATIENT_SYSTEM

SCENARIOS = ("read", "search-identifier", "search-date", "search-include", "update", "create", "transaction")
ENTRIES_PER_TRANSACTION = 100

LUA = r"""
local scenario, patients, observations, nthreads, body
local counter = 0
local headers = {["Content-Type"] = "application/fhir+json", ["Accept"] = "application/fhir+json"}
local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

function init(args)
  scenario, patients, observations, nthreads = args[1], tonumber(args[2]), tonumber(args[3]), tonumber(args[4])
  math.randomseed(os.time() * 7919 + thread_no)
  if args[5] ~= nil and args[5] ~= "" then
    local f = assert(io.open(args[5], "rb")); body = f:read("*a"); f:close()
  end
end

local function day(d)
  return os.date("!%Y-%m-%d", 1577836800 + d * 86400)
end

local function patient_body(n, note)
  return string.format('{"resourceType":"Patient","id":"bp-%d","identifier":[{"system":"SYSTEM","value":"c%d"}],'
    .. '"name":[{"family":"Family%d","given":["Updated%d"]}],"gender":"other","birthDate":"1970-01-01"}',
    n, n, n % 5000, note)
end

request = function()
  counter = counter + 1
  if scenario == "read" then
    return wrk.format("GET", "/fhir/Patient/bp-" .. math.random(0, patients - 1), headers)
  elseif scenario == "search-identifier" then
    return wrk.format("GET", "/fhir/Patient?identifier=ESYSTEM%7Cc" .. math.random(0, patients - 1), headers)
  elseif scenario == "search-date" then
    local d = math.random(0, 5 * 365 - 2)
    return wrk.format("GET", "/fhir/Observation?date=ge" .. day(d) .. "&date=lt" .. day(d + 1), headers)
  elseif scenario == "search-include" then
    return wrk.format("GET", "/fhir/Observation?subject=Patient/bp-" .. math.random(0, patients - 1)
      .. "&_include=Observation:subject", headers)
  elseif scenario == "update" then
    -- Each wrk thread updates its own share of the Patients, in turn, so two requests in flight
    -- rarely race for one resource; a lost race is a 409 and counts as an error.
    local share = math.floor(patients / nthreads)
    local n = thread_no + nthreads * (counter % share)
    return wrk.format("PUT", "/fhir/Patient/bp-" .. n, headers, patient_body(n, counter))
  elseif scenario == "create" then
    return wrk.format("POST", "/fhir/Patient", headers, string.format(
      '{"resourceType":"Patient","identifier":[{"system":"SYSTEM/created","value":"w%d-%d-%d"}],'
      .. '"name":[{"family":"Created%d","given":["Bench"]}],"gender":"female","birthDate":"1980-02-29"}',
      thread_no, os.time(), counter, counter % 1000))
  elseif scenario == "transaction" then
    return wrk.format("POST", "/fhir", headers, body)
  end
  error("unknown scenario " .. tostring(scenario))
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_RESULT {"requests":%d,"duration_us":%d,"status_errors":%d,"socket_errors":%d,'
    .. '"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class LoadResult:
    """What one wrk run measured."""

    scenario: str
    stored: int
    connections: int
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    load: float = 0.0
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        """Return the result as plain data."""
        return asdict(self)


def _script(workdir: Path) -> Path:
    encoded = PATIENT_SYSTEM.replace(":", "%3A").replace("/", "%2F")
    path = workdir / "ingang_bench.lua"
    path.write_text(LUA.replace("ESYSTEM", encoded).replace("SYSTEM", PATIENT_SYSTEM))
    return path


def require_wrk() -> str:
    """Return wrk's path, or stop with how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed to generate load: apt-get install wrk")
    return found


def run(base_url: str, scenario: str, *, patients: int, observations: int, stored: int, connections: int,
        threads: int, seconds: float, body_file: Path | None = None) -> LoadResult:
    """Run one scenario for `seconds` with `connections` open connections and return what wrk measured."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario}; choose from {', '.join(SCENARIOS)}")
    threads = max(1, min(threads, connections))
    with tempfile.TemporaryDirectory() as tmp:
        script = _script(Path(tmp))
        command = [require_wrk(), "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s",
                   "--timeout", "60s", "-s", str(script), base_url, "--", scenario, str(patients),
                   str(observations), str(threads), str(body_file or "")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    secs = raw["duration_us"] / 1e6
    return LoadResult(
        scenario=scenario, stored=stored, connections=connections, requests=raw["requests"], seconds=secs,
        per_second=raw["requests"] / secs if secs else 0.0, p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000, max_ms=raw["max_us"] / 1000,
        errors=raw["status_errors"] + raw["socket_errors"] + raw["timeouts"], load=os.getloadavg()[0],
    )
