//! A rollout on the real binary and engine, under load: `windlass deploy
//! --canary 20` holds the new release at 20 % through a `kill -9` of the
//! agent during the step's bake (the proxy daemon keeps the weight, the
//! restarted agent resumes the bake), waits at its approval gate, and goes
//! to 100 % when `windlass promote` answers it; a second deploy held the
//! same way is stopped by `windlass abort` (0 % at once, rolled back, the
//! deploy exits 6). No request fails throughout.

// Moto for the alarm; both support modules bring the fakecloud module.
#[allow(clippy::duplicate_mod)]
#[path = "../../aws/tests/support/mod.rs"]
mod aws_support;
#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use windlass_proxy::daemon::Client;
use windlass_store::releases::{Releases, ServiceKey, SqliteReleases};

const APP: &str = "wlgate";
const WEB: &str = "wlgateweb";
/// The app of the held canary that starts failing.
const HOLD_APP: &str = "wlhold";
const HOLD_WEB: &str = "wlholdweb";
/// The app whose analysis has an HTTP check and an alarm.
const CHECK_APP: &str = "wlcheck";
const CHECK_WEB: &str = "wlcheckweb";
/// The app whose steps bake for two minutes.
const BAKE_APP: &str = "wlbake";
const BAKE_WEB: &str = "wlbakeweb";
/// The app aborted while its new release starts.
const EARLY_APP: &str = "wlearly";
const EARLY_WEB: &str = "wlearlyweb";

fn compose(port: u16, version: &str) -> String {
    compose_app(APP, WEB, port, version, "")
}

fn compose_app(app: &str, web: &str, port: u16, version: &str, env: &str) -> String {
    compose_rollout(
        app,
        web,
        port,
        version,
        env,
        "step: 50",
        "{min_requests: 10}",
    )
}

/// The held canary's app: judged on its 5xx share (the p99, noisy on a
/// loaded machine, is not what the test is about).
fn compose_hold(port: u16, version: &str, env: &str) -> String {
    compose_rollout(
        HOLD_APP,
        HOLD_WEB,
        port,
        version,
        env,
        "step: 50",
        "{min_requests: 10, max_p99_ratio: 100}",
    )
}

fn compose_rollout(
    app: &str,
    web: &str,
    port: u16,
    version: &str,
    env: &str,
    steps: &str,
    analysis: &str,
) -> String {
    format!(
        "name: {app}\nservices:\n  {web}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n{env}    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      rollout:\n        {steps}\n        interval: 2s\n        analysis: {analysis}\n"
    )
}

/// The app whose rollout step, 20 %, bakes for 120 s.
fn compose_bake(port: u16, version: &str) -> String {
    format!(
        "name: {BAKE_APP}\nservices:\n  {BAKE_WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      rollout:\n        steps: [20]\n        interval: 120s\n        analysis: {{min_requests: 10, max_p99_ratio: 100}}\n"
    )
}

/// The app whose rollout step, 20 %, bakes for 120 s, and whose replicas
/// wait `start_delay_ms` before they listen (health checked for 30 s).
fn compose_early(port: u16, version: &str, start_delay_ms: u64) -> String {
    format!(
        "name: {EARLY_APP}\nservices:\n  {EARLY_WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n      TESTAPP_START_DELAY_MS: \"{start_delay_ms}\"\n    x-windlass:\n      health: {{http: /health, interval: 50ms, start_timeout: 30s}}\n      watch: 1s\n      rollout:\n        steps: [20]\n        interval: 120s\n        analysis: {{min_requests: 10, max_p99_ratio: 100}}\n"
    )
}

fn windlass(state: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_windlass"));
    command
        .args(args)
        .arg("--state")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Deploys the file (its v1, just written) and starts two load workers on
/// its port.
fn v1_under_load(state: &Path, file_arg: &str, port: u16) -> support::Load {
    let v1 = windlass(state, &["deploy", "-f", file_arg])
        .output()
        .expect("deploy v1");
    assert!(v1.status.success(), "{}", said(&v1));
    support::Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 2)
}

/// One test's app: a project folder of its own with a state folder, its
/// Compose file's path, and a free port; an earlier run's proxy daemon and
/// the service's containers removed first.
struct Scene {
    docker: windlass_deploy::backend::docker::Docker,
    state: PathBuf,
    file: PathBuf,
    file_arg: String,
    port: u16,
}

impl Scene {
    async fn new(project: &str, web: &str) -> Scene {
        let docker = windlass_deploy::backend::docker::Docker::connect()
            .await
            .expect("Docker engine");
        let old = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("project-{project}"))
            .join("state");
        support::stop_proxy(&old);
        support::cleanup(&docker, web).await;
        let dir = support::project(project);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("state");
        let file = dir.join("compose.yaml");
        Scene {
            docker,
            state,
            file_arg: file.display().to_string(),
            file,
            port: support::free_port(),
        }
    }
}

/// The agent and the proxy daemon it started, stopped when the test ends.
struct Processes {
    agent: Child,
    state: PathBuf,
}

impl Processes {
    fn start(state: &Path) -> Processes {
        Processes {
            agent: support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), state),
            state: state.to_owned(),
        }
    }

    fn kill_and_restart_agent(&mut self) {
        self.agent.kill().expect("kill -9 the agent");
        let _ = self.agent.wait();
        self.agent = support::agent_process(Path::new(env!("CARGO_BIN_EXE_windlass")), &self.state);
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        let _ = self.agent.kill();
        let _ = self.agent.wait();
        support::stop_proxy(&self.state);
    }
}

/// The canary's release and weight in the proxy daemon now.
async fn canary(state: &Path) -> Option<(String, u8)> {
    canary_of(state, APP, WEB).await
}

async fn canary_of(state: &Path, app: &str, web: &str) -> Option<(String, u8)> {
    let client = Client::from_state_dir(&state.join("proxy")).ok()?;
    let services = client.services().await.ok()?;
    let view = services
        .into_iter()
        .find(|v| v.name.as_str() == format!("{app}/{web}"))?;
    view.canary.map(|c| (c.canary.release, c.weight.percent()))
}

/// Waits until `condition` holds on the daemon's canary, at most 60 s.
async fn until_canary(state: &Path, what: &str, condition: impl Fn(&Option<(String, u8)>) -> bool) {
    until_canary_of(state, APP, WEB, what, condition).await
}

async fn until_canary_of(
    state: &Path,
    app: &str,
    web: &str,
    what: &str,
    condition: impl Fn(&Option<(String, u8)>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = canary_of(state, app, web).await;
        if condition(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "waited 60 s for {what}; canary {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Answers the gate with `command` (promote or abort) once the rollout
/// waits at it: refused (7) until then.
async fn answer_gate(state: &Path, command: &str) -> Duration {
    let asked = Instant::now();
    loop {
        let output = windlass(state, &[command, "--app", APP])
            .output()
            .expect("run windlass");
        match output.status.code() {
            Some(0) => return asked.elapsed(),
            Some(7) => {
                assert!(
                    asked.elapsed() < Duration::from_secs(60),
                    "{}",
                    said(&output)
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("windlass {command} exited {other:?}: {}", said(&output)),
        }
    }
}

fn live(state: &Path) -> Option<String> {
    live_of(state, APP, WEB)
}

fn live_of(state: &Path, app: &str, web: &str) -> Option<String> {
    let releases = SqliteReleases::open(&state.join("windlass.db")).expect("the store");
    let key = ServiceKey::new(app, web).expect("a key");
    releases.live(&key).expect("live").map(|l| l.release)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_canary_survives_a_kill_then_promote_and_abort_answer_it() {
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-gate", WEB).await;
    let mut processes = Processes::start(&state);

    std::fs::write(&file, compose(port, "v1")).expect("compose");
    let load = v1_under_load(&state, &file_arg, port);

    // v2 held at 20 %.
    std::fs::write(&file, compose(port, "v2")).expect("compose");
    let held = windlass(&state, &["deploy", "-f", &file_arg, "--canary", "20"])
        .spawn()
        .expect("deploy v2");
    until_canary(&state, "v2 at 20 %", |c| c == &Some(("r2".into(), 20))).await;
    // SIGKILL of the agent during the step: the weight does not move.
    processes.kill_and_restart_agent();
    assert_eq!(canary(&state).await, Some(("r2".into(), 20)));
    let waited = answer_gate(&state, "promote").await;
    println!("promoted after {waited:?} of asking");
    // The rollout's own steps above 20 %: 50 %, then the switch.
    until_canary(&state, "v2 at 50 %", |c| c == &Some(("r2".into(), 50))).await;
    until_canary(&state, "the switch", |c| c.is_none()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while live(&state).as_deref() != Some("r2") {
        assert!(Instant::now() < deadline, "v2 never went live");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The CLI that deployed v2 lost its agent to the kill; it may have
    // ended early, but never with a failure of the deploy.
    let held = held.wait_with_output().expect("deploy v2 ends");
    assert_ne!(held.status.code(), Some(6), "{}", said(&held));

    // v3 held at 20 %, then aborted: 0 % at once, rolled back.
    std::fs::write(&file, compose(port, "v3")).expect("compose");
    // v2's execution may still watch and retire: --wait follows it first.
    let aborted = windlass(
        &state,
        &["deploy", "-f", &file_arg, "--canary", "20", "--wait"],
    )
    .spawn()
    .expect("deploy v3");
    until_canary(&state, "v3 at 20 %", |c| c == &Some(("r3".into(), 20))).await;
    answer_gate(&state, "abort").await;
    assert_eq!(
        canary(&state).await,
        None,
        "abort takes the canary out at once"
    );
    let aborted = aborted.wait_with_output().expect("deploy v3 ends");
    assert_eq!(aborted.status.code(), Some(6), "{}", said(&aborted));
    assert!(
        said(&aborted).contains("Deploy.Aborted"),
        "{}",
        said(&aborted)
    );
    assert_eq!(live(&state).as_deref(), Some("r2"));

    let seen = load.stop().await;
    println!("{} requests: {:?}", seen.requests, seen.by_release);
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    assert!(seen.by_release.get("r3").copied().unwrap_or(0) > 0);
    drop(processes);
    // The containers, images and networks of the app.
    support::cleanup(&docker, WEB).await;
}

/// A canary held at its gate keeps being judged, through a `kill -9` of
/// the agent: v2 passes its step's analysis and its first hold analysis,
/// the agent is killed and started again (the weight stays at 20 %), and
/// once its replicas begin answering 5xx to half their requests (6 s after
/// they started) the restarted agent's hold analysis rolls it back, with
/// the numbers in the app release's record. Then v3, held the same way
/// with no kill: the deploy itself ends `Deploy.RolledBack`, exit 6, the
/// numbers in its message. No one answers either gate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_canary_that_starts_failing_is_rolled_back_without_an_answer() {
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-hold", HOLD_WEB).await;
    let mut processes = Processes::start(&state);

    std::fs::write(&file, compose_hold(port, "v1", "")).expect("compose");
    let load = v1_under_load(&state, &file_arg, port);

    let failing = "      TESTAPP_ERROR_RATIO: \"0.5\"\n      TESTAPP_ERRORS_AFTER_MS: \"6000\"\n";
    let releases = SqliteReleases::open(&state.join("windlass.db")).expect("the store");
    let newest_detail = || {
        releases
            .app_releases(HOLD_APP)
            .expect("app releases")
            .into_iter()
            .next()
            .and_then(|r| r.detail)
            .unwrap_or_default()
    };

    // v2: killed while held, rolled back by the restarted agent.
    std::fs::write(&file, compose_hold(port, "v2", failing)).expect("compose");
    let mut held = windlass(&state, &["deploy", "-f", &file_arg, "--canary", "20"])
        .spawn()
        .expect("deploy v2");
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        held.stderr.take().expect("the deploy's stderr"),
    ));
    let (passed, hold_passed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.contains("✓ Rollout1Hold") {
                let _ = passed.send(());
            }
        }
    });
    hold_passed
        .recv_timeout(Duration::from_secs(60))
        .expect("the held canary's first hold analysis passed");
    assert_eq!(
        canary_of(&state, HOLD_APP, HOLD_WEB).await,
        Some(("r2".into(), 20))
    );
    processes.kill_and_restart_agent();
    assert_eq!(
        canary_of(&state, HOLD_APP, HOLD_WEB).await,
        Some(("r2".into(), 20)),
        "a kill -9 of the agent moves no weight"
    );
    let _ = held.wait();
    until_canary_of(&state, HOLD_APP, HOLD_WEB, "v2 rolled back", |c| {
        c.is_none()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !newest_detail().contains("held at the gate") {
        assert!(Instant::now() < deadline, "{}", newest_detail());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = newest_detail();
    println!("v2: {detail}");
    assert!(detail.contains("release r2 answered 5xx to"), "{detail}");
    assert_eq!(live_of(&state, HOLD_APP, HOLD_WEB).as_deref(), Some("r1"));

    // v3: the same, followed to its end by the deploy.
    std::fs::write(&file, compose_hold(port, "v3", failing)).expect("compose");
    let started = Instant::now();
    let held = windlass(
        &state,
        &["deploy", "-f", &file_arg, "--canary", "20", "--wait"],
    )
    .spawn()
    .expect("deploy v3");
    until_canary_of(&state, HOLD_APP, HOLD_WEB, "v3 at 20 %", |c| {
        c == &Some(("r3".into(), 20))
    })
    .await;
    let held = held.wait_with_output().expect("deploy v3 ends");
    let ended = started.elapsed();
    let said = said(&held);
    println!("{said}\nthe held deploy of v3 ended after {ended:?}");
    assert_eq!(held.status.code(), Some(6), "{said}");
    assert!(said.contains("was rolled back"), "{said}");
    assert!(
        said.contains("failed while it was held at the gate"),
        "{said}"
    );
    assert!(said.contains("release r3 answered 5xx to"), "{said}");
    assert_eq!(canary_of(&state, HOLD_APP, HOLD_WEB).await, None);
    assert_eq!(live_of(&state, HOLD_APP, HOLD_WEB).as_deref(), Some("r1"));
    let detail = newest_detail();
    assert!(
        detail.contains("held at the gate") && detail.contains("release r3 answered 5xx to"),
        "{detail}"
    );

    let seen = load.stop().await;
    println!("{} requests: {:?}", seen.requests, seen.by_release);
    assert!(seen.by_release.get("r2").copied().unwrap_or(0) > 0);
    assert!(seen.by_release.get("r3").copied().unwrap_or(0) > 0);
    drop(processes);
    // The containers, images and networks of the app.
    support::cleanup(&docker, HOLD_WEB).await;
}

/// The analysis's HTTP check and CloudWatch alarm (hosted by moto, read by
/// the agent through its AWS environment): v2's replicas start answering
/// 503 on /health 1.5 s after they start, which the check sees on the
/// canary and rolls back (the alarm, OK, no finding); v3 is healthy but the
/// alarm is set to ALARM, which rolls it back naming the alarm; v4, with
/// the alarm OK again and a healthy check, is promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_http_check_or_an_alarm_in_alarm_rolls_a_canary_back() {
    let moto = aws_support::Moto::start();
    let client = windlass_aws::Client::new(moto.config());
    let cloudwatch = windlass_aws::model::Model::of(
        windlass_aws::Service::named("cloudwatch").expect("cloudwatch"),
    )
    .expect("model");
    let alarm = "wlcheck-5xx";
    let set_alarm = |state: &'static str| {
        let (client, cloudwatch) = (client.clone(), cloudwatch.clone());
        async move {
            client
                .call(
                    &cloudwatch,
                    "setAlarmState",
                    &json!({ "AlarmName": alarm, "StateValue": state,
                        "StateReason": format!("set to {state} by the test") }),
                    None,
                )
                .await
                .expect("setAlarmState");
        }
    };
    client
        .call(
            &cloudwatch,
            "putMetricAlarm",
            &json!({ "AlarmName": alarm, "Namespace": "wlcheck", "MetricName": "5xx",
                "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 1,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold" }),
            None,
        )
        .await
        .expect("putMetricAlarm");
    set_alarm("OK").await;

    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-check", CHECK_WEB).await;
    let endpoint = moto.config().endpoint_url.clone().expect("moto's endpoint");
    let processes = Processes {
        agent: support::agent_process_with_env(
            Path::new(env!("CARGO_BIN_EXE_windlass")),
            &state,
            &[
                ("AWS_ENDPOINT_URL", endpoint.as_str()),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "testing"),
                ("AWS_SECRET_ACCESS_KEY", "testing"),
            ],
        ),
        state: state.clone(),
    };
    let write = |version: &str, env: &str| {
        let text = compose_rollout(
            CHECK_APP,
            CHECK_WEB,
            port,
            version,
            env,
            "weight: 20",
            &format!("{{min_requests: 10, max_p99_ratio: 100, http: /health, alarms: [{alarm}]}}"),
        );
        std::fs::write(&file, text).expect("compose");
    };
    let deploy = || {
        windlass(&state, &["deploy", "-f", &file_arg, "--wait"])
            .output()
            .expect("deploy")
    };

    write("v1", "");
    let v1 = deploy();
    assert!(v1.status.success(), "{}", said(&v1));
    let load = support::Load::start(SocketAddr::from(([127, 0, 0, 1], port)), 2);

    write("v2", "      TESTAPP_UNHEALTHY_AFTER_MS: \"1500\"\n");
    let v2 = deploy();
    let v2_said = said(&v2);
    assert_eq!(v2.status.code(), Some(6), "{v2_said}");
    assert!(
        v2_said.contains("the HTTP check GET /health on release r2's replica 127.0.0.1:")
            && v2_said.contains("answered 503"),
        "{v2_said}"
    );
    assert!(!v2_said.contains("CloudWatch alarm"), "{v2_said}");
    assert_eq!(live_of(&state, CHECK_APP, CHECK_WEB).as_deref(), Some("r1"));

    set_alarm("ALARM").await;
    write("v3", "");
    let v3 = deploy();
    let v3_said = said(&v3);
    assert_eq!(v3.status.code(), Some(6), "{v3_said}");
    assert!(
        v3_said.contains("CloudWatch alarm wlcheck-5xx is in ALARM: set to ALARM by the test"),
        "{v3_said}"
    );
    assert!(!v3_said.contains("the HTTP check"), "{v3_said}");
    assert_eq!(live_of(&state, CHECK_APP, CHECK_WEB).as_deref(), Some("r1"));

    set_alarm("OK").await;
    write("v4", "");
    let v4 = deploy();
    assert!(v4.status.success(), "{}", said(&v4));
    assert_eq!(live_of(&state, CHECK_APP, CHECK_WEB).as_deref(), Some("r4"));

    let seen = load.stop().await;
    println!("{} requests: {:?}", seen.requests, seen.by_release);
    assert!(seen.by_release.get("r2").copied().unwrap_or(0) > 0);
    assert!(seen.by_release.get("r3").copied().unwrap_or(0) > 0);
    drop(processes);
    // The containers, images and networks of the app.
    support::cleanup(&docker, CHECK_WEB).await;
}

/// An answer sent while the held canary is being judged again waits for
/// the gate rather than being refused or lost: v2 answers `/version`
/// (the analysis's HTTP check) after 1.5 s, so each hold analysis runs
/// that long; `windlass promote` sent as one begins is answered once the
/// gate opens again, and the rollout goes on to its switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promote_sent_while_the_held_canary_is_judged_is_not_lost() {
    const APP: &str = "wlrace";
    const WEB: &str = "wlraceweb";
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-race", WEB).await;
    let processes = Processes::start(&state);
    // Slow answers are the point: the p99 may be anything; one request
    // is enough to judge.
    let write = |version: &str, env: &str| {
        let text = compose_rollout(
            APP,
            WEB,
            port,
            version,
            env,
            "weight: 50",
            "{min_requests: 1, max_p99_ratio: 100000, http: /version}",
        );
        std::fs::write(&file, text).expect("compose");
    };

    write("v1", "");
    let load = v1_under_load(&state, &file_arg, port);

    write("v2", "      TESTAPP_SLOW_MS: \"1500\"\n");
    let mut held = windlass(&state, &["deploy", "-f", &file_arg, "--canary", "20"])
        .spawn()
        .expect("deploy v2");
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        held.stderr.take().expect("the deploy's stderr"),
    ));
    let (said_tx, said_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = said_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = said_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{e}: {}", seen.join("\n")));
        let judging = line.contains("→ Rollout1Hold");
        seen.push(line);
        if judging {
            break;
        }
    }
    let asked = Instant::now();
    let promote = windlass(&state, &["promote", "--app", APP])
        .output()
        .expect("windlass promote");
    let waited = asked.elapsed();
    println!("promote answered after {waited:?}: {}", said(&promote));
    assert!(promote.status.success(), "{}", said(&promote));
    assert!(
        waited >= Duration::from_millis(500),
        "promote was answered in {waited:?}, before the hold analysis (1.5 s) ended"
    );
    let status = held.wait().expect("deploy v2 ends");
    let rest: Vec<String> = said_rx.try_iter().collect();
    seen.extend(rest);
    assert!(status.success(), "{}", seen.join("\n"));
    assert_eq!(live_of(&state, APP, WEB).as_deref(), Some("r2"));
    let seen = load.stop().await;
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    drop(processes);
    // The containers, images and networks of the app.
    support::cleanup(&docker, WEB).await;
}

/// A TCP port's canary is judged on connections: the proxy counts each
/// connection as a request of its release, so `min_requests` is met and
/// v2, through a canary at 30 %, goes live (with nothing counted the step
/// would bake 5 times and fail, unjudged). Each connection of the test's
/// load is one HTTP/1.0 request, carried byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_canary_is_judged_on_its_connections() {
    const APP: &str = "wltcp";
    const WEB: &str = "wltcpweb";
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-tcp", WEB).await;
    let processes = Processes::start(&state);
    // No HTTP health probe nor 5xx trigger: windlass proxies the port as TCP.
    let write = |version: &str| {
        let text = format!(
            "name: {APP}\nservices:\n  {WEB}:\n    build: ./app\n    ports: [\"127.0.0.1:{port}:8080\"]\n    init: true\n    stop_grace_period: 1s\n    environment:\n      TESTAPP_VERSION: \"{version}\"\n    x-windlass:\n      health: {{tcp: true, interval: 50ms, start_timeout: 4s}}\n      watch: 1s\n      rollout:\n        weight: 30\n        interval: 2s\n        analysis: {{min_requests: 10, max_p99_ratio: 100}}\n"
        );
        std::fs::write(&file, text).expect("compose");
    };
    write("v1");
    let dry = windlass(&state, &["deploy", "-f", &file_arg, "--dry-run"])
        .output()
        .expect("dry run");
    assert!(said(&dry).contains("-> 8080/tcp, TCP"), "{}", said(&dry));
    let v1 = windlass(&state, &["deploy", "-f", &file_arg])
        .output()
        .expect("deploy v1");
    assert!(v1.status.success(), "{}", said(&v1));

    // One connection per request, until the test ends.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counted = {
        let stop = std::sync::Arc::clone(&stop);
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut by_version = std::collections::BTreeMap::<String, u64>::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await
                else {
                    *by_version.entry("refused".into()).or_default() += 1;
                    continue;
                };
                let _ = stream.write_all(b"GET /version HTTP/1.0\r\n\r\n").await;
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer).await;
                let version = answer.lines().last().unwrap_or("").trim().to_owned();
                *by_version.entry(version).or_default() += 1;
            }
            by_version
        })
    };

    write("v2");
    let v2 = windlass(&state, &["deploy", "-f", &file_arg])
        .output()
        .expect("deploy v2");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let by_version = counted.await.expect("the load");
    println!("connections by answer: {by_version:?}\n{}", said(&v2));
    assert!(v2.status.success(), "{}", said(&v2));
    assert!(said(&v2).contains("Rollout1Analyse"), "{}", said(&v2));
    assert_eq!(live_of(&state, APP, WEB).as_deref(), Some("r2"));
    assert!(
        by_version.get("v2").copied().unwrap_or(0) > 0,
        "{by_version:?}"
    );
    drop(processes);
    // The containers, images and networks of the app.
    support::cleanup(&docker, WEB).await;
}

/// A step that bakes for 120 s, under load. v2: `windlass abort` during
/// the bake ends the deploy at once (exit 6, `Deploy.Aborted`, who aborted
/// in its message), v1 serving all of the traffic. v3: `windlass abort`,
/// then at once a `kill -9` of the agent and a restart: the answered abort
/// is not lost, the restarted agent rolls the deploy back long before the
/// bake would have ended. v4, held by `--canary 20`: `windlass promote`
/// during the bake ends it, the step is judged on the window so far and
/// passes its gate, and v4 goes live. No request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_or_a_promote_during_a_long_bake_is_acted_on_at_once() {
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-bake", BAKE_WEB).await;
    let mut processes = Processes::start(&state);
    let releases = SqliteReleases::open(&state.join("windlass.db")).expect("the store");
    let newest = || {
        releases
            .app_releases(BAKE_APP)
            .expect("app releases")
            .into_iter()
            .next()
            .expect("an app release")
    };
    let gate = |command: &str| {
        let output = windlass(&state, &[command, "--app", BAKE_APP])
            .output()
            .expect("run windlass");
        assert!(
            output.status.success(),
            "windlass {command}: {}",
            said(&output)
        );
        said(&output)
    };

    std::fs::write(&file, compose_bake(port, "v1")).expect("compose");
    let load = v1_under_load(&state, &file_arg, port);

    // v2 at 20 %, aborted during its bake: the deploy ends at once (it
    // would have baked 120 s).
    std::fs::write(&file, compose_bake(port, "v2")).expect("compose");
    let deploy = windlass(&state, &["deploy", "-f", &file_arg])
        .spawn()
        .expect("deploy v2");
    until_canary_of(&state, BAKE_APP, BAKE_WEB, "v2 at 20 %", |c| {
        c == &Some(("r2".into(), 20))
    })
    .await;
    let asked = Instant::now();
    let answered = gate("abort");
    let deploy = deploy.wait_with_output().expect("deploy v2 ends");
    let took = asked.elapsed();
    let said_v2 = said(&deploy);
    println!("{answered}\nv2: the deploy ended {took:?} after abort was asked\n{said_v2}");
    assert_eq!(deploy.status.code(), Some(6), "{said_v2}");
    assert!(said_v2.contains("Deploy.Aborted"), "{said_v2}");
    assert!(
        said_v2.contains("was aborted at step 1 (20%) by "),
        "who aborted, at which step: {said_v2}"
    );
    assert!(
        took < Duration::from_secs(60),
        "the deploy waited out its bake: it ended {took:?} after the abort"
    );
    assert_eq!(canary_of(&state, BAKE_APP, BAKE_WEB).await, None);
    assert_eq!(live_of(&state, BAKE_APP, BAKE_WEB).as_deref(), Some("r1"));

    // v3: aborted, then the agent killed at once and started again.
    std::fs::write(&file, compose_bake(port, "v3")).expect("compose");
    let deploy = windlass(&state, &["deploy", "-f", &file_arg, "--wait"])
        .spawn()
        .expect("deploy v3");
    until_canary_of(&state, BAKE_APP, BAKE_WEB, "v3 at 20 %", |c| {
        c == &Some(("r3".into(), 20))
    })
    .await;
    let asked = Instant::now();
    gate("abort");
    processes.kill_and_restart_agent();
    let _ = deploy.wait_with_output();
    let deadline = asked + Duration::from_secs(60);
    while !newest()
        .detail
        .unwrap_or_default()
        .contains("was aborted at step 1")
    {
        assert!(
            Instant::now() < deadline,
            "the abort was lost with the agent: {:?}",
            newest()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = asked.elapsed();
    println!(
        "v3: rolled back {took:?} after abort was asked, through a kill -9: {:?}",
        newest().detail
    );
    assert_eq!(newest().id, "a3");
    assert_eq!(canary_of(&state, BAKE_APP, BAKE_WEB).await, None);
    assert_eq!(live_of(&state, BAKE_APP, BAKE_WEB).as_deref(), Some("r1"));

    // v4 held at 20 %: promote during the bake, once v4 served enough
    // requests to be judged.
    std::fs::write(&file, compose_bake(port, "v4")).expect("compose");
    let deploy = windlass(
        &state,
        &["deploy", "-f", &file_arg, "--canary", "20", "--wait"],
    )
    .spawn()
    .expect("deploy v4");
    until_canary_of(&state, BAKE_APP, BAKE_WEB, "v4 at 20 %", |c| {
        c == &Some(("r4".into(), 20))
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.seen().by_release.get("r4").copied().unwrap_or(0) < 60 {
        assert!(Instant::now() < deadline, "v4 served no requests");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let answered = gate("promote");
    let deploy = deploy.wait_with_output().expect("deploy v4 ends");
    let took = asked.elapsed();
    println!("{answered}\nv4: the deploy ended {took:?} after promote was asked");
    assert!(deploy.status.success(), "{}", said(&deploy));
    assert!(
        answered.contains("the bake of step 1 (20%) ends now"),
        "{answered}"
    );
    assert!(
        took < Duration::from_secs(60),
        "promote waited out the bake: {took:?}"
    );
    assert_eq!(live_of(&state, BAKE_APP, BAKE_WEB).as_deref(), Some("r4"));

    let seen = load.stop().await;
    println!(
        "{} requests, {} failed: {:?}",
        seen.requests, seen.failed, seen.by_release
    );
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    assert!(seen.by_release.get("r2").copied().unwrap_or(0) > 0);
    assert!(seen.by_release.get("r3").copied().unwrap_or(0) > 0);
    drop(processes);
    support::cleanup(&docker, BAKE_WEB).await;
}

/// `windlass abort` while v2's deploy still starts (its replica waits 8 s
/// before it listens), before its rollout's first bake: the agent keeps
/// the abort in its store, and is killed (`-9`) and started again at once.
/// The restarted agent carries the deploy on, and its first rollout step
/// fails with the abort: `windlass deploy` (which waited for the agent to
/// answer again) exits 6 with `Deploy.Aborted` and who aborted; v2 never
/// took a request, v1 serves, and the kept abort is gone with the deploy.
/// No request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_before_the_rollout_survives_a_kill_and_rolls_the_deploy_back() {
    let Scene {
        docker,
        state,
        file,
        file_arg,
        port,
    } = Scene::new("rollout-early", EARLY_WEB).await;
    let mut processes = Processes::start(&state);
    std::fs::write(&file, compose_early(port, "v1", 0)).expect("compose");
    let load = v1_under_load(&state, &file_arg, port);

    std::fs::write(&file, compose_early(port, "v2", 8_000)).expect("compose");
    let deploy = windlass(&state, &["deploy", "-f", &file_arg])
        .spawn()
        .expect("deploy v2");
    // Refused (7) until v2's deploy runs and holds the app's locks.
    let asked = Instant::now();
    let answered = loop {
        let output = windlass(&state, &["abort", "--app", EARLY_APP])
            .output()
            .expect("run windlass abort");
        match output.status.code() {
            Some(0) => break said(&output),
            Some(7) => {
                assert!(
                    asked.elapsed() < Duration::from_secs(60),
                    "{}",
                    said(&output)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("windlass abort exited {other:?}: {}", said(&output)),
        }
    };
    println!("abort after {:?}: {answered}", asked.elapsed());
    assert!(
        answered.contains("the deploy, not at its rollout yet, rolls back when it reaches it"),
        "the abort came before the rollout: {answered}"
    );
    processes.kill_and_restart_agent();

    let deploy = deploy.wait_with_output().expect("deploy v2 ends");
    let said_v2 = said(&deploy);
    println!(
        "v2: the deploy ended {:?} after abort was asked\n{said_v2}",
        asked.elapsed()
    );
    assert_eq!(deploy.status.code(), Some(6), "{said_v2}");
    assert!(said_v2.contains("Deploy.Aborted"), "{said_v2}");
    assert!(
        said_v2.contains("was aborted at step 1 (20%) by "),
        "who aborted, at which step: {said_v2}"
    );
    assert_eq!(canary_of(&state, EARLY_APP, EARLY_WEB).await, None);
    assert_eq!(live_of(&state, EARLY_APP, EARLY_WEB).as_deref(), Some("r1"));
    // The abort was kept until the deploy ended, then dropped.
    let releases = SqliteReleases::open(&state.join("windlass.db")).expect("the store");
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(kept) = releases.abort_of(EARLY_APP).expect("the kept abort") {
        assert!(Instant::now() < deadline, "still kept: {kept:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let seen = load.stop().await;
    println!(
        "{} requests, {} failed: {:?}",
        seen.requests, seen.failed, seen.by_release
    );
    assert_eq!(seen.failed, 0, "{:?}", seen.failures);
    assert_eq!(
        seen.by_release.get("r2").copied().unwrap_or(0),
        0,
        "the aborted v2 took traffic: {:?}",
        seen.by_release
    );
    drop(processes);
    support::cleanup(&docker, EARLY_WEB).await;
}
