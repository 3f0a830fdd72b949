"""Drives windlass's dashboard in headless Chromium (Debian's chromium and
chromium-driver) with Selenium's WebDriver client.

    browser.py execution URL KEY_ID SECRET SCREENSHOT_DIR
        logs in, runs an execution with a Map, a Parallel and a Catch through
        boto3, watches it live, checks every state's final colour, opens a
        state's input and output, checks the 401/403 rules, and saves
        SCREENSHOT_DIR/execution.png.
    browser.py app-rollback URL KEY_ID SECRET APP WEB WEB_PORT API API_PORT SCREENSHOT_DIR
        with requests going to both services' proxies (127.0.0.1:PORT), rolls
        APP back from the services page (with its confirmation), follows the
        rollback's execution to its end, checks that both proxies serve the
        old release (v1) and that no request failed.
    browser.py rollback URL KEY_ID SECRET SERVICE PORT FROM_RELEASE TO_RELEASE TO_VERSION SCREENSHOT_DIR
        the same for one service, from FROM_RELEASE back to TO_RELEASE (which
        serves TO_VERSION), and saves services.png.
    browser.py bench URL KEY_ID SECRET ARN
        prints the time to first render and to a complete graph of the
        execution ARN and of the executions list.
"""

import http.server
import json
import os
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROLE = "arn:aws:iam::123456789012:role/dashboard"

# An HTTP Task that fails once and succeeds on its Retry, a Map of three
# items (each a Wait and a Pass), a Parallel whose second branch fails and
# is caught by the Parallel's Catch, and a Choice.
def definition(flaky_url):
    return {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"items": [1, 2, 3]}, "Next": "Charge"},
        "Charge": {
            "Type": "Task",
            "Resource": "arn:aws:states:::http:invoke",
            "Parameters": {"ApiEndpoint": flaky_url, "Method": "GET"},
            "ResultSelector": {"status.$": "$.StatusCode"},
            "ResultPath": "$.charge",
            "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}],
            "Next": "Each",
        },
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "StartAt": "Hold",
                "States": {
                    "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Shape"},
                    "Shape": {"Type": "Pass", "Parameters": {"value.$": "$"}, "End": True},
                },
            },
            "ResultPath": "$.shaped",
            "Next": "Fan",
        },
        "Fan": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Pause",
                    "States": {
                        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Break"},
                        "Break": {"Type": "Fail", "Error": "Shop.Broken", "Cause": "the right branch fails"},
                    },
                },
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}],
            "Next": "Unused",
        },
        "Unused": {"Type": "Succeed"},
        "Recover": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.error.Error", "StringEquals": "Shop.Broken", "Next": "Done"}],
            "Default": "Unused",
        },
        "Done": {"Type": "Succeed"},
    },
    }


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 to the first request, then 200: a task that needs its Retry."""

    calls = 0

    def do_GET(self):
        Flaky.calls += 1
        status = 503 if Flaky.calls == 1 else 200
        body = json.dumps({"paid": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def flaky_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/charge"

EXPECTED = {
    "/States/Prepare": "succeeded",
    "/States/Charge": "retried",
    "/States/Each": "succeeded",
    "/States/Each/ItemProcessor/States/Hold": "succeeded",
    "/States/Each/ItemProcessor/States/Shape": "succeeded",
    "/States/Fan": "caught",
    "/States/Fan/Branches/0/States/Left": "succeeded",
    "/States/Fan/Branches/1/States/Pause": "succeeded",
    "/States/Fan/Branches/1/States/Break": "failed",
    "/States/Recover": "succeeded",
    "/States/Done": "succeeded",
    "/States/Unused": "not_run",
}


def sfn(url, key, secret):
    return boto3.client(
        "stepfunctions",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1500,1200", "--no-proxy-server"]:
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def wait(driver, seconds, condition, what):
    # The page redraws while it is watched: an element found just before a
    # redraw is stale by the time its text is read, and is looked up again
    # at the next poll.
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: condition(d))
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what}: {e}") from e


def log_in(driver, url, key, secret):
    driver.get(url + "/ui/")
    assert driver.current_url.endswith("/ui/login"), f"an unauthenticated page went to {driver.current_url}"
    driver.find_element(By.ID, "access_key_id").send_keys(key)
    driver.find_element(By.ID, "secret_access_key").send_keys(secret + "-wrong")
    driver.find_element(By.ID, "submit").click()
    wait(driver, 10, lambda d: d.find_elements(By.ID, "problem"), "the refusal of a wrong secret")
    driver.find_element(By.ID, "access_key_id").send_keys(key)
    driver.find_element(By.ID, "secret_access_key").send_keys(secret)
    driver.find_element(By.ID, "submit").click()
    wait(driver, 10, lambda d: d.find_elements(By.ID, "executions"), "the executions list after login")


def unauthenticated_status(url, path, method="GET"):
    request = urllib.request.Request(url + path, method=method, data=b"{}" if method == "POST" else None,
                                     headers={"Content-Type": "application/json", "X-Windlass-Dashboard": "1"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def in_page_fetch(driver, path, body):
    return driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: "POST", headers: {"Content-Type": "application/json", "X-Windlass-Dashboard": "1"},
                             body: arguments[1]})
          .then(async (r) => done([r.status, await r.text()])).catch((e) => done([0, String(e)]));""",
        path, body)


def statuses(driver):
    return {g.get_attribute("data-id"): g.get_attribute("data-status")
            for g in driver.find_elements(By.CSS_SELECTOR, "#graph g.node")}


def execution(url, key, secret, shots):
    client = sfn(url, key, secret)
    machine = client.create_state_machine(
        name="dashboard-shop", definition=json.dumps(definition(flaky_endpoint())), roleArn=ROLE)
    arn = machine["stateMachineArn"]
    version = client.publish_state_machine_version(stateMachineArn=arn)["stateMachineVersionArn"]
    client.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": version, "weight": 100}])
    # Pages and the API refuse a request without a session.
    for path in ["/ui/api/executions", "/ui/api/machines"]:
        assert unauthenticated_status(url, path) == 401, path
    assert unauthenticated_status(url, "/ui/api/rollback", "POST") == 401
    driver = browser()
    try:
        log_in(driver, url, key, secret)
        started = client.start_execution(stateMachineArn=arn, name="shop-1", input=json.dumps({"order": 7}))
        execution_arn = started["executionArn"]
        driver.get(url + "/ui/#/execution/" + execution_arn)
        # Live: the page shows a running state before the execution ends.
        wait(driver, 15, lambda d: "running" in statuses(d).values(), "a state coloured running")
        seen_running = [k for k, v in statuses(driver).items() if v == "running"]
        print("running while watched:", seen_running)
        # The panel follows the state it shows while the execution runs: the
        # Task's retry and its output appear without another click.
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Charge"] rect').click()
        wait(driver, 10, lambda d: d.find_elements(By.ID, "detail-retries"), "the task's panel")
        wait(driver, 30, lambda d: d.find_element(By.ID, "graph").get_attribute("data-final"), "the end")
        wait(driver, 10, lambda d: d.find_element(By.ID, "detail-retries").text == "1"
             and d.find_element(By.ID, "detail-output").text.strip(), "the task's panel kept up to date")
        final = driver.find_element(By.ID, "graph").get_attribute("data-final")
        assert final == "SUCCEEDED", final
        got = statuses(driver)
        for node, colour in EXPECTED.items():
            assert got.get(node) == colour, f"{node}: {got.get(node)} (want {colour}); all: {got}"
        fill = driver.execute_script(
            "return getComputedStyle(document.querySelector('g.node[data-id=\"/States/Fan\"] rect')).fill")
        assert fill != driver.execute_script(
            "return getComputedStyle(document.querySelector('g.node[data-id=\"/States/Unused\"] rect')).fill"), fill
        runs = driver.find_element(By.ID, "map-runs").text
        assert "3 items" in runs and "3 succeeded" in runs, runs
        # A state's input and output in the panel.
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Prepare"] rect').click()
        wait(driver, 10, lambda d: d.find_element(By.ID, "detail-output").text.strip(), "the state's output")
        shown_input = json.loads(driver.find_element(By.ID, "detail-input").text)
        shown_output = json.loads(driver.find_element(By.ID, "detail-output").text)
        assert shown_input == {"order": 7}, shown_input
        assert shown_output == {"items": [1, 2, 3]}, shown_output
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Fan"] rect').click()
        wait(driver, 10, lambda d: d.find_elements(By.ID, "detail-error"), "the Parallel's error")
        assert "Shop.Broken" in driver.find_element(By.ID, "detail-error").text
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Charge"] rect').click()
        wait(driver, 10, lambda d: d.find_element(By.ID, "detail-retries").text == "1", "the task's retry")
        assert "States.Http.StatusCode.503" in driver.find_element(By.ID, "detail-error").text
        assert json.loads(driver.find_element(By.ID, "detail-output").text)["charge"] == {"status": 200}
        history = driver.find_element(By.ID, "history").text
        assert "ExecutionSucceeded" in history and "ParallelStateFailed" in history, history[:400]
        # A Task's events name its state in the State column.
        scheduled = [row.find_elements(By.TAG_NAME, "td")[2].text
                     for row in driver.find_elements(By.CSS_SELECTOR, "#history tbody tr")
                     if row.find_elements(By.TAG_NAME, "td")[1].text == "TaskScheduled"]
        assert scheduled and all(name == "Charge" for name in scheduled), scheduled
        # One iteration of the Map: its item, and its states as they ran in it.
        # A click on the Map's header (its middle holds its inner states).
        box = driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Each"] rect')
        ActionChains(driver).move_to_element_with_offset(box, 0, 10 - box.size["height"] // 2).click().perform()
        picker = wait(driver, 10, lambda d: d.find_element(By.ID, "iteration-pick"), "the iteration picker")
        options = [o.text for o in picker.find_elements(By.TAG_NAME, "option")]
        assert options[0] == "All 3 iterations" and options[2].startswith("#1 · succeeded · 2"), options
        driver.execute_script(
            "const s = document.getElementById('iteration-pick'); s.value = s.options[2].value;"
            "s.dispatchEvent(new Event('change'));")
        wait(driver, 10, lambda d: d.find_element(By.ID, "iteration-input").text.strip() == "2", "the item")
        assert json.loads(driver.find_element(By.ID, "iteration-output").text) == {"value": 2}
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Each/ItemProcessor/States/Shape"] rect').click()
        wait(driver, 10, lambda d: d.find_elements(By.ID, "detail-scope"), "the state within the iteration")
        wait(driver, 10, lambda d: d.find_element(By.ID, "detail-input").text.strip() == "2", "the iteration's input")
        assert json.loads(driver.find_element(By.ID, "detail-output").text) == {"value": 2}
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Prepare"] rect').click()
        wait(driver, 10, lambda d: d.find_element(By.ID, "detail-output").text.strip(), "the state's output")
        os.makedirs(shots, exist_ok=True)
        driver.save_screenshot(os.path.join(shots, "execution.png"))
        # The list: newest first, filtered by status.
        driver.get(url + "/ui/#/")
        wait(driver, 10, lambda d: d.find_elements(By.CSS_SELECTOR, "#executions tbody tr"), "the list")
        assert "shop-1" in driver.find_element(By.ID, "executions").text
        machines = driver.find_element(By.ID, "machines").text
        assert "dashboard-shop" in machines and "versions: 1" in machines and "live (1 100%)" in machines, machines
        # A machine's definition drawn before any run, without diagnostics.
        driver.get(url + "/ui/#/machine/" + version)
        wait(driver, 10, lambda d: d.find_elements(By.ID, "valid"), "the version's graph")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#graph g.node")) == len(EXPECTED)
        # Rollback is refused with 403 when the server does not allow it.
        status, text = in_page_fetch(driver, "/ui/api/rollback", json.dumps({"service": "web"}))
        assert status == 403 and "--dashboard-rollback" in text, (status, text)
        # The definition page places a diagnostic on its state.
        driver.get(url + "/ui/#/definition")
        box = wait(driver, 10, lambda d: d.find_element(By.ID, "definition-text"), "the definition page")
        box.send_keys(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}))
        driver.find_element(By.ID, "draw").click()
        wait(driver, 10, lambda d: d.find_elements(By.CSS_SELECTOR, "g.node.flagged[data-id='/States/A']"),
             "the diagnostic on state A")
        assert "MISSING_TRANSITION_TARGET" in driver.find_element(By.ID, "diagnostics").text
        print("execution page: all states took their final colours")
    finally:
        driver.quit()


def charted(driver, points):
    """Whether a requests chart of the page has `points` points."""
    return driver.execute_script(
        "return [...document.querySelectorAll('svg.chart.requests polyline')]"
        ".some((p) => p.getAttribute('points').trim().split(' ').length >= arguments[0])", points)


def click(driver, element_id):
    try:
        driver.find_element(By.ID, element_id).click()
        return True
    except StaleElementReferenceException:
        return False


def served_version(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=5) as answer:
        return answer.read().decode().strip()


class Traffic(threading.Thread):
    """Requests to the service's proxy until stopped, so the charts have data."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stopped, self.errors = port, threading.Event(), []

    def run(self):
        while not self.stopped.is_set():
            try:
                served_version(self.port)
            except Exception as e:  # counted: the test reads them
                self.errors.append(str(e))
            time.sleep(0.02)


def follow_rollback(driver, button_id, want_label):
    """Clicks rollback button `button_id` (its text `want_label`) and its
    confirmation, then follows the rollback's execution page to its end;
    the states seen running on the way and the final statuses."""
    button = wait(driver, 15, lambda d: d.find_element(By.ID, button_id), "the button " + button_id)
    assert button.text == want_label, (button.text, want_label)
    # The sections are redrawn every 2 s with fresh samples: find the
    # button again at the moment it is clicked.
    wait(driver, 10, lambda d: click(d, button_id), "a click on " + button_id)
    dialog_id = "confirm-" + button_id[len("rollback-"):]
    wait(driver, 5, lambda d: d.find_element(By.ID, dialog_id).get_attribute("open") is not None,
         "the confirmation")
    question = driver.find_element(By.ID, dialog_id).find_element(By.TAG_NAME, "p").text
    wait(driver, 10, lambda d: click(d, "confirm-" + button_id), "a click on the confirmation")
    wait(driver, 15, lambda d: "#/execution/" in d.current_url, "the rollback's execution page")
    seen_running = set()

    def ended(d):
        seen_running.update(k for k, v in statuses(d).items() if v == "running")
        return d.find_element(By.ID, "graph").get_attribute("data-final")
    wait(driver, 60, ended, "the rollback's end")
    final = driver.find_element(By.ID, "graph").get_attribute("data-final")
    assert final == "SUCCEEDED", final
    got = statuses(driver)
    assert got and all(v in ("succeeded", "not_run") for v in got.values()), got
    print(f"{question!r}: {driver.current_url.split('/')[-1]} {final}; seen running: {sorted(seen_running)}")
    return got


def app_rollback(url, key, secret, app, web, web_port, api, api_port, shots):
    """Both services of `app` serve v2; the page rolls the app back to a1."""
    ports = {web: web_port, api: api_port}
    for service, port in ports.items():
        assert served_version(port) == "v2", (service, served_version(port))
    traffic = {service: Traffic(port) for service, port in ports.items()}
    for t in traffic.values():
        t.start()
    driver = browser()
    try:
        log_in(driver, url, key, secret)
        driver.get(url + "/ui/#/services")
        wait(driver, 15, lambda d: d.find_elements(By.CSS_SELECTOR, f"section.app[data-app='{app}'] tr.live[data-app-release='a2']"),
             "a2 live")
        follow_rollback(driver, "rollback-app-" + app, "Roll back app to a1")
        for service, port in ports.items():
            assert served_version(port) == "v1", (service, served_version(port))
        driver.get(url + "/ui/#/services")
        wait(driver, 15, lambda d: d.find_elements(By.CSS_SELECTOR, f"section.app[data-app='{app}'] tr.live[data-app-release='a1']"),
             "a1 live")
        for service in ports:
            wait(driver, 15, lambda d: d.find_elements(
                By.CSS_SELECTOR, f"section.service[data-service='{service}'] tr.live[data-release='r1']"), service + " r1 live")
        rolled = driver.find_element(By.CSS_SELECTOR, f"section.app[data-app='{app}'] tr[data-app-release='a2']").text
        assert "rolled-back" in rolled, rolled
        # Nothing is earlier than a1: the app's button is off, and says why.
        button = driver.find_element(By.ID, "rollback-app-" + app)
        assert not button.is_enabled() and button.text == "Roll back app", button.text
        why = button.get_attribute("title")
        assert "nothing to roll back to" in why, why
        for service, t in traffic.items():
            print(f"{service}: failed requests during the app rollback: {len(t.errors)}")
            assert not t.errors, (service, t.errors[:5])
    finally:
        for t in traffic.values():
            t.stopped.set()
        driver.quit()


def rollback(url, key, secret, service, port, from_release, to_release, to_version, shots):
    """`service` serves `from_release`; the page rolls it back to
    `to_release` (the newest earlier release that went live), which serves
    `to_version`."""
    assert served_version(port) != to_version, served_version(port)
    traffic = Traffic(port)
    traffic.start()
    driver = browser()
    try:
        log_in(driver, url, key, secret)
        driver.get(url + "/ui/#/services")
        wait(driver, 15, lambda d: charted(d, 3), "a chart of three samples")
        follow_rollback(driver, "rollback-" + service, "Roll back to " + to_release)
        assert served_version(port) == to_version, served_version(port)
        driver.get(url + "/ui/#/services")
        wait(driver, 15, lambda d: d.find_elements(
            By.CSS_SELECTOR, f"section.service[data-service='{service}'] tr.live[data-release='{to_release}']"),
            to_release + " live")
        wait(driver, 15, lambda d: charted(d, 4), "charts after the rollback")
        # The charts carry their numbers: the latest value and the axes' units.
        labels = driver.execute_script(
            "return [...document.querySelectorAll('svg.chart text')].map((t) => t.textContent)")
        for unit in ["req/s", "5xx/s", "ms", "now"]:
            assert unit in labels, (unit, labels[:12])
        assert any(l.startswith("Requests: ") and l.endswith(" req/s") for l in labels), labels[:12]
        # No release's detail makes the page wider than the window.
        wide = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert wide[0] <= wide[1], wide
        rolled = driver.find_element(
            By.CSS_SELECTOR, f"section.service[data-service='{service}'] tr[data-release='{from_release}']").text
        assert "rolled-back" in rolled, rolled
        apps = driver.find_element(By.CSS_SELECTOR, "section.app").text
        assert "a3" in apps and "a2" in apps and "a1" in apps, apps
        os.makedirs(shots, exist_ok=True)
        driver.save_screenshot(os.path.join(shots, "services.png"))
        # The deploys and the rollbacks are executions like any other.
        driver.get(url + "/ui/#/deploys")
        wait(driver, 15, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#executions tbody tr")) >= 5, "the deploys")
        listed = driver.find_element(By.ID, "executions").text
        assert "windlass-app-deploy" in listed and "windlass-app-rollback" in listed and "rollback" in listed, listed
        print(f"{service}: failed requests during its rollback: {len(traffic.errors)}")
        assert not traffic.errors, traffic.errors[:5]
    finally:
        traffic.stopped.set()
        driver.quit()


def gate(url, key, secret, app, service, port, canary, shots):
    """App `app` rolls `service` out with approval gates (`steps: [20, 50,
    80]`, `approve: true`, each step baking 20 s): the page draws the held
    canary (its weight and both releases' charts) and the gate it waits
    at; Approve moves it to 50 %; while that step bakes Approve is off (its
    tooltip says why) and Promote ends the bake, which passes the step's
    gate too: 80 %; Abort takes it out (the deploy rolls back)."""
    traffic = Traffic(port)
    traffic.start()
    driver = browser()
    section = f"section.app[data-app='{app}'] .rollout-status"

    def status(d):
        found = d.find_elements(By.CSS_SELECTOR, section)
        return found[0].text if found else ""

    def tip(button):
        found = driver.find_element(By.ID, f"{button}-{app}")
        return found.get_attribute("title"), found.is_enabled()

    def answer(button, want):
        wait(driver, 10, lambda d: d.find_element(By.ID, f"{button}-{app}").is_enabled(), button + " on")
        wait(driver, 10, lambda d: click(d, f"{button}-{app}"), "a click on " + button)
        wait(driver, 5, lambda d: d.find_element(By.ID, "gate-dialog-" + app).get_attribute("open") is not None,
             "the confirmation of " + button)
        wait(driver, 10, lambda d: click(d, "gate-confirm-" + app), "a click on the confirmation")
        wait(driver, 30, lambda d: want in d.find_element(By.ID, "gate-answered").text, "the agent's answer")
        print(f"{button}: {driver.find_element(By.ID, 'gate-answered').text}")

    try:
        log_in(driver, url, key, secret)
        driver.get(url + "/ui/#/services")
        wait(driver, 90, lambda d: "waits at its approval gate (Rollout1Approve)" in status(d), "the first gate")
        wait(driver, 15, lambda d: d.find_element(By.ID, "weight-" + canary).text == "20 %", "the canary at 20 %")
        # Both releases' lines over three of the server's samples at least
        # (a held canary waits: the charts fill while it does).
        wait(driver, 30, lambda d: d.execute_script(
            "const lines = [...document.querySelectorAll(arguments[0])];"
            "return lines.length === 2 && lines.every((p) => p.getAttribute('points').trim().split(' ').length >= 3)",
            f"div.rollout-charts[data-canary='{canary}'] svg.chart.requests polyline"),
            "both releases' requests charted")
        print(f"held: {status(driver)}")
        os.makedirs(shots, exist_ok=True)
        driver.save_screenshot(os.path.join(shots, "rollout.png"))
        assert tip("approve") == (f"let the rollout of app {app} go on past its approval gate (Rollout1Approve)", True), tip("approve")
        answer("approve", "approved")
        wait(driver, 60, lambda d: "bakes step 2 (Rollout2Bake)" in status(d), "the second step's bake")
        wait(driver, 15, lambda d: d.find_element(By.ID, "weight-" + canary).text == "50 %", "the canary at 50 %")
        print(f"baking: {status(driver)}")
        approve, approve_on = tip("approve")
        assert not approve_on and "Promote ends the bake now" in approve, (approve, approve_on)
        promote, promote_on = tip("promote")
        assert promote_on and promote.startswith("end the bake of step 2 (Rollout2Bake) now"), (promote, promote_on)
        answer("promote", "promoted: the bake of step 2")
        # The step judged on its window so far passes its gate too.
        wait(driver, 60, lambda d: d.find_element(By.ID, "weight-" + canary).text == "80 %", "the canary at 80 %")
        print(f"promoted: {status(driver)}")
        answer("abort", "aborted")
        wait(driver, 60, lambda d: not d.find_elements(By.ID, "weight-" + canary), "the canary gone")
        print(f"{service}: failed requests during the rollout: {len(traffic.errors)}")
        assert not traffic.errors, traffic.errors[:5]
    finally:
        traffic.stopped.set()
        driver.quit()


def bench(url, key, secret, arn):
    driver = browser()
    try:
        log_in(driver, url, key, secret)
        for label, page, ready in [
            ("executions list", "#/", "listRendered"),
            ("execution page", "#/execution/" + arn, "historyShown"),
        ]:
            driver.get(url + "/ui/#/definition")
            wait(driver, 10, lambda d: d.find_elements(By.ID, "definition-text"), "a blank page")
            driver.execute_script("window.windlassTimings = {}; location.hash = arguments[0];", page)
            wait(driver, 300, lambda d: d.execute_script(f"return window.windlassTimings.{ready}"), label)
            timings = driver.execute_script("return window.windlassTimings")
            rows = driver.execute_script("return document.querySelectorAll('tr').length")
            shown = {k: round(v, 1) for k, v in timings.items() if isinstance(v, (int, float))}
            print(f"{label}: {json.dumps(shown)} (ms from navigation), {rows} table rows in the document")
        nodes = driver.execute_script("return document.querySelectorAll('#graph g.node').length")
        final = driver.execute_script("return [...document.querySelectorAll('#graph g.node')].map((g) => g.dataset.status)")
        print(f"execution page: {nodes} states drawn, statuses {sorted(set(final))}")
        runs = driver.find_element(By.ID, "map-runs").text
        print("map run:", runs)
        start = time.monotonic()
        driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="/States/Each/ItemProcessor/States/Shape"] rect').click()
        wait(driver, 120, lambda d: d.find_element(By.ID, "detail-output").text.strip(), "the state's output")
        print(f"click on a state to its input and output: {(time.monotonic() - start) * 1000:.0f} ms")
        before = driver.find_element(By.ID, "history-range").text
        start = time.monotonic()
        driver.find_element(By.ID, "history-older").click()
        wait(driver, 60, lambda d: d.find_element(By.ID, "history-range").text != before, "older history")
        print(f"a page of older history: {(time.monotonic() - start) * 1000:.0f} ms "
              f"({driver.find_element(By.ID, 'history-range').text})")
        driver.get(url + "/ui/#/")
        wait(driver, 60, lambda d: d.execute_script("return window.windlassTimings.listRendered"), "the list")
        start = time.monotonic()
        for n in range(1, 4):
            driver.find_element(By.ID, "more").click()
            wait(driver, 60, lambda d: d.find_element(By.ID, "listed").text.startswith(str(50 * (n + 1))), "a page")
        print(f"three older pages of the list: {(time.monotonic() - start) * 1000 / 3:.0f} ms a page")
        start = time.monotonic()
        driver.execute_script(
            "const s = document.getElementById('filter-status'); s.value = 'FAILED';"
            "s.dispatchEvent(new Event('change'));")
        wait(driver, 60, lambda d: d.find_element(By.ID, "listed").text.startswith("50 "), "the failed ones")
        print(f"the list filtered by status FAILED: {(time.monotonic() - start) * 1000:.0f} ms")
    finally:
        driver.quit()


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"execution": execution, "app-rollback": app_rollback, "rollback": rollback, "gate": gate, "bench": bench}[command](*args)
