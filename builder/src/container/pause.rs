//! `pause`/`unpause` through the cgroup freezer, and the container's cgroup.
//!
//! The monitor makes one cgroup per container and the container's process joins it before
//! it runs anything (see `sandbox::ContainerStdio::cgroup_procs`), so every process of the
//! container is in it. cgroup v1: `/sys/fs/cgroup/freezer/strata/<id>` (`freezer.state`
//! FROZEN/THAWED); cgroup v2: `/sys/fs/cgroup/strata/<id>` (`cgroup.freeze` 1/0). Without
//! either, the container runs without a cgroup and `pause` says why it cannot.

use super::{ContainerError, ContainerStore, Result, Status};
use std::fs;
use std::path::PathBuf;
use strata_cache::ContainerId;

const V1_FREEZER: &str = "/sys/fs/cgroup/freezer";
const V2_ROOT: &str = "/sys/fs/cgroup";

/// Which freezer this host has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freezer {
    /// cgroup v1 freezer hierarchy.
    V1(PathBuf),
    /// cgroup v2 unified hierarchy.
    V2(PathBuf),
}

impl Freezer {
    /// The host's freezer, if any.
    pub fn detect() -> Option<Freezer> {
        let v1 = PathBuf::from(V1_FREEZER);
        if v1.join("cgroup.procs").is_file() {
            return Some(Freezer::V1(v1));
        }
        let v2 = PathBuf::from(V2_ROOT);
        if v2.join("cgroup.controllers").is_file() {
            return Some(Freezer::V2(v2));
        }
        None
    }

    /// The cgroup directory of container `id`.
    pub fn cgroup(&self, id: &ContainerId) -> PathBuf {
        match self {
            Freezer::V1(root) | Freezer::V2(root) => root.join("strata").join(id.hex()),
        }
    }

    /// Creates the container's cgroup; returns its `cgroup.procs`.
    pub fn create(&self, id: &ContainerId) -> Result<PathBuf> {
        let dir = self.cgroup(id);
        fs::create_dir_all(&dir)
            .map_err(ContainerError::io(format!("create {}", dir.display())))?;
        Ok(dir.join("cgroup.procs"))
    }

    fn set(&self, id: &ContainerId, frozen: bool) -> Result<()> {
        let dir = self.cgroup(id);
        let (file, value) = match self {
            Freezer::V1(_) => ("freezer.state", if frozen { "FROZEN" } else { "THAWED" }),
            Freezer::V2(_) => ("cgroup.freeze", if frozen { "1" } else { "0" }),
        };
        let path = dir.join(file);
        fs::write(&path, value).map_err(ContainerError::io(format!("write {}", path.display())))?;
        if frozen {
            // v1 may report FREEZING for a while; wait until every task is frozen.
            for _ in 0..500 {
                let state = match self {
                    Freezer::V1(_) => fs::read_to_string(dir.join("freezer.state")),
                    Freezer::V2(_) => fs::read_to_string(dir.join("cgroup.events")),
                }
                .unwrap_or_default();
                if state.trim() == "FROZEN" || state.contains("frozen 1") {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            return Err(ContainerError::Invalid(format!(
                "the cgroup {} did not freeze",
                dir.display()
            )));
        }
        Ok(())
    }
}

/// Thaws (if frozen) and removes container `id`'s cgroup; errors are ignored (the cgroup
/// may never have existed).
pub fn thaw_and_remove_cgroup(id: &ContainerId) {
    if let Some(f) = Freezer::detect() {
        let dir = f.cgroup(id);
        if dir.is_dir() {
            let _ = f.set(id, false);
            let _ = fs::remove_dir(&dir);
        }
    }
    // The container's cgroup in the other hierarchies (v1: memory, pids, cpu, ...).
    if let Some(cg) = crate::cgroup::Cgroup::at(&id.hex()) {
        cg.remove();
    }
}

/// `pause`: freezes every process of a running container.
pub fn pause(containers: &ContainerStore, query: &str) -> Result<()> {
    set_paused(containers, query, true)
}

/// `unpause`.
pub fn unpause(containers: &ContainerStore, query: &str) -> Result<()> {
    set_paused(containers, query, false)
}

fn set_paused(containers: &ContainerStore, query: &str, frozen: bool) -> Result<()> {
    let c = containers.find(query)?;
    let id = *c.id();
    let freezer = Freezer::detect().ok_or_else(|| {
        ContainerError::Invalid(
            "pause needs the cgroup freezer: neither /sys/fs/cgroup/freezer (cgroup v1) nor a cgroup v2 hierarchy at /sys/fs/cgroup is mounted".into(),
        )
    })?;
    containers.update_state(&id, |state| {
        match (state.status, frozen) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (Status::Paused, true) => {
                return Err(ContainerError::Invalid(format!(
                    "Container {id} is already paused"
                )))
            }
            (Status::Running, false) => {
                return Err(ContainerError::Invalid(format!(
                    "Container {id} is not paused"
                )))
            }
            _ => {
                return Err(ContainerError::Invalid(format!(
                    "Container {id} is not running"
                )))
            }
        }
        if !freezer.cgroup(&id).is_dir() {
            return Err(ContainerError::Invalid(format!(
                "container {id} has no cgroup (it was started without the freezer)"
            )));
        }
        freezer.set(&id, frozen)?;
        state.status = if frozen {
            Status::Paused
        } else {
            Status::Running
        };
        Ok(())
    })
}
