//! What a Compose service's `deploy` section and the app's resources mean
//! on the Swarm target, on a real three-node Swarm (`support::swarm`),
//! through the real binary:
//!
//! - a secret (from a file beside the Compose file, `mode: 0400`) and a
//!   config (`content`) read by the service's container at their targets
//!   (the test app serves what the files hold); a new release with a
//!   changed secret serves the new value, a rollback the old one again
//!   (a flip to the warm release, and an older release started again after
//!   the file changed: the bytes are pinned with the release); the version
//!   no kept release uses is removed at retire, all by `down`;
//! - `deploy.placement` honoured (a node label set by the test), and a
//!   constraint no node satisfies failing the deploy fast, rolled back
//!   (exit 6), with a message naming the service and the constraint;
//! - `deploy.labels` on the Swarm service, `labels` on its containers;
//! - a named volume with driver `local` and `driver_opts` (a tmpfs).

#[path = "../../deploy/tests/support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use support::swarm::Swarm;

const APP: &str = "wlswarm-spec";

async fn body(address: SocketAddr) -> String {
    let client: support::LoadClient =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: hyper::Uri = format!("http://{address}/version").parse().expect("uri");
    match support::answer(&client, &uri).await {
        Ok(answer) => answer.body.trim().to_owned(),
        Err(e) => format!("no answer: {e}"),
    }
}

fn windlass(swarm: &Swarm, entry: &str, folder: &Path, args: &[&str]) -> (i32, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_windlass"))
        .args(args)
        .current_dir(folder)
        .env("DOCKER_HOST", swarm.docker_host())
        .env("WINDLASS_SWARM_ENTRY_IMAGE", entry)
        .env("WINDLASS_STATE", folder.join("state"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run windlass");
    let out = String::from_utf8_lossy(&output.stdout).into_owned();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("$ windlass {}\n{out}{err}", args.join(" "));
    (output.status.code().unwrap_or(-1), out, err)
}

/// The app: `web` mounts the secret `token` (a file here) at `/run/token`
/// with mode 0400 and the config `site` at `/etc/site.txt`, serves what
/// they hold, runs on the nodes labelled `wlspec=<placed>`, and mounts a
/// tmpfs volume by the `local` driver. No `x-windlass.target`: the
/// command says `--target swarm`, so the file is read for a Swarm.
fn compose(placed: &str) -> String {
    format!(
        "name: {APP}
services:
  web:
    image: registry:5000/wlswarm-testapp:1
    ports: [{{target: 8080, published: 8000, app_protocol: http}}]
    environment:
      TESTAPP_VERSION_FROM: /run/token,/run/token@mode,/run/token@uid,/etc/site.txt,/etc/site.txt@mode
    healthcheck: {{test: [\"CMD\", \"/app\", \"probe\"], interval: 500ms, timeout: 2s, retries: 2}}
    init: true
    stop_grace_period: 2s
    labels: {{tier: front}}
    secrets:
      - {{source: token, target: /run/token, uid: '100', mode: 0400}}
    configs:
      - {{source: site, target: /etc/site.txt}}
    volumes: [data:/data]
    deploy:
      replicas: 2
      labels: {{team: shop}}
      endpoint_mode: dnsrr
      placement:
        constraints: [node.labels.wlspec=={placed}]
    x-windlass: {{watch: 1s}}
secrets:
  token: {{file: ./token.txt, labels: {{kind: api}}}}
configs:
  site: {{content: site-a}}
volumes:
  data:
    driver: local
    driver_opts: {{type: tmpfs, device: tmpfs, o: size=1m}}
"
    )
}

/// The one Swarm service of release `release` of `web`.
fn service_of(swarm: &Swarm, release: &str) -> String {
    let name = swarm.on(
        0,
        &[
            "service",
            "ls",
            "--filter",
            &format!("label=windlass.app={APP}"),
            "--filter",
            &format!("label=windlass.release={release}"),
            "--format",
            "{{.Name}}",
        ],
    );
    let name = name.trim().to_owned();
    assert!(
        !name.is_empty() && !name.contains('\n'),
        "{release}: {name:?}"
    );
    name
}

/// The names of the app's versions of its secrets (or configs).
fn stored(swarm: &Swarm, kind: &str) -> Vec<String> {
    let out = swarm.on(
        0,
        &[
            kind,
            "ls",
            "--filter",
            &format!("label=windlass.app={APP}"),
            "--format",
            "{{.Name}}",
        ],
    );
    let mut names: Vec<String> = out.lines().map(str::to_owned).collect();
    names.sort();
    names
}

/// The secret version the service's spec refers to.
fn secret_of(swarm: &Swarm, service: &str) -> String {
    swarm
        .on(
            0,
            &[
                "service",
                "inspect",
                service,
                "--format",
                "{{(index .Spec.TaskTemplate.ContainerSpec.Secrets 0).SecretName}}",
            ],
        )
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_configs_placement_labels_and_volumes_have_swarms_meaning() {
    let swarm = tokio::task::block_in_place(Swarm::start);
    for (what, took) in &swarm.timings {
        eprintln!("swarm: {what} {:.1} s", took.as_secs_f64());
    }
    let (entry, _app) = tokio::task::block_in_place(|| swarm.test_images());
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wlswarm-spec");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("folder");
    let file = folder.join("compose.yaml");
    let token = folder.join("token.txt");
    let run =
        |args: &[&str]| tokio::task::block_in_place(|| windlass(&swarm, &entry, &folder, args));
    let deploy = ["deploy", "--target", "swarm"];
    let web = SocketAddr::from(([127, 0, 0, 1], swarm.nodes[2].app_ports[0]));

    // Node 2 (0-based 1) is the one the placement picks.
    let names: Vec<String> = (0..swarm.nodes.len())
        .map(|i| {
            swarm
                .on(i, &["info", "--format", "{{.Name}}"])
                .trim()
                .to_owned()
        })
        .collect();
    let ids: Vec<String> = (0..swarm.nodes.len())
        .map(|i| {
            swarm
                .on(i, &["info", "--format", "{{.Swarm.NodeID}}"])
                .trim()
                .to_owned()
        })
        .collect();
    swarm.on(
        0,
        &["node", "update", "--label-add", "wlspec=here", &ids[1]],
    );

    std::fs::write(&file, compose("here")).expect("compose");
    std::fs::write(&token, "token-1\n").expect("token");
    let (code, _, err) = run(&deploy);
    assert_eq!(code, 0, "{err}");
    // What the container sees: the secret (mode 0400, uid 100) and the
    // config (Compose's default mode, 0444).
    assert_eq!(body(web).await, "token-1|400|100|site-a|444");

    let r1 = service_of(&swarm, "r1");
    let placed = swarm.on(
        0,
        &[
            "service",
            "ps",
            &r1,
            "--filter",
            "desired-state=running",
            "--format",
            "{{.Node}}",
        ],
    );
    let placed: Vec<&str> = placed.lines().collect();
    assert_eq!(
        placed,
        [names[1].as_str(), names[1].as_str()],
        "both tasks on the labelled node"
    );

    let labels = swarm.on(
        0,
        &[
            "service",
            "inspect",
            &r1,
            "--format",
            "{{json .Spec.Labels}}",
        ],
    );
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels");
    assert_eq!(
        labels["team"], "shop",
        "deploy.labels on the service: {labels}"
    );
    assert!(labels.get("tier").is_none(), "{labels}");
    assert_eq!(labels["windlass.release"], "r1", "{labels}");

    // A task's container on the labelled node: its labels, the volume.
    let container = swarm.on(
        1,
        &[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={r1}"),
        ],
    );
    let container = container
        .lines()
        .next()
        .expect("a task's container")
        .to_owned();
    let labels = swarm.on(
        1,
        &["inspect", &container, "--format", "{{json .Config.Labels}}"],
    );
    let labels: serde_json::Value = serde_json::from_str(&labels).expect("labels");
    assert_eq!(
        labels["tier"], "front",
        "labels on the containers: {labels}"
    );
    assert!(labels.get("team").is_none(), "{labels}");
    let mounts = swarm.on(1, &["inspect", &container, "--format", "{{json .Mounts}}"]);
    assert!(
        mounts.contains(&format!("\"Name\":\"{APP}_data\""))
            && mounts.contains("\"Destination\":\"/data\""),
        "{mounts}"
    );
    let options = swarm.on(
        1,
        &[
            "volume",
            "inspect",
            &format!("{APP}_data"),
            "--format",
            "{{json .Options}}",
        ],
    );
    let options: serde_json::Value = serde_json::from_str(&options).expect("options");
    assert_eq!(
        options["type"], "tmpfs",
        "driver_opts reached the node: {options}"
    );
    assert_eq!(options["o"], "size=1m", "{options}");
    let secrets = stored(&swarm, "secret");
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert!(
        secrets[0].starts_with(&format!("{APP}_token_")),
        "{secrets:?}"
    );
    let kind = swarm.on(
        0,
        &[
            "secret",
            "inspect",
            &secrets[0],
            "--format",
            "{{index .Spec.Labels \"kind\"}}",
        ],
    );
    assert_eq!(kind.trim(), "api", "the secret's own labels");

    // A changed secret is a new version; the warm release keeps its own.
    std::fs::write(&token, "token-2\n").expect("token");
    let (code, _, err) = run(&deploy);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "token-2|400|100|site-a|444");
    let v1 = secret_of(&swarm, &r1);
    let v2 = secret_of(&swarm, &service_of(&swarm, "r2"));
    assert_ne!(v1, v2);
    assert_eq!(stored(&swarm, "secret"), {
        let mut both = vec![v1.clone(), v2.clone()];
        both.sort();
        both
    });
    assert_eq!(
        stored(&swarm, "config").len(),
        1,
        "the same config, one version"
    );

    // A rollback (a flip to the warm r1) serves the old value.
    let (code, _, err) = run(&["rollback", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        body(web).await,
        "token-1|400|100|site-a|444",
        "the rolled-back release's secret"
    );

    // r3 live, r1 (live before it) kept warm, r2 retired with its version.
    std::fs::write(&token, "token-3\n").expect("token");
    let (code, _, err) = run(&deploy);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "token-3|400|100|site-a|444");
    let v3 = secret_of(&swarm, &service_of(&swarm, "r3"));
    let left = stored(&swarm, "secret");
    assert!(
        left.contains(&v1) && left.contains(&v3) && !left.contains(&v2) && left.len() == 2,
        "r2's version is removed at retire: {left:?} (v1 {v1}, v2 {v2}, v3 {v3})"
    );

    // A constraint no node satisfies fails at once, and the app rolls back.
    std::fs::write(&file, compose("nowhere")).expect("compose");
    std::fs::write(&token, "token-4\n").expect("token");
    let began = Instant::now();
    let (code, out, err) = run(&deploy);
    let took = began.elapsed();
    eprintln!(
        "swarm: an unplaceable release rolled back in {:.1} s",
        took.as_secs_f64()
    );
    assert_eq!(code, 6, "rolled back: {err}");
    let said = format!("{out}{err}");
    assert!(
        said.contains("web")
            && said.contains("node.labels.wlspec==nowhere")
            && said.contains("no node of the Swarm can run its tasks"),
        "{said}"
    );
    assert!(
        took.as_secs() < 60,
        "failed fast, not after the start timeout: {took:?}"
    );
    assert_eq!(body(web).await, "token-3|400|100|site-a|444");
    assert!(
        !stored(&swarm, "secret")
            .iter()
            .any(|n| n != &v1 && n != &v3),
        "the failed release's version is removed with it: {:?}",
        stored(&swarm, "secret")
    );

    // r2 started again (its service and version long removed): the value
    // it was deployed with, pinned with it, not the file's of now.
    let (code, _, err) = run(&["rollback", "--target", "swarm", "web", "r2"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body(web).await, "token-2|400|100|site-a|444");
    assert!(
        stored(&swarm, "secret").contains(&v2),
        "the same version made again: {:?}",
        stored(&swarm, "secret")
    );

    let (code, _, err) = run(&["down", "--target", "swarm"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        stored(&swarm, "secret"),
        Vec::<String>::new(),
        "down removes every version"
    );
    assert_eq!(stored(&swarm, "config"), Vec::<String>::new());
    // Dropping the Swarm removes its nodes, registry and network.
}
