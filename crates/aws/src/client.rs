//! Sends a service request: endpoint, SigV4 signature (AWS's `aws-sigv4`),
//! HTTP over hyper (TLS by rustls on ring), and the SDKs' standard retries
//! of throttling, 5xx answers and broken connections.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};
use rand::Rng;
use serde_json::Value as Json;

use crate::config::{Config, Credentials};
pub use crate::metadata::Metadata;
use crate::model::{Model, Operation};
use crate::protocol::{self, HttpRequest, HttpResponse};
use crate::Error;

/// RFC 3986's unreserved characters stay; everything else is encoded.
pub const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same, for one segment of a path.
pub const PATH_SEGMENT: &AsciiSet = UNRESERVED;

/// How many times a request is tried, as the SDKs' standard retry mode.
const ATTEMPTS: u32 = 3;
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// Error codes the SDKs retry as throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Calls AWS services with one configuration.
#[derive(Clone)]
pub struct Client {
    config: Arc<Config>,
    /// The web identity role's keys and when they expire.
    assumed: Arc<tokio::sync::Mutex<Option<(Credentials, SystemTime)>>>,
    /// `Err`: TLS could not be set up; every call fails saying why.
    http: Result<HttpClient, String>,
}

impl Client {
    pub fn new(config: Config) -> Client {
        Client {
            config: Arc::new(config),
            assumed: Arc::default(),
            http: https_client(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls `action` of `model`'s service with a Task's parameters and
    /// returns its result in PascalCase; `credentials` (an assumed role)
    /// replace the configured ones.
    pub async fn call(
        &self,
        model: &Model,
        action: &str,
        input: &Json,
        credentials: Option<&Credentials>,
    ) -> Result<Json, Error> {
        self.call_with_metadata(model, action, input, credentials)
            .await
            .map(|(result, _)| result)
    }

    /// Like [`Client::call`], with the answer's status and headers as the
    /// optimized integrations report them (`SdkHttpMetadata`,
    /// `SdkResponseMetadata`).
    pub async fn call_with_metadata(
        &self,
        model: &Model,
        action: &str,
        input: &Json,
        credentials: Option<&Credentials>,
    ) -> Result<(Json, Metadata), Error> {
        let keys = match credentials {
            Some(keys) => keys.clone(),
            None => self.default_credentials().await?,
        };
        self.call_inner(model, action, input, Some(&keys)).await
    }

    /// The configured keys, or those of the web identity role (assumed
    /// through STS and kept until five minutes before they expire).
    async fn default_credentials(&self) -> Result<Credentials, Error> {
        if let Some(keys) = &self.config.credentials {
            return Ok(keys.clone());
        }
        let Some(identity) = &self.config.web_identity else {
            return Err(Error::NoCredentials);
        };
        let mut cached = self.assumed.lock().await;
        if let Some((keys, expires)) = cached.as_ref() {
            if SystemTime::now() + Duration::from_secs(300) < *expires {
                return Ok(keys.clone());
            }
        }
        let token =
            std::fs::read_to_string(&identity.token_file).map_err(|e| Error::WebIdentity {
                reason: format!(
                    "the token file {} could not be read: {e}",
                    identity.token_file.display()
                ),
            })?;
        let sts = Model::of(crate::Service::named("sts").ok_or(Error::NoCredentials)?)?;
        let input = serde_json::json!({
            "RoleArn": identity.role_arn,
            "RoleSessionName": identity.session_name,
            "WebIdentityToken": token.trim(),
        });
        // AssumeRoleWithWebIdentity is not signed: the token is the proof.
        let (answer, _) = self
            .call_inner(&sts, "assumeRoleWithWebIdentity", &input, None)
            .await?;
        let text = |key: &str| {
            answer
                .pointer(&format!("/Credentials/{key}"))
                .and_then(Json::as_str)
                .map(str::to_string)
        };
        let (Some(access_key_id), Some(secret_access_key)) =
            (text("AccessKeyId"), text("SecretAccessKey"))
        else {
            return Err(Error::WebIdentity {
                reason: format!("STS gave no credentials for {}", identity.role_arn),
            });
        };
        let keys = Credentials {
            access_key_id,
            secret_access_key,
            session_token: text("SessionToken"),
        };
        let expires = text("Expiration")
            .and_then(|t| {
                time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(
                SystemTime::now() + Duration::from_secs(900),
                SystemTime::from,
            );
        *cached = Some((keys.clone(), expires));
        Ok(keys)
    }

    /// Calls with `keys`, or unsigned without.
    async fn call_inner(
        &self,
        model: &Model,
        action: &str,
        input: &Json,
        keys: Option<&Credentials>,
    ) -> Result<(Json, Metadata), Error> {
        let operation = model.operation(action)?;
        check_required(&operation, input)?;
        let request = protocol::request(model, &operation, input)?;
        let response = self.send(model, &operation, request, keys).await?;
        if (200..300).contains(&response.status) {
            let result = protocol::response(model, &operation, &response)?;
            Ok((
                result,
                Metadata {
                    status: response.status,
                    headers: response.headers,
                },
            ))
        } else {
            let found = protocol::error(model, &response);
            let request_id = ["x-amzn-requestid", "x-amz-request-id"]
                .iter()
                .find_map(|name| response.header(name))
                .map(str::to_string);
            Err(Error::Service {
                name: model.error_name(&found.code),
                prefix: model.service.errors.into(),
                code: found.code,
                message: found.message,
                status: response.status,
                request_id,
            })
        }
    }

    async fn send(
        &self,
        model: &Model,
        operation: &Operation<'_>,
        request: HttpRequest,
        credentials: Option<&Credentials>,
    ) -> Result<HttpResponse, Error> {
        let mut endpoint = self.config.endpoint(model)?;
        // AWS's own endpoints take the operation's host prefix
        // (`https://sync-states.us-east-1.amazonaws.com`); emulators are
        // called as configured, since a prefixed loopback name resolves to
        // nothing.
        if let Some(prefix) = operation.host_prefix.filter(|p| !p.contains('{')) {
            if !self.config.is_custom_endpoint(model) {
                endpoint = endpoint.replacen("://", &format!("://{prefix}"), 1);
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self
                .send_once(model, operation, &endpoint, &request, credentials)
                .await;
            let retry = match &outcome {
                Err(Error::Transport { .. }) => true,
                Err(_) => false,
                Ok(response) => {
                    response.status >= 500
                        || response.status == 429
                        || (response.status >= 400
                            && THROTTLING.contains(&protocol::error(model, response).code.as_str()))
                }
            };
            if !retry || attempt >= ATTEMPTS {
                return outcome;
            }
            // Full jitter, as the SDKs' standard mode: random(0, 1) * 2^attempt seconds.
            let backoff = Duration::from_secs_f64(
                rand::thread_rng().gen::<f64>() * 2f64.powi(attempt as i32 - 1),
            )
            .min(MAX_BACKOFF);
            tracing::debug!(
                operation = operation.name,
                attempt,
                ?backoff,
                "retrying an AWS call"
            );
            tokio::time::sleep(backoff).await;
        }
    }

    async fn send_once(
        &self,
        model: &Model,
        operation: &Operation<'_>,
        endpoint: &str,
        request: &HttpRequest,
        credentials: Option<&Credentials>,
    ) -> Result<HttpResponse, Error> {
        let http = self.http.as_ref().map_err(|reason| Error::Transport {
            operation: operation.name.into(),
            endpoint: endpoint.into(),
            reason: reason.clone(),
        })?;
        let uri = format!("{endpoint}{}", request.path);
        let signed = self.sign(model, operation, &uri, request, credentials)?;
        let transport = |reason: String| Error::Transport {
            operation: operation.name.into(),
            endpoint: endpoint.into(),
            reason,
        };
        let response = http
            .request(signed)
            .await
            .map_err(|e| transport(format!("{e:?}")))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(format!("reading the answer: {e}")))?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    fn sign(
        &self,
        model: &Model,
        operation: &Operation<'_>,
        uri: &str,
        request: &HttpRequest,
        credentials: Option<&Credentials>,
    ) -> Result<hyper::Request<Full<Bytes>>, Error> {
        let signing = |reason: String| Error::Signing {
            operation: operation.name.into(),
            reason,
        };
        let mut builder = hyper::Request::builder()
            .method(request.method.as_str())
            .uri(uri);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut signed = builder
            .body(Full::new(Bytes::from(request.body.clone())))
            .map_err(|e| Error::BadEndpoint {
                service: model.service.name.into(),
                endpoint: uri.into(),
                reason: e.to_string(),
            })?;
        let Some(keys) = credentials else {
            return Ok(signed);
        };
        let identity = aws_credential_types::Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            keys.session_token.clone(),
            None,
            "windlass",
        )
        .into();
        let mut settings = SigningSettings::default();
        if model.signing_name == "s3" {
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        let region = self.config.signing_region(model)?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name(&model.signing_name)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| signing(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            &request.method,
            uri,
            request
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&request.body),
        )
        .map_err(|e| signing(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| signing(e.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(&mut signed);
        Ok(signed)
    }
}

/// The operation's required top-level members, checked before the call so
/// the error names the parameter.
fn check_required(operation: &Operation, input: &Json) -> Result<(), Error> {
    let Some(shape) = operation.input else {
        return Ok(());
    };
    for name in shape.required() {
        let given = input.as_object().is_some_and(|fields| {
            fields
                .keys()
                .any(|key| shape.member(key).is_some_and(|m| m.name == name))
        });
        if !given {
            return Err(Error::MissingParameter {
                operation: operation.name.into(),
                name: crate::model::pascal(name),
            });
        }
    }
    Ok(())
}

/// An https-or-http client trusting the system's certificate authorities.
fn https_client() -> Result<HttpClient, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|config| {
            let config = config.with_root_certificates(roots).with_no_client_auth();
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(config)
                .https_or_http()
                .enable_http1()
                .build();
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector)
        })
        .map_err(|e| format!("TLS could not be set up: {e}"))
}
