//! Finding repositories: a registry's `/v2/_catalog` (paginated with `n` and `Link`), and the
//! v1 search API of an index such as Docker Hub (`GET /v1/search?q=TERM&n=LIMIT`, the one
//! docker's daemon uses), which distribution registries do not serve.

use super::{check, Client, Target};
use crate::credentials::normalize_host;
use crate::error::{RegistryError, Result};
use serde::{Deserialize, Serialize};

/// Largest catalog page or search answer read (names only: generous).
const MAX_ANSWER: u64 = 16 << 20;

/// One repository of an index search, in the index's JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// `library/busybox` is `busybox`; others `user/name`.
    pub name: String,
    /// The repository's short description.
    #[serde(default)]
    pub description: String,
    /// Stars.
    #[serde(default)]
    pub star_count: u64,
    /// A Docker official image.
    #[serde(default)]
    pub is_official: bool,
    /// Deprecated by the index; kept as sent.
    #[serde(default)]
    pub is_automated: bool,
}

/// An index's answer to a search.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchResults {
    /// The query as the index understood it.
    #[serde(default)]
    pub query: String,
    /// Matches in total (the index may send fewer).
    #[serde(default)]
    pub num_results: u64,
    /// The matches sent.
    #[serde(default)]
    pub results: Vec<SearchResult>,
}

fn read_json<T: serde::de::DeserializeOwned>(
    resp: &mut ureq::http::Response<ureq::Body>,
    what: &str,
) -> Result<T> {
    resp.body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| RegistryError::BadManifest(format!("{what}: {e}")))
}

/// The next page's URL from a `Link: <url>; rel="next"` header.
fn next_link(resp: &ureq::http::Response<ureq::Body>) -> Option<String> {
    resp.headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once('<'))
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(link, _)| link.to_string())
}

impl Client {
    /// Every repository `host` lists in `/v2/_catalog`, asking `page_size` names a page
    /// (`n`) and following `Link` until the last page. Token registries get the
    /// `registry:catalog:*` scope.
    pub fn catalog(&self, host: &str, page_size: usize) -> Result<Vec<String>> {
        let target = Target {
            host: host.to_string(),
            scopes: vec!["registry:catalog:*".to_string()],
        };
        let endpoint = self.endpoint(host);
        let mut url = format!("{endpoint}/v2/_catalog?n={page_size}");
        let mut names = Vec::new();
        // A registry answering with a Link to the same page would loop forever.
        let mut seen = std::collections::HashSet::new();
        loop {
            let what = format!("GET {url}");
            let resp = self.execute(&target, &what, true, &mut |agent, authz| {
                let mut req = agent.get(&url);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.call()
            })?;
            let mut resp = check(resp, &what)?;
            let next = next_link(&resp);
            #[derive(Deserialize)]
            struct Page {
                #[serde(default)]
                repositories: Option<Vec<String>>,
            }
            let page: Page = read_json(&mut resp, &what)?;
            names.extend(page.repositories.unwrap_or_default());
            seen.insert(url.clone());
            url = match next {
                Some(link) if link.starts_with('/') => format!("{endpoint}{link}"),
                Some(link) => link,
                None => return Ok(names),
            };
            if seen.contains(&url) {
                return Ok(names);
            }
        }
    }

    /// Searches an index's v1 API: `GET {index}/v1/search?q=TERM&n=LIMIT` with
    /// `X-Docker-Token: true`, and basic credentials when some are stored for `registry`
    /// (docker.io for Docker Hub), as docker's daemon sends them.
    pub fn search_index(
        &self,
        index: &str,
        registry: &str,
        term: &str,
        limit: usize,
    ) -> Result<SearchResults> {
        let base = index.trim_end_matches('/');
        let url = format!("{base}/v1/search");
        let limit = limit.to_string();
        let what = format!("GET {url}?q={term}");
        let creds = self.credentials(&normalize_host(registry))?;
        let host = base
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(base)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let mut attempt = 0;
        loop {
            let mut req = self
                .agent_for(&host)
                .get(&url)
                .query("q", term)
                .query("n", &limit)
                .header("X-Docker-Token", "true");
            if let Some(c) = &creds {
                req = req.header("Authorization", c.basic_header());
            }
            match req.call() {
                Ok(resp) if super::retryable_status(resp.status()) && attempt < self.retries() => {
                    std::thread::sleep(self.backoff_plain(attempt));
                }
                Ok(resp) if !resp.status().is_success() => {
                    return Err(RegistryError::Status {
                        what,
                        status: resp.status().as_u16(),
                        message: resp
                            .status()
                            .canonical_reason()
                            .unwrap_or("no explanation")
                            .to_string(),
                    })
                }
                Ok(mut resp) => return read_json(&mut resp, &what),
                Err(e) if attempt < self.retries() && super::retryable_error(&e) => {
                    std::thread::sleep(self.backoff_plain(attempt));
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        what,
                        source: Box::new(e),
                    })
                }
            }
            attempt += 1;
        }
    }
}
