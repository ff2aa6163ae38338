//! The per-run directory on the host: the rootfs mount point, the files
//! bind-mounted as `/etc/hosts` and `/etc/resolv.conf`, an empty lower dir
//! for FROM scratch, and the external runtime's bundle. Removed after the run.

use std::fs;
use std::path::{Path, PathBuf};

use super::spec::RootfsMount;
use super::{Result, RunSpec, SandboxError};

/// The longest mount data the kernel accepts (one page, with its NUL).
pub(crate) const MAX_MOUNT_DATA: usize = 4095;

/// A run's private directory; removed on drop if [`RunDir::remove`] was not called.
///
/// Removal is entry by entry, never recursive: if the rootfs were still
/// mounted, a recursive removal would delete the step's files through it.
#[derive(Debug)]
pub(crate) struct RunDir {
    dir: PathBuf,
    removed: bool,
    /// Where the overlay is mounted (empty directory).
    pub rootfs: PathBuf,
    /// Content of `/etc/hosts`.
    pub hosts: PathBuf,
    /// Content of `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// An empty directory, the lower dir when the spec has none: overlayfs
    /// needs at least one.
    pub empty: PathBuf,
}

impl RunDir {
    pub fn create(state_dir: &Path, spec: &RunSpec) -> Result<RunDir> {
        let io = |what: &str, p: &Path, e| SandboxError::io(format!("{what} {}", p.display()), e);
        fs::create_dir_all(state_dir).map_err(|e| io("create", state_dir, e))?;
        let dir = tempfile::Builder::new()
            .prefix("run-")
            .tempdir_in(state_dir)
            .map_err(|e| io("create a run directory in", state_dir, e))?;
        let path = dir.keep();
        let rootfs = path.join("rootfs");
        let empty = path.join("empty");
        for d in [&rootfs, &empty] {
            fs::create_dir(d).map_err(|e| io("create", d, e))?;
        }
        let hosts = path.join("hosts");
        let resolv_conf = path.join("resolv.conf");
        for (p, content) in [(&hosts, &spec.hosts), (&resolv_conf, &spec.resolv_conf)] {
            fs::write(p, content).map_err(|e| io("write", p, e))?;
            // World-readable: the step may run as any user.
            set_mode(p, 0o644).map_err(|e| io("chmod", p, e))?;
        }
        Ok(RunDir {
            dir: path,
            removed: false,
            rootfs,
            hosts,
            resolv_conf,
            empty,
        })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Removes the directory, reporting failure (e.g. the rootfs still mounted).
    pub fn remove(mut self) -> Result<()> {
        self.removed = true;
        self.remove_entries()
            .map_err(|e| SandboxError::io(format!("remove {}", self.dir.display()), e))
    }

    /// The lower dirs as the overlay mount data names them. When the full
    /// paths do not fit in the kernel's page for mount data, the lowers get
    /// short symlinks `l/N` in this directory (as docker's overlay2 does):
    /// relative to the returned base directory when `relative` (the child
    /// can chdir there), else absolute.
    pub fn lower_names(
        &self,
        rootfs: &RootfsMount,
        relative: bool,
    ) -> Result<(Vec<String>, Option<PathBuf>)> {
        let full: Vec<String> = rootfs
            .lowers
            .iter()
            .map(|l| l.to_string_lossy().into_owned())
            .collect();
        if rootfs.options(&full).len() <= MAX_MOUNT_DATA {
            return Ok((full, None));
        }
        let links = self.dir.join("l");
        fs::create_dir(&links)
            .map_err(|e| SandboxError::io(format!("create {}", links.display()), e))?;
        let mut names = Vec::new();
        for (i, l) in rootfs.lowers.iter().enumerate() {
            let link = links.join(i.to_string());
            std::os::unix::fs::symlink(l, &link)
                .map_err(|e| SandboxError::io(format!("symlink {}", link.display()), e))?;
            names.push(if relative {
                format!("l/{i}")
            } else {
                link.to_string_lossy().into_owned()
            });
        }
        Ok((names, relative.then(|| self.dir.clone())))
    }

    fn remove_entries(&self) -> std::io::Result<()> {
        let links = self.dir.join("l");
        if let Ok(entries) = fs::read_dir(&links) {
            for e in entries.flatten() {
                // remove_file on a symlink removes the link, never its target.
                if e.file_type().is_ok_and(|t| t.is_symlink()) {
                    fs::remove_file(e.path())?;
                }
            }
        }
        let names = ["config.json", "runtime.log", "pid"];
        let files = names.iter().map(|n| self.dir.join(n));
        for f in [self.hosts.clone(), self.resolv_conf.clone()]
            .into_iter()
            .chain(files)
        {
            match fs::remove_file(f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        for d in [&self.rootfs, &self.empty, &links, &self.dir] {
            match fs::remove_dir(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.remove_entries();
        }
    }
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode))
}
