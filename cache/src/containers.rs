//! Containers: records and the directories reserved for them.
//!
//! ```text
//! ROOT/strata/v1/containers/                          mode 0700 (upper dirs hold image files)
//! ROOT/strata/v1/containers/<id hex>/container.json   the record (replaced by rename)
//! ROOT/strata/v1/containers/<id hex>/lock             the per-container lock
//! ROOT/strata/v1/containers/<id hex>/<dir>/           directories the caller reserved
//! ROOT/strata/v1/containers/.tmp-<random>/            a creation in progress (or a crashed one)
//! ROOT/strata/v1/containers/.del-<random>/            a removal in progress (or a crashed one)
//! ROOT/strata/v1/locks/containers.lock                names: held around create and remove
//! ```
//!
//! The store keeps a container's identity (ID, name), the image it was made from (a GC root:
//! the image's blobs and snapshots stay while a container uses it) and two opaque JSON values
//! owned by the caller: the configuration and the runtime state. It knows nothing of
//! processes or sandboxes.
//!
//! Atomicity: a container appears only by renaming a complete temp dir (record fsynced, the
//! reserved directories created) into place, under the names lock, after checking that no
//! other container has the name. A record is rewritten as temp file -> fsync -> rename under
//! the per-container lock ([`Store::update_container`]). Removal renames the directory aside
//! first, so a crash leaves `.del-*` garbage that `check --repair` removes, never half a
//! container. Creation holds a [`Lease`](crate::Lease), so GC and check (exclusive) never
//! mistake a creation in progress for garbage.

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::lock::{FileLock, Mode};
use crate::oci::Descriptor;
use crate::snapshots::{remove_tree, tree_size};
use crate::store::{sync_dir, Store};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The record format this build reads and writes ([`ContainerRecord::version`]).
pub const CONTAINER_RECORD_VERSION: u32 = 1;

const CONTAINERS: &str = "containers";
const RECORD: &str = "container.json";
const LOCK: &str = "lock";

/// A container ID: 64 lowercase hex characters, random.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId([u8; 32]);

impl ContainerId {
    /// A new random ID (never all-digits in its short form, as docker avoids IDs that look
    /// like numbers).
    pub fn random() -> ContainerId {
        loop {
            let id = ContainerId(rand::random());
            if !id.short().bytes().all(|b| b.is_ascii_digit()) {
                return id;
            }
        }
    }

    /// The 64-character hex form.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 12-character short form docker prints.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl FromStr for ContainerId {
    type Err = Error;

    fn from_str(s: &str) -> Result<ContainerId> {
        let bad = || Error::InvalidContainer {
            what: s.to_string(),
            reason: "a container ID is 64 lowercase hex characters".into(),
        };
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| bad())?;
        Ok(ContainerId(out))
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContainerId({})", self.hex())
    }
}

impl Serialize for ContainerId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for ContainerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Checks a container name against docker's rule `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (a leading
/// `/` is accepted and dropped). Returns the name without the slash.
pub fn validate_container_name(name: &str) -> Result<&str> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut bytes = bare.bytes();
    let ok = bare.len() >= 2
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(bare)
    } else {
        Err(Error::InvalidContainer {
            what: name.to_string(),
            reason: "Invalid container name, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed".into(),
        })
    }
}

/// One container as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// Record format; [`CONTAINER_RECORD_VERSION`] for records this build writes.
    pub version: u32,
    /// The ID.
    pub id: ContainerId,
    /// The unique name, without docker's leading `/`.
    pub name: String,
    /// The image's manifest descriptor: a GC root while the container exists.
    pub image: Descriptor,
    /// The image ID (config digest).
    pub image_id: Digest,
    /// The image as the user named it (`busybox`, an ID prefix...), shown by `ps`.
    pub image_name: String,
    /// When the container was created.
    pub created: DateTime<Utc>,
    /// The container's configuration; opaque to the store.
    #[serde(default)]
    pub config: serde_json::Value,
    /// The container's runtime state; opaque to the store.
    #[serde(default)]
    pub state: serde_json::Value,
}

/// Complete containers (directory, record) and garbage entries of `containers/`.
pub(crate) type ContainerScan = (Vec<(PathBuf, ContainerRecord)>, Vec<PathBuf>);

/// A held per-container lock; released on drop (or when the process dies).
#[derive(Debug)]
pub struct ContainerLock {
    _lock: FileLock,
}

impl Store {
    /// `ROOT/strata/v1/containers`.
    pub fn containers_dir(&self) -> PathBuf {
        self.metadata_dir().join(CONTAINERS)
    }

    /// The directory of container `id` (whether or not it exists): the caller's reserved
    /// directories are below it.
    pub fn container_dir(&self, id: &ContainerId) -> PathBuf {
        self.containers_dir().join(id.hex())
    }

    fn names_lock(&self) -> Result<FileLock> {
        let dir = self.metadata_dir().join("locks");
        fs::create_dir_all(&dir).ctx("create directory", &dir)?;
        FileLock::acquire(&dir.join("containers.lock"), Mode::Exclusive)
    }

    /// Adds a container: checks that the name is valid and unused and the ID new, creates
    /// its directory with the subdirectories `dirs` (mode 0755; names relative to the
    /// container's directory, `/`-separated paths allowed) and writes the record, all in a
    /// temp dir renamed into place. Fails with [`Error::ContainerNameInUse`] (changing
    /// nothing) when another container has the name. Holds a lease while it works; the
    /// caller should hold one too from the moment it prepared the image's snapshots.
    pub fn create_container(&self, record: &ContainerRecord, dirs: &[&str]) -> Result<PathBuf> {
        validate_container_name(&record.name)?;
        let _lease = self.lease()?;
        let root = self.containers_dir();
        crate::snapshots::create_private_dir_all(&root)?;
        let _names = self.names_lock()?;
        for other in self.containers()? {
            if other.name == record.name {
                return Err(Error::ContainerNameInUse {
                    name: record.name.clone(),
                    id: other.id.hex(),
                });
            }
            if other.id == record.id {
                return Err(Error::InvalidContainer {
                    what: record.id.hex(),
                    reason: "a container with this ID exists".into(),
                });
            }
        }
        let tmp = root.join(format!(".tmp-{}", crate::snapshots::random_hex()));
        let result = (|| {
            DirBuilder::new()
                .mode(0o711)
                .create(&tmp)
                .ctx("create directory", &tmp)?;
            for d in dirs {
                let path = tmp.join(d);
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(&path)
                    .ctx("create directory", &path)?;
            }
            write_record(&tmp.join(RECORD), record)?;
            sync_dir(&tmp)?;
            let dest = self.container_dir(&record.id);
            fs::rename(&tmp, &dest).ctx("rename", &dest)?;
            sync_dir(&root)?;
            Ok(dest)
        })();
        if result.is_err() {
            if let Err(e) = remove_tree(&tmp) {
                tracing::warn!("{e}");
            }
        }
        result
    }

    /// The record of container `id`.
    pub fn container(&self, id: &ContainerId) -> Result<ContainerRecord> {
        let path = self.container_dir(id).join(RECORD);
        match read_record(&path)? {
            Some(r) => Ok(r),
            None => Err(Error::ContainerNotFound(id.hex())),
        }
    }

    /// Every container, oldest first. Entries that are not complete containers (temp dirs,
    /// unreadable records) are skipped; `check` reports them.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let mut out: Vec<ContainerRecord> = self
            .scan_containers()?
            .0
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Finds a container as docker does: the full ID, then the name (with or without the
    /// leading `/`), then a unique ID prefix. Errors: [`Error::ContainerNotFound`],
    /// [`Error::ContainerAmbiguous`] when a prefix matches several IDs.
    pub fn find_container(&self, query: &str) -> Result<ContainerRecord> {
        let all = self.containers()?;
        if let Some(r) = all.iter().find(|r| r.id.hex() == query) {
            return Ok(r.clone());
        }
        let bare = query.strip_prefix('/').unwrap_or(query);
        if let Some(r) = all.iter().find(|r| r.name == bare) {
            return Ok(r.clone());
        }
        let is_prefix = !query.is_empty()
            && query.len() < 64
            && query
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_prefix {
            let matches: Vec<&ContainerRecord> = all
                .iter()
                .filter(|r| r.id.hex().starts_with(query))
                .collect();
            match matches.len() {
                0 => {}
                1 => return Ok(matches[0].clone()),
                _ => return Err(Error::ContainerAmbiguous(query.to_string())),
            }
        }
        Err(Error::ContainerNotFound(query.to_string()))
    }

    /// Takes container `id`'s lock (exclusive), waiting for it; fails with
    /// [`Error::ContainerNotFound`] when the container does not exist (or was removed while
    /// this waited).
    pub fn lock_container(&self, id: &ContainerId) -> Result<ContainerLock> {
        let dir = self.container_dir(id);
        if !dir.join(RECORD).is_file() {
            return Err(Error::ContainerNotFound(id.hex()));
        }
        let lock = FileLock::acquire(&dir.join(LOCK), Mode::Exclusive).map_err(|e| match e {
            Error::Io { ref source, .. } if source.kind() == io::ErrorKind::NotFound => {
                Error::ContainerNotFound(id.hex())
            }
            other => other,
        })?;
        if !dir.join(RECORD).is_file() {
            return Err(Error::ContainerNotFound(id.hex()));
        }
        Ok(ContainerLock { _lock: lock })
    }

    /// Takes a lock named `name` in container `id`'s directory without waiting: `Ok(None)`
    /// when another process holds it. For liveness markers: a process holds it for as long
    /// as it lives (e.g. the process that supervises the container), and others test it.
    pub fn try_container_flock(
        &self,
        id: &ContainerId,
        name: &str,
        exclusive: bool,
    ) -> Result<Option<ContainerLock>> {
        let path = self.container_dir(id).join(name);
        let mode = if exclusive {
            Mode::Exclusive
        } else {
            Mode::Shared
        };
        match FileLock::try_acquire(&path, mode) {
            Ok(l) => Ok(l.map(|l| ContainerLock { _lock: l })),
            // Removed meanwhile.
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Err(Error::ContainerNotFound(id.hex()))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads container `id`'s record under its lock, lets `f` change it, and writes it back
    /// (temp file -> fsync -> rename) when `f` succeeds. The ID, name and image cannot change.
    pub fn update_container<T, E>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut ContainerRecord) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let _lock = self.lock_container(id)?;
        self.update_container_locked(id, f)
    }

    /// [`Store::update_container`] for a caller already holding the container's lock.
    pub fn update_container_locked<T, E>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut ContainerRecord) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<Error>,
    {
        let mut record = self.container(id)?;
        let before = (record.id, record.name.clone(), record.image.clone());
        let out = f(&mut record)?;
        if (record.id, record.name.clone(), record.image.clone()) != before {
            return Err(Error::InvalidContainer {
                what: id.hex(),
                reason: "a container's ID, name and image cannot change".into(),
            }
            .into());
        }
        let dir = self.container_dir(id);
        let tmp = dir.join(format!(".{RECORD}.tmp-{}", crate::snapshots::random_hex()));
        let written = write_record(&tmp, &record).and_then(|_| {
            let path = dir.join(RECORD);
            fs::rename(&tmp, &path).ctx("rename", &path)?;
            sync_dir(&dir)
        });
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        Ok(out)
    }

    /// Removes container `id` and its directory (renamed aside first). The caller makes sure
    /// nothing is mounted below it and no process uses it. Missing: [`Error::ContainerNotFound`].
    pub fn remove_container(&self, id: &ContainerId) -> Result<()> {
        let _names = self.names_lock()?;
        let dir = self.container_dir(id);
        if !dir.join(RECORD).is_file() {
            return Err(Error::ContainerNotFound(id.hex()));
        }
        let trash = self
            .containers_dir()
            .join(format!(".del-{}", crate::snapshots::random_hex()));
        fs::rename(&dir, &trash).ctx("rename", &dir)?;
        sync_dir(&self.containers_dir())?;
        drop(_names);
        remove_tree(&trash)
    }

    /// Complete containers (directory and record) and garbage entries of `containers/`.
    pub(crate) fn scan_containers(&self) -> Result<ContainerScan> {
        let dir = self.containers_dir();
        let mut complete = Vec::new();
        let mut garbage = Vec::new();
        for entry in crate::store::dir_entries(&dir)? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(id) = name.parse::<ContainerId>() else {
                garbage.push(path);
                continue;
            };
            match read_record(&path.join(RECORD)) {
                Ok(Some(r)) if r.id == id => complete.push((path, r)),
                Ok(_) => garbage.push(path),
                Err(e) => {
                    tracing::warn!("{e}");
                    garbage.push(path);
                }
            }
        }
        garbage.sort();
        Ok((complete, garbage))
    }

    /// The image manifests containers use: GC roots.
    pub(crate) fn container_images(&self) -> Result<Vec<Descriptor>> {
        Ok(self
            .scan_containers()?
            .0
            .into_iter()
            .map(|(_, r)| r.image)
            .collect())
    }

    /// check's repair: removes container temp dirs and dirs without a record. Only under the
    /// exclusive GC lock (creations hold a lease).
    pub(crate) fn remove_container_garbage(&self, paths: &[PathBuf]) -> Vec<(PathBuf, u64)> {
        let mut out = Vec::new();
        for path in paths {
            let size = tree_size(path);
            match remove_tree(path) {
                Ok(()) => out.push((path.clone(), size)),
                Err(e) => tracing::warn!("check: {e}"),
            }
        }
        out
    }
}

fn write_record(path: &Path, record: &ContainerRecord) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(record).map_err(|e| Error::Json {
        what: path.display().to_string(),
        source: e,
    })?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .ctx("create", path)?;
    f.write_all(&bytes).ctx("write", path)?;
    f.sync_all().ctx("fsync", path)
}

/// `Ok(None)` when the record does not exist; unreadable or unknown-version records are
/// errors naming the file.
fn read_record(path: &Path) -> Result<Option<ContainerRecord>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc_enotdir()) => return Ok(None),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    let record: ContainerRecord = serde_json::from_slice(&bytes).map_err(|e| Error::Json {
        what: path.display().to_string(),
        source: e,
    })?;
    if record.version != CONTAINER_RECORD_VERSION {
        return Err(Error::InvalidContainer {
            what: path.display().to_string(),
            reason: format!(
                "record version {} (this strata reads {CONTAINER_RECORD_VERSION})",
                record.version
            ),
        });
    }
    Ok(Some(record))
}

fn libc_enotdir() -> i32 {
    rustix::io::Errno::NOTDIR.raw_os_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(store: &Store, name: &str) -> ContainerRecord {
        let (digest, size) = store.put_bytes(b"{}", None).unwrap();
        ContainerRecord {
            version: CONTAINER_RECORD_VERSION,
            id: ContainerId::random(),
            name: name.into(),
            image: Descriptor::new("application/vnd.oci.image.layer.v1.tar", digest, size),
            image_id: digest,
            image_name: "busybox".into(),
            created: Utc::now(),
            config: serde_json::json!({"cmd": ["sh"]}),
            state: serde_json::json!({"status": "created"}),
        }
    }

    #[test]
    fn create_find_update_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = record(&store, "brave_turing");
        let path = store.create_container(&a, &["upper", "work"]).unwrap();
        assert!(path.join("upper").is_dir() && path.join("work").is_dir());
        assert_eq!(store.find_container("brave_turing").unwrap(), a);
        assert_eq!(store.find_container("/brave_turing").unwrap(), a);
        assert_eq!(store.find_container(&a.id.hex()[..5]).unwrap(), a);
        assert_eq!(store.find_container(&a.id.hex()).unwrap(), a);
        assert!(matches!(
            store.find_container("nope"),
            Err(Error::ContainerNotFound(_))
        ));

        let mut clash = record(&store, "brave_turing");
        clash.id = ContainerId::random();
        let err = store.create_container(&clash, &[]).unwrap_err();
        assert!(matches!(err, Error::ContainerNameInUse { .. }), "{err}");
        assert!(err.to_string().contains(&a.id.hex()), "{err}");
        assert_eq!(store.containers().unwrap().len(), 1);

        store
            .update_container(&a.id, |r| -> Result<()> {
                r.state = serde_json::json!({"status": "running"});
                Ok(())
            })
            .unwrap();
        assert_eq!(store.container(&a.id).unwrap().state["status"], "running");
        assert!(store
            .update_container(&a.id, |r| -> Result<()> {
                r.name = "other".into();
                Ok(())
            })
            .is_err());

        store.remove_container(&a.id).unwrap();
        assert!(store.containers().unwrap().is_empty());
        assert_eq!(fs::read_dir(store.containers_dir()).unwrap().count(), 0);
        assert!(matches!(
            store.remove_container(&a.id),
            Err(Error::ContainerNotFound(_))
        ));
    }

    #[test]
    fn ambiguous_prefix_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut a = record(&store, "one");
        let mut b = record(&store, "two");
        a.id = format!("ab{}", "0".repeat(62)).parse().unwrap();
        b.id = format!("ab{}", "1".repeat(62)).parse().unwrap();
        store.create_container(&a, &[]).unwrap();
        store.create_container(&b, &[]).unwrap();
        let err = store.find_container("ab").unwrap_err();
        assert!(matches!(err, Error::ContainerAmbiguous(_)), "{err}");
        assert_eq!(store.find_container("ab0").unwrap().name, "one");
        for bad in ["", "a", "_x", "a b", "x/y"] {
            let mut r = record(&store, bad);
            r.id = ContainerId::random();
            assert!(store.create_container(&r, &[]).is_err(), "{bad:?}");
        }
        assert_eq!(store.containers().unwrap().len(), 2);
    }

    #[test]
    fn containers_keep_their_image_and_garbage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let a = record(&store, "keeper");
        store.create_container(&a, &["upper"]).unwrap();
        let report = store.gc(&Default::default()).unwrap();
        assert!(report.removed.is_empty(), "{report:?}");
        assert!(store.has_blob(&a.image.digest).unwrap());
        fs::create_dir(store.containers_dir().join(".tmp-dead")).unwrap();
        let found = store.check(false).unwrap();
        assert_eq!(found.container_garbage.len(), 1, "{found:?}");
        assert!(!found.is_clean());
        store.check(true).unwrap();
        assert!(store.check(false).unwrap().is_clean());
        store.remove_container(&a.id).unwrap();
        let report = store.gc(&Default::default()).unwrap();
        assert_eq!(report.removed.len(), 1);
    }
}
