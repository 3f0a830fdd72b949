//! The mapping field by field: a service using every mapped field, and
//! each refused field named with its reason.

use std::path::Path;

use serde_json::json;

use super::*;
use crate::compose;

fn service(yaml: &str) -> Service {
    let text = format!("services:\n  web:\n    image: 127.0.0.1:5000/web:v1\n{yaml}");
    let project = compose::parse(&text, Path::new("/tmp/compose.yaml"))
        .unwrap_or_else(|e| panic!("the test's Compose file is invalid: {e}\n{text}"));
    project.services["web"].clone()
}

fn map_one(service: &Service, settings: &Ecs) -> Result<Json, Vec<Refusal>> {
    let task = Task {
        family: "web",
        settings,
        region: "eu-west-1",
        log_group: "/windlass/web",
    };
    map(
        &task,
        &[Container {
            name: "web",
            service,
            image: "1.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc",
        }],
    )
}

#[test]
fn maps_every_field_that_has_an_ecs_meaning() {
    let web = service(
        r#"    ports: ["8080"]
    expose: ["9090"]
    environment: { MODE: production }
    command: ["serve", "--fast"]
    entrypoint: ["/app"]
    healthcheck: { test: ["CMD", "/app", "probe"], interval: 10s, timeout: 3s, retries: 4, start_period: 5s }
    cpus: 0.5
    mem_limit: 256m
    user: "1000"
    working_dir: /srv
    stop_grace_period: 20s
    labels: { team: shop }
    init: true
    read_only: true
    cap_add: [NET_ADMIN]
    ulimits: { nofile: { soft: 1024, hard: 2048 } }
"#,
    );
    let settings = Ecs {
        secrets: [(
            "TOKEN".to_string(),
            "arn:aws:ssm:eu-west-1:1:parameter/token".to_string(),
        )]
        .into(),
        execution_role_arn: Some("arn:aws:iam::1:role/exec".into()),
        ..Ecs::default()
    };
    let out = map_one(&web, &settings).expect("maps");
    assert_eq!(out["Family"], "web");
    assert_eq!(out["NetworkMode"], "awsvpc");
    assert_eq!(out["RequiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(out["Cpu"], "512");
    assert_eq!(out["Memory"], "1024");
    assert_eq!(out["ExecutionRoleArn"], "arn:aws:iam::1:role/exec");
    let c = &out["ContainerDefinitions"][0];
    assert_eq!(
        c["Image"],
        "1.dkr.ecr.eu-west-1.amazonaws.com/web@sha256:abc"
    );
    assert_eq!(c["Cpu"], 512);
    assert_eq!(c["Memory"], 256);
    assert_eq!(
        c["PortMappings"],
        json!([{ "ContainerPort": 8080, "HostPort": 8080, "Protocol": "tcp" }, { "ContainerPort": 9090, "Protocol": "tcp" }])
    );
    assert_eq!(
        c["Environment"],
        json!([{ "Name": "MODE", "Value": "production" }])
    );
    assert_eq!(
        c["Secrets"],
        json!([{ "Name": "TOKEN", "ValueFrom": "arn:aws:ssm:eu-west-1:1:parameter/token" }])
    );
    assert_eq!(c["Command"], json!(["serve", "--fast"]));
    assert_eq!(c["EntryPoint"], json!(["/app"]));
    assert_eq!(
        c["HealthCheck"],
        json!({ "Command": ["CMD", "/app", "probe"], "Interval": 10, "Timeout": 3, "Retries": 4, "StartPeriod": 5 })
    );
    assert_eq!(c["LogConfiguration"]["LogDriver"], "awslogs");
    assert_eq!(
        c["LogConfiguration"]["Options"]["awslogs-group"],
        "/windlass/web"
    );
    assert_eq!(
        c["LogConfiguration"]["Options"]["awslogs-region"],
        "eu-west-1"
    );
    assert_eq!(c["User"], "1000");
    assert_eq!(c["WorkingDirectory"], "/srv");
    assert_eq!(c["StopTimeout"], 20);
    assert_eq!(c["DockerLabels"], json!({ "team": "shop" }));
    assert_eq!(c["ReadonlyRootFilesystem"], true);
    assert_eq!(c["LinuxParameters"]["InitProcessEnabled"], true);
    assert_eq!(
        c["LinuxParameters"]["Capabilities"]["Add"],
        json!(["NET_ADMIN"])
    );
    assert_eq!(
        c["Ulimits"],
        json!([{ "Name": "nofile", "SoftLimit": 1024, "HardLimit": 2048 }])
    );
}

#[test]
fn bridge_mode_publishes_the_given_port_or_one_the_instance_picks() {
    let web = service("    ports: [\"18080:8080\", \"9000\"]\n");
    let settings = Ecs {
        network_mode: Some("bridge".into()),
        launch_type: Some("EC2".into()),
        ..Ecs::default()
    };
    let out = map_one(&web, &settings).expect("maps");
    assert_eq!(out.get("RequiresCompatibilities"), None);
    assert_eq!(
        out["ContainerDefinitions"][0]["PortMappings"],
        json!([{ "ContainerPort": 8080, "HostPort": 18080, "Protocol": "tcp" }, { "ContainerPort": 9000, "HostPort": 0, "Protocol": "tcp" }])
    );
}

#[test]
fn depends_on_between_containers_of_one_task_is_depends_on() {
    let text = "services:\n  web:\n    image: r/web:1\n    depends_on: { migrate: { condition: service_completed_successfully } }\n  migrate:\n    image: r/migrate:1\n";
    let project = compose::parse(text, Path::new("/tmp/compose.yaml")).expect("valid");
    let settings = Ecs::default();
    let task = Task {
        family: "shop",
        settings: &settings,
        region: "eu-west-1",
        log_group: "/windlass/shop",
    };
    let out = map(
        &task,
        &[
            Container {
                name: "web",
                service: &project.services["web"],
                image: "r/web@sha256:1",
            },
            Container {
                name: "migrate",
                service: &project.services["migrate"],
                image: "r/migrate@sha256:2",
            },
        ],
    )
    .expect("maps");
    assert_eq!(
        out["ContainerDefinitions"][0]["DependsOn"],
        json!([{ "ContainerName": "migrate", "Condition": "SUCCESS" }])
    );
    assert_eq!(out["ContainerDefinitions"][1]["Essential"], false);
}

#[test]
fn depends_on_another_ecs_service_is_the_deploy_order_not_depends_on() {
    let web = service("    depends_on: [db]\n  db:\n    image: r/db:1\n");
    let out = map_one(&web, &Ecs::default()).expect("not refused");
    assert!(
        out["ContainerDefinitions"][0].get("DependsOn").is_none(),
        "{out}"
    );
}

#[test]
fn fields_without_an_ecs_meaning_are_refused_by_name_with_the_reason() {
    let cases = [
        ("    volumes: [\"/data:/data\"]\n", "volumes", "EFS"),
        (
            "    container_name: one\n",
            "container_name",
            "remove container_name",
        ),
        ("    stop_signal: SIGINT\n", "stop_signal", "SIGTERM"),
        (
            "    post_start: [{command: warm}]\n",
            "post_start",
            "x-windlass.hooks",
        ),
        ("    pre_stop: [{command: flush}]\n", "pre_stop", "SIGTERM"),
        (
            "    use_api_socket: true\n",
            "use_api_socket",
            "no Docker engine socket",
        ),
        ("    pids_limit: 10\n", "pids_limit", "process limit"),
        ("    restart: \"no\"\n", "restart", "replaces every task"),
        ("    ports: [\"127.0.0.1:8080:8080\"]\n", "ports", "host IP"),
        ("    ports: [\"9000:8080\"]\n", "ports", "same port"),
        (
            "    environment: [FROM_SHELL]\n",
            "environment",
            "x-windlass.ecs.secrets",
        ),
        (
            "    healthcheck: { test: [\"CMD\", \"true\"], interval: 1s }\n",
            "healthcheck.interval",
            "5 to 300",
        ),
        (
            "    healthcheck: { test: [\"CMD\", \"true\"], start_interval: 2s }\n",
            "healthcheck.start_interval",
            "no start interval",
        ),
        (
            "    logging: { driver: local }\n",
            "logging.driver",
            "log driver ECS offers",
        ),
        ("    privileged: true\n", "privileged", "Fargate"),
        ("    hostname: web1\n", "hostname", "bridge only"),
        (
            "    x-windlass: { rollback_on: { server_error_ratio: 0.1 } }\n",
            "x-windlass.rollback_on",
            "CloudWatch alarms",
        ),
        (
            "    deploy: { update_config: { parallelism: 1 } }\n",
            "deploy.update_config",
            "circuit breaker",
        ),
    ];
    for (yaml, field, reason) in cases {
        let web = service(yaml);
        let refusals = map_one(&web, &Ecs::default()).expect_err(yaml);
        assert!(
            refusals
                .iter()
                .any(|r| r.field == field && r.reason.contains(reason)),
            "{yaml}: expected {field} refused ({reason}), got {refusals:?}"
        );
        assert!(
            refusals[0].to_string().starts_with("services.web."),
            "{}",
            refusals[0]
        );
    }
}
