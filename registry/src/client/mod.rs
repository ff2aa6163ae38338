//! The distribution-spec client: one [`Client`] per command, shared by threads.
//!
//! Built on `ureq` (blocking, rustls): request and response bodies are plain `Read`/`Write`
//! streams, so blobs of any size pass with bounded memory and no async runtime.
//! Every request goes through [`Client::execute`], which adds auth (answering the registry's
//! challenge once) and retries transport errors, 5xx and 429 with backoff and jitter.

mod auth;
mod blobs;
mod manifests;
mod search;
mod upload;

pub use manifests::Manifest;
pub use search::{SearchResult, SearchResults};
pub use upload::BlobPush;

use crate::credentials::{normalize_host, AuthFile, Credentials};
use crate::error::{RegistryError, Result};
use crate::Reference;
use auth::{AuthState, Scheme};
use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{Response, StatusCode};
use ureq::Body;

/// How a [`Client`] reaches registries.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Registries (`host[:port]`) reached over plain HTTP or unverified TLS, besides
    /// localhost and 127.0.0.0/8.
    pub insecure_registries: Vec<String>,
    /// Verify TLS certificates (buildah's `--tls-verify`).
    pub tls_verify: bool,
    /// The credentials file (`--authfile`); `None` for the default lookup.
    pub auth_file: Option<PathBuf>,
    /// Credentials to use instead of the file's (for `login`).
    pub credentials: Option<Credentials>,
    /// Attempts per request beyond the first, on retryable failures.
    pub retries: u32,
    /// The first backoff delay; it doubles per retry (with jitter), at most 10 s.
    pub backoff: Duration,
    /// Blobs of at least this many bytes are uploaded in chunks (`PATCH`); smaller ones in
    /// one `PUT`.
    pub chunk_threshold: u64,
    /// Bytes per `PATCH` of a chunked upload; 0 uploads every blob in one `PUT`.
    pub chunk_size: u64,
}

/// Default [`ClientOptions::chunk_threshold`]: below it a failed upload costs little to redo.
pub const DEFAULT_CHUNK_THRESHOLD: u64 = 256 << 20;
/// Default [`ClientOptions::chunk_size`]: a lost chunk costs at most this much to resend.
pub const DEFAULT_CHUNK_SIZE: u64 = 64 << 20;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            insecure_registries: Vec::new(),
            tls_verify: true,
            auth_file: None,
            credentials: None,
            retries: 4,
            backoff: Duration::from_millis(250),
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// A registry client; `Sync`, so layers can move on several threads at once.
pub struct Client {
    options: ClientOptions,
    verified: ureq::Agent,
    unverified: ureq::Agent,
    auth_file: AuthFile,
    auth: Mutex<AuthState>,
    endpoints: Mutex<HashMap<String, String>>,
}

/// Builds and sends one attempt of a request, given the `Authorization` value to carry.
pub(crate) type SendFn<'a> =
    dyn FnMut(&ureq::Agent, Option<&str>) -> Result<Response<Body>, ureq::Error> + 'a;

/// What a request is for: the registry, the repository scope the token must cover.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The reference's domain (`docker.io`, `127.0.0.1:5000`).
    pub(crate) host: String,
    /// Token scopes, e.g. `repository:library/busybox:pull`.
    pub(crate) scopes: Vec<String>,
}

impl Target {
    pub(crate) fn pull(reference: &Reference) -> Target {
        Target {
            host: reference.domain().to_string(),
            scopes: vec![format!("repository:{}:pull", reference.path())],
        }
    }

    pub(crate) fn push(reference: &Reference) -> Target {
        Target {
            host: reference.domain().to_string(),
            scopes: vec![format!("repository:{}:pull,push", reference.path())],
        }
    }

    fn scope_key(&self) -> String {
        self.scopes.join(" ")
    }
}

/// True for hosts docker reaches without TLS verification by default.
fn is_local(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name == "localhost" || name == "::1" {
        return true;
    }
    match name.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => ip.octets()[0] == 127,
        Err(_) => false,
    }
}

impl Client {
    /// A client with `options`; reads the credentials file now (a broken file is an error).
    pub fn new(options: ClientOptions) -> Result<Client> {
        let auth_file = AuthFile::load(crate::credentials::auth_file_path(
            options.auth_file.as_deref(),
        ))?;
        Ok(Client {
            verified: agent(true),
            unverified: agent(false),
            options,
            auth_file,
            auth: Mutex::new(AuthState::default()),
            endpoints: Mutex::new(HashMap::new()),
        })
    }

    fn insecure(&self, host: &str) -> bool {
        let host = normalize_host(host);
        !self.options.tls_verify
            || is_local(&host)
            || self
                .options
                .insecure_registries
                .iter()
                .any(|r| normalize_host(r) == host)
    }

    fn agent_for(&self, host: &str) -> &ureq::Agent {
        if self.insecure(host) {
            &self.unverified
        } else {
            &self.verified
        }
    }

    /// `scheme://host` for a reference domain: Docker Hub's API host for `docker.io`; for
    /// insecure registries HTTPS (unverified) when it answers, plain HTTP otherwise.
    pub(crate) fn endpoint(&self, host: &str) -> String {
        let host = normalize_host(host);
        let api_host = if host == "docker.io" {
            "registry-1.docker.io".to_string()
        } else {
            host.clone()
        };
        if !self.insecure(&host) {
            return format!("https://{api_host}");
        }
        if let Some(known) = self.endpoints.lock().expect("endpoint cache").get(&host) {
            return known.clone();
        }
        let https = format!("https://{api_host}");
        let chosen = match self.unverified.get(format!("{https}/v2/")).call() {
            Ok(_) => https,
            Err(_) => format!("http://{api_host}"),
        };
        tracing::debug!("registry {host}: using {chosen}");
        self.endpoints
            .lock()
            .expect("endpoint cache")
            .insert(host, chosen.clone());
        chosen
    }

    fn credentials(&self, host: &str) -> Result<Option<Credentials>> {
        if let Some(creds) = &self.options.credentials {
            return Ok(Some(creds.clone()));
        }
        self.auth_file.get(host)
    }

    /// The `Authorization` value for `target` as far as known now (fetching a token when the
    /// registry is known to want one).
    fn authorization(&self, target: &Target) -> Result<Option<String>> {
        let host = normalize_host(&target.host);
        let scheme = self
            .auth
            .lock()
            .expect("auth state")
            .schemes
            .get(&host)
            .cloned();
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(auth::basic_or_none(self.credentials(&host)?.as_ref())),
            Some(Scheme::Bearer { realm, service }) => {
                let key = target.scope_key();
                if let Some(token) = self.auth.lock().expect("auth state").token(&host, &key) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let (token, ttl) = self.fetch_token(&host, &realm, service.as_deref(), target)?;
                self.auth
                    .lock()
                    .expect("auth state")
                    .put_token(&host, &key, token.clone(), ttl);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// GETs a token from the realm (with basic credentials when we have some).
    fn fetch_token(
        &self,
        host: &str,
        realm: &str,
        service: Option<&str>,
        target: &Target,
    ) -> Result<(String, Duration)> {
        let creds = self.credentials(host)?;
        let what = format!("GET token from {realm}");
        let mut attempt = 0;
        loop {
            let mut req = self.agent_for(host).get(realm);
            if let Some(service) = service {
                req = req.query("service", service);
            }
            for scope in &target.scopes {
                req = req.query("scope", scope);
            }
            if let Some(creds) = &creds {
                req = req.header("Authorization", creds.basic_header());
            }
            let delay = match req.call() {
                Ok(mut resp) if resp.status().is_success() => {
                    let answer: auth::TokenAnswer = resp
                        .body_mut()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .map_err(|e| e.to_string())
                        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                        .map_err(|e| RegistryError::Auth {
                            registry: host.to_string(),
                            message: format!("unreadable token answer: {e}"),
                        })?;
                    return answer.into_token().ok_or_else(|| RegistryError::Auth {
                        registry: host.to_string(),
                        message: "the token endpoint sent no token".into(),
                    });
                }
                Ok(resp) if retryable_status(resp.status()) && attempt < self.options.retries => {
                    self.backoff(attempt, &resp)
                }
                Ok(resp) => return Err(auth::token_refused(host, resp.status().as_u16())),
                Err(e) if attempt < self.options.retries && retryable_error(&e) => {
                    self.backoff_plain(attempt)
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        what,
                        source: Box::new(e),
                    })
                }
            };
            attempt += 1;
            std::thread::sleep(delay);
        }
    }

    /// Sends a request built by `send` (given the `Authorization` value to carry), answering
    /// one auth challenge and retrying retryable failures when `retry` is set. Returns the
    /// final response whatever its status; callers map statuses with [`check`].
    pub(crate) fn execute(
        &self,
        target: &Target,
        what: &str,
        retry: bool,
        send: &mut SendFn<'_>,
    ) -> Result<Response<Body>> {
        let host = normalize_host(&target.host);
        let mut attempt = 0u32;
        let mut challenged = false;
        loop {
            let authorization = self.authorization(target)?;
            tracing::debug!("{what}");
            let delay = match send(self.agent_for(&host), authorization.as_deref()) {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !challenged => {
                    challenged = true;
                    let header = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    let Some(scheme) = auth::scheme_of(header) else {
                        return Ok(resp);
                    };
                    let mut state = self.auth.lock().expect("auth state");
                    // A fresh token is needed either way: the old one was refused.
                    state.forget_token(&host, &target.scope_key());
                    let known = state.schemes.insert(host.clone(), scheme.clone());
                    drop(state);
                    if known.as_ref() == Some(&scheme)
                        && scheme == Scheme::Basic
                        && authorization.is_some()
                    {
                        return Ok(resp);
                    }
                    continue;
                }
                Ok(resp) if retry && retryable_status(resp.status()) => {
                    if attempt >= self.options.retries {
                        return Ok(resp);
                    }
                    tracing::info!("{what}: status {}, retrying", resp.status().as_u16());
                    self.backoff(attempt, &resp)
                }
                Ok(resp) => return Ok(resp),
                Err(e) if retry && attempt < self.options.retries && retryable_error(&e) => {
                    tracing::info!("{what}: {e}, retrying");
                    self.backoff_plain(attempt)
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        what: what.to_string(),
                        source: Box::new(e),
                    })
                }
            };
            attempt += 1;
            std::thread::sleep(delay);
        }
    }

    /// Delay before retry `attempt`: `Retry-After` when the server sent one (at most 60 s).
    fn backoff(&self, attempt: u32, resp: &Response<Body>) -> Duration {
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        match retry_after {
            Some(secs) => Duration::from_secs(secs.min(60)),
            None => self.backoff_plain(attempt),
        }
    }

    /// Exponential backoff with jitter (50-100% of the doubled delay), capped at 10 s.
    pub(crate) fn backoff_plain(&self, attempt: u32) -> Duration {
        let base = self.options.backoff.saturating_mul(1 << attempt.min(10));
        let base = base.min(Duration::from_secs(10));
        base.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }

    pub(crate) fn retries(&self) -> u32 {
        self.options.retries
    }

    /// `GET /v2/`: the registry speaks the distribution API and accepts our credentials
    /// (checked through its token endpoint when it uses tokens). Used by `login`.
    pub fn check(&self, host: &str) -> Result<()> {
        let target = Target {
            host: host.to_string(),
            scopes: Vec::new(),
        };
        let url = format!("{}/v2/", self.endpoint(host));
        let what = format!("GET {url}");
        let resp = self.execute(&target, &what, true, &mut |agent, authz| {
            let mut req = agent.get(&url);
            if let Some(a) = authz {
                req = req.header("Authorization", a);
            }
            req.call()
        })?;
        check(resp, &what).map(drop)
    }
}

fn agent(verify: bool) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(system_roots())
        .disable_verification(!verify)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .tls_config(tls)
        .build()
        .new_agent()
}

/// The system's CA bundle (Debian's ca-certificates) plus docker's `/etc/docker/certs.d/*/ca.crt`;
/// Mozilla's roots when the system has none.
fn system_roots() -> ureq::tls::RootCerts {
    let mut certs = Vec::new();
    let mut files = vec![PathBuf::from("/etc/ssl/certs/ca-certificates.crt")];
    if let Ok(dirs) = std::fs::read_dir("/etc/docker/certs.d") {
        files.extend(dirs.flatten().map(|d| d.path().join("ca.crt")));
    }
    for file in files {
        let Ok(pem) = std::fs::read(&file) else {
            continue;
        };
        for item in ureq::tls::parse_pem(&pem).flatten() {
            if let ureq::tls::PemItem::Certificate(cert) = item {
                certs.push(cert);
            }
        }
    }
    if certs.is_empty() {
        ureq::tls::RootCerts::WebPki
    } else {
        ureq::tls::RootCerts::from(certs)
    }
}

fn retryable_status(status: StatusCode) -> bool {
    status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

fn retryable_error(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
    )
}

/// Maps a final response to an error unless it is a success; reads the registry's
/// `errors` body (bounded) for the message.
pub(crate) fn check(resp: Response<Body>, what: &str) -> Result<Response<Body>> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    Err(status_error(resp, what))
}

/// The error a non-success response stands for.
pub(crate) fn status_error(mut resp: Response<Body>, what: &str) -> RegistryError {
    let status = resp.status();
    let mut text = String::new();
    let _ = resp
        .body_mut()
        .as_reader()
        .take(64 * 1024)
        .read_to_string(&mut text);
    // HEAD answers have no body: say what docker says for the common refusals.
    let message = error_message(&text).unwrap_or_else(|| match status.as_u16() {
        401 => "authentication required".to_string(),
        403 => "requested access to the resource is denied".to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("no explanation")
            .to_string(),
    });
    let what = what.to_string();
    match status.as_u16() {
        401 => RegistryError::Unauthorized { what, message },
        403 => RegistryError::Denied { what, message },
        404 => RegistryError::NotFound { what, message },
        code => RegistryError::Status {
            what,
            status: code,
            message,
        },
    }
}

/// The messages of a distribution `{"errors":[{"code","message"}]}` body.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let errors = value.get("errors")?.as_array()?;
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
            let code = e.get("code").and_then(|m| m.as_str()).unwrap_or("");
            match (code.is_empty(), message.is_empty()) {
                (false, false) => format!("{message} ({code})"),
                (true, _) => message.to_string(),
                (false, true) => code.to_string(),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:40000",
            "127.1.2.3",
            "[::1]:80",
        ] {
            assert!(is_local(h), "{h}");
        }
        for h in [
            "docker.io",
            "128.0.0.1",
            "example.com:127",
            "localhost.example",
        ] {
            assert!(!is_local(h), "{h}");
        }
    }

    #[test]
    fn error_bodies() {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("authentication required (UNAUTHORIZED)")
        );
        assert_eq!(error_message("<html>"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let client = Client::new(ClientOptions {
            auth_file: Some("/nonexistent/config.json".into()),
            ..Default::default()
        })
        .unwrap();
        let first = client.backoff_plain(0);
        assert!(first >= Duration::from_millis(125) && first <= Duration::from_millis(250));
        assert!(client.backoff_plain(30) <= Duration::from_secs(10));
    }
}
