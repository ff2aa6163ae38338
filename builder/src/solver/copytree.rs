//! The COPY sink that creates nothing: it records what goes where in a [`LayerTree`], whose
//! files are read from the sources when the layer is streamed. The entries and their
//! metadata are those the staging directory would hold (see `copy::Staging`), so both give
//! the same layer bytes.

use super::copy::{CopySink, Ownership};
use super::SolveError;
use crate::context::{Entry, EntryKind, Timestamp};
use crate::layer::{layer_xattrs, Content, LayerTree, Node, Xattrs};
use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Records a COPY's result as layer entries.
pub struct TreeSink<'a> {
    tree: LayerTree,
    lowers: &'a [PathBuf],
    own: Ownership,
    /// The time directories made for the copy take once something is put in them.
    now: i64,
    /// Directories made by `prepare_dir` (their mtime becomes `now` once they have content).
    prepared: HashSet<String>,
}

fn rel(target: &str) -> &str {
    target.trim_start_matches('/')
}

impl<'a> TreeSink<'a> {
    /// An empty result on top of `lowers`; `now` is the step's wall-clock time in seconds.
    pub fn new(lowers: &'a [PathBuf], own: Ownership, now: i64) -> TreeSink<'a> {
        TreeSink {
            tree: LayerTree::new(),
            lowers,
            own,
            now,
            prepared: HashSet::new(),
        }
    }

    /// The entries. Directories this copy made (or took from the image) and then filled
    /// carry `now` as mtime, as a real directory would after files were created in it.
    pub fn finish(mut self) -> LayerTree {
        for dir in &self.prepared {
            if self.tree.has_children(dir) {
                if let Some(node) = self.tree.get_mut(dir) {
                    node.mtime = self.now;
                }
            }
        }
        self.tree
    }

    fn exists_error(target: &str) -> SolveError {
        SolveError::Io(
            target.to_string(),
            std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        )
    }
}

/// The layer xattrs a copied file keeps (when `Ownership::keep_caps`): BuildKit's copier
/// copies every xattr after the chown (fsutil `copyXAttrs`), and the layer records the file's
/// capabilities (whatever `--chown`/`--chmod` say). So files from a stage, an image or a
/// context unpacked from a tar keep them; files of a context directory keep none: BuildKit's
/// context transfer sets their xattrs before its chown, which clears capabilities (fsutil
/// `rewriteMetadata`), and no other xattr reaches a layer.
pub(super) fn source_xattrs(host: &Path, kind: &EntryKind) -> Result<Xattrs, SolveError> {
    if *kind != EntryKind::File {
        return Ok(Vec::new());
    }
    layer_xattrs(host).map_err(|e| SolveError::Io(host.display().to_string(), e))
}

impl CopySink for TreeSink<'_> {
    fn prepare_dir(&mut self, dir: &str) -> Result<(), SolveError> {
        let mut path = String::new();
        for comp in dir.split('/').filter(|c| !c.is_empty()) {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(comp);
            match self.tree.get(&path) {
                Some(n) if n.is_dir() => continue,
                Some(_) => return Err(Self::exists_error(&path)),
                None => {}
            }
            let node = match super::scoped::dir_meta(self.lowers, &path) {
                Some(meta) => Node {
                    content: Content::Dir,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    mtime: meta.mtime(),
                    xattrs: Vec::new(),
                },
                None => {
                    let (uid, gid) = self.own.owner.unwrap_or((0, 0));
                    Node {
                        content: Content::Dir,
                        mode: 0o755,
                        uid,
                        gid,
                        mtime: self.now,
                        xattrs: Vec::new(),
                    }
                }
            };
            self.tree.insert(&path, node);
            self.prepared.insert(path.clone());
        }
        Ok(())
    }

    fn put(&mut self, host: &Path, entry: &Entry, target: &str) -> Result<(), SolveError> {
        let path = rel(target);
        let meta = &entry.meta;
        let (uid, gid) = self.own.owner_of((meta.uid, meta.gid));
        let content = match &entry.kind {
            EntryKind::File => Content::File {
                path: host.to_path_buf(),
                size: meta.size,
            },
            EntryKind::Dir => Content::Dir,
            EntryKind::Symlink(t) => Content::Symlink(t.as_bytes().to_vec()),
            other => {
                return Err(SolveError::Copy(format!(
                    "{}: cannot copy a {other:?}",
                    entry.path
                )));
            }
        };
        // A symlink's own mode is always 0777; chmod does not apply to it.
        let mode = match content {
            Content::Symlink(_) => 0o777,
            _ => self.own.mode_of(meta.mode),
        };
        let xattrs = if self.own.keep_caps {
            source_xattrs(host, &entry.kind)?
        } else {
            Vec::new()
        };
        let node = Node {
            content,
            mode,
            uid,
            gid,
            mtime: meta.mtime.sec,
            xattrs,
        };
        // A directory copied onto one this copy prepared takes the source's metadata,
        // mtime included (set last, after its contents).
        self.prepared.remove(path);
        self.tree.insert(path, node);
        Ok(())
    }

    fn put_bytes(&mut self, target: &str, data: &[u8]) -> Result<(), SolveError> {
        let path = rel(target);
        if self.tree.get(path).is_some_and(|n| n.is_dir()) {
            return Err(Self::exists_error(path));
        }
        let node = Node {
            content: Content::Bytes(data.to_vec()),
            mode: self.own.mode_of(0o644),
            uid: self.own.owner.map_or(0, |o| o.0),
            gid: self.own.owner.map_or(0, |o| o.1),
            mtime: self.now,
            xattrs: Vec::new(),
        };
        self.tree.insert(path, node);
        Ok(())
    }

    fn set_dir_mtime(&mut self, target: &str, mtime: Timestamp) -> Result<(), SolveError> {
        if let Some(node) = self.tree.get_mut(rel(target)) {
            node.mtime = mtime.sec;
        }
        Ok(())
    }

    fn unpack(&mut self, _host: &Path, _dir: &str) -> Result<(), SolveError> {
        Err(SolveError::Internal(
            "an archive to unpack needs a staging directory".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::copy::{copy_into, Staging};
    use super::*;
    use crate::context::ContextView;
    use crate::dockerfile::instructions::{Copy, SourceContent};
    use crate::layer::{write_layer, write_tree, LayerCompression, LayerOptions};
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn set_mtime(path: &Path, sec: i64) {
        let t = rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: 0,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            path,
            &rustix::fs::Timestamps {
                last_access: t,
                last_modification: t,
            },
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }

    /// Sources from 2020, the image's directories from 2017, and SOURCE_DATE_EPOCH in 2023:
    /// times the copy makes ("now") are clamped, so both sinks must agree byte for byte.
    fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path().join("ctx");
        let lower = dir.path().join("lower");
        for (p, body) in [
            ("app/main.c", "int main;\n"),
            ("app/lib/util.c", "util\n"),
            ("app/lib/util.h", "h\n"),
            ("app/notes.log", "log\n"),
            ("one.txt", "one\n"),
            ("two.txt", "two\n"),
            ("deep/a/b/c.txt", "c\n"),
        ] {
            let path = ctx.join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, body).unwrap();
        }
        symlink("main.c", ctx.join("app/link")).unwrap();
        fs::set_permissions(ctx.join("app/lib"), fs::Permissions::from_mode(0o750)).unwrap();
        fs::set_permissions(ctx.join("one.txt"), fs::Permissions::from_mode(0o600)).unwrap();
        for d in ["etc", "srv"] {
            fs::create_dir_all(lower.join(d)).unwrap();
        }
        fs::set_permissions(lower.join("srv"), fs::Permissions::from_mode(0o711)).unwrap();
        fs::write(
            lower.join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .unwrap();
        fs::write(lower.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
        for walk in [&ctx, &lower] {
            let mut stack = vec![walk.clone()];
            while let Some(p) = stack.pop() {
                if p.is_dir() && !p.is_symlink() {
                    stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                }
                let sec = if walk == &ctx {
                    1_600_000_000
                } else {
                    1_500_000_000
                };
                set_mtime(&p, sec);
            }
        }
        (dir, ctx, lower)
    }

    fn both(copy: &Copy, ctx: &Path, lower: &Path, scratch: &Path) -> (Vec<u8>, Vec<u8>) {
        both_from(copy, true, ctx, lower, scratch)
    }

    /// The layer from the staging directory and from the tree; `from_context`: the sources
    /// are the build context's (else a stage's or image's).
    fn both_from(
        copy: &Copy,
        from_context: bool,
        ctx: &Path,
        lower: &Path,
        scratch: &Path,
    ) -> (Vec<u8>, Vec<u8>) {
        let view = ContextView::open(ctx, &[] as &[&str]).unwrap();
        let lowers = vec![lower.to_path_buf()];
        let opts = LayerOptions {
            compression: LayerCompression::Gzip(6),
            source_date_epoch: Some(1_700_000_000),
            threads: 2,
            ..Default::default()
        };
        let own = Ownership::of(copy, from_context, &lowers).unwrap();
        let staging = scratch.join("staging");
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging).unwrap();
        let mut sink = Staging {
            root: &staging,
            lowers: &lowers,
            own,
        };
        copy_into(copy, false, &view, "/srv/app", &lowers, &mut sink).unwrap();
        let mut old = Vec::new();
        write_layer(&staging, &opts, &mut old).unwrap();
        let mut sink = TreeSink::new(&lowers, own, 1_800_000_000);
        copy_into(copy, false, &view, "/srv/app", &lowers, &mut sink).unwrap();
        let mut new = Vec::new();
        write_tree(&sink.finish(), &opts, &mut new).unwrap();
        (old, new)
    }

    #[test]
    fn same_layer_as_the_staging_directory() {
        let (dir, ctx, lower) = fixture();
        let copy = |sources: &[&str], dest: &str| Copy {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: dest.to_string(),
            ..Copy::default()
        };
        let mut cases = [
            copy(&["app"], "/opt/app/"),
            copy(&["app/", "one.txt"], "./"),
            copy(&["one.txt"], "/etc/renamed.txt"),
            copy(&["*.txt", "deep"], "/srv/"),
            copy(&["app", "app/lib"], "/x/"),
            Copy {
                chown: Some("app".into()),
                chmod: Some("640".into()),
                ..copy(&["app", "two.txt"], "/home/app/")
            },
            Copy {
                exclude: vec!["*.log".into(), "lib/*.h".into()],
                ..copy(&["app"], "/ex/")
            },
            Copy {
                parents: true,
                ..copy(&["deep/a/b/c.txt", "app/./lib"], "/p")
            },
        ];
        cases[1].contents.push(SourceContent {
            path: "inline.txt".into(),
            data: "inline\n".into(),
            expand: false,
        });
        for (i, c) in cases.iter().enumerate() {
            let (old, new) = both(c, &ctx, &lower, dir.path());
            assert!(old.len() > 100, "case {i}");
            assert_eq!(old, new, "case {i}: {c:?}");
        }
    }

    /// An entry's name and its PAX xattr records.
    type PaxXattrs = (String, Vec<(String, Vec<u8>)>);

    /// The PAX xattr records of each entry of a gzip layer.
    fn pax_xattrs(blob: &[u8]) -> Vec<PaxXattrs> {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(blob));
        let mut out = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut xattrs = Vec::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                        xattrs.push((k.to_string(), ext.value_bytes().to_vec()));
                    }
                }
            }
            out.push((name, xattrs));
        }
        out
    }

    #[test]
    fn capabilities_kept_from_stages_not_from_the_context() {
        let (dir, ctx, lower) = fixture();
        let mut cap = vec![0u8; 20];
        cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
        cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
        let caps = vec![(b"security.capability".to_vec(), cap.clone())];
        let file = ctx.join("app/main.c");
        if crate::layer::set_xattrs(&file, &caps).unwrap() > 0 {
            eprintln!("skipping: cannot set file capabilities here");
            return;
        }
        // Never in a layer, whatever the source.
        let _ = rustix::fs::lsetxattr(&file, "user.note", b"n", rustix::fs::XattrFlags::empty());
        let copy = Copy {
            sources: vec!["app".into()],
            dest: "/opt/".into(),
            chown: Some("app".into()),
            ..Copy::default()
        };
        for from_context in [false, true] {
            let (old, new) = both_from(&copy, from_context, &ctx, &lower, dir.path());
            assert_eq!(old, new, "from_context {from_context}");
            let entries = pax_xattrs(&new);
            let with: Vec<_> = entries.iter().filter(|(_, x)| !x.is_empty()).collect();
            if from_context {
                assert!(with.is_empty(), "{with:?}");
            } else {
                // Kept through the chown to `app`.
                let want = vec![("security.capability".to_string(), cap.clone())];
                assert_eq!(with, [&("opt/main.c".to_string(), want)]);
            }
        }
    }
}
