//! gzip block reuse through the real binary: a rebuild after one file of a large COPY changed
//! copies the compressed blocks the change did not touch from the previous blob, and the
//! blob it writes is byte for byte the one a cold build in an empty store writes.

mod common;

use common::Env;
use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Text-like files (gzip compresses them, the content differs everywhere).
fn write_context(ctx: &Path, files: usize) {
    fs::create_dir_all(ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), "FROM base\nCOPY data /data\n").unwrap();
    let mut x: u32 = 17;
    for i in 0..files {
        let mut body = format!("// file {i}\n").into_bytes();
        while body.len() < 100_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            body.extend_from_slice(format!("word{} ", (x >> 16) % 5000).as_bytes());
        }
        let path = ctx.join(format!("data/d{}/f{i:03}.txt", i % 4));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, body).unwrap();
    }
}

fn build(env: &Env, ctx: &Path) -> String {
    let out = env.run(&[
        "-vv",
        "build",
        "-q",
        "--build-arg",
        "SOURCE_DATE_EPOCH=1700000000",
        "-t",
        "big",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The gzip blobs (layers) of the store.
fn gzip_blobs(env: &Env) -> BTreeSet<String> {
    fs::read_dir(env.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| fs::read(p).unwrap().starts_with(&[0x1f, 0x8b]))
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect()
}

/// "K of N blocks reused" from the debug log.
fn reused(log: &str) -> (u64, u64) {
    let line = log
        .lines()
        .find(|l| l.contains("blocks reused from stored blobs"))
        .unwrap_or_else(|| panic!("no block report in:\n{log}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "of").unwrap();
    (
        words[at - 1].parse().unwrap(),
        words[at + 1].parse().unwrap(),
    )
}

#[test]
fn one_file_changed_recompresses_only_the_blocks_around_it() {
    let warm = Env::new();
    warm.import_base("base");
    let ctx = warm.path("ctx");
    write_context(&ctx, 60);

    let (hits, total) = reused(&build(&warm, &ctx));
    assert_eq!(hits, 0, "an empty store has nothing to reuse");
    assert!(total >= 10, "a 6 MB layer is many blocks, got {total}");
    let maps = warm.root().join("strata/v1/blockmaps/v1");
    assert_eq!(
        fs::read_dir(&maps).unwrap().count(),
        1,
        "one map per large blob"
    );

    let changed = ctx.join("data/d1/f029.txt");
    let mut body = fs::read(&changed).unwrap();
    body.extend_from_slice(b"one more line\n");
    fs::write(&changed, body).unwrap();
    let (hits, total) = reused(&build(&warm, &ctx));
    assert!(hits + 3 >= total, "{hits} of {total} blocks reused");

    // The same context built cold in an empty store writes the same layers.
    let cold = Env::new();
    cold.import_base("base");
    build(&cold, &ctx);
    let missing: Vec<_> = gzip_blobs(&cold)
        .difference(&gzip_blobs(&warm))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "layers only the cold build wrote: {missing:?}"
    );

    // Every layer decodes (gzip's own reader checks CRC and length).
    for blob in gzip_blobs(&warm) {
        let path = warm.root().join("blobs/sha256").join(&blob);
        common::tool("gzip", &["-t", path.to_str().unwrap()]);
    }

    // GC drops the map of the blob it removes.
    warm.ok(&["builder", "prune", "-a", "-f"]);
    warm.ok(&["image", "prune", "-f"]);
    warm.ok(&["system", "check"]);
    let left: Vec<_> = fs::read_dir(&maps)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the replaced layer's map went with its blob: {left:?}"
    );
}
