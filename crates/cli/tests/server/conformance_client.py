"""Runs conformance case files through a running `windlass server` with boto3.

Usage: conformance_client.py CASES_DIR ENDPOINT_URL REPORT.json

Each case goes through the call AWS answered when it was recorded:
CreateStateMachine then StartExecution and DescribeExecution until the end
(`execution`), StartSyncExecution (`sync_execution`), TestState
(`test_state`, and refused TestState requests), or the CreateStateMachine or
StartExecution that AWS refused (`rejected`). The report maps each case name
to what the API returned, in the terms `windlass_conformance::judge_reported`
reads: status, output (JSON text), error, cause, nextState, inspectionData.
The server should run with `--account 111111111111`, the recorder's account.
"""

import concurrent.futures
import json
import os
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

ROLE = "arn:aws:iam::111111111111:role/windlass"
# The recorded executions end within seconds; the slowest waits out a 5 s timeout.
EXECUTION_DEADLINE_SECONDS = 60
TEST_STATE_ARGS = ["stateName", "roleArn", "variables", "context", "mock", "stateConfiguration", "inspectionLevel", "revealSecrets"]

_local = threading.local()


def client(endpoint):
    if not hasattr(_local, "sfn"):
        _local.sfn = boto3.session.Session().client(
            "stepfunctions",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIDWINDLASS",
            aws_secret_access_key="windlass-secret",
            config=Config(inject_host_prefix=False, retries={"max_attempts": 1}),
        )
    return _local.sfn


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def execution_input(case):
    if case.get("input_raw") is not None:
        return case["input_raw"]
    if case.get("input") is None:
        return "{}"
    return compact(case["input"])


def refused(error):
    if isinstance(error, ParamValidationError):
        # The SDK refused the request before sending it; there is no error code.
        return {"status": "REJECTED", "cause": str(error).strip()}
    return {"status": "REJECTED", "error": error.response["Error"]["Code"], "cause": error.response["Error"].get("Message", "")}


def ended(described):
    return {key: described.get(key) for key in ["status", "output", "error", "cause"]}


def run_test_state(sfn, case):
    args = case.get("test_state_args") or {}
    request = {"definition": compact(case["definition"])}
    for key in TEST_STATE_ARGS:
        if key in args:
            request[key] = args[key]
    # The recorder removed roleArn; the recorded tests passed one with every mock.
    if "roleArn" not in request and "mock" in args:
        request["roleArn"] = ROLE
    if case.get("input_raw") is not None:
        request["input"] = case["input_raw"]
    elif case.get("input") is not None:
        request["input"] = compact(case["input"])
    response = sfn.test_state(**request)
    return {key: response.get(key) for key in ["status", "output", "error", "cause", "nextState", "inspectionData"]}


def run_execution(sfn, case, index):
    machine_type = case.get("state_machine_type") or "STANDARD"
    machine = sfn.create_state_machine(
        name=f"StateMachine-{index}", definition=compact(case["definition"]), roleArn=ROLE, type=machine_type
    )["stateMachineArn"]
    if machine_type == "EXPRESS":
        return ended(sfn.start_sync_execution(stateMachineArn=machine, name="execution", input=execution_input(case)))
    arn = sfn.start_execution(stateMachineArn=machine, name="execution", input=execution_input(case))["executionArn"]
    deadline = time.time() + EXECUTION_DEADLINE_SECONDS
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING" or time.time() > deadline:
            return ended(described)
        time.sleep(0.02)


def run_case(endpoint, path, index):
    with open(path) as f:
        case = json.load(f)
    sfn = client(endpoint)
    try:
        if case["kind"] == "test_state" or case.get("test_state_args") is not None:
            report = run_test_state(sfn, case)
        else:
            report = run_execution(sfn, case, index)
    except (ClientError, ParamValidationError) as error:
        report = refused(error)
    return case["name"], report


def main():
    cases_dir, endpoint, out = sys.argv[1:4]
    if os.path.isdir(os.path.join(cases_dir, "cases")):
        cases_dir = os.path.join(cases_dir, "cases")
    paths = sorted(os.path.join(cases_dir, f) for f in os.listdir(cases_dir) if f.endswith(".json"))
    reports = {}
    began = time.time()
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for name, report in pool.map(lambda item: run_case(endpoint, item[1], item[0]), enumerate(paths)):
            reports[name] = report
    with open(out, "w") as f:
        json.dump(reports, f)
    print(f"{len(reports)} cases run through {endpoint} in {time.time() - began:.1f} s")


if __name__ == "__main__":
    main()
