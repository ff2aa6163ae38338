//! Extended attributes through COPY and ADD, as BuildKit writes them: a layer records a file's
//! `security.capability` and no other xattr (docker's and containerd's layer tar writers read
//! only that one). Files copied from a stage or an image keep their capabilities (fsutil's
//! copier copies xattrs after the chown); files from the build context lose them (the context
//! transfer chowns after setting xattrs, which clears capabilities), except from a context
//! tar on stdin (BuildKit untars it, setting xattrs after the owner); ADD of a local tar keeps
//! what the archive's `SCHILY.xattr.security.capability` records say. No setcap/attr tools:
//! the test writes the PAX records and sets the xattrs itself.

mod common;

use common::{docker_available, tool, Env};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::Path;

/// VFS_CAP_REVISION_2 with the effective bit; CAP_NET_BIND_SERVICE permitted.
fn cap() -> Vec<u8> {
    let mut cap = vec![0u8; 20];
    cap[..4].copy_from_slice(&0x0200_0001u32.to_le_bytes());
    cap[4..8].copy_from_slice(&(1u32 << 10).to_le_bytes());
    cap
}

/// One PAX record: "LEN key=value\n", LEN counting itself.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    let mut rec = format!("{len} {key}=").into_bytes();
    rec.extend_from_slice(value);
    rec.push(b'\n');
    assert_eq!(rec.len(), len);
    rec
}

/// Appends `path` (a directory when `data` is None) after a PAX header with `xattrs`.
fn append(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: Option<&[u8]>,
    xattrs: &[(&str, &[u8])],
) {
    if !xattrs.is_empty() {
        let records: Vec<u8> = xattrs
            .iter()
            .flat_map(|(k, v)| pax_record(&format!("SCHILY.xattr.{k}"), v))
            .collect();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_size(records.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &records[..]).unwrap();
    }
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_mtime(1_600_000_000);
    match data {
        Some(d) => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(d.len() as u64);
            h.set_mode(0o755);
            h.set_uid(1000);
            h.set_gid(1000);
        }
        None => {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            h.set_mode(0o755);
        }
    }
    h.set_cksum();
    b.append(&h, data.unwrap_or_default()).unwrap();
}

/// A rootfs tar whose files carry capabilities, user and trusted xattrs.
fn source_tar() -> Vec<u8> {
    let cap = cap();
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "dir/", None, &[("user.dir", b"dv")]);
    append(
        &mut b,
        "dir/capfile",
        Some(b"cap\n"),
        &[("security.capability", &cap), ("user.test", b"hello")],
    );
    append(
        &mut b,
        "dir/userfile",
        Some(b"user\n"),
        &[("user.test", b"u"), ("trusted.t", b"tv")],
    );
    b.into_inner().unwrap()
}

/// Per layer of `image`: every entry's name and its SCHILY.xattr records.
type Layer = Vec<(String, BTreeMap<String, Vec<u8>>)>;

fn blob(env: &Env, digest: &str) -> std::path::PathBuf {
    env.root()
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn manifest(env: &Env, image: &str) -> Value {
    let inspect: Value = serde_json::from_str(&env.ok(&["inspect", image])).unwrap();
    let digest = inspect[0]["Descriptor"]["digest"].as_str().unwrap();
    serde_json::from_slice(&fs::read(blob(env, digest)).unwrap()).unwrap()
}

fn layers(env: &Env, image: &str) -> Vec<Layer> {
    let manifest = manifest(env, image);
    let blob = |digest: &str| blob(env, digest);
    let mut out = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let file = fs::File::open(blob(layer["digest"].as_str().unwrap())).unwrap();
        let media = layer["mediaType"].as_str().unwrap();
        let reader: Box<dyn Read> = if media.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut ar = tar::Archive::new(reader);
        let mut entries = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let mut xattrs = BTreeMap::new();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for ext in exts {
                    let ext = ext.unwrap();
                    if let Some(k) = ext.key().unwrap().strip_prefix("SCHILY.xattr.") {
                        xattrs.insert(k.to_string(), ext.value_bytes().to_vec());
                    }
                }
            }
            entries.push((name, xattrs));
        }
        out.push(entries);
    }
    out
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> rustix::io::Result<()> {
    rustix::fs::lsetxattr(path, name, value, rustix::fs::XattrFlags::empty())
}

fn build(env: &Env, ctx: &Path, tag: &str) -> String {
    let out = env.run(&[
        "--progress",
        "plain",
        "build",
        "-t",
        tag,
        ctx.to_str().unwrap(),
    ]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed:\n{log}");
    log
}

#[test]
fn copy_and_add_keep_capabilities_as_buildkit() {
    let env = Env::new();
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("plain"), b"plain\n").unwrap();
    fs::write(ctx.join("capfile"), b"capfile\n").unwrap();
    if let Err(e) = set_xattr(&ctx.join("capfile"), "security.capability", &cap()) {
        eprintln!("skipping: cannot set file capabilities here ({e})");
        return;
    }
    // A file system without user xattrs (rare) still has the capability to test.
    let _ = set_xattr(&ctx.join("plain"), "user.test", b"ctx");
    let src = source_tar();
    fs::write(ctx.join("x.tar"), &src).unwrap();
    fs::write(env.path("src.tar"), &src).unwrap();
    env.ok(&["import", env.path("src.tar").to_str().unwrap(), "xsrc"]);
    env.import_base("base");
    // The import keeps the archive's records as they are.
    let imported = layers(&env, "xsrc");
    assert_eq!(imported.len(), 1);
    let keys: Vec<(&str, Vec<&str>)> = imported[0]
        .iter()
        .map(|(n, x)| (n.as_str(), x.keys().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        keys,
        [
            ("dir/", vec!["user.dir"]),
            ("dir/capfile", vec!["security.capability", "user.test"]),
            ("dir/userfile", vec!["trusted.t", "user.test"]),
        ]
    );

    fs::write(
        ctx.join("Dockerfile"),
        "FROM xsrc AS src
FROM base
COPY --from=src /dir/capfile /dir/userfile /out/
COPY --from=src /dir /d2
COPY --from=src --chown=5:5 --chmod=700 /dir/capfile /chowned
COPY --link --from=src /dir/capfile /linked
COPY --from=xsrc /dir/capfile /fromimage
COPY plain capfile /ctx/
ADD x.tar /t/
",
    )
    .unwrap();
    build(&env, &ctx, "xattrs");
    let built = layers(&env, "xattrs");
    assert_eq!(built.len(), 8, "base + 7 steps");
    let cap = cap();
    let mut with_xattrs = Vec::new();
    for layer in &built[1..] {
        for (name, xattrs) in layer {
            if !xattrs.is_empty() {
                assert_eq!(
                    xattrs.keys().collect::<Vec<_>>(),
                    ["security.capability"],
                    "{name}: only capabilities enter a layer"
                );
                assert_eq!(xattrs["security.capability"], cap, "{name}");
                with_xattrs.push(name.as_str());
            }
        }
    }
    // Context files (ctx/capfile) lose theirs, as in BuildKit.
    assert_eq!(
        with_xattrs,
        [
            "out/capfile",
            "d2/capfile",
            "chowned",
            "linked",
            "fromimage",
            "t/dir/capfile"
        ]
    );
    let names: Vec<&str> = built[6].iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ctx/", "ctx/capfile", "ctx/plain"]);

    if docker_available() {
        let name = env.load_into_docker("xattrs", "strata-xattrs");
        let out = tool(
            "docker",
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &name,
                "cat",
                "/chowned",
                "/t/dir/capfile",
            ],
        );
        let _ = std::process::Command::new("docker")
            .args(["rmi", &name])
            .output();
        assert_eq!(out, "cap\ncap\n");
    }
}

/// BuildKit's content hash of the context covers xattrs (all but `security.*` other than
/// capabilities, and `system.*`): a COPY whose source changed only in a user xattr runs again,
/// and gives the same layer, since no user xattr enters a layer.
#[test]
fn a_context_xattr_change_is_a_cache_miss() {
    let env = Env::new();
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("f"), b"f\n").unwrap();
    if set_xattr(&ctx.join("f"), "user.v", b"1").is_err() {
        eprintln!("skipping: no user xattrs here");
        return;
    }
    fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY f /f\n").unwrap();
    let first = build(&env, &ctx, "one");
    assert!(!first.contains("CACHED"), "{first}");
    let again = build(&env, &ctx, "one");
    assert!(again.contains("CACHED"), "{again}");
    set_xattr(&ctx.join("f"), "user.v", b"2").unwrap();
    let changed = build(&env, &ctx, "two");
    assert!(!changed.contains("CACHED"), "{changed}");
    let digests = |image: &str| manifest(&env, image)["layers"].to_string();
    assert_eq!(digests("one"), digests("two"));
    assert!(layers(&env, "two")[0].iter().all(|(_, x)| x.is_empty()));
}

/// `build -` with a tar context: BuildKit untars the context (xattrs set after the owner), so
/// a context file's capabilities survive COPY, unlike those of a context directory.
#[test]
fn a_tar_context_on_stdin_keeps_capabilities() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: only root unpacks file capabilities");
        return;
    }
    let env = Env::new();
    let cap = cap();
    let dockerfile = b"FROM scratch\nCOPY capfile userfile /\n";
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_path("Dockerfile").unwrap();
    h.set_cksum();
    b.append(&h, &dockerfile[..]).unwrap();
    append(
        &mut b,
        "capfile",
        Some(b"c\n"),
        &[("security.capability", &cap)],
    );
    append(&mut b, "userfile", Some(b"u\n"), &[("user.test", b"u")]);
    let tar = env.path("ctx.tar");
    fs::write(&tar, b.into_inner().unwrap()).unwrap();
    let out = env
        .cmd(&["--progress", "plain", "build", "-t", "stdin", "-"])
        .stdin(fs::File::open(&tar).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = layers(&env, "stdin");
    assert_eq!(built.len(), 1);
    let got: Vec<(&str, Vec<&str>)> = built[0]
        .iter()
        .map(|(n, x)| (n.as_str(), x.keys().map(String::as_str).collect()))
        .collect();
    assert_eq!(
        got,
        [
            ("capfile", vec!["security.capability"]),
            ("userfile", vec![])
        ]
    );
    assert_eq!(built[0][0].1["security.capability"], cap);
}
