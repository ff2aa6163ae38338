//! The registry auth flows: `WWW-Authenticate` challenges, basic credentials, bearer tokens
//! from the token endpoint (cached per registry and scope until shortly before they expire).

use crate::credentials::Credentials;
use crate::error::RegistryError;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How a registry wants to be authenticated, learnt from its challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Credentials on every request.
    Basic,
    /// Tokens from `realm`, for `service`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value: a scheme and `key="value"` parameters whose
/// quoted values may contain commas (`scope="repository:a:pull,push"`).
pub(crate) fn parse_challenge(header: &str) -> Option<(String, HashMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some((scheme.to_ascii_lowercase(), params))
}

/// The scheme a challenge asks for; `None` for schemes we do not speak.
pub(crate) fn scheme_of(header: &str) -> Option<Scheme> {
    let (scheme, mut params) = parse_challenge(header)?;
    match scheme.as_str() {
        "basic" => Some(Scheme::Basic),
        "bearer" => Some(Scheme::Bearer {
            realm: params.remove("realm").filter(|r| !r.is_empty())?,
            service: params.remove("service"),
        }),
        _ => None,
    }
}

/// The answer of a token endpoint (Docker's `token` or OAuth's `access_token`).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct TokenAnswer {
    #[serde(default)]
    token: String,
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TokenAnswer {
    /// The token and how long to use it: the spec's 60 s default, minus a margin for the
    /// time requests take, never below a few seconds.
    pub(crate) fn into_token(self) -> Option<(String, Duration)> {
        let token = if self.token.is_empty() {
            self.access_token
        } else {
            self.token
        };
        if token.is_empty() {
            return None;
        }
        let secs = self.expires_in.unwrap_or(60).max(10);
        Some((token, Duration::from_secs(secs - 5)))
    }
}

/// Per-client auth state: schemes learnt per registry and tokens per (registry, scope).
#[derive(Debug, Default)]
pub(crate) struct AuthState {
    pub(crate) schemes: HashMap<String, Scheme>,
    tokens: HashMap<(String, String), (String, Instant)>,
}

impl AuthState {
    /// A cached, unexpired bearer token.
    pub(crate) fn token(&self, host: &str, scope: &str) -> Option<String> {
        let (token, until) = self.tokens.get(&(host.to_string(), scope.to_string()))?;
        (Instant::now() < *until).then(|| token.clone())
    }

    pub(crate) fn put_token(&mut self, host: &str, scope: &str, token: String, ttl: Duration) {
        self.tokens.insert(
            (host.to_string(), scope.to_string()),
            (token, Instant::now() + ttl),
        );
    }

    pub(crate) fn forget_token(&mut self, host: &str, scope: &str) {
        self.tokens.remove(&(host.to_string(), scope.to_string()));
    }
}

/// The header a request carries under `scheme` with an optional token.
pub(crate) fn basic_or_none(creds: Option<&Credentials>) -> Option<String> {
    creds.map(Credentials::basic_header)
}

/// The message of a token endpoint's refusal, without echoing anything we sent.
pub(crate) fn token_refused(host: &str, status: u16) -> RegistryError {
    let message = match status {
        401 => "incorrect username or password".to_string(),
        403 => "access to the requested resource is denied".to_string(),
        s => format!("token endpoint answered status {s}"),
    };
    RegistryError::Auth {
        registry: host.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
        let (scheme, p) = parse_challenge(h).unwrap();
        assert_eq!(scheme, "bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/busybox:pull,push");
        assert_eq!(
            scheme_of(h),
            Some(Scheme::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            scheme_of(r#"Basic realm="Registry Realm""#),
            Some(Scheme::Basic)
        );
        assert_eq!(scheme_of("basic"), Some(Scheme::Basic));
        assert_eq!(scheme_of("Bearer service=x"), None);
        assert_eq!(scheme_of("Negotiate abc"), None);
        let (_, p) = parse_challenge(r#"Bearer realm="a\"b", error=insufficient_scope"#).unwrap();
        assert_eq!(p["realm"], "a\"b");
        assert_eq!(p["error"], "insufficient_scope");
    }

    #[test]
    fn tokens_expire() {
        let answer: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        let (token, ttl) = answer.into_token().unwrap();
        assert_eq!(token, "abc");
        assert_eq!(ttl, Duration::from_secs(295));
        let mut state = AuthState::default();
        state.put_token("h", "s", token, ttl);
        assert_eq!(state.token("h", "s").as_deref(), Some("abc"));
        assert_eq!(state.token("h", "t"), None);
        state.put_token("h", "s", "old".into(), Duration::ZERO);
        assert_eq!(state.token("h", "s"), None);
        let none: TokenAnswer = serde_json::from_str("{}").unwrap();
        assert!(none.into_token().is_none());
    }
}
