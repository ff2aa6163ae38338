//! `rm` and `container prune`.

use super::{pause, ContainerError, ContainerStore, Result};
use strata_cache::{ContainerId, Store};

/// Removes the record and directories of `id` (and its cgroup). Nothing of the container
/// is mounted on the host: its mounts live in its own mount namespace.
pub fn remove_dirs_and_record(store: &Store, id: &ContainerId) -> Result<()> {
    pause::thaw_and_remove_cgroup(id);
    store.remove_container(id)?;
    super::network::forget(store, id);
    Ok(())
}

/// `rm [-f]`: a running container needs `force` (then it is killed first). Returns the ID.
pub fn remove(containers: &ContainerStore, query: &str, force: bool) -> Result<ContainerId> {
    let c = containers.find(query)?;
    let id = *c.id();
    if c.is_running() || containers.monitor_alive(&id)? {
        if !force {
            return Err(ContainerError::Invalid(format!(
                "You cannot remove a {} container {id}. Stop the container before attempting removal or force remove",
                c.state.status.as_str()
            )));
        }
        super::stop::stop(containers, &id.hex(), Some(0))?;
    }
    match remove_dirs_and_record(containers.store(), &id) {
        // Removed meanwhile by its monitor (--rm).
        Err(ContainerError::Store(e)) if e.is_not_found() => Ok(id),
        other => other.map(|_| id),
    }
}

/// `container prune`: removes every container that is not running; returns their IDs and
/// the bytes their directories held.
pub fn prune(containers: &ContainerStore) -> Result<(Vec<ContainerId>, u64)> {
    let mut removed = Vec::new();
    let mut bytes = 0;
    for c in containers.list()? {
        if c.is_running() || containers.monitor_alive(c.id())? {
            continue;
        }
        let size = dir_size(&c.dir(containers.store()));
        match remove_dirs_and_record(containers.store(), c.id()) {
            Ok(()) => {
                removed.push(*c.id());
                bytes += size;
            }
            Err(ContainerError::Store(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok((removed, bytes))
}

/// Bytes of the regular files under `dir` (symlinks not followed).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}
