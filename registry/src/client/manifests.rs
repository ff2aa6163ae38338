//! Manifests and indexes (OCI and Docker schema 2): fetch with the digest checked, push
//! as given bytes (so the digest is the caller's), existence checks, and tag listing.

use super::{check, Client, Target};
use crate::error::{RegistryError, Result};
use crate::Reference;
use std::io::Read;
use strata_cache::oci::media_type;
use strata_cache::Digest;

/// The largest manifest accepted (the distribution registry's own limit is 4 MiB).
const MAX_MANIFEST: u64 = 4 << 20;

/// The media types pull accepts, best first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A manifest or index as the registry serves it: the exact bytes and their digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The media type (from the document, else the `Content-Type` header).
    pub media_type: String,
    /// sha256 of `bytes`.
    pub digest: Digest,
    /// The document as served.
    pub bytes: Vec<u8>,
}

impl Manifest {
    /// True for an OCI index or Docker manifest list.
    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }
}

/// `tag` or `digest` of a reference as the URL's last segment (`latest` when it has neither).
fn reference_part(reference: &Reference) -> String {
    reference
        .digest()
        .or(reference.tag())
        .unwrap_or("latest")
        .to_string()
}

impl Client {
    fn manifest_url(&self, reference: &Reference, part: &str) -> String {
        format!(
            "{}/v2/{}/manifests/{part}",
            self.endpoint(reference.domain()),
            reference.path()
        )
    }

    /// Fetches the manifest or index `reference` names (by digest, else tag, else `latest`).
    /// The bytes must hash to the reference's digest, and to `Docker-Content-Digest` when
    /// the registry sends one.
    pub fn get_manifest(&self, reference: &Reference) -> Result<Manifest> {
        self.get_manifest_at(reference, &reference_part(reference))
    }

    /// Fetches the manifest `digest` of the repository `reference` names.
    pub fn get_manifest_by_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Manifest> {
        self.get_manifest_at(reference, &digest.to_string())
    }

    fn get_manifest_at(&self, reference: &Reference, part: &str) -> Result<Manifest> {
        let url = self.manifest_url(reference, part);
        let what = format!("GET {url}");
        let resp = self.execute(
            &Target::pull(reference),
            &what,
            true,
            &mut |agent, authz| {
                let mut req = agent.get(&url).header("Accept", ACCEPT);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.call()
            },
        )?;
        let mut resp = check(resp, &what)?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let mut bytes = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| RegistryError::io(&what, e))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(RegistryError::BadManifest(format!(
                "{what}: manifest larger than {MAX_MANIFEST} bytes"
            )));
        }
        let digest = Digest::of_bytes(&bytes);
        let expected = match part.parse::<Digest>() {
            Ok(d) => Some(d),
            Err(_) => header_digest,
        };
        if let Some(expected) = expected {
            if expected != digest {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected,
                    expected_size: 0,
                    actual: digest,
                    actual_size: bytes.len() as u64,
                });
            }
        }
        let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
            .map_err(|e| RegistryError::BadManifest(format!("{what}: not JSON: {e}")))?
            .get("mediaType")
            .and_then(|m| m.as_str())
            .map(str::to_owned);
        let media_type = declared
            .or(content_type)
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
        if !media_type::is_manifest(&media_type) && !media_type::is_index(&media_type) {
            return Err(RegistryError::BadManifest(format!(
                "{what}: unsupported manifest type {media_type}"
            )));
        }
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// `HEAD` a manifest: its digest when it exists, `None` on 404.
    pub fn manifest_digest(&self, reference: &Reference) -> Result<Option<Digest>> {
        let url = self.manifest_url(reference, &reference_part(reference));
        let what = format!("HEAD {url}");
        let resp = self.execute(
            &Target::pull(reference),
            &what,
            true,
            &mut |agent, authz| {
                let mut req = agent.head(&url).header("Accept", ACCEPT);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.call()
            },
        )?;
        if resp.status() == 404 {
            return Ok(None);
        }
        let resp = check(resp, &what)?;
        let digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok())
            .ok_or_else(|| {
                RegistryError::BadManifest(format!("{what}: no Docker-Content-Digest header"))
            })?;
        Ok(Some(digest))
    }

    /// Uploads manifest `bytes` of `media_type` under the tag (or digest) of `reference`;
    /// returns their digest (checked against the registry's answer).
    pub fn put_manifest(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest> {
        let digest = Digest::of_bytes(bytes);
        let url = self.manifest_url(reference, &reference_part(reference));
        let what = format!("PUT {url}");
        let resp = self.execute(
            &Target::push(reference),
            &what,
            true,
            &mut |agent, authz| {
                let mut req = agent.put(&url).header("Content-Type", media_type);
                if let Some(a) = authz {
                    req = req.header("Authorization", a);
                }
                req.send(bytes)
            },
        )?;
        let resp = check(resp, &what)?;
        let answered = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<Digest>().ok());
        if let Some(answered) = answered {
            if answered != digest {
                return Err(RegistryError::DigestMismatch {
                    what,
                    expected: digest,
                    expected_size: bytes.len() as u64,
                    actual: answered,
                    actual_size: 0,
                });
            }
        }
        Ok(digest)
    }

    /// The repository's tags, following `Link` pagination.
    pub fn list_tags(&self, reference: &Reference) -> Result<Vec<String>> {
        let endpoint = self.endpoint(reference.domain());
        let mut url = format!("{endpoint}/v2/{}/tags/list", reference.path());
        let mut tags = Vec::new();
        loop {
            let what = format!("GET {url}");
            let resp = self.execute(
                &Target::pull(reference),
                &what,
                true,
                &mut |agent, authz| {
                    let mut req = agent.get(&url);
                    if let Some(a) = authz {
                        req = req.header("Authorization", a);
                    }
                    req.call()
                },
            )?;
            let mut resp = check(resp, &what)?;
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(link, _)| link.to_string());
            #[derive(serde::Deserialize)]
            struct TagList {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let page: TagList = resp
                .body_mut()
                .with_config()
                .limit(MAX_MANIFEST)
                .read_to_vec()
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
                .map_err(|e| RegistryError::BadManifest(format!("{what}: {e}")))?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(link) if link.starts_with('/') => url = format!("{endpoint}{link}"),
                Some(link) => url = link,
                None => return Ok(tags),
            }
        }
    }
}
