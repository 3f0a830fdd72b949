//! Every field of the Compose Specification, sorted into what windlass
//! honours and what it refuses, with the reason and what to use instead.
//! A field in neither list is a typo or not Compose: it is refused with the
//! list of allowed fields.

/// Top-level fields windlass reads (`x-` extensions are allowed besides).
pub const TOP_LEVEL: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs",
];

pub const TOP_LEVEL_REFUSED: &[(&str, &str)] = &[(
    "models",
    "windlass does not run AI models (Docker Model Runner): run the model as a service with an image",
)];

/// Service fields windlass honours, with Docker Compose's meaning.
pub const SERVICE: &[&str] = &[
    "image",
    "build",
    "pull_policy",
    "ports",
    "environment",
    "env_file",
    "command",
    "entrypoint",
    "healthcheck",
    "deploy",
    "stop_grace_period",
    "labels",
    "networks",
    "init",
    "volumes",
    "restart",
    "depends_on",
    "expose",
    "container_name",
    "secrets",
    "configs",
    "user",
    "working_dir",
    "cap_add",
    "cap_drop",
    "stop_signal",
    "extra_hosts",
    "ulimits",
    "tmpfs",
    "shm_size",
    "platform",
    "stdin_open",
    "tty",
    "read_only",
    "privileged",
    "profiles",
    "logging",
    "hostname",
    "domainname",
    "dns",
    "dns_search",
    "dns_opt",
    "security_opt",
    "sysctls",
    "group_add",
    "mem_limit",
    "cpus",
    "pids_limit",
    "network_mode",
    "scale",
    "attach",
    "develop",
    "devices",
    "device_cgroup_rules",
    "gpus",
    "cgroup",
    "cgroup_parent",
    "ipc",
    "pid",
    "uts",
    "userns_mode",
    "isolation",
    "runtime",
    "oom_score_adj",
    "oom_kill_disable",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "cpu_shares",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_runtime",
    "cpu_rt_period",
    "cpuset",
    "blkio_config",
    "storage_opt",
    "label_file",
    "volumes_from",
    "links",
    "external_links",
    "post_start",
    "pre_stop",
    "use_api_socket",
    "x-windlass",
];

const WINDOWS: &str = "it is a Windows engine's setting (a Linux engine refuses it): use `cpus` or `deploy.resources.limits.cpus`";

/// Service fields windlass refuses, with why and what to use instead.
pub const SERVICE_REFUSED: &[(&str, &str)] = &[
    ("mac_address", "a fixed MAC address cannot be shared by the old and new release during a switch"),
    ("cpu_count", WINDOWS),
    ("cpu_percent", WINDOWS),
    ("credential_spec", "credential specs are for Windows containers, which windlass does not run"),
    ("pull_refresh_after", "use `pull_policy: every_DURATION` (`every_12h`), which windlass reads as Compose does"),
    ("annotations", "the engine on this host (API 1.41) has no container annotations: use `labels`"),
    ("provider", "windlass deploys containers only: run the provider's service yourself"),
    ("models", "windlass does not run AI models (Docker Model Runner): run the model as a service with an image"),
];

/// Fields inside a service's mappings that windlass refuses, by the key
/// that holds them.
pub const NESTED_REFUSED: &[(&str, &str, &str)] = &[
    ("build", "additional_contexts", "the engine's build API takes one context, and named contexts would need BuildKit's file sync over the session, which windlass does not serve: copy what the build needs into the context"),
    ("build", "dockerfile_inline", "write the Dockerfile into the build context and name it with `dockerfile`"),
    ("build", "platforms", "windlass builds for the engine's own platform only"),
    ("build", "tags", "windlass tags each release's image itself (and the one `image` names)"),
    ("build", "no_cache", "windlass builds with the engine's layer cache; remove `no_cache`"),
    ("build", "pull", "no image can be pulled during a build here: make the base image available to the engine first"),
    ("build", "privileged", "the engine's build API grants no entitlements (that needs a BuildKit session)"),
    ("build", "entitlements", "the engine's build API grants no entitlements (that needs a BuildKit session)"),
    ("build", "extra_hosts", "windlass passes no extra hosts to the build: use `build.network: host`"),
    ("build", "isolation", "isolation is for Windows builds"),
    ("build", "ulimits", "windlass passes no ulimits to the build"),
    ("build", "provenance", "attestations are made by buildx, which windlass does not use"),
    ("build", "sbom", "attestations are made by buildx, which windlass does not use"),
];

/// Fields inside a service's mappings that only a swarm reads: Docker
/// Compose ignores them on one engine, and so does windlass, with a
/// warning, by the key that holds them.
pub const NESTED_IGNORED: &[(&str, &str, &str)] = &[
    ("deploy", "placement", "it places a swarm's replicas on its nodes, and windlass deploys to one engine (Docker Compose ignores it there too)"),
    ("deploy", "endpoint_mode", "it is how a swarm service is reached, and windlass's proxy is the service's one address (Docker Compose ignores it too)"),
    ("deploy", "labels", "they label a swarm service, which windlass does not make (Docker Compose ignores them too): the service's `labels` go on its containers"),
];

/// Fields of a long-syntax entry of a service's `volumes` windlass
/// refuses, by the key that holds them (`""` for the entry itself).
pub const VOLUME_REFUSED: &[(&str, &str, &str)] = &[
    ("", "image", "mounting an image's files (`type: image`) needs Docker Engine API 1.47, and the engine windlass drives speaks 1.41: copy the files into a volume"),
    ("bind", "propagation", "windlass mounts binds with the engine's default propagation: remove `propagation`"),
    ("bind", "recursive", "recursive read-only bind options need Docker Engine API 1.44, and the engine windlass drives speaks 1.41: remove `recursive`"),
    ("volume", "labels", "windlass creates a service's named volumes from the top-level `volumes`: put the labels there"),
    ("volume", "subpath", "a volume subpath needs Docker Engine API 1.45, and the engine windlass drives speaks 1.41: mount the whole volume"),
];

/// Fields of a top-level network windlass refuses.
pub const NETWORK_REFUSED: &[(&str, &str)] = &[
    ("enable_ipv4", "the engine on this host (API 1.41) always gives a bridge network IPv4 addresses: remove `enable_ipv4`"),
];

/// Fields of a service's entry under `networks` windlass refuses.
pub const SERVICE_NETWORK_REFUSED: &[(&str, &str)] = &[
    (
        "link_local_ips",
        "a fixed address cannot be held by the old and the new release at once during a switch",
    ),
    (
        "mac_address",
        "a fixed MAC address cannot be shared by the old and new release during a switch",
    ),
    (
        "driver_opts",
        "windlass attaches containers with the network's defaults",
    ),
    (
        "priority",
        "windlass attaches the networks in the order written: order them instead",
    ),
    (
        "gw_priority",
        "windlass keeps Docker's default gateway (the bridge that carries the published port)",
    ),
    (
        "interface_name",
        "windlass lets the engine name the interfaces",
    ),
];

/// Fields of a top-level secret or config windlass refuses.
pub const FILE_SOURCE_REFUSED: &[(&str, &str)] = &[
    (
        "driver",
        "secret drivers are swarm's: use `file` or `environment`",
    ),
    (
        "driver_opts",
        "secret drivers are swarm's: use `file` or `environment`",
    ),
    (
        "template_driver",
        "windlass mounts the file as it is: render it before the deploy",
    ),
    ("labels", "labels on secrets are swarm's: remove them"),
];

/// Fields of a top-level secret windlass refuses on a Swarm: none (the
/// Swarm's store gives `driver`, `template_driver` and `labels` their
/// meaning).
pub const SWARM_SECRET_REFUSED: &[(&str, &str)] = &[];

/// Fields of a top-level config windlass refuses on a Swarm.
pub const SWARM_CONFIG_REFUSED: &[(&str, &str)] = &[
    (
        "driver",
        "a Swarm's configs have no driver (only its secrets do): give the value with `file`, `environment` or `content`",
    ),
    (
        "driver_opts",
        "a Swarm's configs have no driver (only its secrets do): give the value with `file`, `environment` or `content`",
    ),
];

/// A refusal's reason in `table`, if `key` is there.
pub fn refusal(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, why)| *why)
}

/// "`a`, `b` or `c`", for messages that list what is allowed.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

/// What to say of an unknown field `key` where `allowed` are allowed: the
/// nearest allowed field when one is near (`did you mean`), else the list;
/// `extra` is said after the list (", or an `x-` extension").
pub fn unknown(key: &str, allowed: &[&str], extra: &str) -> String {
    match closest(allowed, key) {
        Some(near) => format!("unknown field `{key}`: did you mean `{near}`?"),
        None => format!(
            "unknown field `{key}`, expected one of {}{extra}",
            one_of(allowed)
        ),
    }
}

/// The YAML library's "unknown field `x`, expected one of `a`, `b` or
/// `c`" (serde's words for a nested field) said as [`unknown`] says it;
/// any other message as it is.
pub fn reword_unknown(message: &str) -> String {
    let Some((key, rest)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    else {
        return message.to_owned();
    };
    let Some(list) = rest
        .strip_prefix(", expected one of ")
        .or_else(|| rest.strip_prefix(", expected "))
    else {
        return message.to_owned();
    };
    let allowed: Vec<&str> = list
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| name.trim().trim_matches('`'))
        .filter(|name| !name.is_empty())
        .collect();
    if allowed.is_empty() {
        return message.to_owned();
    }
    unknown(key, &allowed, "")
}

/// The allowed name closest to a misspelt `key`, if one is near enough.
pub fn closest<'a>(names: &[&'a str], key: &str) -> Option<&'a str> {
    names
        .iter()
        .map(|name| (distance(name, key), *name))
        .filter(|(d, name)| *d <= 2 && *d < name.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// Levenshtein distance between two short names.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            previous = here;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod unknown_tests {
    use super::*;

    #[test]
    fn a_near_field_is_suggested_without_the_list() {
        assert_eq!(
            unknown("enviroment", SERVICE, ""),
            "unknown field `enviroment`: did you mean `environment`?"
        );
        let far = unknown("colour", SERVICE, ", or an `x-` extension");
        assert!(
            far.starts_with("unknown field `colour`, expected one of `image`, `build`"),
            "{far}"
        );
        assert!(far.ends_with(", or an `x-` extension"), "{far}");
    }

    #[test]
    fn serde_s_nested_unknown_fields_are_reworded() {
        assert_eq!(
            reword_unknown("unknown field `intervall`, expected one of `test`, `interval`, `timeout` or `retries`"),
            "unknown field `intervall`: did you mean `interval`?"
        );
        assert_eq!(
            reword_unknown("unknown field `zzz`, expected `service` or `file`"),
            "unknown field `zzz`, expected one of `service` or `file`"
        );
        assert_eq!(
            reword_unknown("invalid type: string"),
            "invalid type: string"
        );
    }
}
