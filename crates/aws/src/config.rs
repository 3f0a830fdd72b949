//! Credentials, region and endpoints as the AWS SDKs take them: the
//! environment first, then the shared `credentials` and `config` files
//! (`AWS_PROFILE`, `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::model::Model;
use crate::Error;

/// Keys to sign with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A role assumed with a web identity token (EKS, GitHub Actions), as
/// `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentity {
    pub role_arn: String,
    pub token_file: PathBuf,
    pub session_name: String,
}

/// Where and as whom Task states call AWS.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Static keys; without them, the web identity role is assumed.
    pub credentials: Option<Credentials>,
    pub web_identity: Option<WebIdentity>,
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`: one endpoint for every service (an emulator).
    pub endpoint_url: Option<String>,
    /// `AWS_ENDPOINT_URL_<SERVICE>`, keyed by the uppercased service id
    /// (`DYNAMODB`, `SECRETS_MANAGER`).
    pub service_endpoints: HashMap<String, String>,
}

impl Config {
    /// The configuration the process's environment and files give.
    pub fn from_env() -> Config {
        let vars: HashMap<String, String> = std::env::vars().collect();
        Config::from_vars(&vars)
    }

    /// The configuration `vars` (environment variables) and the files they
    /// name give.
    pub fn from_vars(vars: &HashMap<String, String>) -> Config {
        let get = |key: &str| vars.get(key).filter(|v| !v.is_empty()).cloned();
        let profile_name = get("AWS_PROFILE").unwrap_or_else(|| "default".into());
        let home = get("HOME").map(PathBuf::from);
        let file = |var: &str, default: &str| {
            get(var)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let credentials_file = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
            .map(|path| profile(&path, &profile_name, false))
            .unwrap_or_default();
        let config_file = file("AWS_CONFIG_FILE", "config")
            .map(|path| profile(&path, &profile_name, true))
            .unwrap_or_default();
        let from_files = |key: &str| {
            credentials_file
                .get(key)
                .or_else(|| config_file.get(key))
                .cloned()
        };
        let credentials = match (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: get("AWS_SESSION_TOKEN"),
            }),
            _ => match (
                from_files("aws_access_key_id"),
                from_files("aws_secret_access_key"),
            ) {
                (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: from_files("aws_session_token"),
                }),
                _ => None,
            },
        };
        let service_endpoints = vars
            .iter()
            .filter_map(|(k, v)| {
                let service = k.strip_prefix("AWS_ENDPOINT_URL_")?;
                (!v.is_empty()).then(|| (service.to_string(), v.clone()))
            })
            .collect();
        let web_identity = match (
            get("AWS_WEB_IDENTITY_TOKEN_FILE").or_else(|| from_files("web_identity_token_file")),
            get("AWS_ROLE_ARN").or_else(|| from_files("role_arn")),
        ) {
            (Some(token_file), Some(role_arn)) => Some(WebIdentity {
                role_arn,
                token_file: PathBuf::from(token_file),
                session_name: get("AWS_ROLE_SESSION_NAME")
                    .or_else(|| from_files("role_session_name"))
                    .unwrap_or_else(|| "windlass".into()),
            }),
            _ => None,
        };
        Config {
            credentials,
            web_identity,
            region: get("AWS_REGION")
                .or_else(|| get("AWS_DEFAULT_REGION"))
                .or_else(|| config_file.get("region").cloned()),
            endpoint_url: get("AWS_ENDPOINT_URL")
                .or_else(|| config_file.get("endpoint_url").cloned()),
            service_endpoints,
        }
    }

    /// A configuration for one endpoint (an emulator), with fixed keys.
    pub fn local(endpoint: &str, region: &str, credentials: Credentials) -> Config {
        Config {
            credentials: Some(credentials),
            web_identity: None,
            region: Some(region.into()),
            endpoint_url: Some(endpoint.into()),
            service_endpoints: HashMap::new(),
        }
    }

    pub fn region(&self) -> Result<&str, Error> {
        self.region.as_deref().ok_or(Error::NoRegion)
    }

    /// The endpoint for `model`'s service: `AWS_ENDPOINT_URL_<SERVICE>`,
    /// then `AWS_ENDPOINT_URL`, then AWS's own.
    pub fn endpoint(&self, model: &Model) -> Result<String, Error> {
        if let Some(url) = self
            .service_endpoints
            .get(&model.service_id)
            .or(self.endpoint_url.as_ref())
        {
            return Ok(url.trim_end_matches('/').to_string());
        }
        let region = self.region()?;
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        // IAM has one endpoint per partition; the others are regional.
        if model.endpoint_prefix == "iam" && suffix == "amazonaws.com" {
            return Ok("https://iam.amazonaws.com".into());
        }
        Ok(format!(
            "https://{}.{region}.{suffix}",
            model.endpoint_prefix
        ))
    }

    /// Whether `model`'s endpoint is one the configuration names (an
    /// emulator), not AWS's own.
    pub fn is_custom_endpoint(&self, model: &Model) -> bool {
        self.service_endpoints.contains_key(&model.service_id) || self.endpoint_url.is_some()
    }

    /// The region to sign with: IAM's global endpoint signs for us-east-1.
    pub fn signing_region(&self, model: &Model) -> Result<String, Error> {
        let region = self.region()?;
        if model.endpoint_prefix == "iam" && !region.starts_with("cn-") {
            return Ok("us-east-1".into());
        }
        Ok(region.into())
    }
}

/// The `key = value` lines of `[name]` (credentials) or `[profile name]`
/// (config; `[default]` in both) of an INI file; empty if unreadable.
fn profile(path: &PathBuf, name: &str, config: bool) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    parse_profile(&text, name, config)
}

fn parse_profile(text: &str, name: &str, config: bool) -> HashMap<String, String> {
    let wanted = if config && name != "default" {
        format!("profile {name}")
    } else {
        name.to_string()
    };
    let mut values = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == wanted;
            continue;
        }
        if inside {
            if let Some((key, value)) = line.split_once('=') {
                values.insert(key.trim().to_lowercase(), value.trim().to_string());
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::Service;

    #[test]
    fn profiles_and_endpoints_resolve_as_the_sdks_do() {
        let dir = std::env::temp_dir().join(format!("windlass-aws-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(
            dir.join("credentials"),
            "[default]\naws_access_key_id = D\naws_secret_access_key = d\n[work]\naws_access_key_id = W\naws_secret_access_key = w\naws_session_token = t\n",
        )
        .expect("write");
        std::fs::write(dir.join("config"), "[profile work]\nregion = eu-west-3\n").expect("write");
        let vars: HashMap<String, String> = [
            ("AWS_PROFILE", "work"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                dir.join("credentials").to_str().unwrap_or_default(),
            ),
            (
                "AWS_CONFIG_FILE",
                dir.join("config").to_str().unwrap_or_default(),
            ),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9/"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::from_vars(&vars);
        assert_eq!(
            config.credentials,
            Some(Credentials {
                access_key_id: "W".into(),
                secret_access_key: "w".into(),
                session_token: Some("t".into())
            })
        );
        assert_eq!(config.region.as_deref(), Some("eu-west-3"));
        let model = |name| Model::of(Service::named(name).expect("known")).expect("reads");
        assert_eq!(
            config.endpoint(&model("dynamodb")).ok().as_deref(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(
            config.endpoint(&model("ecr")).ok().as_deref(),
            Some("https://api.ecr.eu-west-3.amazonaws.com")
        );
        assert_eq!(
            config.endpoint(&model("iam")).ok().as_deref(),
            Some("https://iam.amazonaws.com")
        );
        assert!(config.is_custom_endpoint(&model("dynamodb")));
        assert!(!config.is_custom_endpoint(&model("sfn")));
        std::fs::remove_dir_all(&dir).ok();
    }
}
