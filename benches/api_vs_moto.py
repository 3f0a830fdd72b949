"""Step Functions API speed: windlass against fakecloud and moto, through the same boto3 client.

Usage: api_vs_moto.py --windlass URL [--fakecloud URL] --moto URL [--seconds S] [--clients 1,8]

For each server, workload and client count it runs C client processes (one
boto3 client each, so the clients do not share Python's GIL) for S seconds
and prints executions/s and the p50/p99 latency of one execution:

- `start+poll`: StartExecution on a STANDARD 10-state Pass chain, then
  DescribeExecution until the status is no longer RUNNING (first poll at
  once, then 1, 2, 4 ... ms apart, at most 50 ms: the same for both servers);
- `sync`: StartSyncExecution on the same chain as an EXPRESS machine.

Server CPU per execution is read from /proc/PID/stat of each server
(`--windlass-pid`, `--fakecloud-pid`, `--moto-pid`) before and after a cell.

`--floor URL` adds the floor: an axum server on windlass's runtime and HTTP
stack that answers with canned JSON, checking no signature and storing
nothing (crates/server/examples/floor.rs). Its CPU per execution is what the
HTTP exchange alone costs on this machine, under any server's own work.
`--rounds N` measures every cell N times, the servers taking turns, and
reports the run of median rate with the median CPU, since a shared VM's
figures move by tens of percent from one run to the next.
`scripts/bench-api` starts the servers on loopback ports and runs this.
The windlass side needs SigV4 keys AKIDWINDLASS:windlass-secret, or none.
"""

import argparse
import json
import multiprocessing
import os
import time
import urllib.request
import uuid

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::123456789012:role/bench"
KEY_ID, SECRET = "AKIDWINDLASS", "windlass-secret"

CHAIN = {
    "Comment": "10-state Pass chain",
    "StartAt": "P0",
    "States": {
        f"P{i}": ({"Type": "Pass", "Next": f"P{i + 1}"} if i < 9 else {"Type": "Pass", "End": True})
        for i in range(10)
    },
}


def client(url):
    return boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        # StartSyncExecution's "sync-" host prefix does not resolve for a
        # local endpoint; retries would hide failures.
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1}, max_pool_connections=4),
    )


def create_machines(url, label):
    sfn = client(url)
    suffix = uuid.uuid4().hex[:8]
    standard = sfn.create_state_machine(name=f"chain-{label}-{suffix}", definition=json.dumps(CHAIN), roleArn=ROLE)
    express = sfn.create_state_machine(
        name=f"chain-express-{label}-{suffix}", definition=json.dumps(CHAIN), roleArn=ROLE, type="EXPRESS"
    )
    return standard["stateMachineArn"], express["stateMachineArn"]


def run_one(sfn, workload, machine, name):
    """Runs one execution to its end; returns its final status and the number of calls it took."""
    if workload == "sync":
        return sfn.start_sync_execution(stateMachineArn=machine, name=name, input='{"n":1}')["status"], 1
    arn = sfn.start_execution(stateMachineArn=machine, name=name, input='{"n":1}')["executionArn"]
    pause, calls = 0.0, 1
    while True:
        status = sfn.describe_execution(executionArn=arn)["status"]
        calls += 1
        if status != "RUNNING":
            return status, calls
        time.sleep(pause)
        pause = min(0.05, pause * 2 if pause else 0.001)


def worker(url, workload, machine, prefix, seconds, barrier, results):
    sfn = client(url)
    latencies, statuses, calls, error = [], {}, 0, None
    try:
        # Warm up the connection and the client's caches before the clock starts.
        run_one(sfn, workload, machine, f"{prefix}-warm")
        barrier.wait()
        deadline = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            status, used = run_one(sfn, workload, machine, f"{prefix}-{n}")
            latencies.append(time.perf_counter() - began)
            statuses[status] = statuses.get(status, 0) + 1
            calls += used
            n += 1
    except Exception as e:  # noqa: BLE001 - any failure is reported in the table
        error = f"{type(e).__name__}: {e}"
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001
            pass
    results.put((latencies, statuses, calls, error))


def cpu_seconds(pid):
    """User plus system CPU time of a process, from /proc; None if unknown."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def measure(url, pid, workload, machine, clients, seconds, label):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(clients + 1), ctx.Queue()
    run_id = uuid.uuid4().hex[:6]
    procs = [
        ctx.Process(target=worker, args=(url, workload, machine, f"{label}-{run_id}-{c}", seconds, barrier, results))
        for c in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=120)
    except Exception:  # noqa: BLE001 - a worker failed while warming up
        pass
    began, cpu_before = time.perf_counter(), cpu_seconds(pid)
    collected = [results.get(timeout=seconds + 300) for _ in procs]
    wall, cpu_after = time.perf_counter() - began, cpu_seconds(pid)
    for p in procs:
        p.join()
    errors = [e for *_, e in collected if e]
    latencies = sorted(x for lat, *_ in collected for x in lat)
    statuses = {}
    for _, s, _, _ in collected:
        for k, v in s.items():
            statuses[k] = statuses.get(k, 0) + v
    if errors or not latencies:
        return {"error": errors[0] if errors else "no execution finished"}
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    count = len(latencies)
    server_cpu = None if cpu_before is None or cpu_after is None else (cpu_after - cpu_before) / count * 1000
    return {
        "count": count,
        "rate": count / wall,
        "p50": pick(0.50) * 1000,
        "p99": pick(0.99) * 1000,
        "calls": sum(c for _, _, c, _ in collected) / count,
        "server_cpu_ms": server_cpu,
        "statuses": statuses,
    }


def moto_enable_execution(url):
    request = urllib.request.Request(
        f"{url}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()


def median_run(results):
    """The run of median rate, with the median server CPU of all runs; a failed run stands for the cell."""
    failed = [r for r in results if "error" in r]
    if failed:
        return failed[0]
    ordered = sorted(results, key=lambda r: r["rate"])
    chosen = dict(ordered[len(ordered) // 2])
    cpus = sorted(r["server_cpu_ms"] for r in results if r["server_cpu_ms"] is not None)
    chosen["server_cpu_ms"] = cpus[len(cpus) // 2] if cpus else None
    return chosen


def cell(result, width):
    if "error" in result:
        return f"{'failed':>{width}} {'':>7} {'':>7} {'':>6}"
    cpu = "-" if result["server_cpu_ms"] is None else f"{result['server_cpu_ms']:.2f}"
    return f"{result['rate']:>{width}.1f} {result['p50']:>7.2f} {result['p99']:>7.2f} {cpu:>6}"


def ratio(ours, peer):
    """windlass's executions/s over the peer's, and the peer's CPU per execution over windlass's."""
    if "rate" not in ours or "rate" not in peer:
        return f"{'n/a':>7} {'n/a':>5}"
    rate = f"{ours['rate'] / peer['rate']:>6.1f}x"
    cpus = ours["server_cpu_ms"] and peer["server_cpu_ms"]
    cpu = f"{peer['server_cpu_ms'] / ours['server_cpu_ms']:>4.1f}x" if cpus else f"{'n/a':>5}"
    return f"{rate} {cpu}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windlass", required=True, help="windlass server endpoint URL")
    parser.add_argument("--fakecloud", help="fakecloud endpoint URL")
    parser.add_argument("--moto", required=True, help="moto_server endpoint URL")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per cell")
    parser.add_argument("--clients", default="1,8", help="comma-separated client counts")
    parser.add_argument("--workloads", default="start+poll,sync", help="comma-separated workloads")
    parser.add_argument("--windlass-pid", type=int, help="the server's process id, to report its CPU time")
    parser.add_argument("--fakecloud-pid", type=int, help="fakecloud's process id, to report its CPU time")
    parser.add_argument("--moto-pid", type=int, help="moto_server's process id, to report its CPU time")
    parser.add_argument("--floor", help="endpoint URL of the floor server (crates/server/examples/floor.rs)")
    parser.add_argument("--floor-pid", type=int, help="the floor server's process id")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each cell, servers taking turns")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]

    moto_enable_execution(args.moto)
    servers = {"windlass": args.windlass}
    if args.fakecloud:
        servers["fakecloud"] = args.fakecloud
    servers["moto"] = args.moto
    if args.floor:
        servers["floor"] = args.floor
    pids = {"windlass": args.windlass_pid, "fakecloud": args.fakecloud_pid, "moto": args.moto_pid, "floor": args.floor_pid}
    machines = {name: create_machines(url, name) for name, url in servers.items()}

    rows = []
    for workload in args.workloads.split(","):
        for c in clients:
            runs = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, url in servers.items():
                    standard, express = machines[name]
                    machine = express if workload == "sync" else standard
                    result = measure(url, pids[name], workload, machine, c, args.seconds, name)
                    runs[name].append(result)
                    print(f"  {workload:<10} clients={c:<3} {name:<9} {json.dumps(result)}", flush=True)
            rows.append((workload, c, {name: median_run(found) for name, found in runs.items()}))

    print()
    rounds = f", median of {args.rounds} runs" if args.rounds > 1 else ""
    print(f"10-state Pass chain through boto3, {args.seconds:g} s per cell{rounds}, {os.cpu_count()} cores shared by clients and servers")
    print("rate = executions/s; p50/p99 = latency of one execution in ms; cpu = server CPU ms per execution")
    peers = [name for name in servers if name not in ("windlass", "floor")]
    header = f"{'workload':<11} {'clients':>7}"
    for name in servers:
        header += f" | {name + '/s':>11} {'p50':>7} {'p99':>7} {'cpu':>6}"
    for name in peers:
        header += f" | {'vs ' + name:>13}"
    print(header)
    print("-" * len(header))
    for workload, c, cells in rows:
        line = f"{workload:<11} {c:>7}"
        for name in servers:
            line += f" | {cell(cells[name], 11)}"
        for name in peers:
            line += f" | {ratio(cells['windlass'], cells[name]):>13}"
        print(line)
    print("vs PEER = windlass/PEER executions/s, then PEER/windlass server CPU per execution")
    if "floor" in servers:
        print("floor = canned answers on windlass's HTTP stack: no signature check, no state machine, no store")
    for workload, c, cells in rows:
        for name, result in cells.items():
            if "error" in result and name == "moto" and workload == "sync" and "(500)" in result["error"]:
                print(f"note: moto does not implement StartSyncExecution (HTTP 500, NotImplementedError), {c} client(s)")
            elif "error" in result:
                print(f"note: {name} {workload} with {c} client(s) failed: {result['error'][:300]}")
            elif set(result["statuses"]) != {"SUCCEEDED"}:
                print(f"note: {name} {workload} with {c} client(s) ended {result['statuses']}")


if __name__ == "__main__":
    main()
