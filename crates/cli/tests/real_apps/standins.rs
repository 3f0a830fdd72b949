//! The stand-in images of the real apps' services, built once per run from
//! Debian's packages and tagged with the exact names their Compose files
//! use, so that windlass finds them on the engine (nothing can be pulled).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A stand-in: the image name a Compose file uses, the context (`web` or
/// `db`) and its build arguments.
pub struct Standin {
    pub image: &'static str,
    pub context: &'static str,
    pub args: &'static [(&'static str, &'static str)],
}

/// Every image the test's apps use.
pub const STANDINS: &[Standin] = &[
    // awesome-compose/gitea-postgres
    Standin {
        image: "gitea/gitea:latest",
        context: "web",
        args: &[("NAME", "gitea"), ("PORT", "3000"), ("DB", "db:5432")],
    },
    Standin {
        image: "postgres:alpine",
        context: "db",
        args: &[("PORT", "5432"), ("DATA", "/var/lib/postgresql/data")],
    },
    // awesome-compose/wordpress-mysql
    Standin {
        image: "wordpress:latest",
        context: "web",
        args: &[("NAME", "wordpress"), ("PORT", "80"), ("DB", "db:3306")],
    },
    Standin {
        image: "mariadb:10.6.4-focal",
        context: "db",
        args: &[("PORT", "3306"), ("DATA", "/var/lib/mysql")],
    },
    // awesome-compose/nextcloud-postgres (its db is postgres:alpine too)
    Standin {
        image: "nextcloud:apache",
        context: "web",
        args: &[("NAME", "nextcloud"), ("PORT", "80"), ("DB", "db:5432")],
    },
    // umami
    Standin {
        image: "ghcr.io/umami-software/umami:latest",
        context: "web",
        args: &[("NAME", "umami"), ("PORT", "3000"), ("DB", "db:5432")],
    },
    Standin {
        image: "postgres:15-alpine",
        context: "db",
        args: &[("PORT", "5432"), ("DATA", "/var/lib/postgresql/data")],
    },
    // awesome-compose/flask-redis: its web service's image as the test's
    // override names it (the file builds it from a Dockerfile whose
    // `# syntax=` frontend cannot be fetched here).
    Standin {
        image: "flask-redis-web:local",
        context: "web",
        args: &[
            ("NAME", "flask-redis"),
            ("PORT", "8000"),
            ("DB", "redis:6379"),
        ],
    },
    Standin {
        image: "redislabs/redismod",
        context: "db",
        args: &[("PORT", "6379"), ("DATA", "/data")],
    },
];

fn copy(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success(), "cp {} {}", from.display(), to.display());
}

/// The build contexts of `tests/real_apps/{web,db}` under `dir`, with
/// Debian's static busybox in both and Debian's redis-server (with the
/// libraries `ldd` lists) under `db/rootfs`.
pub fn stage(dir: &Path) {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real_apps");
    for context in ["web", "db"] {
        copy(&sources.join(context), &dir.join(context));
        std::fs::copy("/bin/busybox", dir.join(context).join("busybox"))
            .expect("Debian's busybox-static (scripts/setup installs it)");
    }
    let rootfs = dir.join("db/rootfs");
    let binaries = ["/usr/bin/redis-server", "/usr/bin/redis-cli"];
    let mut files: Vec<PathBuf> = binaries.iter().map(PathBuf::from).collect();
    for binary in binaries {
        let out = Command::new("ldd")
            .arg(binary)
            .output()
            .expect("Debian's redis-server (scripts/setup installs it)");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            files.extend(
                line.split_whitespace()
                    .find(|w| w.starts_with('/'))
                    .map(PathBuf::from),
            );
        }
    }
    for file in files {
        let to = rootfs.join(file.strip_prefix("/").expect("absolute"));
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(&file, &to).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    }
}

/// Builds every stand-in (side by side; the engine caches the shared
/// layers) from the contexts `stage` wrote under `dir`.
pub fn build_all(dir: &Path) {
    let builds: Vec<_> = STANDINS
        .iter()
        .map(|standin| {
            let mut command = Command::new("docker");
            command.args(["build", "-q", "-t", standin.image]);
            for (name, value) in standin.args {
                command.args(["--build-arg", &format!("{name}={value}")]);
            }
            command
                .arg(dir.join(standin.context))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            (standin.image, command.spawn())
        })
        .collect();
    for (image, child) in builds {
        let output = child
            .and_then(|child| child.wait_with_output())
            .unwrap_or_else(|e| panic!("docker build {image}: {e}"));
        assert!(
            output.status.success(),
            "docker build {image}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
