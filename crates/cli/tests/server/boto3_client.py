"""Drives a running `windlass server` with boto3, as a real client would.

Usage: boto3_client.py SCENARIO ENDPOINT_URL
Scenarios: `scenario` (the whole API tour), `restart-start` and
`restart-finish` (before and after the server is killed and started again).
Prints one line per check; exits non-zero on the first failure.
"""

import json
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/windlass"


def client(endpoint, secret=None):
    return boto3.client(
        "stepfunctions",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDWINDLASS",
        aws_secret_access_key=secret or "windlass-secret",
        # GetActivityTask may wait 60 s; StartSyncExecution's "sync-" host
        # prefix would not resolve for a local endpoint.
        config=Config(read_timeout=70, inject_host_prefix=False, retries={"max_attempts": 1}),
    )


def check(label, condition, detail=""):
    if not condition:
        print(f"FAIL {label} {detail}")
        sys.exit(1)
    print(f"ok   {label}")


def wait_for(sfn, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError(f"{arn} still running after {timeout}s")


def history(sfn, arn, page_size=5, reverse=False):
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=arn, reverseOrder=reverse, PaginationConfig={"PageSize": page_size}
    )
    events, count = [], 0
    for page in pages:
        count += 1
        events.extend(page["events"])
    return events, count


def tour_definition(activity_arn):
    return {
        "Comment": "Every state type",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Parameters": {"items.$": "$.items", "n.$": "$.n"}, "Next": "Decide"},
            "Decide": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Pause"}],
                "Default": "Nope",
            },
            "Nope": {"Type": "Fail", "Error": "Too.Small", "Cause": "n must be above 10"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Both"},
            "Both": {
                "Type": "Parallel",
                "ResultPath": "$.parallel",
                "Branches": [
                    {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "Result": "L", "End": True}}},
                    {
                        "StartAt": "Each",
                        "States": {
                            "Each": {
                                "Type": "Map",
                                "ItemsPath": "$.items",
                                "ItemProcessor": {
                                    "ProcessorConfig": {"Mode": "INLINE"},
                                    "StartAt": "Inc",
                                    "States": {"Inc": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($, 1)"}, "End": True}},
                                },
                                "End": True,
                            }
                        },
                    },
                ],
                "Next": "Work",
            },
            "Work": {"Type": "Task", "Resource": activity_arn, "ResultPath": "$.worked", "TimeoutSeconds": 60, "Next": "Callback"},
            "Callback": {
                "Type": "Task",
                # A service windlass does not call: the task only waits for its token.
                "Resource": "arn:aws:states:::glue:startJobRun.waitForTaskToken",
                "Parameters": {"JobName": "j", "Arguments": {"token.$": "$$.Task.Token"}},
                "ResultPath": "$.called",
                "Next": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def worker(sfn, activity_arn, answered):
    task = sfn.get_activity_task(activityArn=activity_arn, workerName="py-worker")
    payload = json.loads(task["input"])
    sfn.send_task_heartbeat(taskToken=task["taskToken"])
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"sum": sum(payload["items"])}))
    answered.append(payload)


def callback_token(sfn, arn, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for event in sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=10)["events"]:
            details = event.get("taskScheduledEventDetails")
            if details and details["resourceType"] == "glue":
                return json.loads(details["parameters"])["Arguments"]["token"]
        time.sleep(0.1)
    raise AssertionError("the callback task was never scheduled")


def scenario(endpoint):
    sfn = client(endpoint)
    activity_arn = sfn.create_activity(name="py-activity")["activityArn"]
    check("create activity", activity_arn.endswith(":activity:py-activity"))

    first = {"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}
    created = sfn.create_state_machine(name="Tour", definition=json.dumps(first), roleArn=ROLE, tags=[{"key": "k", "value": "v"}])
    machine_arn = created["stateMachineArn"]
    check("create machine", machine_arn == "arn:aws:states:us-east-1:123456789012:stateMachine:Tour")
    updated = sfn.update_state_machine(stateMachineArn=machine_arn, definition=json.dumps(tour_definition(activity_arn)), publish=True)
    check("update and publish", updated["stateMachineVersionArn"].endswith(":Tour:1"))
    described = sfn.describe_state_machine(stateMachineArn=machine_arn)
    check("describe machine", json.loads(described["definition"])["Comment"] == "Every state type")
    check("tags", sfn.list_tags_for_resource(resourceArn=machine_arn)["tags"] == [{"key": "k", "value": "v"}])

    try:
        sfn.create_state_machine(name="Broken", definition='{"StartAt":"X","States":{"X":{"Type":"Pass","Next":"Y"}}}', roleArn=ROLE)
        check("invalid definition refused", False)
    except sfn.exceptions.InvalidDefinition as e:
        check("invalid definition refused", "Invalid State Machine Definition" in str(e))

    arn = sfn.start_execution(stateMachineArn=machine_arn, name="tour-1", input=json.dumps({"items": [1, 2, 3], "n": 42}))["executionArn"]
    answered = []
    thread = threading.Thread(target=worker, args=(sfn, activity_arn, answered))
    thread.start()
    token = callback_token(sfn, arn)
    sfn.send_task_success(taskToken=token, output=json.dumps({"callback": "ok"}))
    thread.join(timeout=70)
    check("activity worker answered", answered == [{"items": [1, 2, 3], "n": 42, "parallel": ["L", [{"v": 2}, {"v": 3}, {"v": 4}]]}], answered)
    done = wait_for(sfn, arn)
    output = json.loads(done.get("output", "null"))
    check("execution succeeded", done["status"] == "SUCCEEDED", done)
    check("output of every state", output["worked"] == {"sum": 6} and output["called"] == {"callback": "ok"}
          and output["parallel"] == ["L", [{"v": 2}, {"v": 3}, {"v": 4}]], output)

    events, pages = history(sfn, arn, page_size=5)
    ids = [e["id"] for e in events]
    check("history paged", pages > 3 and ids == list(range(1, len(ids) + 1)), (pages, ids))
    types = {e["type"] for e in events}
    for wanted in ["PassStateEntered", "ChoiceStateEntered", "WaitStateEntered", "ParallelStateEntered", "MapStateEntered",
                   "ActivityScheduled", "ActivityStarted", "ActivitySucceeded", "TaskScheduled", "TaskSucceeded", "SucceedStateEntered",
                   "ExecutionSucceeded"]:
        check(f"history has {wanted}", wanted in types, sorted(types))
    backwards, _ = history(sfn, arn, page_size=7, reverse=True)
    check("history reversed", [e["id"] for e in backwards] == list(reversed(ids)))

    try:
        sfn.start_execution(stateMachineArn=machine_arn, name="tour-1", input="{}")
        check("name reuse refused", False)
    except sfn.exceptions.ExecutionAlreadyExists:
        check("name reuse refused", True)

    failed = sfn.start_execution(stateMachineArn=updated["stateMachineVersionArn"], name="small", input=json.dumps({"items": [], "n": 1}))
    failed = wait_for(sfn, failed["executionArn"])
    check("failing execution", failed["status"] == "FAILED" and failed["error"] == "Too.Small", failed)

    long_arn = sfn.start_execution(stateMachineArn=machine_arn, name="to-stop", input=json.dumps({"items": [1], "n": 99}))["executionArn"]
    sfn.stop_execution(executionArn=long_arn, error="Test.Stop", cause="stopped by the test")
    stopped = sfn.describe_execution(executionArn=long_arn)
    check("stop", stopped["status"] == "ABORTED" and stopped["error"] == "Test.Stop", stopped)

    redrive(sfn)

    listed = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine_arn, PaginationConfig={"PageSize": 1}):
        listed.extend(e["name"] for e in page["executions"])
    check("list executions paged", sorted(listed) == ["small", "to-stop", "tour-1"], listed)
    aborted = sfn.list_executions(stateMachineArn=machine_arn, statusFilter="ABORTED")["executions"]
    check("status filter", [e["name"] for e in aborted] == ["to-stop"], aborted)

    express = sfn.create_state_machine(name="Quick", type="EXPRESS", roleArn=ROLE,
                                       definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.x, $.x)"}, "End": True}}}))
    result = sfn.start_sync_execution(stateMachineArn=express["stateMachineArn"], input=json.dumps({"x": 4}))
    check("start sync execution", result["status"] == "SUCCEEDED" and json.loads(result["output"]) == {"twice": 8}, result)

    tested = sfn.test_state(definition=json.dumps({"Type": "Pass", "Parameters": {"y.$": "$.x"}, "Next": "N"}),
                            roleArn=ROLE, input=json.dumps({"x": 5}), inspectionLevel="DEBUG")
    check("test state", tested["status"] == "SUCCEEDED" and json.loads(tested["output"]) == {"y": 5}
          and tested["nextState"] == "N" and json.loads(tested["inspectionData"]["afterParameters"]) == {"y": 5}, tested)

    try:
        client(endpoint, secret="wrong").list_state_machines()
        check("wrong secret refused", False)
    except ClientError as e:
        check("wrong secret refused", e.response["Error"]["Code"] == "InvalidSignatureException", e.response["Error"])

    try:
        sfn.describe_execution(executionArn=machine_arn.replace("stateMachine:Tour", "execution:Tour:none"))
        check("missing execution", False)
    except sfn.exceptions.ExecutionDoesNotExist:
        check("missing execution", True)


def redrive(sfn):
    """A task fails, the execution is redriven, and it continues from that task."""
    activity = sfn.create_activity(name="flaky")["activityArn"]
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Parameters": {"n.$": "$.n", "entered.$": "$$.State.EnteredTime"}, "Next": "Work"},
            "Work": {"Type": "Task", "Resource": activity, "Parameters": {"n.$": "$.n", "redrives.$": "$$.Execution.RedriveCount"},
                     "ResultPath": "$.work", "End": True},
        },
    }
    machine = sfn.create_state_machine(name="Flaky", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name="flaky-1", input=json.dumps({"n": 7}))["executionArn"]
    task = sfn.get_activity_task(activityArn=activity, workerName="w")
    check("redrive: first attempt's input", json.loads(task["input"]) == {"n": 7, "redrives": 0}, task)
    sfn.send_task_failure(taskToken=task["taskToken"], error="Flaky.Down", cause="not yet")
    failed = wait_for(sfn, arn)
    check("redrive: failed first", failed["status"] == "FAILED" and failed["redriveStatus"] == "REDRIVABLE"
          and failed["redriveCount"] == 0, failed)
    first_prepare = [e for e in history(sfn, arn)[0] if e["type"] == "PassStateExited"]

    redriven = sfn.redrive_execution(executionArn=arn)
    check("redrive: accepted", "redriveDate" in redriven, redriven)
    task = sfn.get_activity_task(activityArn=activity, workerName="w")
    check("redrive: the failed task runs again with its input", json.loads(task["input"]) == {"n": 7, "redrives": 1}, task)
    sfn.send_task_success(taskToken=task["taskToken"], output=json.dumps({"ok": True}))
    done = wait_for(sfn, arn)
    check("redrive: succeeded", done["status"] == "SUCCEEDED" and done["redriveCount"] == 1 and "redriveDate" in done
          and json.loads(done["output"])["work"] == {"ok": True}, done)
    check("redrive: output keeps what Prepare did the first time",
          json.loads(done["output"])["entered"] == json.loads(first_prepare[0]["stateExitedEventDetails"]["output"])["entered"], done)
    events, _ = history(sfn, arn)
    types = [e["type"] for e in events]
    check("redrive: history continues", types.count("ExecutionRedriven") == 1 and types.count("PassStateEntered") == 1
          and types.count("TaskStateEntered") == 2 and types[-1] == "ExecutionSucceeded"
          and [e["id"] for e in events] == list(range(1, len(events) + 1)), types)
    try:
        sfn.redrive_execution(executionArn=arn)
        check("redrive: a succeeded execution is refused", False)
    except sfn.exceptions.ExecutionNotRedrivable as e:
        check("redrive: a succeeded execution is refused", "SUCCEEDED" in str(e), str(e))


RESTART_DEFINITION = {
    "StartAt": "Sleep",
    "States": {"Sleep": {"Type": "Wait", "Seconds": 2, "Next": "After"}, "After": {"Type": "Pass", "Result": "woke", "End": True}},
}


def restart_start(endpoint):
    sfn = client(endpoint)
    arn = sfn.create_state_machine(name="Sleeper", definition=json.dumps(RESTART_DEFINITION), roleArn=ROLE)["stateMachineArn"]
    for i in range(20):
        sfn.start_execution(stateMachineArn=arn, name=f"sleep-{i}", input="{}")
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    check("20 executions running before the kill", len(running) == 20, len(running))


def restart_finish(endpoint):
    sfn = client(endpoint)
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:Sleeper"
    for i in range(20):
        done = wait_for(sfn, f"arn:aws:states:us-east-1:123456789012:execution:Sleeper:sleep-{i}")
        check(f"sleep-{i} finished after the restart", done["status"] == "SUCCEEDED" and json.loads(done["output"]) == "woke", done)
        events, _ = history(sfn, done["executionArn"], page_size=100)
        ids = [e["id"] for e in events]
        kinds = [e["type"] for e in events]
        check(f"sleep-{i} history has no gap or duplicate", ids == list(range(1, len(ids) + 1)) and kinds.count("ExecutionSucceeded") == 1, kinds)
    check("nothing left running", sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"] == [])


if __name__ == "__main__":
    {"scenario": scenario, "restart-start": restart_start, "restart-finish": restart_finish}[sys.argv[1]](sys.argv[2])
