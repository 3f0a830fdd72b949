//! A Compose service as an ECS task definition: RegisterTaskDefinition's
//! input in PascalCase, the shape both an `aws-sdk:ecs:registerTaskDefinition`
//! Task state and CloudFormation's `AWS::ECS::TaskDefinition` take. Every
//! Compose field is mapped to its ECS counterpart or refused with the
//! reason (docs/ecs.md has the table); nothing is dropped silently.

use serde_json::{json, Map, Value as Json};

use crate::compose::{Condition, Ecs, Protocol, Restart, Service};

/// A Compose field that has no ECS meaning, or a value ECS cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The service it was found in.
    pub service: String,
    /// The field's path from the service, `healthcheck.start_interval`.
    pub field: String,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "services.{}.{}: {}",
            self.service, self.field, self.reason
        )
    }
}

impl Refusal {
    /// The refusal with the file, line and column of its field in the
    /// Compose file `file` whose text is `text` (the nearest enclosing key
    /// found when the field itself is not written there).
    pub fn located(&self, file: &std::path::Path, text: &str) -> String {
        let mut path = crate::compose::FieldPath::of(&["services", &self.service]);
        for key in self.field.split('.') {
            path = path.key(key);
        }
        let (line, column, _) = crate::compose::locate(text, &path);
        format!("{}:{line}:{column}: {self}", file.display())
    }
}

/// One container of the task: a Compose service and the image it runs,
/// pinned by digest (`REPOSITORY@sha256:...`).
#[derive(Debug, Clone, Copy)]
pub struct Container<'a> {
    pub name: &'a str,
    pub service: &'a Service,
    pub image: &'a str,
}

/// What the task as a whole is given beyond its containers.
#[derive(Debug, Clone)]
pub struct Task<'a> {
    /// The task definition's family.
    pub family: &'a str,
    pub settings: &'a Ecs,
    /// For the `awslogs` driver's `awslogs-region`.
    pub region: &'a str,
    /// The log group every container writes to.
    pub log_group: &'a str,
}

impl Task<'_> {
    fn network_mode(&self) -> &str {
        self.settings.network_mode.as_deref().unwrap_or("awsvpc")
    }

    fn fargate(&self) -> bool {
        self.settings.capacity_provider_strategy.is_none()
            && self.settings.launch_type.as_deref().unwrap_or("FARGATE") == "FARGATE"
    }
}

/// RegisterTaskDefinition's input for `containers` (the first is the
/// essential one whose ports the service publishes), or every refusal.
pub fn map(task: &Task, containers: &[Container]) -> Result<Json, Vec<Refusal>> {
    let mut refusals = Vec::new();
    let names: Vec<&str> = containers.iter().map(|c| c.name).collect();
    let mut definitions = Vec::new();
    for container in containers {
        let mut refuse = |field: &str, reason: String| {
            refusals.push(Refusal {
                service: container.name.to_string(),
                field: field.to_string(),
                reason,
            })
        };
        definitions.push(Json::Object(container_definition(
            task,
            container,
            &names,
            &mut refuse,
        )));
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }
    let mut out = Map::new();
    out.insert("Family".into(), json!(task.family));
    out.insert("NetworkMode".into(), json!(task.network_mode()));
    out.insert("ContainerDefinitions".into(), Json::Array(definitions));
    if task.fargate() {
        out.insert("RequiresCompatibilities".into(), json!(["FARGATE"]));
        let (cpu, memory) = task_size(containers);
        out.insert("Cpu".into(), json!(cpu.to_string()));
        out.insert("Memory".into(), json!(memory.to_string()));
    }
    if let Some(role) = &task.settings.execution_role_arn {
        out.insert("ExecutionRoleArn".into(), json!(role));
    }
    if let Some(role) = &task.settings.task_role_arn {
        out.insert("TaskRoleArn".into(), json!(role));
    }
    if let Some(platform) = containers
        .iter()
        .find_map(|c| c.service.platform.as_deref())
    {
        out.insert("RuntimePlatform".into(), runtime_platform(platform));
    }
    Ok(Json::Object(out))
}

/// Fargate's task size: the containers' sum, rounded up to a size Fargate
/// offers (256 CPU units and 512 MiB at least).
fn task_size(containers: &[Container]) -> (u32, u64) {
    let cpu: u32 = containers.iter().map(|c| cpu_units(c.service)).sum();
    let memory: u64 = containers.iter().map(|c| memory_mib(c.service)).sum();
    let cpu = [256, 512, 1024, 2048, 4096, 8192, 16384]
        .into_iter()
        .find(|size| *size >= cpu)
        .unwrap_or(16384);
    let floor = match cpu {
        256 => 512,
        512 => 1024,
        1024 => 2048,
        2048 => 4096,
        4096 => 8192,
        _ => 16384,
    };
    (cpu, memory.max(floor).div_ceil(1024) * 1024)
}

/// `cpus` as ECS CPU units (1 vCPU = 1024); 256 when not given.
fn cpu_units(service: &Service) -> u32 {
    service
        .limits()
        .cpus
        .map_or(256, |cpus| (cpus * 1024.0).ceil() as u32)
}

/// `mem_limit` in MiB; 512 when not given.
fn memory_mib(service: &Service) -> u64 {
    service
        .limits()
        .memory
        .map_or(512, |bytes| bytes.div_ceil(1024 * 1024))
}

fn runtime_platform(platform: &str) -> Json {
    let asked = crate::compose::Platform::parse(platform).ok();
    let os = asked
        .as_ref()
        .and_then(|p| p.os.clone())
        .unwrap_or_else(|| "linux".into());
    let arch = match asked.as_ref().and_then(|p| p.arch.as_deref()) {
        Some("arm64") => "ARM64",
        _ => "X86_64",
    };
    json!({ "OperatingSystemFamily": os.to_uppercase(), "CpuArchitecture": arch })
}

fn container_definition(
    task: &Task,
    container: &Container,
    names: &[&str],
    refuse: &mut dyn FnMut(&str, String),
) -> Map<String, Json> {
    let service = container.service;
    let mut out = Map::new();
    out.insert("Name".into(), json!(container.name));
    out.insert("Image".into(), json!(container.image));
    out.insert("Essential".into(), json!(!service.runs_to_completion));
    out.insert("Memory".into(), json!(memory_mib(service)));
    if service.limits().cpus.is_some() {
        out.insert("Cpu".into(), json!(cpu_units(service)));
    }
    ports(task, service, &mut out, refuse);
    environment(task, service, &mut out, refuse);
    if let Some(check) = health_check(service, refuse) {
        out.insert("HealthCheck".into(), check);
    }
    if let Some(command) = &service.command {
        out.insert("Command".into(), json!(command));
    }
    if let Some(entrypoint) = &service.entrypoint {
        out.insert("EntryPoint".into(), json!(entrypoint));
    }
    let depends: Vec<Json> = service
        .depends_on
        .iter()
        .filter_map(|(name, dependency)| {
            // Another service of the file is an ECS service of its own:
            // `windlass deploy` deploys it first (its rollout waits for
            // its tasks to be healthy), which is what the dependency asks.
            if !names.contains(&name.as_str()) {
                return None;
            }
            let condition = match dependency.condition {
                Condition::ServiceStarted => "START",
                Condition::ServiceHealthy => "HEALTHY",
                Condition::ServiceCompletedSuccessfully => "SUCCESS",
            };
            Some(json!({ "ContainerName": name, "Condition": condition }))
        })
        .collect();
    if !depends.is_empty() {
        out.insert("DependsOn".into(), Json::Array(depends));
    }
    out.insert("LogConfiguration".into(), logging(task, container, refuse));
    process(task, service, &mut out, refuse);
    refused_fields(task, service, refuse);
    out
}

fn ports(
    task: &Task,
    service: &Service,
    out: &mut Map<String, Json>,
    refuse: &mut dyn FnMut(&str, String),
) {
    let mut mappings = Vec::new();
    for port in &service.ports {
        if port.host_ip.is_some() {
            refuse("ports", format!("host_ip of port {}: an ECS task's ports are on its own network interface (awsvpc) or the instance's (bridge); remove the host IP", port.target));
        }
        let host = match (task.network_mode(), port.published) {
            ("awsvpc" | "host", Some(published)) if published != port.target => {
                refuse("ports", format!("{published}:{}: in network mode {} ECS publishes a container port as the same port; write \"{}\" or use networkMode bridge", port.target, task.network_mode(), port.target));
                port.target
            }
            ("awsvpc" | "host", _) => port.target,
            // bridge: the published port, or 0 for one the instance picks.
            (_, published) => published.unwrap_or(0),
        };
        let protocol = match port.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        mappings
            .push(json!({ "ContainerPort": port.target, "HostPort": host, "Protocol": protocol }));
    }
    for exposed in &service.expose {
        let protocol = match exposed.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        mappings.push(json!({ "ContainerPort": exposed.port, "Protocol": protocol }));
    }
    if !mappings.is_empty() {
        out.insert("PortMappings".into(), Json::Array(mappings));
    }
}

/// `environment` (with `env_file` already read into it) and the secrets
/// ECS reads from Secrets Manager or SSM at task start.
fn environment(
    task: &Task,
    service: &Service,
    out: &mut Map<String, Json>,
    refuse: &mut dyn FnMut(&str, String),
) {
    let mut environment = Vec::new();
    for (name, value) in &service.environment {
        match value {
            Some(value) => environment.push(json!({ "Name": name, "Value": value })),
            None => refuse("environment", format!("{name} has no value: a task on ECS has no windlass environment to take it from; give it a value, or name a secret for it in x-windlass.ecs.secrets")),
        }
    }
    if !environment.is_empty() {
        out.insert("Environment".into(), Json::Array(environment));
    }
    if !service.secrets.is_empty() {
        refuse("secrets", "Compose secrets are files on this machine, which an ECS task cannot read: put the secret in Secrets Manager or SSM and name it in x-windlass.ecs.secrets (NAME: ARN), which ECS passes as `valueFrom`".into());
    }
    let secrets: Vec<Json> = task
        .settings
        .secrets
        .iter()
        .map(|(name, from)| json!({ "Name": name, "ValueFrom": from }))
        .collect();
    if !secrets.is_empty() {
        out.insert("Secrets".into(), Json::Array(secrets));
    }
}

/// Compose's healthcheck as ECS's: the same test, times in whole seconds
/// within ECS's bounds.
fn health_check(service: &Service, refuse: &mut dyn FnMut(&str, String)) -> Option<Json> {
    let check = service.healthcheck.as_ref()?;
    let test = check.test.as_ref()?;
    if check.disable || test.first().map(String::as_str) == Some("NONE") {
        return None;
    }
    if check.start_interval.is_some() {
        refuse(
            "healthcheck.start_interval",
            "ECS health checks have no start interval: remove it (interval applies throughout)"
                .into(),
        );
    }
    let mut out = json!({ "Command": test });
    let mut seconds =
        |field: &str, key: &str, value: Option<std::time::Duration>, range: (u64, u64)| {
            let Some(value) = value else { return };
            let secs = value.as_secs();
            if secs < range.0 || secs > range.1 || value.subsec_nanos() != 0 {
                refuse(
                    &format!("healthcheck.{field}"),
                    format!(
                        "{value:?}: ECS takes whole seconds from {} to {}",
                        range.0, range.1
                    ),
                );
            } else {
                out[key] = json!(secs);
            }
        };
    seconds("interval", "Interval", check.interval, (5, 300));
    seconds("timeout", "Timeout", check.timeout, (2, 60));
    seconds("start_period", "StartPeriod", check.start_period, (0, 300));
    if let Some(retries) = check.retries {
        if (1..=10).contains(&retries) {
            out["Retries"] = json!(retries);
        } else {
            refuse(
                "healthcheck.retries",
                format!("{retries}: ECS takes 1 to 10"),
            );
        }
    }
    Some(out)
}

/// Compose's `logging` as a log configuration: `awslogs` to the task's log
/// group unless another driver ECS knows is named.
fn logging(task: &Task, container: &Container, refuse: &mut dyn FnMut(&str, String)) -> Json {
    const ECS_DRIVERS: &[&str] = &[
        "awslogs",
        "fluentd",
        "gelf",
        "json-file",
        "journald",
        "splunk",
        "syslog",
        "awsfirelens",
    ];
    let logging = container.service.logging.as_ref();
    let driver = logging
        .and_then(|l| l.driver.as_deref())
        .unwrap_or("awslogs");
    if !ECS_DRIVERS.contains(&driver) {
        refuse(
            "logging.driver",
            format!(
                "{driver} is not a log driver ECS offers; use one of {}",
                ECS_DRIVERS.join(", ")
            ),
        );
    }
    let mut options: Map<String, Json> = logging
        .map(|l| {
            l.options
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect()
        })
        .unwrap_or_default();
    if driver == "awslogs" {
        options
            .entry("awslogs-group")
            .or_insert(json!(task.log_group));
        options
            .entry("awslogs-region")
            .or_insert(json!(task.region));
        options
            .entry("awslogs-stream-prefix")
            .or_insert(json!(container.name));
    }
    json!({ "LogDriver": driver, "Options": options })
}

/// How the process runs: user, folder, signals, Linux settings.
fn process(
    task: &Task,
    service: &Service,
    out: &mut Map<String, Json>,
    refuse: &mut dyn FnMut(&str, String),
) {
    if let Some(user) = &service.user {
        out.insert("User".into(), json!(user));
    }
    if let Some(dir) = &service.working_dir {
        out.insert("WorkingDirectory".into(), json!(dir));
    }
    if let Some(grace) = service.stop_grace_period {
        out.insert("StopTimeout".into(), json!(grace.as_secs().clamp(2, 120)));
    }
    let labels: Map<String, Json> = service
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.clone().unwrap_or_default())))
        .collect();
    if !labels.is_empty() {
        out.insert("DockerLabels".into(), Json::Object(labels));
    }
    if service.read_only {
        out.insert("ReadonlyRootFilesystem".into(), json!(true));
    }
    if service.stdin_open {
        out.insert("Interactive".into(), json!(true));
    }
    if service.tty {
        out.insert("PseudoTerminal".into(), json!(true));
    }
    if service.privileged {
        if task.fargate() {
            refuse(
                "privileged",
                "Fargate runs no privileged containers: use launchType EC2 or remove it".into(),
            );
        }
        out.insert("Privileged".into(), json!(true));
    }
    let ulimits: Vec<Json> = service
        .ulimits
        .iter()
        .map(|(name, l)| json!({ "Name": name, "SoftLimit": l.soft, "HardLimit": l.hard }))
        .collect();
    if !ulimits.is_empty() {
        out.insert("Ulimits".into(), Json::Array(ulimits));
    }
    let sysctls: Vec<Json> = service
        .sysctls
        .iter()
        .map(|(k, v)| json!({ "Namespace": k, "Value": v.clone().unwrap_or_default() }))
        .collect();
    if !sysctls.is_empty() {
        out.insert("SystemControls".into(), Json::Array(sysctls));
    }
    let mut linux = Map::new();
    if service.init == Some(true) {
        linux.insert("InitProcessEnabled".into(), json!(true));
    }
    if !service.cap_add.is_empty() || !service.cap_drop.is_empty() {
        linux.insert(
            "Capabilities".into(),
            json!({ "Add": service.cap_add, "Drop": service.cap_drop }),
        );
    }
    if let Some(bytes) = service.shm_size {
        if task.fargate() {
            refuse(
                "shm_size",
                "Fargate does not size /dev/shm: remove it or use launchType EC2".into(),
            );
        }
        linux.insert(
            "SharedMemorySize".into(),
            json!(bytes.div_ceil(1024 * 1024)),
        );
    }
    if !linux.is_empty() {
        out.insert("LinuxParameters".into(), Json::Object(linux));
    }
    let bridge = task.network_mode() == "bridge";
    if !service.extra_hosts.is_empty() {
        if bridge {
            let hosts: Vec<Json> = service
                .extra_hosts
                .iter()
                .map(|h| json!({ "Hostname": h.host, "IpAddress": h.ip }))
                .collect();
            out.insert("ExtraHosts".into(), Json::Array(hosts));
        } else {
            refuse(
                "extra_hosts",
                format!(
                    "ECS takes extraHosts in network mode bridge only, not {}",
                    task.network_mode()
                ),
            );
        }
    }
    if let Some(hostname) = &service.hostname {
        if bridge {
            out.insert("Hostname".into(), json!(hostname));
        } else {
            refuse(
                "hostname",
                format!(
                    "ECS takes a hostname in network mode bridge only, not {}",
                    task.network_mode()
                ),
            );
        }
    }
    if !service.dns.is_empty() {
        if bridge {
            out.insert("DnsServers".into(), json!(service.dns));
        } else {
            refuse(
                "dns",
                format!(
                    "ECS takes dnsServers in network mode bridge only, not {}",
                    task.network_mode()
                ),
            );
        }
    }
}

/// Fields with no ECS meaning, each refused with why and what to do.
fn refused_fields(task: &Task, service: &Service, refuse: &mut dyn FnMut(&str, String)) {
    let set = |present: bool, field: &str, reason: &str, refuse: &mut dyn FnMut(&str, String)| {
        if present {
            refuse(field, reason.to_string());
        }
    };
    set(!service.volumes.is_empty(), "volumes", "ECS volumes are EFS file systems or Docker volumes of an EC2 instance, which windlass does not create: use an ECS task definition file (x-windlass.ecs.taskDefinition) with its `volumes` and `mountPoints`", refuse);
    set(!service.tmpfs.is_empty(), "tmpfs", "ECS tmpfs mounts need a size and run on EC2 only: use an ECS task definition file (linuxParameters.tmpfs)", refuse);
    set(!service.configs.is_empty(), "configs", "Compose configs are files on this machine, which an ECS task cannot read: bake them into the image or pass them as environment", refuse);
    set(
        service.container_name.is_some(),
        "container_name",
        "ECS names task containers itself: remove container_name",
        refuse,
    );
    set(!service.networks.0.is_empty(), "networks", "an ECS task's network is its networkConfiguration (subnets, security groups): set x-windlass.ecs.networkConfiguration and remove networks", refuse);
    set(!service.post_start.is_empty(), "post_start", "ECS runs no command in a task's container after it starts: use an `x-windlass.hooks` command, or start the work in the image's entrypoint", refuse);
    set(!service.pre_stop.is_empty(), "pre_stop", "ECS runs no command in a task's container before it stops it: handle SIGTERM in the service", refuse);
    set(
        service.use_api_socket,
        "use_api_socket",
        "an ECS task has no Docker engine socket to mount: remove use_api_socket",
        refuse,
    );
    set(service.stop_signal.is_some(), "stop_signal", "ECS always stops a container with SIGTERM, then SIGKILL after stopTimeout: handle SIGTERM and remove stop_signal", refuse);
    set(
        service.limits().pids.is_some(),
        "pids_limit",
        "ECS has no per-container process limit: remove pids_limit",
        refuse,
    );
    set(!service.dns_search.is_empty(), "dns_search", "ECS has dnsSearchDomains in bridge mode only and windlass does not map it: remove it or use a task definition file", refuse);
    set(
        !service.dns_opt.is_empty(),
        "dns_opt",
        "ECS has no DNS options: remove dns_opt",
        refuse,
    );
    set(!service.security_opt.is_empty(), "security_opt", "ECS's dockerSecurityOptions are for EC2 with SELinux or AppArmor labels only: use a task definition file", refuse);
    set(
        !service.group_add.is_empty(),
        "group_add",
        "ECS has no supplementary groups: remove group_add",
        refuse,
    );
    set(
        service.domainname.is_some(),
        "domainname",
        "ECS has no domain name setting: remove domainname",
        refuse,
    );
    set(service.network_mode.is_some(), "network_mode", "an ECS task's network mode is the task definition's networkMode: set x-windlass.ecs.networkMode and remove network_mode", refuse);
    for field in service.host_fields_set() {
        refuse(field, "windlass does not map it to an ECS container definition: remove it, or write it in an ECS task definition file (x-windlass.ecs.taskDefinition)".into());
    }
    if matches!(
        service.restart_policy(),
        Some(Restart::No | Restart::OnFailure(_))
    ) {
        refuse(
            "restart",
            "an ECS service replaces every task that stops: remove restart (or write `always`)"
                .into(),
        );
    }
    let windlass = &service.windlass;
    set(
        windlass.address.is_some() || windlass.port.is_some(),
        "x-windlass.address",
        "on ECS there is no windlass proxy: a load balancer or Service Connect routes to the tasks",
        refuse,
    );
    let triggers = &windlass.rollback_on;
    set(triggers.server_error_ratio.is_some() || triggers.p99_latency.is_some() || triggers.failed_health_checks.is_some(), "x-windlass.rollback_on", "on ECS windlass sees no request: name CloudWatch alarms (the load balancer's 5xx, latency) in x-windlass.ecs.alarms", refuse);
    for (name, config) in [
        ("update_config", &service.deploy.update_config),
        ("rollback_config", &service.deploy.rollback_config),
    ] {
        let Some(config) = config else { continue };
        if config.parallelism.is_some()
            || config.delay.is_some()
            || config.monitor.is_some()
            || config.max_failure_ratio.is_some()
        {
            refuse(&format!("deploy.{name}"), "ECS paces a rollout by minimumHealthyPercent and maximumPercent and stops a failing one by its circuit breaker: keep only `order`".into());
        }
        if config
            .failure_action
            .is_some_and(|a| a != crate::compose::FailureAction::Rollback)
        {
            refuse(&format!("deploy.{name}.failure_action"), "on ECS a failed rollout is rolled back (the circuit breaker with rollback on): remove failure_action".into());
        }
    }
    let _ = task;
}

#[cfg(test)]
mod tests;
