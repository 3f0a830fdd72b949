//! The Swarm test harness on its own: three nodes (Docker engines in
//! containers) joined as managers, a registry on their network, an image
//! pushed there and run by a `dnsrr` service with a task on every node.

mod support;

use std::time::Instant;

use support::swarm::{docker, Swarm};

#[test]
fn three_nodes_join_and_run_an_image_from_the_registry() {
    let swarm = Swarm::start();
    for (what, took) in &swarm.timings {
        eprintln!("swarm harness: {what} {:.1} s", took.as_secs_f64());
    }
    let managers = swarm.on(0, &["node", "ls", "--format", "{{.ManagerStatus}}"]);
    assert_eq!(
        managers.lines().filter(|l| !l.is_empty()).count(),
        3,
        "{managers}"
    );

    let began = Instant::now();
    let dir = support::project("swarm-harness");
    docker(&[
        "build",
        "-q",
        "-t",
        "wlswarm-testapp:harness",
        dir.join("app").to_str().unwrap_or_default(),
    ]);
    let image = swarm.push("wlswarm-testapp:harness", "wlswarm-testapp:harness");
    docker(&["rmi", "wlswarm-testapp:harness"]);
    swarm.on(
        0,
        &["network", "create", "-d", "overlay", "wlswarm-harness"],
    );
    swarm.on(
        0,
        &[
            "service",
            "create",
            "-d",
            "--name",
            "wlswarm-harness",
            "--mode",
            "global",
            "--endpoint-mode",
            "dnsrr",
            "--network",
            "wlswarm-harness",
            &image,
        ],
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let tasks = swarm.on(
            0,
            &[
                "service",
                "ps",
                "wlswarm-harness",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.Node}} {{.CurrentState}}",
            ],
        );
        let running: std::collections::BTreeSet<&str> = tasks
            .lines()
            .filter(|l| l.contains("Running"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        if running.len() == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "tasks: {tasks}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    eprintln!(
        "swarm harness: image pushed and running on 3 nodes in {:.1} s",
        began.elapsed().as_secs_f64()
    );
}
