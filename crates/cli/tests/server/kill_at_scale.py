"""Hundreds of executions across a kill -9 of `windlass server`.

Usage: kill_at_scale.py ENDPOINT_URL

Starts executions of three machines (a Wait, an activity Task answered by
worker threads here, and a Map whose iterations wait), prints `READY <n>`
once they are under way, and waits for a line on stdin: in between, the
test kills the server with SIGKILL, waits until a worker prints `OUTAGE
SEEN`, and starts the server again on the same port.
The workers keep polling through the outage and answer tasks they took
before it with the same token. Then every execution must end exactly once:
SUCCEEDED with the expected output, one terminal event that is the last,
history ids 1..n with no gap or duplicate, and each Map item run once.
Prints figures and `FAIL ...` lines; exits non-zero on any failure.
"""

import json
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ROLE = "arn:aws:iam::123456789012:role/windlass"
PER_MACHINE = 100
MAP_ITEMS = 6
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


def client(endpoint):
    return boto3.session.Session().client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDWINDLASS",
        aws_secret_access_key="windlass-secret",
        config=Config(read_timeout=70, connect_timeout=2, retries={"max_attempts": 1}),
    )


def definitions(activity_arn):
    return {
        "Waiter": {
            "StartAt": "Sleep",
            "States": {
                # Long enough to outlast starting all 300 executions on a
                # slow or busy machine: all must still run at the kill.
                "Sleep": {"Type": "Wait", "Seconds": 8, "Next": "Done"},
                "Done": {"Type": "Pass", "Parameters": {"slept.$": "$.i"}, "End": True},
            },
        },
        # A task a worker took but never answered (its reply was lost in the
        # crash) times out on its heartbeat and is retried.
        "Worker": {
            "StartAt": "Work",
            "States": {
                "Work": {
                    "Type": "Task",
                    "Resource": activity_arn,
                    "HeartbeatSeconds": 20,
                    "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout", "States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 5}],
                    "Next": "Done",
                },
                "Done": {"Type": "Pass", "Parameters": {"worked.$": "$.double"}, "End": True},
            },
        },
        "Mapper": {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 2,
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Nap",
                        "States": {
                            "Nap": {"Type": "Wait", "Seconds": 3, "Next": "Inc"},
                            "Inc": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, 1)"}, "End": True},
                        },
                    },
                    "End": True,
                }
            },
        },
    }


def expected_output(machine, i):
    if machine == "Waiter":
        return {"slept": i}
    if machine == "Worker":
        return {"worked": 2 * i}
    return [{"v": i + k + 1} for k in range(MAP_ITEMS)]


def execution_input(machine, i):
    if machine == "Mapper":
        return {"items": [i + k for k in range(MAP_ITEMS)]}
    return {"i": i}


class Workers:
    """Activity workers that keep going while the server is down."""

    def __init__(self, endpoint, activity_arn, threads=8):
        self.endpoint, self.activity_arn = endpoint, activity_arn
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"answered": 0, "answered_after_outage_with_old_token": 0, "refused": 0, "connection_errors": 0}
        self.outage_seen = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def saw_outage(self):
        self.bump("connection_errors")
        if not self.outage_seen.is_set():
            self.outage_seen.set()
            print("OUTAGE SEEN", flush=True)

    def bump(self, key):
        with self.lock:
            self.counts[key] += 1

    def run(self):
        sfn = client(self.endpoint)
        while not self.stop.is_set():
            try:
                task = sfn.get_activity_task(activityArn=self.activity_arn, workerName="scale-worker")
            except (BotoCoreError, ClientError):
                self.saw_outage()
                time.sleep(0.1)
                continue
            token = task.get("taskToken")
            if not token:
                continue
            payload = json.loads(task["input"])
            # Work a while, so that tasks are held across the kill.
            time.sleep(0.1)
            self.answer(sfn, token, {"double": 2 * payload["i"]})

    def answer(self, sfn, token, output):
        failed_to_connect = False
        while not self.stop.is_set():
            try:
                sfn.send_task_success(taskToken=token, output=json.dumps(output))
                self.bump("answered")
                if failed_to_connect:
                    self.bump("answered_after_outage_with_old_token")
                return
            except ClientError as error:
                # Already answered: the task was queued again after the restart
                # and another worker answered that copy.
                self.bump("refused")
                if error.response["Error"]["Code"] not in ("TaskDoesNotExist", "InvalidToken", "TaskTimedOut"):
                    print(f"FAIL unexpected SendTaskSuccess error {error.response['Error']}", flush=True)
                return
            except BotoCoreError:
                failed_to_connect = True
                self.saw_outage()
                time.sleep(0.1)


def history(sfn, arn):
    events = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn, PaginationConfig={"PageSize": 200}):
        events.extend(page["events"])
    return events


def check_execution(sfn, machine, i, arn):
    """Problems with one finished execution, as text; empty if none."""
    problems = []
    described = sfn.describe_execution(executionArn=arn)
    if described["status"] != "SUCCEEDED":
        problems.append(f"status {described['status']} {described.get('error')} {described.get('cause')}")
    elif json.loads(described["output"]) != expected_output(machine, i):
        problems.append(f"output {described['output']}")
    events = history(sfn, arn)
    ids = [e["id"] for e in events]
    kinds = [e["type"] for e in events]
    if ids != list(range(1, len(ids) + 1)):
        problems.append(f"history ids are not 1..n: {ids}")
    terminal = [k for k in kinds if k in TERMINAL]
    if len(terminal) != 1 or kinds[-1] not in TERMINAL:
        problems.append(f"terminal events {terminal}, last {kinds[-1:]}")
    if kinds.count("ExecutionStarted") != 1:
        problems.append("ExecutionStarted is not there exactly once")
    if any(e.get("previousEventId", 0) >= e["id"] for e in events):
        problems.append("an event points at a later one")
    if machine == "Mapper":
        started = [e["mapIterationStartedEventDetails"]["index"] for e in events if e["type"] == "MapIterationStarted"]
        succeeded = [e["mapIterationSucceededEventDetails"]["index"] for e in events if e["type"] == "MapIterationSucceeded"]
        if sorted(started) != list(range(MAP_ITEMS)) or sorted(succeeded) != list(range(MAP_ITEMS)):
            problems.append(f"map iterations started {sorted(started)} succeeded {sorted(succeeded)}")
    if machine == "Worker" and kinds.count("ActivitySucceeded") != 1:
        problems.append(f"{kinds.count('ActivitySucceeded')} ActivitySucceeded events")
    return problems, kinds.count("ActivityTimedOut")


def main():
    endpoint = sys.argv[1]
    sfn = client(endpoint)
    activity_arn = sfn.create_activity(name="scale-activity")["activityArn"]
    machines = {
        name: sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
        for name, definition in definitions(activity_arn).items()
    }
    runs = []
    for i in range(PER_MACHINE):
        for name, arn in machines.items():
            started = sfn.start_execution(stateMachineArn=arn, name=f"{name.lower()}-{i}", input=json.dumps(execution_input(name, i)))
            runs.append((name, i, started["executionArn"]))
    workers = Workers(endpoint, activity_arn)
    # Let the workers take a part of the tasks, so that answers, held tasks
    # and untaken tasks are all cut by the kill.
    deadline = time.time() + 10
    while workers.counts["answered"] < PER_MACHINE // 4 and time.time() < deadline:
        time.sleep(0.01)
    running = sum(
        len(page["executions"])
        for arn in machines.values()
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING")
    )
    print(f"READY {running}", flush=True)
    killed_at = time.time()
    sys.stdin.readline()
    restarted_at = time.time()

    failures = 0
    deadline = time.time() + 120
    pending = list(runs)
    while pending and time.time() < deadline:
        still = []
        for name, i, arn in pending:
            if sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                still.append((name, i, arn))
        pending = still
        if pending:
            time.sleep(0.25)
    finished_at = time.time()
    workers.stop.set()
    if pending:
        failures += 1
        print(f"FAIL {len(pending)} executions still running 120 s after the restart: {[a for _, _, a in pending[:5]]}", flush=True)

    heartbeat_timeouts = 0
    for name, i, arn in runs:
        problems, timeouts = check_execution(sfn, name, i, arn)
        heartbeat_timeouts += timeouts
        for problem in problems:
            failures += 1
            print(f"FAIL {name.lower()}-{i}: {problem}", flush=True)
    figures = {
        "executions": len(runs),
        "running_at_kill": running,
        "outage_seconds": round(restarted_at - killed_at, 2),
        "all_ended_seconds_after_restart": round(finished_at - restarted_at, 2),
        "activity_heartbeat_timeouts_retried": heartbeat_timeouts,
        **workers.counts,
    }
    print("FIGURES " + json.dumps(figures), flush=True)
    if workers.counts["connection_errors"] == 0:
        failures += 1
        print("FAIL the workers never saw the server go away", flush=True)
    if running < 200:
        failures += 1
        print(f"FAIL only {running} executions were running at the kill", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
