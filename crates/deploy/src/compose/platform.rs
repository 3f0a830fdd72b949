//! `platform`: the OS and CPU a service's image is for, read as the engine
//! reads it (containerd's `platforms.Parse`): `linux/amd64`,
//! `linux/arm64/v8`, or one part alone, an OS (`linux`) or a CPU (`arm64`),
//! the other part then being the engine's own.

/// A `platform` value; a part left out is the engine's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: Option<String>,
    pub arch: Option<String>,
    pub variant: Option<String>,
}

/// The operating systems Go knows (`GOOS`): a lone part that is one of
/// these is an OS, any other a CPU.
const OSES: [&str; 14] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
];

impl Platform {
    /// Reads `os[/arch[/variant]]` or a lone CPU; the message says why not.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<String> = text.split('/').map(str::to_ascii_lowercase).collect();
        if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "platform {text:?} is not os[/arch[/variant]], like linux/amd64"
            ));
        }
        let mut parts = parts.into_iter();
        let first = parts.next().unwrap_or_default();
        if !OSES.contains(&first.as_str()) {
            if parts.next().is_some() {
                return Err(format!(
                    "platform {text:?} names no known OS first: expected os[/arch[/variant]], like linux/amd64"
                ));
            }
            return Ok(Platform {
                os: None,
                arch: Some(arch(&first)),
                variant: None,
            });
        }
        Ok(Platform {
            os: Some(first),
            arch: parts.next().map(|a| arch(&a)),
            variant: parts.next(),
        })
    }
}

/// A CPU by the name the engine reports (`x86_64` is `amd64`).
fn arch(name: &str) -> String {
    match name {
        "x86_64" | "x86-64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        "i386" => "386".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (Option<String>, Option<String>, Option<String>) {
        let p = Platform::parse(text).expect("reads");
        (p.os, p.arch, p.variant)
    }

    #[test]
    fn platforms_read_as_the_engine_reads_them() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(parts("linux/amd64"), (s("linux"), s("amd64"), None));
        assert_eq!(parts("linux/arm64/v8"), (s("linux"), s("arm64"), s("v8")));
        assert_eq!(parts("linux"), (s("linux"), None, None));
        assert_eq!(parts("Linux/x86_64"), (s("linux"), s("amd64"), None));
        assert_eq!(parts("arm64"), (None, s("arm64"), None));
        for bad in ["", "linux/", "/amd64", "a/b/c/d", "amd64/linux"] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
    }
}
