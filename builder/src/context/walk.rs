//! The context walk, in two phases: directories are listed (readdir, lstat, ignore matching)
//! by a pool of threads, then the listings are assembled in fsutil's order on one thread.
//!
//! `lstat` of every entry dominates the walk, and it scales with cores; the assembly is pure
//! memory work, so the result does not depend on the thread count or on timing.

use super::patternmatcher::{MatchInfo, PatternMatcher};
use super::view::{Entry, EntryKind, Meta};
use super::{io_err, ContextError};
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

/// The walked entries in order, and where each directory's subtree ends.
pub(crate) struct Walked {
    pub(crate) entries: Vec<Entry>,
    pub(crate) subtree_end: Vec<usize>,
}

/// A directory to list.
struct Job {
    id: usize,
    host: PathBuf,
    rel: String,
    info: MatchInfo,
    /// The directory itself is excluded (entered only for exceptions inside it).
    excluded: bool,
}

/// One listed child that is part of the view or may contain parts of it.
struct Child {
    entry: Entry,
    excluded: bool,
    /// Its host path when its name is not UTF-8 (an error only if it is emitted).
    bad_name: Option<PathBuf>,
    /// The job listing it, for directories.
    sub: Option<usize>,
}

enum Listing {
    Children(Vec<Child>),
    /// An excluded directory that cannot be read: skipped, as fsutil does.
    Unreadable,
}

#[derive(Default)]
struct Shared {
    queue: Vec<Job>,
    /// Jobs queued or being listed.
    pending: usize,
    next_id: usize,
    results: HashMap<usize, Result<Listing, ContextError>>,
}

struct Pool<'a> {
    matcher: &'a PatternMatcher,
    state: Mutex<Shared>,
    wake: Condvar,
}

/// Walks `root` (already resolved) whose entry is `root_entry`.
pub(crate) fn walk(
    root: &Path,
    root_entry: Entry,
    matcher: &PatternMatcher,
) -> Result<Walked, ContextError> {
    let pool = Pool {
        matcher,
        state: Mutex::new(Shared {
            queue: vec![Job {
                id: 0,
                host: root.to_path_buf(),
                rel: String::new(),
                info: MatchInfo::default(),
                excluded: false,
            }],
            pending: 1,
            next_id: 1,
            results: HashMap::new(),
        }),
        wake: Condvar::new(),
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| pool.work());
        }
        pool.work();
    });
    let results = pool
        .state
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .results;
    assemble(root_entry, results)
}

impl Pool<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn work(&self) {
        loop {
            let job = {
                let mut st = self.lock();
                loop {
                    if let Some(job) = st.queue.pop() {
                        break job;
                    }
                    if st.pending == 0 {
                        return;
                    }
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let id = job.id;
            let (result, subjobs) = match self.list(job) {
                Ok((listing, subjobs)) => (Ok(listing), subjobs),
                Err(e) => (Err(e), Vec::new()),
            };
            let mut st = self.lock();
            let base = st.next_id;
            st.next_id += subjobs.len();
            let mut result = result;
            if let Ok(Listing::Children(children)) = &mut result {
                for c in children.iter_mut() {
                    if let Some(local) = c.sub.as_mut() {
                        *local += base;
                    }
                }
            }
            st.results.insert(id, result);
            st.pending += subjobs.len();
            st.pending -= 1;
            for (k, mut j) in subjobs.into_iter().enumerate() {
                j.id = base + k;
                st.queue.push(j);
            }
            drop(st);
            self.wake.notify_all();
        }
    }

    /// Lists one directory: sorted children with their stat data and ignore decisions. A
    /// child directory's `sub` is an index into the returned jobs (made global by the caller).
    fn list(&self, job: Job) -> Result<(Listing, Vec<Job>), ContextError> {
        let read = match fs::read_dir(&job.host) {
            Ok(r) => r,
            Err(e) if job.excluded && e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Ok((Listing::Unreadable, Vec::new()))
            }
            Err(e) => return Err(io_err(&job.host)(e)),
        };
        let mut dents = Vec::new();
        for de in read {
            let de = de.map_err(io_err(&job.host))?;
            // The name once per entry: `file_name()` allocates, and a sort calls it often.
            dents.push((de.file_name(), de));
        }
        dents.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut children = Vec::with_capacity(dents.len());
        let mut subjobs = Vec::new();
        for (name, de) in dents {
            let name_str = String::from_utf8_lossy(name.as_bytes());
            let path = if job.rel.is_empty() {
                name_str.into_owned()
            } else {
                let mut path = String::with_capacity(job.rel.len() + 1 + name_str.len());
                path.push_str(&job.rel);
                path.push('/');
                path.push_str(&name_str);
                path
            };
            let meta = de.metadata().map_err(|e| io_err(de.path())(e))?;
            let mut kind = EntryKind::from_meta(meta.file_type());
            let is_dir = kind == EntryKind::Dir;
            let (excluded, info) = self
                .matcher
                .matches_using_parent_results(&path, &job.info)?;
            if excluded && !(is_dir && self.matcher.may_have_exception_inside(&path)) {
                continue;
            }
            let bad_name = name.to_str().is_none().then(|| de.path());
            if !excluded && !is_dir {
                if let Some(path) = bad_name {
                    return Err(ContextError::NonUtf8Name { path });
                }
            }
            if let EntryKind::Symlink(target) = &mut kind {
                let host = de.path();
                let t = fs::read_link(&host).map_err(io_err(&host))?;
                *target = match t.to_str() {
                    Some(t) => t.to_string(),
                    None => return Err(ContextError::NonUtf8Name { path: host }),
                };
            }
            let sub = is_dir.then(|| {
                subjobs.push(Job {
                    id: 0,
                    host: de.path(),
                    rel: path.clone(),
                    info,
                    excluded,
                });
                subjobs.len() - 1
            });
            children.push(Child {
                entry: Entry {
                    resolved: path.clone(),
                    path,
                    kind,
                    meta: Meta::from_std(&meta),
                },
                excluded,
                bad_name,
                sub,
            });
        }
        Ok((Listing::Children(children), subjobs))
    }
}

/// A directory on the assembly path: its entry until emitted, then its index.
struct Level {
    entry: Option<Entry>,
    index: Option<usize>,
    bad_name: Option<PathBuf>,
}

/// Puts the listings together depth first. Excluded directories are emitted only when
/// something inside them is (fsutil emits parents lazily, before their first child).
fn assemble(
    root_entry: Entry,
    mut results: HashMap<usize, Result<Listing, ContextError>>,
) -> Result<Walked, ContextError> {
    let mut entries = vec![root_entry];
    let mut subtree_end = vec![0];
    let mut levels = vec![Level {
        entry: None,
        index: Some(0),
        bad_name: None,
    }];
    let mut take = |id: Option<usize>| -> Result<Vec<Child>, ContextError> {
        match id.and_then(|id| results.remove(&id)) {
            Some(Ok(Listing::Children(c))) => Ok(c),
            Some(Ok(Listing::Unreadable)) | None => Ok(Vec::new()),
            Some(Err(e)) => Err(e),
        }
    };
    let mut frames = vec![take(Some(0))?.into_iter()];
    while let Some(frame) = frames.last_mut() {
        let Some(child) = frame.next() else {
            frames.pop();
            if let Some(Level { index: Some(i), .. }) = levels.pop() {
                subtree_end[i] = entries.len();
            }
            continue;
        };
        if child.entry.kind == EntryKind::Dir {
            levels.push(Level {
                entry: Some(child.entry),
                index: None,
                bad_name: child.bad_name,
            });
            if !child.excluded {
                emit_pending(&mut levels, &mut entries, &mut subtree_end)?;
            }
            frames.push(take(child.sub)?.into_iter());
        } else {
            emit_pending(&mut levels, &mut entries, &mut subtree_end)?;
            subtree_end.push(entries.len() + 1);
            entries.push(child.entry);
        }
    }
    Ok(Walked {
        entries,
        subtree_end,
    })
}

fn emit_pending(
    levels: &mut [Level],
    entries: &mut Vec<Entry>,
    subtree_end: &mut Vec<usize>,
) -> Result<(), ContextError> {
    for level in levels.iter_mut().filter(|l| l.index.is_none()) {
        if let Some(path) = level.bad_name.take() {
            return Err(ContextError::NonUtf8Name { path });
        }
        if let Some(entry) = level.entry.take() {
            level.index = Some(entries.len());
            subtree_end.push(entries.len() + 1);
            entries.push(entry);
        }
    }
    Ok(())
}
