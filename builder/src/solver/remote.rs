//! `ADD https://...`: a file fetched over HTTP(S), with BuildKit's rules (dockerfile2llb's
//! `dispatchCopy` and its HTTP source):
//! - the file is named after the URL path's last element (`__unnamed__` when there is none)
//!   inside a destination that ends with `/` or is a directory, else it is the destination;
//! - mode 0600 unless `--chmod`, owner root unless `--chown`, mtime from `Last-Modified`;
//! - never unpacked, even when it is an archive;
//! - `--checksum=sha256:...` is verified while the body streams to disk, and it is the
//!   cache key: a build that has the result never fetches. Without it the file is fetched
//!   on every build and its content digest is the key (BuildKit does the same), except that
//!   a URL seen before is asked for with `If-None-Match`/`If-Modified-Since`: a 304 gives
//!   the key without a download, and a cache hit then never downloads at all.
//!
//! TLS is always verified, against the system's roots plus `$SSL_CERT_FILE`. Git URLs are
//! refused.

use super::copy::set_mtime;
use super::key::KeyBuilder;
use super::ops::{Inputs, Op, OpEnv, Output};
use super::rootfs::resolve_user;
use super::scoped;
use super::SolveError;
use crate::dockerfile::instructions::Copy;
use crate::graph::Step;
use sha2::Digest as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use strata_cache::CacheKey;

/// Whether `src` is an HTTP(S) URL.
pub fn is_http(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// Whether `src` is a Git repository as BuildKit recognises one.
pub fn is_git(src: &str) -> bool {
    if src.starts_with("git://") || src.starts_with("git@") || src.starts_with("ssh://") {
        return true;
    }
    let path = src.split('#').next().unwrap_or(src);
    is_http(src) && (path.ends_with(".git") || path.contains(".git/") || src.contains(".git#"))
}

/// The name BuildKit gives a fetched file: the URL path's base name.
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map_or("", |(_, p)| p);
    match path.trim_end_matches('/').rsplit('/').next() {
        Some(base) if !base.is_empty() && base != "." => base.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// An expected digest from `--checksum`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Checksum {
    algorithm: &'static str,
    hex: String,
}

fn parse_checksum(s: &str) -> Result<Checksum, SolveError> {
    let bad = || {
        SolveError::Copy(format!(
            "invalid checksum digest format {s:?}: expected sha256:HEX or sha512:HEX"
        ))
    };
    let (alg, hex) = s.split_once(':').ok_or_else(bad)?;
    let (algorithm, len) = match alg {
        "sha256" => ("sha256", 64),
        "sha512" => ("sha512", 128),
        _ => return Err(bad()),
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(bad());
    }
    Ok(Checksum {
        algorithm,
        hex: hex.to_string(),
    })
}

/// A URL's content: downloaded into the step's temp area, or known unchanged from an
/// earlier build (the server answered 304 to a conditional request) and not fetched yet.
struct Fetched {
    file: Option<(tempfile::TempDir, PathBuf)>,
    sha256: String,
    mtime: Option<i64>,
}

/// What strata remembers of a URL between builds (`ETag`, `Last-Modified` and the digest of
/// what they described), to ask the server whether it changed instead of fetching it.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Validators {
    url: String,
    etag: Option<String>,
    last_modified: Option<String>,
    sha256: String,
    mtime: Option<i64>,
}

fn validators_path(store: &strata_cache::Store, url: &str) -> PathBuf {
    let name = strata_cache::Digest::of_bytes(url.as_bytes()).hex();
    store
        .metadata_dir()
        .join("http-cache")
        .join(format!("{name}.json"))
}

fn load_validators(path: &Path, url: &str) -> Option<Validators> {
    let v: Validators = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    (v.url == url).then_some(v)
}

/// Best effort (a lost record only costs a download): temp file, then rename.
fn save_validators(path: &Path, v: &Validators) {
    let Some(dir) = path.parent() else { return };
    let _ = fs::create_dir_all(dir);
    if let Ok(mut tmp) = tempfile::NamedTempFile::new_in(dir) {
        if serde_json::to_writer(&mut tmp, v).is_ok() {
            let _ = tmp.persist(path);
        }
    }
}

/// ADD of one or more URLs.
pub struct AddUrlOp {
    step: Step,
    copy: Copy,
    /// Fetched while computing the key (no checksum), reused by `exec`.
    fetched: Mutex<Vec<Fetched>>,
}

impl AddUrlOp {
    /// The op for `copy` (an ADD whose sources are URLs).
    pub fn new(step: Step, copy: Copy) -> AddUrlOp {
        AddUrlOp {
            step,
            copy,
            fetched: Mutex::new(Vec::new()),
        }
    }

    fn check_sources(&self) -> Result<(), SolveError> {
        if let Some(git) = self.copy.sources.iter().find(|s| is_git(s)) {
            return Err(SolveError::Unsupported(format!(
                "ADD of a Git repository ({git}) is not supported: clone it in a RUN step, or ADD an archive URL"
            )));
        }
        if self.copy.sources.iter().any(|s| !is_http(s)) {
            return Err(SolveError::Unsupported(
                "ADD mixing URLs and local files is not supported: use one ADD for the URLs and another for the files".into(),
            ));
        }
        Ok(())
    }

    /// Learns each URL's content digest: by a conditional request when an earlier build
    /// recorded the URL's validators (a 304 downloads nothing), else by downloading it.
    fn fetch_all(&self, env: &OpEnv<'_>) -> Result<(), SolveError> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        if !fetched.is_empty() {
            return Ok(());
        }
        for url in &self.copy.sources {
            fetched.push(self.fetch_one(env, url, true, None)?);
        }
        Ok(())
    }

    fn fetch_one(
        &self,
        env: &OpEnv<'_>,
        url: &str,
        conditional: bool,
        expected_sha256: Option<&str>,
    ) -> Result<Fetched, SolveError> {
        let store = env.ctx.shared.store;
        let checksum = self
            .copy
            .checksum
            .as_deref()
            .map(parse_checksum)
            .transpose()?;
        let record = validators_path(store, url);
        let known = if conditional && checksum.is_none() {
            load_validators(&record, url)
        } else {
            None
        };
        let tmp_parent = store.tmp_dir();
        fs::create_dir_all(&tmp_parent)
            .map_err(|e| SolveError::Io(tmp_parent.display().to_string(), e))?;
        let dir = tempfile::Builder::new()
            .prefix("fetch-")
            .tempdir_in(&tmp_parent)
            .map_err(|e| SolveError::Io(tmp_parent.display().to_string(), e))?;
        let path = dir.path().join("file");
        let got = download(
            url,
            &path,
            checksum.as_ref(),
            known.as_ref(),
            &env.ctx.shared.request.cancel,
        )?;
        let Some(got) = got else {
            let known = known.ok_or_else(|| {
                SolveError::Copy(format!("failed to load {url}: unexpected 304 Not Modified"))
            })?;
            return Ok(Fetched {
                file: None,
                sha256: known.sha256,
                mtime: known.mtime,
            });
        };
        if let Some(want) = expected_sha256 {
            if want != got.sha256 {
                return Err(SolveError::Copy(format!(
                    "{url} changed during the build (sha256:{want}, now sha256:{})",
                    got.sha256
                )));
            }
        }
        if checksum.is_none() && (got.etag.is_some() || got.last_modified.is_some()) {
            save_validators(
                &record,
                &Validators {
                    url: url.to_string(),
                    etag: got.etag,
                    last_modified: got.last_modified,
                    sha256: got.sha256.clone(),
                    mtime: got.mtime,
                },
            );
        }
        Ok(Fetched {
            file: Some((dir, path)),
            sha256: got.sha256,
            mtime: got.mtime,
        })
    }
}

impl Op for AddUrlOp {
    fn makes_layer(&self) -> bool {
        true
    }

    fn cache_key(
        &self,
        env: &OpEnv<'_>,
        parent: &CacheKey,
    ) -> Result<(CacheKey, Inputs), SolveError> {
        self.check_sources()?;
        let step = &self.step;
        let mut key = KeyBuilder::new("add-url", Some(parent));
        key.field("instruction", step.command.code.as_bytes())
            .field("workdir", step.workdir.as_bytes());
        let mut inputs = Inputs::new();
        inputs.insert("instruction".into(), step.command.code.clone());
        let sources = match &self.copy.checksum {
            // The checksum names the content: no need to fetch to know the key.
            Some(sum) => {
                parse_checksum(sum)?;
                vec![sum.clone()]
            }
            None => {
                self.fetch_all(env)?;
                self.fetched
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|f| format!("sha256:{} {:?}", f.sha256, f.mtime))
                    .collect()
            }
        };
        key.list("contents", &sources);
        inputs.insert("sources".into(), sources.join("\n"));
        Ok((key.finish(), inputs))
    }

    fn exec(
        &self,
        env: &OpEnv<'_>,
        lowers: &[PathBuf],
        _scratch: &Path,
        tree: &Path,
    ) -> Result<Output, SolveError> {
        self.check_sources()?;
        self.fetch_all(env)?;
        // What a 304 answered at key time is fetched now (and must still be the same).
        {
            let mut fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
            for (url, slot) in self.copy.sources.iter().zip(fetched.iter_mut()) {
                if slot.file.is_none() {
                    *slot = self.fetch_one(env, url, false, Some(&slot.sha256))?;
                }
            }
        }
        let owner = match &self.copy.chown {
            Some(spec) => {
                let (uid, gid, _) = resolve_user(lowers, spec)?;
                (uid, gid)
            }
            None => (0, 0),
        };
        let mode = match &self.copy.chmod {
            Some(m) => u32::from_str_radix(m, 8).map_err(|_| {
                SolveError::Unsupported(format!("--chmod={m}: only octal modes are supported"))
            })?,
            None => 0o600,
        };
        // Symlinks on the way are followed inside the image, as BuildKit does.
        let dest =
            scoped::resolve_dest(lowers, &absolute_dest(&self.copy.dest, &self.step.workdir))?;
        let into_dir =
            dest.ends_with('/') || scoped::dir_meta(lowers, dest.trim_end_matches('/')).is_some();
        if self.copy.sources.len() > 1 && !into_dir {
            return Err(SolveError::Copy(
                "When using ADD with more than one source file, the destination must be a directory and end with a /".into(),
            ));
        }
        let fetched = self.fetched.lock().unwrap_or_else(|e| e.into_inner());
        for (url, file) in self.copy.sources.iter().zip(fetched.iter()) {
            let target = if into_dir {
                format!("{}/{}", dest.trim_end_matches('/'), file_name(url))
            } else {
                dest.clone()
            };
            let parent = Path::new(&target)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            scoped::mkdir_all(tree, lowers, &parent, owner)?;
            let host = tree.join(target.trim_start_matches('/'));
            if fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir()) {
                return Err(SolveError::Copy(format!(
                    "cannot replace directory {target} with a file"
                )));
            }
            let (_, source) = file
                .file
                .as_ref()
                .ok_or_else(|| SolveError::Internal(format!("{url} was not fetched")))?;
            // The download is on the store's file system: moved, not copied, when it can be.
            if fs::rename(source, &host).is_err() {
                fs::copy(source, &host)
                    .map_err(|e| SolveError::Io(host.display().to_string(), e))?;
            }
            std::os::unix::fs::lchown(&host, Some(owner.0), Some(owner.1))
                .map_err(|e| SolveError::Io(host.display().to_string(), e))?;
            fs::set_permissions(&host, fs::Permissions::from_mode(mode))
                .map_err(|e| SolveError::Io(host.display().to_string(), e))?;
            if let Some(mtime) = file.mtime {
                set_mtime(&host, mtime, 0)?;
            }
        }
        Ok(Output::Dir { overlay: false })
    }
}

fn absolute_dest(dest: &str, workdir: &str) -> String {
    let keep_slash = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{dest}", workdir.trim_end_matches('/'))
    };
    let mut clean = crate::context::clean(&joined);
    if !clean.starts_with('/') {
        clean.insert(0, '/');
    }
    if keep_slash && !clean.ends_with('/') {
        clean.push('/');
    }
    clean
}

/// The system's CA bundle plus `$SSL_CERT_FILE`; Mozilla's roots when neither has any.
fn roots() -> ureq::tls::RootCerts {
    let mut files = vec![PathBuf::from("/etc/ssl/certs/ca-certificates.crt")];
    if let Some(extra) = std::env::var_os("SSL_CERT_FILE") {
        files.push(PathBuf::from(extra));
    }
    let mut certs = Vec::new();
    for file in files {
        let Ok(pem) = fs::read(&file) else { continue };
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

fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots()).build();
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

/// What a download brought.
struct Download {
    sha256: String,
    mtime: Option<i64>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Streams `url` into `dest`, hashing as it goes. With `expected`, a different digest fails
/// (and `dest` is removed). With `known` validators the request is conditional, and `None`
/// means the server answered 304 Not Modified.
fn download(
    url: &str,
    dest: &Path,
    expected: Option<&Checksum>,
    known: Option<&Validators>,
    cancel: &crate::sandbox::CancelToken,
) -> Result<Option<Download>, SolveError> {
    let failed = |what: String| SolveError::Copy(format!("failed to load {url}: {what}"));
    let mut request = agent().get(url);
    if let Some(v) = known {
        if let Some(etag) = &v.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(date) = &v.last_modified {
            request = request.header("If-Modified-Since", date);
        }
    }
    let resp = request.call().map_err(|e| failed(e.to_string()))?;
    let status = resp.status();
    if status.as_u16() == 304 && known.is_some() {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(failed(format!(
            "invalid response status {}",
            status.as_u16()
        )));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let last_modified = header("last-modified");
    let etag = header("etag");
    let mtime = last_modified
        .as_deref()
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map(|t| t.timestamp());
    let mut body = resp.into_body().into_reader();
    let mut file =
        fs::File::create(dest).map_err(|e| SolveError::Io(dest.display().to_string(), e))?;
    let mut sha256 = sha2::Sha256::new();
    let mut sha512 = expected
        .filter(|c| c.algorithm == "sha512")
        .map(|_| sha2::Sha512::new());
    let mut buf = vec![0u8; 1 << 16];
    loop {
        if cancel.is_cancelled() {
            return Err(SolveError::Cancelled);
        }
        let n = body.read(&mut buf).map_err(|e| failed(e.to_string()))?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        if let Some(h) = sha512.as_mut() {
            h.update(&buf[..n]);
        }
        file.write_all(&buf[..n])
            .map_err(|e| SolveError::Io(dest.display().to_string(), e))?;
    }
    file.sync_all()
        .map_err(|e| SolveError::Io(dest.display().to_string(), e))?;
    let sha256 = hex::encode(sha256.finalize());
    if let Some(want) = expected {
        let got = match sha512 {
            Some(h) => format!("sha512:{}", hex::encode(h.finalize())),
            None => format!("sha256:{sha256}"),
        };
        let want = format!("{}:{}", want.algorithm, want.hex);
        if got != want {
            let _ = fs::remove_file(dest);
            return Err(SolveError::Copy(format!("digest mismatch {want}: {got}")));
        }
    }
    Ok(Some(Download {
        sha256,
        mtime,
        etag,
        last_modified,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_kinds_of_urls() {
        assert_eq!(
            file_name("https://example.com/a/b/tool.tar.gz"),
            "tool.tar.gz"
        );
        assert_eq!(file_name("https://example.com/a/b/?x=1"), "b");
        assert_eq!(file_name("https://example.com/dl?f=x#frag"), "dl");
        assert_eq!(file_name("https://example.com"), "__unnamed__");
        assert_eq!(file_name("https://example.com/"), "__unnamed__");
        assert!(is_git("https://github.com/moby/buildkit.git"));
        assert!(is_git("https://github.com/moby/buildkit.git#v0.10.1"));
        assert!(is_git("git@github.com:moby/buildkit.git"));
        assert!(!is_git("https://example.com/archive.tar.gz"));
        assert!(parse_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(parse_checksum(&format!("sha512:{}", "0".repeat(128))).is_ok());
        assert!(parse_checksum("sha256:abc").is_err());
        assert!(parse_checksum(&format!("md5:{}", "a".repeat(32))).is_err());
    }
}
