//! The store under stress: kill -9 at random moments of a 500 MB import, and 8 processes
//! importing, tagging, removing and pruning on one store at once.

mod common;

use common::{base_rootfs, Env};
use rand::{Rng, SeedableRng};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Writes a ~500 MB tar of semi-compressible data without holding it in memory.
fn write_big_tar(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut tar = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut chunk = vec![0u8; 10 << 20];
    for i in 0..50 {
        // Six random bits a byte: gzip has real work to do, as with binaries.
        rng.fill(&mut chunk[..]);
        chunk.iter_mut().for_each(|b| *b &= 0x3f);
        let mut header = tar::Header::new_ustar();
        header.set_size(chunk.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, format!("data/file{i:02}"), &chunk[..])
            .unwrap();
    }
    tar.into_inner().unwrap().flush().unwrap();
}

fn check_consistent(env: &Env, context: &str) {
    let out = env.run(&["system", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{context}: system check found errors:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("corrupt") && !text.contains("missing"),
        "{context}: {text}"
    );
}

#[test]
fn kill_9_during_a_500mb_import_never_leaves_the_store_inconsistent() {
    let env = Env::new();
    env.import_base("base");
    let big = env.path("big.tar");
    write_big_tar(&big);
    let big = big.to_str().unwrap().to_string();

    // One uninterrupted import tells how long the kills may wait.
    let start = Instant::now();
    env.ok(&["import", &big, "big:reference"]);
    let full = start.elapsed();
    env.ok(&["rmi", "big:reference"]);

    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut killed = 0;
    for round in 0..20 {
        let mut child = env
            .cmd(&["import", &big, &format!("big:{round}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = rng.gen_range(0..=full.as_millis() as u64 + 200);
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
        check_consistent(&env, &format!("round {round} (killed after {delay} ms)"));
        // A killed import names nothing; a finished one names a whole image.
        let listed = env.ok(&["images", "--format", "json"]);
        for line in listed.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = format!(
                "{}:{}",
                row["Repository"].as_str().unwrap(),
                row["Tag"].as_str().unwrap()
            );
            env.ok(&["inspect", &name]);
        }
    }
    assert!(killed >= 10, "only {killed} of 20 imports were interrupted");
    env.ok(&["system", "check", "--repair"]);
    let report = env.ok(&["system", "check"]);
    assert!(report.contains("store is clean"), "{report}");
    env.ok(&["import", &big, "big:after"]);
    check_consistent(&env, "after the loop");
    eprintln!("uninterrupted import: {full:?}; interrupted {killed} of 20");
}

#[test]
fn eight_processes_on_one_store_end_consistent() {
    let env = Env::new();
    let tar = base_rootfs().to_str().unwrap().to_string();
    env.import_base("shared");
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let root = env.root();
            let tar = tar.clone();
            std::thread::spawn(move || {
                let run = |args: &[&str]| {
                    let out = std::process::Command::new(common::strata_bin())
                        .arg("--root")
                        .arg(&root)
                        .args(args)
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    // Losing a race (e.g. the image was pruned meanwhile) is a clean error,
                    // never a crash.
                    assert!(
                        matches!(out.status.code(), Some(0) | Some(1)),
                        "strata {args:?} crashed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    out.status.success()
                };
                for i in 0..8 {
                    let name = format!("w{w}:i{i}");
                    run(&["import", "-m", &format!("{w}-{i}"), &tar, &name]);
                    run(&["tag", &name, &format!("w{w}:latest")]);
                    run(&["tag", "shared", &format!("shared-{w}:{i}")]);
                    match i % 4 {
                        0 => run(&["rmi", &name]),
                        1 => run(&["image", "prune", "-f"]),
                        2 => run(&["rmi", &format!("shared-{w}:{i}")]),
                        _ => run(&["image", "prune", "-a", "-f"]),
                    };
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    check_consistent(&env, "after the concurrent run");
    let listed = env.ok(&["images", "--format", "json"]);
    for line in listed.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = row["ID"].as_str().unwrap();
        if row["Repository"] == "<none>" {
            env.ok(&["inspect", id]);
            continue;
        }
        let name = format!(
            "{}:{}",
            row["Repository"].as_str().unwrap(),
            row["Tag"].as_str().unwrap()
        );
        let inspected: serde_json::Value =
            serde_json::from_str(&env.ok(&["inspect", &name])).unwrap();
        assert!(
            inspected[0]["Id"].as_str().unwrap().contains(id),
            "{name} resolves to its image"
        );
    }
    env.ok(&["system", "check", "--repair"]);
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
}
