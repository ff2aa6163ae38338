//! A 20,000-file context: cold hash, warm rehash from the stat cache, one file changed.
//! Prints the timings (run with `--nocapture`); asserts only the hit accounting.

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};
use strata_builder::context::{ContextView, LoadStatus, StatCache};

const DIRS: usize = 200;
const FILES_PER_DIR: usize = 100;

fn build_tree(root: &Path) -> u64 {
    let mut total = 0u64;
    for d in 0..DIRS {
        let dir = root.join(format!("pkg{:02}/mod{:02}", d / 10, d % 10));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..FILES_PER_DIR {
            // Sizes from 0 to ~4 KiB, content unique per file.
            let n = (d * FILES_PER_DIR + f) * 37 % 4096;
            let body: Vec<u8> = format!("file {d}/{f}\n").bytes().cycle().take(n).collect();
            total += body.len() as u64;
            fs::write(dir.join(format!("f{f:03}.txt")), body).unwrap();
        }
    }
    total
}

/// CPU time (user + system, all threads) of this process so far, from /proc: a figure
/// that, unlike wall time, does not depend on what else the machine is running.
fn cpu_time() -> Duration {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |n: usize| -> u64 {
        rest.split_whitespace()
            .nth(n)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    // The kernel reports clock ticks of 1/100 s (USER_HZ) on Linux.
    Duration::from_millis(ticks * 10)
}

struct Run {
    cpu: Duration,
    walk: Duration,
    load: Duration,
    hash: Duration,
    total: Duration,
    hashed: u64,
    reused: u64,
}

fn run(root: &Path, cache_path: &Path) -> (Run, strata_cache::Digest, StatCache) {
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let view = ContextView::open(root, &[] as &[&str]).unwrap();
    let walk = t0.elapsed();
    let t1 = Instant::now();
    let cache = StatCache::load(cache_path);
    let load = t1.elapsed();
    let t2 = Instant::now();
    let sel = view.select(&[".".to_string()]).unwrap();
    let digest = view.digest(&sel, &cache).unwrap();
    let hash = t2.elapsed();
    let s = view.hash_stats();
    let run = Run {
        cpu: cpu_time().saturating_sub(cpu0),
        walk,
        load,
        hash,
        total: t0.elapsed(),
        hashed: s.files_hashed,
        reused: s.files_reused,
    };
    (run, digest, cache)
}

fn print(label: &str, r: &Run) {
    println!(
        "{label:<18} total {:>8.1} ms  (walk {:>6.1} ms, cache load {:>5.1} ms, hash {:>7.1} ms)  cpu {:>5} ms  hashed {:>5}  reused {:>5}",
        r.total.as_secs_f64() * 1e3,
        r.walk.as_secs_f64() * 1e3,
        r.load.as_secs_f64() * 1e3,
        r.hash.as_secs_f64() * 1e3,
        r.cpu.as_millis(),
        r.hashed,
        r.reused
    );
}

#[test]
fn twenty_thousand_files_warm_rehash() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache_path = cache_dir.path().join("statcache");
    let bytes = build_tree(dir.path());
    let n = (DIRS * FILES_PER_DIR) as u64;
    // Let the files age past the stat cache's racy margin.
    std::thread::sleep(Duration::from_millis(250));

    let (cold, d_cold, cache) = run(dir.path(), &cache_path);
    let t = Instant::now();
    cache.save(&cache_path).unwrap();
    let save = t.elapsed();
    assert_eq!((cold.hashed, cold.reused), (n, 0));
    assert_eq!(
        StatCache::load(&cache_path).status(),
        &LoadStatus::Loaded(n as usize)
    );

    let (warm, d_warm, _) = run(dir.path(), &cache_path);
    assert_eq!(d_warm, d_cold);
    assert_eq!((warm.hashed, warm.reused), (0, n));

    fs::write(dir.path().join("pkg07/mod03/f042.txt"), "changed").unwrap();
    let (one, d_one, _) = run(dir.path(), &cache_path);
    assert_ne!(d_one, d_cold);
    assert_eq!((one.hashed, one.reused), (1, n - 1));

    println!(
        "context of {n} files, {:.1} MiB, {} threads",
        bytes as f64 / (1 << 20) as f64,
        std::thread::available_parallelism().map_or(1, |p| p.get())
    );
    print("cold", &cold);
    println!(
        "{:<18} {:>8.1} ms",
        "stat cache save",
        save.as_secs_f64() * 1e3
    );
    print("warm", &warm);
    print("one file changed", &one);
}
