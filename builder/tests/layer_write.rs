//! The layer writer: deterministic bytes, normalized headers, and write -> extract -> write
//! round trips.

mod layer_support;

use layer_support::*;
use std::io::Read;
use strata_builder::layer::{
    extract_layer, import_tar, ExtractOptions, LayerCompression, LayerOptions,
};

fn opts(compression: LayerCompression) -> LayerOptions {
    LayerOptions {
        compression,
        ..LayerOptions::default()
    }
}

#[test]
fn same_tree_gives_same_bytes_whatever_the_creation_order_filesystem_and_location() {
    let a = tempfile::tempdir().unwrap();
    make_tree(a.path(), false, 1_600_000_000);
    // The second copy on another filesystem (tmpfs when we may mount), built in reverse order.
    let tmpfs = Tmpfs::new();
    let b_holder = tempfile::tempdir().unwrap();
    let b_base = tmpfs.as_ref().map_or(b_holder.path(), |t| t.dir.path());
    let b = b_base.join("elsewhere/deeper");
    std::fs::create_dir_all(&b).unwrap();
    make_tree(&b, true, 1_600_000_000);
    for c in [
        LayerCompression::None,
        LayerCompression::Gzip(6),
        LayerCompression::Zstd(3),
    ] {
        let (ia, ba) = write(a.path(), &opts(c));
        let (ib, bb) = write(&b, &opts(c));
        assert_eq!(ia, ib, "{c:?}");
        assert!(ba == bb, "{c:?}: blobs differ");
    }
    // And twice in a row.
    let (i1, _) = write(a.path(), &opts(LayerCompression::Gzip(6)));
    let (i2, _) = write(a.path(), &opts(LayerCompression::Gzip(6)));
    assert_eq!(i1, i2);
}

#[test]
fn source_date_epoch_clamps_mtimes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    make_tree(a.path(), false, 2_000_000_000);
    make_tree(b.path(), false, 2_100_000_000);
    // An old file keeps its own time.
    for d in [a.path(), b.path()] {
        std::fs::write(d.join("old"), b"old").unwrap();
        set_mtime(&d.join("old"), 1_000_000_000);
    }
    let plain = opts(LayerCompression::Gzip(6));
    assert_ne!(
        write(a.path(), &plain).0.diff_id,
        write(b.path(), &plain).0.diff_id
    );
    let clamped = LayerOptions {
        source_date_epoch: Some(1_700_000_000),
        ..plain
    };
    let (ia, blob) = write(a.path(), &clamped);
    let (ib, _) = write(b.path(), &clamped);
    assert_eq!(ia.diff_id, ib.diff_id);
    for e in list(&blob) {
        let want = if e.name == "old" {
            1_000_000_000
        } else {
            1_700_000_000
        };
        assert_eq!(e.mtime, want, "{}", e.name);
    }
}

/// Compressible but not trivial bytes.
fn payload(len: usize, seed: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut x = seed;
    while v.len() < len {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        match x >> 29 {
            0 => v.extend_from_slice(b"lorem ipsum dolor sit amet "),
            1 => v.extend_from_slice(&x.to_le_bytes()),
            _ => v.push(b'a' + (x >> 24) as u8 % 20),
        }
    }
    v.truncate(len);
    v
}

#[test]
fn thread_count_does_not_change_the_blob() {
    let d = tempfile::tempdir().unwrap();
    // 40 MiB: several zstd jobs (8 MiB at level 3) and hundreds of gzip blocks.
    std::fs::write(d.path().join("big"), payload(40 << 20, 7)).unwrap();
    for i in 0..50 {
        std::fs::write(
            d.path().join(format!("small{i}")),
            payload(1000 + i * 37, i as u32),
        )
        .unwrap();
    }
    for c in [
        LayerCompression::Gzip(6),
        LayerCompression::Zstd(3),
        LayerCompression::Gzip(1),
    ] {
        let blobs: Vec<_> = [1, 2, 3]
            .iter()
            .map(|&threads| {
                let o = LayerOptions {
                    compression: c,
                    threads,
                    ..LayerOptions::default()
                };
                write(d.path(), &o)
            })
            .collect();
        for (info, blob) in &blobs[1..] {
            assert_eq!(info, &blobs[0].0, "{c:?}");
            assert!(blob == &blobs[0].1, "{c:?}: blob differs with thread count");
        }
        // The blob decodes to the tar whose digest is the diffID.
        let (imported, _) =
            import_tar(&blobs[0].1[..], std::io::sink(), LayerCompression::None).unwrap();
        assert_eq!(Some(imported.diff_id), blobs[0].0.diff_id, "{c:?}");
        assert_eq!(imported.uncompressed_size, blobs[0].0.uncompressed_size);
    }
}

#[test]
fn headers_are_normalized() {
    let d = tempfile::tempdir().unwrap();
    make_tree(d.path(), false, 1_650_000_000);
    let (info, blob) = write(d.path(), &opts(LayerCompression::Gzip(6)));
    let entries = list(&blob);
    assert_eq!(info.entries, entries.len() as u64);
    let long_dir = format!("long/{}/", long_name('d', 120));
    let long_file = format!("{long_dir}{}", long_name('f', 200));
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    // Depth first, names in byte order, a directory before its contents.
    let want = [
        "a/",
        "a/b/",
        "a/b/file.txt",
        "a/hl2",
        "a-b",
        "a.txt",
        "abs",
        "bigid",
        "blk",
        "caps",
        "empty/",
        "fifo",
        "hl1",
        "long/",
        long_dir.as_str(),
        long_file.as_str(),
        "longsym",
        "null",
        "owned",
        "setuid",
        "sticky/",
        "sym",
        "xattrs",
        "ünïcödé",
    ];
    assert_eq!(names, want);
    let by = |n: &str| entries.iter().find(|e| e.name == n).unwrap();
    for e in &entries {
        assert!(e.uname.is_empty() && e.gname.is_empty(), "{}", e.name);
        assert_eq!(e.mtime, 1_650_000_000, "{}", e.name);
        for key in &e.pax_keys {
            assert!(
                !["atime", "ctime"].contains(&key.as_str()) && !key.contains("overlay"),
                "{}: {key}",
                e.name
            );
        }
    }
    assert_eq!(by("setuid").mode, 0o4755);
    assert_eq!(by("sticky/").mode, 0o1777);
    assert_eq!(by("a/b/").mode, 0o2750);
    assert_eq!(by("a/hl2").typeflag, b'0');
    assert_eq!(by("a/hl2").data, b"shared");
    assert_eq!(by("hl1").typeflag, b'1');
    assert_eq!(by("hl1").link.as_deref(), Some("a/hl2"));
    assert_eq!(by("sym").typeflag, b'2');
    assert_eq!(by("sym").link.as_deref(), Some("a/b/file.txt"));
    assert_eq!((by("sym").uid, by("sym").gid), (5, 6));
    assert_eq!(by("abs").link.as_deref(), Some("/etc/passwd"));
    assert_eq!(
        by("longsym").link.as_deref(),
        Some(long_name('t', 150).as_str())
    );
    assert!(by("longsym").pax_keys.contains(&"linkpath".to_string()));
    assert!(by(&long_file).pax_keys.contains(&"path".to_string()));
    assert!(by("ünïcödé").pax_keys.contains(&"path".to_string()));
    assert_eq!(by("ünïcödé").data, "ü".repeat(10).as_bytes());
    assert_eq!((by("null").typeflag, by("null").dev), (b'3', (1, 3)));
    assert_eq!((by("blk").typeflag, by("blk").dev), (b'4', (7, 0)));
    assert_eq!(by("fifo").typeflag, b'6');
    assert_eq!((by("owned").uid, by("owned").gid), (1000, 1001));
    assert_eq!((by("bigid").uid, by("bigid").gid), (3_000_000, 3_000_001));
    assert!(by("bigid").pax_keys.contains(&"uid".to_string()));
    assert_eq!(by("caps").xattrs["security.capability"], CAP_NET_BIND);
    // As docker's and containerd's layer writers: capabilities only, user xattrs stay.
    assert!(by("xattrs").xattrs.is_empty());
    assert!(by("a/").xattrs.is_empty());
    // The stream is one whole archive by the importer's structure check, too.
    let (imported, _) = import_tar(&blob[..], std::io::sink(), LayerCompression::None).unwrap();
    assert_eq!(Some(imported.diff_id), info.diff_id);
    // No end-of-archive padding beyond the two zero blocks.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&blob[..])
        .read_to_end(&mut tar)
        .unwrap();
    assert_eq!(tar.len() as u64, info.uncompressed_size);
    assert!(tar[tar.len() - 1024..].iter().all(|&b| b == 0));
}

#[test]
fn round_trip_preserves_the_tree_and_the_digest() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path(), false, 1_650_000_000);
    let o = opts(LayerCompression::Zstd(3));
    let (info, blob) = write(src.path(), &o);
    for portable in [false, true] {
        let dest = tempfile::tempdir().unwrap();
        let (_, tar) =
            strata_builder::layer::decompress(std::io::BufReader::new(&blob[..])).unwrap();
        let x = ExtractOptions {
            portable_resolution: portable,
            ..ExtractOptions::default()
        };
        let stats = extract_layer(tar, dest.path(), &x).unwrap();
        assert_eq!(stats.entries, info.entries);
        assert_eq!(stats.hardlinks, 1);
        assert_eq!(stats.devices_skipped, 0);
        assert_eq!(stats.paths_cleaned, 0);
        let (mut want, got) = (snapshot(src.path()), snapshot(dest.path()));
        for (path, node) in &mut want {
            // The layer carries capabilities, not user xattrs.
            node.xattrs.retain(|k, _| k == "security.capability");
            assert_eq!(Some(&*node), got.get(path), "{}", path.display());
        }
        assert_eq!(want.len(), got.len());
        let (again, _) = write(dest.path(), &o);
        assert_eq!(again.diff_id, info.diff_id, "portable {portable}");
    }
}

#[test]
fn refuses_a_non_directory() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("f"), b"x").unwrap();
    let err = strata_builder::layer::write_layer(
        &d.path().join("f"),
        &LayerOptions::default(),
        std::io::sink(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

/// GNU tar, gzip and zstd, when installed, read the layers as they are.
#[test]
fn external_tools_read_the_layer() {
    use std::process::Command;
    let have = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let d = tempfile::tempdir().unwrap();
    make_tree(d.path(), false, 1_650_000_000);
    std::fs::write(d.path().join("big"), payload(3 << 20, 3)).unwrap();
    let out = tempfile::tempdir().unwrap();
    for (c, tool, ext) in [
        (LayerCompression::Gzip(6), "gzip", "gz"),
        (LayerCompression::Zstd(3), "zstd", "zst"),
    ] {
        let (_, blob) = write(
            d.path(),
            &LayerOptions {
                compression: c,
                threads: 2,
                ..LayerOptions::default()
            },
        );
        let file = out.path().join(format!("layer.tar.{ext}"));
        std::fs::write(&file, &blob).unwrap();
        if have(tool) {
            let st = Command::new(tool).arg("-t").arg(&file).status().unwrap();
            assert!(st.success(), "{tool} -t rejects the blob");
        }
        if have("tar") && have(tool) {
            let listed = Command::new("tar")
                .arg(format!("--use-compress-program={tool} -d"))
                .arg("-tf")
                .arg(&file)
                .output()
                .unwrap();
            assert!(listed.status.success(), "{listed:?}");
            let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            let ours: Vec<String> = list(&blob).into_iter().map(|e| e.name).collect();
            assert_eq!(names, ours, "{tool}");
        }
    }
}

#[test]
fn an_uncompressed_layer_can_take_its_diff_id_from_the_blob() {
    let a = tempfile::tempdir().unwrap();
    make_tree(a.path(), false, 1_600_000_000);
    let from_blob = |c| LayerOptions {
        diff_id_from_blob: true,
        ..opts(c)
    };
    // Uncompressed: the tar is left unhashed, and the blob's digest is the diffID.
    let (hashed, plain) = write(a.path(), &opts(LayerCompression::None));
    let (unhashed, same) = write(a.path(), &from_blob(LayerCompression::None));
    assert!(plain == same, "the option changed the bytes");
    assert_eq!(unhashed.diff_id, None);
    let blob = strata_cache::Digest::of_bytes(&same);
    assert_eq!(Some(unhashed.diff_id_or_blob(&blob)), hashed.diff_id);
    assert_eq!(
        (unhashed.uncompressed_size, unhashed.entries),
        (hashed.uncompressed_size, hashed.entries)
    );
    // Compressed: the blob is not the tar, so the option changes nothing.
    for c in [LayerCompression::Gzip(6), LayerCompression::Zstd(3)] {
        let (i1, b1) = write(a.path(), &opts(c));
        let (i2, b2) = write(a.path(), &from_blob(c));
        assert_eq!(i1, i2, "{c:?}");
        assert!(i2.diff_id.is_some(), "{c:?}");
        assert_eq!(
            i2.diff_id_or_blob(&strata_cache::Digest::of_bytes(&b2)),
            i1.diff_id.unwrap()
        );
        assert!(b1 == b2, "{c:?}");
    }
}
