//! Layer-writer throughput: a generated 1 GiB tree (64 files of 16 MiB, compressible about
//! 3:1 like typical binaries and text) written as a layer with each compression at 1 and 2
//! threads. Run with `cargo bench -p strata-builder --bench layer_write`;
//! `STRATA_BENCH_MIB=256` changes the size, `STRATA_BENCH_DATA=random|zero` the content,
//! `STRATA_BENCH_DIR=path` writes an existing tree instead.

use std::path::PathBuf;
use std::time::Instant;
use strata_builder::layer::{write_layer, LayerCompression, LayerOptions};
use strata_cache::DigestWriter;

/// Text-like bytes: runs of words, numbers and a little noise (or, with `kind`, random bytes
/// or zeros).
fn chunk(len: usize, seed: u32, kind: &str) -> Vec<u8> {
    if kind == "zero" {
        return vec![0; len];
    }
    if kind == "random" {
        let mut x = u64::from(seed) | 1;
        let mut v = Vec::with_capacity(len);
        while v.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(len);
        return v;
    }
    const WORDS: [&[u8]; 8] = [
        b"the ",
        b"layer ",
        b"digest ",
        b"0x7f454c46 ",
        b"return ",
        b"{\"key\": ",
        b"\n\t",
        b"mov %rax, ",
    ];
    let mut v = Vec::with_capacity(len);
    let mut x = seed | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x % 4 == 0 {
            v.extend_from_slice(&x.to_le_bytes());
        } else {
            v.extend_from_slice(WORDS[(x >> 8) as usize % WORDS.len()]);
        }
    }
    v.truncate(len);
    v
}

/// CPU seconds (user + system) this process used so far, all threads included.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// Peak resident memory of this process so far, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let mib: usize = std::env::var("STRATA_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let kind = std::env::var("STRATA_BENCH_DATA").unwrap_or_else(|_| "text".into());
    let _tmp;
    let dir: PathBuf = match std::env::var_os("STRATA_BENCH_DIR") {
        Some(d) => d.into(),
        None => {
            _tmp = tempfile::tempdir().expect("tempdir");
            let files = (mib / 16).max(1);
            for i in 0..files {
                let sub = _tmp.path().join(format!("d{}", i % 8));
                std::fs::create_dir_all(&sub).unwrap();
                std::fs::write(
                    sub.join(format!("f{i}")),
                    chunk(16 << 20, i as u32 + 1, &kind),
                )
                .unwrap();
            }
            _tmp.path().to_path_buf()
        }
    };
    println!(
        "tree: {} ({mib} MiB of {kind}); peak RSS before writing {} MiB",
        dir.display(),
        peak_rss_mib()
    );
    for compression in [
        LayerCompression::None,
        LayerCompression::Zstd(1),
        LayerCompression::Zstd(3),
        LayerCompression::Gzip(6),
        LayerCompression::Gzip(1),
    ] {
        let mut digest = None;
        for threads in [1, 2] {
            let opts = LayerOptions {
                compression,
                threads,
                ..LayerOptions::default()
            };
            let (start, cpu) = (Instant::now(), cpu_seconds());
            // Hashed like the store does, then dropped (fsync is not what is measured).
            let mut sink = DigestWriter::new(std::io::sink());
            let info = write_layer(&dir, &opts, &mut sink).expect("write_layer");
            let secs = start.elapsed().as_secs_f64();
            let cpu = cpu_seconds() - cpu;
            let (_, blob_digest, blob_size) = sink.finish();
            let mb = info.uncompressed_size as f64 / (1 << 20) as f64;
            println!(
                "{compression:?} threads={threads}: {secs:.2} s, {:.0} MiB/s, cpu {cpu:.2} s, blob {:.0} MiB, peak RSS {} MiB",
                mb / secs,
                blob_size as f64 / (1 << 20) as f64,
                peak_rss_mib()
            );
            match &digest {
                None => digest = Some(blob_digest),
                Some(d) => assert_eq!(d, &blob_digest, "blob changed with the thread count"),
            }
        }
    }
}
