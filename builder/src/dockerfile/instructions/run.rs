//! RUN's flags: `--mount`, `--network`, `--security`, `--device` (BuildKit's
//! `commands_runmount.go`, `commands_runnetwork.go`, `commands_runsecurity.go`,
//! `commands_rundevice.go`).

use super::error::with_suggestion;
use super::values::{csv_fields, parse_go_bool, ram_in_bytes};

/// The kind of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MountType {
    /// A read-only (by default) view of the context or of another stage or image.
    #[default]
    Bind,
    /// A persistent cache directory.
    Cache,
    /// An empty tmpfs.
    Tmpfs,
    /// A secret file (or environment variable).
    Secret,
    /// An SSH agent socket.
    Ssh,
}

impl MountType {
    /// The name used in the Dockerfile.
    pub fn as_str(self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    /// Concurrent writers share the directory.
    Shared,
    /// Each writer gets its own copy.
    Private,
    /// Writers wait for each other.
    Locked,
}

/// One `RUN --mount=...`, as BuildKit's `instructions.Mount`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mount {
    /// The mount kind (`bind` when not given).
    pub kind: MountType,
    /// `from=`: a stage name or index, or an image; empty for the build context.
    pub from: String,
    /// `source=`/`src=`.
    pub source: String,
    /// `target=`/`dst=`/`destination=`.
    pub target: String,
    /// Read-only; defaults to true except for cache and tmpfs mounts.
    pub read_only: bool,
    /// `size=` of a tmpfs, in bytes (0: unlimited).
    pub size_limit: i64,
    /// `id=` of a cache or secret.
    pub cache_id: String,
    /// `sharing=` of a cache mount.
    pub sharing: Option<CacheSharing>,
    /// `required` for secret and ssh mounts.
    pub required: bool,
    /// `env=` for a secret exposed as an environment variable.
    pub env: Option<String>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The sandbox's default network.
    #[default]
    Default,
    /// No network.
    None,
    /// The host's network.
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Security {
    /// The normal sandbox.
    #[default]
    Sandbox,
    /// Extra privileges (needs an entitlement).
    Insecure,
}

/// `RUN --device=` (CDI device request).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// The device name.
    pub name: String,
    /// Whether the build fails without the device.
    pub required: bool,
}

pub(crate) fn parse_network(v: &str) -> Result<NetworkMode, String> {
    match v {
        "default" => Ok(NetworkMode::Default),
        "none" => Ok(NetworkMode::None),
        "host" => Ok(NetworkMode::Host),
        _ => Err(format!(
            "invalid network mode {}",
            super::values::go_quote(v)
        )),
    }
}

pub(crate) fn parse_security(v: &str) -> Result<Security, String> {
    match v {
        "sandbox" => Ok(Security::Sandbox),
        "insecure" => Ok(Security::Insecure),
        _ => Err(format!(
            "security {} is not valid",
            super::values::go_quote(v)
        )),
    }
}

const MOUNT_KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

/// A word expander for [`parse_mount`]: the word in, the expanded word or a message out.
pub type MountExpander<'a> = &'a mut dyn FnMut(&str) -> Result<String, String>;

/// Parses one `--mount` value. Without an expander only `from` is looked at (BuildKit's
/// first pass, done when the instruction is parsed, to find dependencies); with one every
/// value is expanded and validated (the pass done when the step is dispatched).
pub fn parse_mount(val: &str, expander: Option<MountExpander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount::default();
    let mut ro_auto = true;
    let mut expander = expander;
    for field in fields {
        let (key, value, has_eq) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v.to_string(), true),
            None => (field.to_lowercase(), String::new(), false),
        };
        if !has_eq {
            if expander.is_none() {
                continue;
            }
            match key.as_str() {
                "readonly" | "ro" => {
                    m.read_only = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.read_only = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                    m.required = true;
                }
                "required" => {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ))
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        }
        let value = match expander.as_mut() {
            Some(ex) => ex(&value)?,
            None if key == "from" => {
                if let Some(i) = value.find('$') {
                    if i != value.len() - 1 {
                        return Err(format!(
                            "'{key}' doesn't support variable expansion, define alias stage instead"
                        ));
                    }
                }
                value
            }
            None => continue,
        };
        let bad = |k: &str, v: &str| format!("invalid value for {k}: {v}");
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => {
                        return Err(with_suggestion(
                            format!("unsupported mount type {}", super::values::go_quote(&value)),
                            &value,
                            &["bind", "cache", "tmpfs", "secret", "ssh"],
                            true,
                        ))
                    }
                }
            }
            "from" => m.from = value,
            "source" | "src" => m.source = value,
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.read_only = parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.read_only = !parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
                m.required = parse_go_bool(&value).ok_or_else(|| bad(&key, &value))?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
                m.size_limit = ram_in_bytes(&value).ok_or_else(|| bad(&key, &value))?;
            }
            "id" => m.cache_id = value,
            "sharing" => {
                m.sharing = Some(match value.to_lowercase().as_str() {
                    "shared" => CacheSharing::Shared,
                    "private" => CacheSharing::Private,
                    "locked" => CacheSharing::Locked,
                    _ => {
                        return Err(with_suggestion(
                            format!(
                                "unsupported sharing value {}",
                                super::values::go_quote(&value)
                            ),
                            &value,
                            &["shared", "private", "locked"],
                            true,
                        ))
                    }
                })
            }
            "mode" => {
                let ok = !value.is_empty() && value.bytes().all(|b| (b'0'..=b'7').contains(&b));
                let v = if ok {
                    u32::from_str_radix(&value, 8).ok()
                } else {
                    None
                };
                m.mode = Some(v.ok_or_else(|| format!("invalid value {value} for mode"))?);
            }
            "uid" => {
                m.uid =
                    Some(dec_u32(&value).ok_or_else(|| format!("invalid value {value} for uid"))?)
            }
            "gid" => {
                m.gid =
                    Some(dec_u32(&value).ok_or_else(|| format!("invalid value {value} for gid"))?)
            }
            "env" => m.env = Some(value),
            _ => {
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    MOUNT_KEYS,
                    true,
                ))
            }
        }
    }
    let file_info_allowed = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info_allowed {
        let t = super::values::go_quote(m.kind.as_str());
        if m.mode.is_some() {
            return Err(format!("mode not allowed for {t} type mounts"));
        }
        if m.uid.is_some() {
            return Err(format!("uid not allowed for {t} type mounts"));
        }
        if m.gid.is_some() {
            return Err(format!("gid not allowed for {t} type mounts"));
        }
    }
    if ro_auto {
        m.read_only = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if !m.from.is_empty() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_empty() && m.target.is_empty() && m.cache_id.is_empty() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !m.source.is_empty() && !m.cache_id.is_empty() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.as_str()
        ));
    }
    Ok(m)
}

fn dec_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses one `--device` value (BuildKit's `ParseDevice`).
pub fn parse_device(val: &str) -> Result<Device, String> {
    let fields = csv_fields(val).map_err(|e| format!("failed to parse csv devices: {e}"))?;
    let mut d = Device::default();
    for field in fields {
        let (key, value, has_eq) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), v.to_string(), true),
            None => (field.to_lowercase(), String::new(), false),
        };
        if !has_eq {
            if key == "required" {
                d.required = true;
            } else if d.name.is_empty() {
                d.name = field;
            } else {
                return Err(format!("invalid field '{field}' must be a key=value pair"));
            }
            continue;
        }
        match key.as_str() {
            "name" => {
                if !d.name.is_empty() {
                    return Err(format!("device name already set to {}", d.name));
                }
                d.name = value;
            }
            "required" => {
                d.required = parse_go_bool(&value)
                    .ok_or_else(|| format!("invalid value for {key}: {value}"))?
            }
            _ if d.name.is_empty() => d.name = field,
            _ => {
                return Err(with_suggestion(
                    format!("unexpected key '{key}' in '{field}'"),
                    &key,
                    &["name", "required"],
                    true,
                ))
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(v: &str) -> Result<Mount, String> {
        let mut id = |s: &str| -> Result<String, String> { Ok(s.to_string()) };
        parse_mount(v, Some(&mut id))
    }

    #[test]
    fn mounts() {
        let m = full("type=cache,target=/root/.cache,id=x,sharing=locked,mode=0755,uid=1").unwrap();
        assert_eq!(m.kind, MountType::Cache);
        assert!(!m.read_only);
        assert_eq!(m.sharing, Some(CacheSharing::Locked));
        assert_eq!(m.mode, Some(0o755));
        let b = full("target=/src,from=build,source=/out").unwrap();
        assert_eq!(b.kind, MountType::Bind);
        assert!(b.read_only);
        assert!(!full("type=bind,target=/x,rw").unwrap().read_only);
        let t = full("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(t.size_limit, 64 << 20);
        assert_eq!(
            full("type=bind,target=/x,size=1m").unwrap_err(),
            "unexpected key 'size' for mount type 'bind'"
        );
        assert_eq!(
            full("type=secret").unwrap_err(),
            "invalid secret mount. one of source, target required"
        );
        assert_eq!(
            full("type=cach,target=/x").unwrap_err(),
            "unsupported mount type \"cach\" (did you mean cache?)"
        );
        assert_eq!(
            full("type=bind,target=/x,mode=0700").unwrap_err(),
            "mode not allowed for \"bind\" type mounts"
        );
        assert_eq!(
            full("target=/x,foo").unwrap_err(),
            "invalid field 'foo' must be a key=value pair"
        );
        assert_eq!(
            full("target=/x,tagret=/y").unwrap_err(),
            "unexpected key 'tagret' in 'tagret=/y' (did you mean target?)"
        );
        assert!(full("type=ssh,required").unwrap().required);
        assert_eq!(
            full("type=bind,target=/x,sharing=shared").unwrap_err(),
            "invalid cache sharing set for bind mount"
        );
        let first = parse_mount("type=$T,from=build,target=/x", None).unwrap();
        assert_eq!(first.from, "build");
        assert_eq!(
            parse_mount("from=$STAGE,target=/x", None).unwrap_err(),
            "'from' doesn't support variable expansion, define alias stage instead"
        );
    }

    #[test]
    fn devices_and_modes() {
        assert_eq!(
            parse_device("vendor.com/gpu=all,required").unwrap(),
            Device {
                name: "vendor.com/gpu=all".into(),
                required: true
            }
        );
        assert_eq!(parse_network("none"), Ok(NetworkMode::None));
        assert_eq!(
            parse_network("bridge").unwrap_err(),
            "invalid network mode \"bridge\""
        );
        assert_eq!(
            parse_security("x").unwrap_err(),
            "security \"x\" is not valid"
        );
    }
}
