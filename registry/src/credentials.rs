//! Registry credentials as docker keeps them: `config.json` with `auths` entries (base64
//! `user:password` in `auth`), `credsStore` / `credHelpers` naming `docker-credential-*`
//! programs, and podman's `$REGISTRY_AUTH_FILE`.
//!
//! The file is rewritten as docker writes it (tab-indented JSON, mode 0600, other keys kept)
//! through a temp file and a rename, so a crash never leaves half a file.

use crate::error::{RegistryError, Result};
use base64::Engine;
use serde_json::{Map, Value};
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The key docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// The value of a basic `Authorization` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The registry host a config key names: scheme and path dropped, Docker Hub's aliases
/// folded into `docker.io`.
pub fn normalize_host(key: &str) -> String {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// The key docker writes for a registry host (`https://index.docker.io/v1/` for Docker Hub).
pub fn server_key(host: &str) -> String {
    let host = normalize_host(host);
    if host == "docker.io" {
        DOCKER_HUB_KEY.to_string()
    } else {
        host
    }
}

/// Where credentials are read and written: `explicit` (`--authfile`), else
/// `$REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn auth_file_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".docker").join("config.json")
}

/// A docker `config.json` (or podman auth file), read into memory.
#[derive(Debug, Clone)]
pub struct AuthFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl AuthFile {
    /// Reads `path`; a missing file is an empty configuration.
    pub fn load(path: impl Into<PathBuf>) -> Result<AuthFile> {
        let path = path.into();
        let doc = match fs::read(&path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => return Err(file_error(&path, "not a JSON object")),
                Err(e) => return Err(file_error(&path, &e.to_string())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(file_error(&path, &e.to_string())),
        };
        Ok(AuthFile { path, doc })
    }

    /// The file this configuration is read from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `host`: `credHelpers[host]`, else `credsStore`.
    fn helper(&self, host: &str) -> Option<String> {
        let helpers = self.doc.get("credHelpers").and_then(Value::as_object);
        if let Some(helpers) = helpers {
            for (key, value) in helpers {
                if normalize_host(key) == host {
                    return value.as_str().map(str::to_owned);
                }
            }
        }
        self.doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// The `auths` key that names `host`, if any.
    fn auths_key(&self, host: &str) -> Option<String> {
        let auths = self.doc.get("auths")?.as_object()?;
        auths.keys().find(|k| normalize_host(k) == host).cloned()
    }

    /// The registries this file holds credentials for (`auths` entries and `credHelpers`
    /// keys), as normalized host names, sorted: names only, for `info`; never the secrets.
    pub fn registries(&self) -> Vec<String> {
        let mut names: Vec<String> = ["auths", "credHelpers"]
            .iter()
            .filter_map(|section| self.doc.get(*section).and_then(Value::as_object))
            .flat_map(|map| map.keys().map(|k| normalize_host(k)))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Credentials for the registry `host` (a reference's domain, e.g. `docker.io`,
    /// `localhost:5000`), from a helper or the `auths` entry.
    pub fn get(&self, host: &str) -> Result<Option<Credentials>> {
        let host = normalize_host(host);
        if let Some(helper) = self.helper(&host) {
            if let Some(creds) = helper_get(&helper, &server_key(&host))? {
                return Ok(Some(creds));
            }
        }
        let Some(key) = self.auths_key(&host) else {
            return Ok(None);
        };
        let entry = &self.doc["auths"][&key];
        if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
            if auth.is_empty() {
                return Ok(None);
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| file_error(&self.path, &format!("invalid auth for {key}")))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| file_error(&self.path, &format!("invalid auth for {key}")))?;
            let Some((user, pass)) = text.split_once(':') else {
                return Err(file_error(&self.path, &format!("invalid auth for {key}")));
            };
            return Ok(Some(Credentials {
                username: user.to_string(),
                password: pass.trim_end_matches('\n').to_string(),
            }));
        }
        // Older files keep the parts apart.
        let user = entry.get("username").and_then(Value::as_str);
        let pass = entry.get("password").and_then(Value::as_str);
        Ok(match (user, pass) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }),
            _ => None,
        })
    }

    /// Records credentials for `host` (through its helper when one is configured) and saves.
    pub fn store(&mut self, host: &str, creds: &Credentials) -> Result<()> {
        let host = normalize_host(host);
        let key = self.auths_key(&host).unwrap_or_else(|| server_key(&host));
        if let Some(helper) = self.helper(&host) {
            helper_store(&helper, &server_key(&host), creds)?;
            // docker keeps an empty entry so `docker info` lists the registry.
            self.auths_mut().insert(key, Value::Object(Map::new()));
        } else {
            let raw = format!("{}:{}", creds.username, creds.password);
            let mut entry = Map::new();
            entry.insert(
                "auth".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
            );
            self.auths_mut().insert(key, Value::Object(entry));
        }
        self.save()
    }

    /// Forgets the credentials for `host` and saves; false when there were none.
    pub fn remove(&mut self, host: &str) -> Result<bool> {
        let host = normalize_host(host);
        let mut removed = false;
        if let Some(helper) = self.helper(&host) {
            removed |= helper_erase(&helper, &server_key(&host))?;
        }
        if let Some(key) = self.auths_key(&host) {
            self.auths_mut().remove(&key);
            removed = true;
        }
        if removed {
            self.save()?;
        }
        Ok(removed)
    }

    fn auths_mut(&mut self) -> &mut Map<String, Value> {
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        auths.as_object_mut().expect("auths is an object")
    }

    /// Writes the file: temp file (0600) -> fsync -> rename, creating the directory (0700).
    pub fn save(&self) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let err = |e: std::io::Error| file_error(&self.path, &e.to_string());
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(err)?;
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        serde::Serialize::serialize(&self.doc, &mut ser)
            .map_err(|e| file_error(&self.path, &e.to_string()))?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(err)
    }
}

fn file_error(path: &Path, message: &str) -> RegistryError {
    RegistryError::AuthFile {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Runs `docker-credential-HELPER ACTION` with `input` on stdin.
fn run_helper(helper: &str, action: &str, input: &[u8]) -> Result<(bool, Vec<u8>)> {
    let program = format!("docker-credential-{helper}");
    let helper_error = |message: String| RegistryError::Auth {
        registry: program.clone(),
        message,
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| helper_error(format!("running {program}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .map_err(|e| helper_error(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| helper_error(format!("running {program}: {e}")))?;
    Ok((out.status.success(), out.stdout))
}

fn helper_get(helper: &str, server: &str) -> Result<Option<Credentials>> {
    let (ok, stdout) = run_helper(helper, "get", server.as_bytes())?;
    if !ok {
        // Helpers answer "credentials not found in native keychain" with a failure.
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(&stdout).map_err(|_| RegistryError::Auth {
        registry: format!("docker-credential-{helper}"),
        message: "unreadable answer".into(),
    })?;
    let user = value.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = value.get("Secret").and_then(Value::as_str).unwrap_or("");
    Ok((!secret.is_empty()).then(|| Credentials {
        username: user.to_string(),
        password: secret.to_string(),
    }))
}

fn helper_store(helper: &str, server: &str, creds: &Credentials) -> Result<()> {
    let input = serde_json::json!({
        "ServerURL": server,
        "Username": creds.username,
        "Secret": creds.password,
    });
    let (ok, _) = run_helper(helper, "store", input.to_string().as_bytes())?;
    if ok {
        Ok(())
    } else {
        Err(RegistryError::Auth {
            registry: format!("docker-credential-{helper}"),
            message: "storing the credentials failed".into(),
        })
    }
}

fn helper_erase(helper: &str, server: &str) -> Result<bool> {
    Ok(run_helper(helper, "erase", server.as_bytes())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_hosts() {
        assert_eq!(normalize_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_host("registry-1.docker.io"), "docker.io");
        assert_eq!(
            normalize_host("http://LocalHost:5000/v2/"),
            "localhost:5000"
        );
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
        assert_eq!(server_key("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn store_get_remove_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            &path,
            r#"{"auths":{"https://quay.io":{"auth":"dTpw"}},"psFormat":"x"}"#,
        )
        .unwrap();
        let mut file = AuthFile::load(&path).unwrap();
        assert_eq!(
            file.get("quay.io").unwrap(),
            Some(Credentials {
                username: "u".into(),
                password: "p".into()
            })
        );
        let creds = Credentials {
            username: "me".into(),
            password: "s:ecret".into(),
        };
        file.store("docker.io", &creds).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\t\"psFormat\": \"x\""), "{text}");
        assert!(text.contains(DOCKER_HUB_KEY));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let again = AuthFile::load(&path).unwrap();
        assert_eq!(again.get("index.docker.io").unwrap(), Some(creds));
        assert!(format!("{:?}", again.get("docker.io").unwrap()).contains("redacted"));
        let mut again = again;
        assert!(again.remove("docker.io").unwrap());
        assert!(!again.remove("docker.io").unwrap());
        assert_eq!(
            AuthFile::load(&path).unwrap().get("docker.io").unwrap(),
            None
        );
    }
}
