//! `RUN --mount=...` made concrete for the sandbox, with BuildKit's semantics
//! (dockerfile2llb's `dispatchRunMounts` and `dispatchSecret`):
//! - `bind`: the context (after `.dockerignore`), a stage of this build or an image, at
//!   `source`; read-only unless `rw`, and then the writes are discarded (a private copy).
//! - `cache`: a directory kept in the store across builds, per `id` (default: the target);
//!   `sharing=shared|private|locked`; `from`/`source` seed a new cache; `uid`/`gid`/`mode` set
//!   its root when created.
//! - `tmpfs`; `secret` (a file, default `/run/secrets/ID` mode 0400, or `env=NAME`);
//!   `ssh` is refused.
//!
//! What a bind mount reads is part of the step's cache key ([`source_digests`]).

use super::ops::OpEnv;
use super::scoped;
use super::stage::image_result;
use super::SolveError;
use crate::context::{ContextView, EntryKind};
use crate::dockerfile::instructions::{CacheSharing, Mount, MountType};
use crate::graph::{RunPlan, Source};
use crate::sandbox::{Mount as SandboxMount, MountKind};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use strata_cache::Digest;

/// The mounts of one RUN, ready for the sandbox, and what must live as long as the step.
pub struct Prepared {
    /// The sandbox's mounts, in Dockerfile order.
    pub mounts: Vec<SandboxMount>,
    /// `NAME=value` entries of `type=secret,env=NAME` mounts.
    env: Vec<String>,
    /// Cache directory locks (`sharing=locked|private`), held until the step ends.
    _locks: Vec<fs::File>,
    /// Merged stage trees and private copies, removed when the step ends.
    _trees: Vec<tempfile::TempDir>,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> SolveError + '_ {
    move |e| SolveError::Io(path.display().to_string(), e)
}

impl Prepared {
    /// `NAME=value` entries of `type=secret,env=NAME` mounts (never part of a cache key).
    pub fn mounts_env(&self) -> Vec<String> {
        self.env.clone()
    }
}

/// Where the mount goes: relative targets are under the working directory, as BuildKit does.
fn target(mount: &Mount, workdir: &str) -> Result<String, SolveError> {
    let joined = if mount.target.starts_with('/') {
        mount.target.clone()
    } else {
        format!("/{}/{}", workdir.trim_matches('/'), mount.target)
    };
    let clean = crate::context::clean(&joined);
    if clean == "/" || clean.is_empty() {
        return Err(SolveError::Unsupported(format!(
            "invalid mount target {:?}",
            mount.target
        )));
    }
    Ok(clean)
}

/// The id of a secret mount (`source` wins over `id`; else the target's base name).
fn secret_id(mount: &Mount) -> String {
    if !mount.source.is_empty() {
        return mount.source.clone();
    }
    if !mount.cache_id.is_empty() {
        return mount.cache_id.clone();
    }
    mount
        .target
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The digest of what each mount with content reads: the context subtree's content hash, or
/// the key of the stage or image it comes from. Part of the RUN's cache key.
pub fn source_digests(env: &OpEnv<'_>, plan: &RunPlan) -> Result<Vec<String>, SolveError> {
    let mut out = Vec::new();
    for (mount, source) in &plan.mounts {
        if !matches!(mount.kind, MountType::Bind | MountType::Cache) {
            continue;
        }
        if mount.kind == MountType::Cache && mount.from.is_empty() {
            continue;
        }
        let digest = match source {
            Source::Context => {
                let shared = env.ctx.shared;
                let view = shared.context()?;
                let selected = view
                    .select(std::slice::from_ref(&source_path(mount)))
                    .map_err(SolveError::context)?;
                view.digest(&selected, shared.stat_cache())
                    .map_err(SolveError::context)?
                    .to_string()
            }
            Source::Stage(i) => env.stage(*i)?.key.digest().to_string(),
            Source::Image(r) => image_result(env.ctx.shared.store, r)?
                .key
                .digest()
                .to_string(),
            Source::Scratch => "scratch".into(),
        };
        out.push(format!("{} {}", mount.target, digest));
    }
    Ok(out)
}

fn source_path(mount: &Mount) -> String {
    if mount.source.is_empty() {
        "/".into()
    } else {
        mount.source.clone()
    }
}

/// Makes every mount of `plan` concrete; `scratch` is a private directory of the step.
pub fn prepare(
    env: &OpEnv<'_>,
    plan: &RunPlan,
    workdir: &str,
    scratch: &Path,
) -> Result<Prepared, SolveError> {
    let mut out = Prepared {
        mounts: Vec::new(),
        env: Vec::new(),
        _locks: Vec::new(),
        _trees: Vec::new(),
    };
    for (n, (mount, source)) in plan.mounts.iter().enumerate() {
        let private = scratch.join(format!("mount-{n}"));
        let kind = match mount.kind {
            MountType::Tmpfs => MountKind::Tmpfs {
                size: (mount.size_limit > 0).then_some(mount.size_limit as u64),
            },
            MountType::Ssh => {
                return Err(SolveError::Unsupported(
                    "RUN --mount=type=ssh is not supported: strata forwards no SSH agent (use a secret mount or fetch in a stage with a deploy key)".into(),
                ))
            }
            MountType::Secret => {
                let id = secret_id(mount);
                let Some(file) = env.ctx.shared.request.secrets.get(&id) else {
                    if mount.required {
                        return Err(SolveError::Unsupported(format!(
                            "secret {id} is required but not given: pass --secret id={id},src=FILE"
                        )));
                    }
                    // An optional secret that was not given is simply not mounted.
                    continue;
                };
                if let Some(name) = &mount.env {
                    let value = fs::read(file).map_err(io(file))?;
                    out.env
                        .push(format!("{name}={}", String::from_utf8_lossy(&value)));
                    if mount.target.is_empty() {
                        continue;
                    }
                }
                // A private copy gives the file BuildKit's owner and mode (0400 by default)
                // whatever the host file has; in memory (/dev/shm) when the host has it, so
                // the secret never reaches a disk.
                let dir = match tempfile::Builder::new()
                    .prefix("strata-secret-")
                    .tempdir_in("/dev/shm")
                {
                    Ok(dir) => dir,
                    Err(_) => {
                        let parent = private.parent().unwrap_or(&private);
                        tempfile::Builder::new()
                            .prefix("secret-")
                            .tempdir_in(parent)
                            .map_err(io(parent))?
                    }
                };
                let copy = dir.path().join("secret");
                out._trees.push(dir);
                fs::copy(file, &copy).map_err(io(file))?;
                let (uid, gid) = (mount.uid.unwrap_or(0), mount.gid.unwrap_or(0));
                std::os::unix::fs::chown(&copy, Some(uid), Some(gid)).map_err(io(&copy))?;
                let mode = fs::Permissions::from_mode(mount.mode.unwrap_or(0o400));
                fs::set_permissions(&copy, mode).map_err(io(&copy))?;
                let destination = if mount.target.is_empty() {
                    format!("/run/secrets/{}", id.rsplit('/').next().unwrap_or(&id))
                } else {
                    target(mount, workdir)?
                };
                out.mounts.push(SandboxMount {
                    destination,
                    kind: MountKind::Bind {
                        source: copy,
                        readonly: true,
                    },
                });
                continue;
            }
            MountType::Cache => {
                let dest = target(mount, workdir)?;
                let dir = cache_dir(env, mount, source, &dest, &mut out)?;
                MountKind::Bind {
                    source: dir,
                    readonly: mount.read_only,
                }
            }
            MountType::Bind => {
                let host = bind_source(env, mount, source, &private, &mut out)?;
                MountKind::Bind {
                    source: host,
                    readonly: mount.read_only,
                }
            }
        };
        out.mounts.push(SandboxMount {
            destination: target(mount, workdir)?,
            kind,
        });
    }
    Ok(out)
}

/// The host path a bind mount shows. A read-only mount of the context without ignore rules
/// binds the context itself; anything else is a private tree (writes to it are discarded).
fn bind_source(
    env: &OpEnv<'_>,
    mount: &Mount,
    source: &Source,
    private: &Path,
    out: &mut Prepared,
) -> Result<PathBuf, SolveError> {
    let shared = env.ctx.shared;
    match source {
        Source::Context => {
            let view = shared.context()?;
            let selected = view
                .select(std::slice::from_ref(&source_path(mount)))
                .map_err(SolveError::context)?;
            let entry = selected
                .into_iter()
                .next()
                .ok_or_else(|| SolveError::Internal("empty bind selection".into()))?;
            let ignores = crate::context::load_ignore(
                shared.request.dockerfile_path.as_deref(),
                &shared.request.context_dir,
            )
            .map_err(SolveError::context)?;
            if mount.read_only && (ignores.patterns.is_empty() || !entry.is_dir()) {
                return Ok(view.host_path(&entry));
            }
            materialize(view, &entry, private, !mount.read_only)
        }
        Source::Scratch => {
            fs::create_dir(private).map_err(io(private))?;
            Ok(private.to_path_buf())
        }
        Source::Stage(_) | Source::Image(_) => {
            let layers = match source {
                Source::Stage(i) => env.stage(*i)?.layers,
                Source::Image(r) => image_result(shared.store, r)?.layers,
                _ => unreachable!("matched above"),
            };
            // The layers' snapshots (unpacked once, shared by every build), seen merged.
            let lowers = super::rootfs::snapshots(shared.store, &layers)?;
            let rel = crate::context::clean_source(&source_path(mount)).path;
            let resolved = scoped::resolve(&lowers, &rel)?;
            let found = scoped::lookup(&lowers, &resolved).ok_or_else(|| {
                SolveError::Copy(format!(
                    "failed to compute cache key: \"{rel}\" not found in {}",
                    mount.from
                ))
            })?;
            let parent = private.parent().unwrap_or(private);
            let tree = tempfile::Builder::new()
                .prefix("bind-")
                .tempdir_in(parent)
                .map_err(io(parent))?;
            let dest = tree.path().join("root");
            if found.is_dir() {
                let dirs = scoped::merged_dirs(&lowers, &resolved).unwrap_or_default();
                link_merged(&dirs, &found, &dest, !mount.read_only)?;
            } else {
                fs::create_dir(&dest).map_err(io(&dest))?;
                let name = Path::new(&resolved).file_name().unwrap_or_default();
                let file = dest.join(name);
                link_entry(&found, &file, !mount.read_only)?;
                out._trees.push(tree);
                return Ok(file);
            }
            out._trees.push(tree);
            Ok(dest)
        }
    }
}

/// Lays the merged directory `dirs` (top layer first; `top` is its topmost entry) out at
/// `dest`: directories are made with their metadata, everything else is hard-linked from
/// the snapshots (a read-only mount cannot change them), or copied when `writable` (the
/// mount's writes are discarded with `dest`). No layer is unpacked again.
fn link_merged(
    dirs: &[PathBuf],
    top: &scoped::Found,
    dest: &Path,
    writable: bool,
) -> Result<(), SolveError> {
    fs::create_dir(dest).map_err(io(dest))?;
    let first = dirs.first().map(PathBuf::as_path).unwrap_or(&top.host);
    for (name, found, below) in scoped::read_merged(dirs).map_err(io(first))? {
        let to = dest.join(&name);
        if found.is_dir() {
            link_merged(&below, &found, &to, writable)?;
        } else {
            link_entry(&found, &to, writable)?;
        }
    }
    set_meta(dest, &top.meta)
}

/// One non-directory entry of a snapshot at `to`: a hard link, or a copy when `writable`.
fn link_entry(found: &scoped::Found, to: &Path, writable: bool) -> Result<(), SolveError> {
    let ft = found.meta.file_type();
    if ft.is_symlink() {
        let link = fs::read_link(&found.host).map_err(io(&found.host))?;
        symlink(link, to).map_err(io(to))?;
        return std::os::unix::fs::lchown(to, Some(found.meta.uid()), Some(found.meta.gid()))
            .map_err(io(to));
    }
    if !ft.is_file() {
        // Devices, fifos and sockets are not needed to read a build's outputs.
        return Ok(());
    }
    if !writable && fs::hard_link(&found.host, to).is_ok() {
        return Ok(());
    }
    fs::copy(&found.host, to).map_err(io(&found.host))?;
    set_meta(to, &found.meta)
}

fn set_meta(path: &Path, meta: &fs::Metadata) -> Result<(), SolveError> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid())).map_err(io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io(path))
}

/// Copies the view's `entry` (a file or a directory with what the ignore rules keep) to
/// `dest` (a file goes inside it); returns the path to mount. Read-only copies hard-link
/// files when they can: the mount cannot change them.
fn materialize(
    view: &ContextView,
    entry: &crate::context::Entry,
    dest: &Path,
    writable: bool,
) -> Result<PathBuf, SolveError> {
    let place = |host: &Path, kind: &EntryKind, mode: u32, to: &Path| -> Result<(), SolveError> {
        match kind {
            EntryKind::Dir => {
                fs::create_dir_all(to).map_err(io(to))?;
                fs::set_permissions(to, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(io(to))?;
            }
            EntryKind::File if writable || fs::hard_link(host, to).is_err() => {
                fs::copy(host, to).map_err(io(host))?;
            }
            EntryKind::Symlink(link) => symlink(link, to).map_err(io(to))?,
            _ => {}
        }
        Ok(())
    };
    if !entry.is_dir() {
        fs::create_dir_all(dest).map_err(io(dest))?;
        let file = dest.join(entry.name());
        place(&view.host_path(entry), &entry.kind, entry.meta.mode, &file)?;
        return Ok(file);
    }
    place(
        &view.host_path(entry),
        &EntryKind::Dir,
        entry.meta.mode,
        dest,
    )?;
    let resolved = view.get(&entry.resolved).unwrap_or(entry);
    let base = resolved.path.clone();
    for child in view.descendants(resolved) {
        let rel = child
            .path
            .strip_prefix(&base)
            .unwrap_or(&child.path)
            .trim_start_matches('/');
        place(
            &view.host_path(child),
            &child.kind,
            child.meta.mode,
            &dest.join(rel),
        )?;
    }
    Ok(dest.to_path_buf())
}

/// The directory of a cache mount, locked as its `sharing` asks; a new one is seeded from
/// `from`/`source` and gets the mount's uid, gid and mode.
fn cache_dir(
    env: &OpEnv<'_>,
    mount: &Mount,
    source: &Source,
    dest: &str,
    out: &mut Prepared,
) -> Result<PathBuf, SolveError> {
    let shared = env.ctx.shared;
    let id = if mount.cache_id.is_empty() {
        dest.to_string()
    } else {
        mount.cache_id.clone()
    };
    // A cache seeded from another source is another cache (BuildKit keys it by its base).
    let seed = if mount.from.is_empty() {
        String::new()
    } else {
        source_digests_one(env, mount, source)?
    };
    let name = Digest::of_bytes(format!("{id}\0{seed}").as_bytes()).hex();
    let base = shared.store.metadata_dir().join("cache-mounts");
    fs::create_dir_all(&base).map_err(io(&base))?;
    let sharing = mount.sharing.unwrap_or(CacheSharing::Shared);
    let mut n = 0;
    let dir = loop {
        let dir = base.join(if n == 0 {
            name.clone()
        } else {
            format!("{name}.{n}")
        });
        if sharing == CacheSharing::Shared {
            break dir;
        }
        let lock_path = base.join(format!(
            "{}.lock",
            dir.file_name().unwrap_or_default().to_string_lossy()
        ));
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        use rustix::fs::{flock, FlockOperation};
        if sharing == CacheSharing::Locked {
            flock(&lock, FlockOperation::LockExclusive)
                .map_err(|e| SolveError::Io(lock_path.display().to_string(), e.into()))?;
            out._locks.push(lock);
            break dir;
        }
        // private: the first directory nobody else uses, a new one when all are busy.
        if flock(&lock, FlockOperation::NonBlockingLockExclusive).is_ok() {
            out._locks.push(lock);
            break dir;
        }
        n += 1;
    };
    match fs::create_dir(&dir) {
        Ok(()) => {
            if !mount.from.is_empty() {
                let tmp = tempfile::Builder::new()
                    .prefix("seed-")
                    .tempdir_in(shared.store.tmp_dir())
                    .map_err(io(&dir))?;
                let from = bind_source(env, mount, source, &tmp.path().join("tree"), out)?;
                copy_tree(&from, &dir)?;
            }
            let (uid, gid) = (mount.uid.unwrap_or(0), mount.gid.unwrap_or(0));
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).map_err(io(&dir))?;
            fs::set_permissions(
                &dir,
                fs::Permissions::from_mode(mount.mode.unwrap_or(0o755)),
            )
            .map_err(io(&dir))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(SolveError::Io(dir.display().to_string(), e)),
    }
    Ok(dir)
}

fn source_digests_one(
    env: &OpEnv<'_>,
    mount: &Mount,
    source: &Source,
) -> Result<String, SolveError> {
    let plan = RunPlan {
        args: vec![],
        inline_files: vec![],
        mounts: vec![(mount.clone(), source.clone())],
        proxy_env: vec![],
    };
    Ok(source_digests(env, &plan)?.join(""))
}

/// Copies the contents of `from` into the existing directory `to`, keeping modes and owners.
fn copy_tree(from: &Path, to: &Path) -> Result<(), SolveError> {
    let meta = fs::symlink_metadata(from).map_err(io(from))?;
    if !meta.is_dir() {
        let name = from.file_name().unwrap_or_default();
        return copy_entry(from, &to.join(name), &meta);
    }
    for item in fs::read_dir(from).map_err(io(from))? {
        let item = item.map_err(io(from))?;
        let path = item.path();
        let meta = fs::symlink_metadata(&path).map_err(io(&path))?;
        let dest = to.join(item.file_name());
        copy_entry(&path, &dest, &meta)?;
        if meta.is_dir() {
            copy_tree(&path, &dest)?;
        }
    }
    Ok(())
}

fn copy_entry(from: &Path, to: &Path, meta: &fs::Metadata) -> Result<(), SolveError> {
    let ft = meta.file_type();
    if ft.is_dir() {
        fs::create_dir(to).map_err(io(to))?;
    } else if ft.is_symlink() {
        let link = fs::read_link(from).map_err(io(from))?;
        symlink(link, to).map_err(io(to))?;
        return std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(io(to));
    } else if ft.is_file() {
        fs::copy(from, to).map_err(io(from))?;
    } else {
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid())).map_err(io(to))?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777)).map_err(io(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_secret_ids() {
        let m = |target: &str, source: &str, id: &str| Mount {
            target: target.into(),
            source: source.into(),
            cache_id: id.into(),
            ..Default::default()
        };
        assert_eq!(target(&m("cache", "", ""), "/src").unwrap(), "/src/cache");
        assert_eq!(target(&m("/x/../y/", "", ""), "/src").unwrap(), "/y");
        assert!(target(&m("/", "", ""), "/").is_err());
        assert!(target(&m(".", "", ""), "/").is_err());
        assert_eq!(secret_id(&m("/run/s/tok", "", "")), "tok");
        assert_eq!(secret_id(&m("/x", "", "id1")), "id1");
        assert_eq!(secret_id(&m("/x", "src1", "")), "src1");
    }
}
