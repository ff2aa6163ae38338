//! Push in depth: chunked uploads (resumed where the registry stands after a chunk is lost,
//! through a fake registry and through a fault proxy in front of the real one), layer
//! re-compression (`--compression`, remembered for the next push), a second push that only
//! asks HEAD, `pull -a`, and the progress styles.

mod common;
#[path = "registry_cli/fake.rs"]
mod fake;
#[path = "registry_cli/proxy.rs"]
mod proxy;
#[path = "registry_cli/support.rs"]
mod support;

use common::Env;
use fake::{fake_registry_with_bodies, BodyHandler, Reply};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use strata_cache::Digest;
use support::{image_id, ok, pushed_digest, run, Registry};

/// The manifest the registry holds for `reference`, fetched with strata's client.
fn remote_manifest(env: &Env, reference: &str) -> serde_json::Value {
    let client = strata_registry::Client::new(strata_registry::ClientOptions {
        auth_file: Some(env.path("none.json")),
        ..Default::default()
    })
    .unwrap();
    let manifest = client.get_manifest(&reference.parse().unwrap()).unwrap();
    serde_json::from_slice(&manifest.bytes).unwrap()
}

#[derive(Default)]
struct Uploads {
    /// Bytes received per upload session.
    data: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    sessions: usize,
    patches: Vec<String>,
    status_queries: usize,
    dropped: bool,
}

/// A registry that takes chunked uploads the way the spec describes them (Range answers,
/// upload status by GET) and loses the second chunk of the first blob half-way: it keeps
/// the first half and drops the connection, as a registry behind a failing link would.
fn chunk_registry(state: Arc<Mutex<Uploads>>) -> Arc<BodyHandler> {
    Arc::new(move |method, path, headers, body| {
        let mut s = state.lock().unwrap();
        let range = |len: usize| format!("0-{}", len.max(1) - 1);
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        if method == "HEAD" {
            let digest = route.rsplit('/').next().unwrap();
            return match s.blobs.get(digest) {
                Some(b) => {
                    Reply::new(200, Vec::new()).header("Content-Length", &b.len().to_string())
                }
                None => Reply::new(404, Vec::new()),
            };
        }
        if method == "POST" && route.ends_with("/blobs/uploads/") {
            s.sessions += 1;
            let id = format!("u{}", s.sessions);
            s.data.insert(id.clone(), Vec::new());
            return Reply::new(202, Vec::new())
                .header(
                    "Location",
                    &format!("/v2/c/img/blobs/uploads/{id}?_state=x"),
                )
                .header("Range", "0-0");
        }
        let Some(id) = route.strip_prefix("/v2/c/img/blobs/uploads/") else {
            if method == "PUT" && route.starts_with("/v2/c/img/manifests/") {
                return Reply::new(201, Vec::new());
            }
            return Reply::new(404, Vec::new());
        };
        let id = id.to_string();
        let Some(have) = s.data.get(&id).map(Vec::len) else {
            return Reply::new(404, Vec::new());
        };
        match method {
            "PATCH" => {
                let content_range = headers.get("content-range").cloned().unwrap_or_default();
                s.patches.push(content_range.clone());
                let start: usize = content_range.split('-').next().unwrap().parse().unwrap();
                if start != have {
                    return Reply::new(416, Vec::new()).header("Range", &range(have));
                }
                if s.patches.len() == 2 && !s.dropped {
                    s.dropped = true;
                    let half = body.len() / 2;
                    s.data
                        .get_mut(&id)
                        .unwrap()
                        .extend_from_slice(&body[..half]);
                    return Reply {
                        drop: true,
                        ..Reply::new(0, Vec::new())
                    };
                }
                let data = s.data.get_mut(&id).unwrap();
                data.extend_from_slice(body);
                let len = data.len();
                Reply::new(202, Vec::new())
                    .header(
                        "Location",
                        &format!("/v2/c/img/blobs/uploads/{id}?_state=y{len}"),
                    )
                    .header("Range", &range(len))
            }
            "GET" => {
                s.status_queries += 1;
                Reply::new(204, Vec::new())
                    .header(
                        "Location",
                        &format!("/v2/c/img/blobs/uploads/{id}?_state=z"),
                    )
                    .header("Range", &range(have))
            }
            "PUT" => {
                let digest = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("digest="))
                    .unwrap()
                    .replace("%3A", ":");
                let mut data = s.data.remove(&id).unwrap();
                data.extend_from_slice(body);
                if Digest::of_bytes(&data).to_string() != digest {
                    return Reply::new(400, br#"{"errors":[{"code":"DIGEST_INVALID"}]}"#.to_vec());
                }
                s.blobs.insert(digest, data);
                Reply::new(201, Vec::new())
            }
            _ => Reply::new(405, Vec::new()),
        }
    })
}

#[test]
fn a_lost_chunk_resumes_where_the_registry_stands() {
    let state = Arc::new(Mutex::new(Uploads::default()));
    let port = fake_registry_with_bodies(chunk_registry(state.clone()));
    let env = Env::new();
    env.import_base("base");
    let dest = format!("127.0.0.1:{port}/c/img:v1");
    let out = ok(
        &env,
        &[
            "push",
            "--chunk-threshold",
            "1",
            "--chunk-size",
            "256k",
            "base",
            &dest,
        ],
    );
    assert!(out.contains(": Pushed"), "{out}");
    let s = state.lock().unwrap();
    // One session per blob: the lost chunk did not restart the upload.
    assert_eq!(s.sessions, 2, "{:?}", s.patches);
    assert_eq!(s.status_queries, 1);
    // The chunk after the loss starts in the middle of the lost one.
    let second = &s.patches[1];
    let third = &s.patches[2];
    let start = |r: &str| r.split('-').next().unwrap().parse::<usize>().unwrap();
    let end = |r: &str| r.split('-').nth(1).unwrap().parse::<usize>().unwrap();
    let lost = end(second) - start(second) + 1;
    assert_eq!(start(third), start(second) + lost / 2);
    // Every blob arrived whole (the fake checked each digest).
    let manifest_layers = s.blobs.len();
    assert_eq!(manifest_layers, 2);
    for (digest, data) in &s.blobs {
        assert_eq!(&Digest::of_bytes(data).to_string(), digest);
    }
}

#[test]
fn chunked_push_through_a_failing_link_to_the_real_registry() {
    let registry = Registry::start(None);
    let (port, faults) = proxy::start_proxy(registry.port);
    // The third PATCH loses its connection after 10000 bytes.
    faults.cut_patch.store(3, Ordering::SeqCst);
    faults.cut_after.store(10_000, Ordering::SeqCst);
    let env = Env::new();
    let id = env.import_base("base");
    let dest = format!("127.0.0.1:{port}/chunk/base:v1");
    let out = ok(
        &env,
        &[
            "push",
            "--chunk-threshold",
            "1",
            "--chunk-size",
            "300k",
            "base",
            &dest,
        ],
    );
    let digest = pushed_digest(&out);
    assert_eq!(faults.cuts.load(Ordering::SeqCst), 1);
    let log = faults.take();
    assert!(
        log.iter().filter(|(m, _)| m == "PATCH").count() >= 4,
        "{log:?}"
    );
    // The client asked where the upload stood (GET) and went on from there (the
    // distribution registry refuses to continue an upload whose size moved past its state;
    // then a new session starts).
    assert!(
        log.iter()
            .any(|(m, p)| m == "GET" && p.contains("/blobs/uploads/")),
        "{log:?}"
    );

    let dst = Env::new();
    let direct = format!("{}/chunk/base:v1", registry.host());
    let pulled = ok(&dst, &["pull", &direct]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(image_id(&dst, &direct), id);
    ok(&dst, &["system", "check"]);
    ok(&env, &["system", "check"]);
}

#[test]
fn second_push_only_asks_head() {
    let registry = Registry::start(None);
    let (port, log) = proxy::start_proxy(registry.port);
    let env = Env::new();
    env.import_base("base");
    let dest = format!("127.0.0.1:{port}/again/base:v1");
    let first = pushed_digest(&ok(&env, &["push", "base", &dest]));
    assert!(log.take().iter().any(|(m, _)| m == "POST"));
    let out = ok(&env, &["push", "base", &dest]);
    assert_eq!(pushed_digest(&out), first);
    let requests = log.take();
    let blobs: Vec<_> = requests
        .iter()
        .filter(|(_, p)| p.contains("/blobs/"))
        .collect();
    assert_eq!(blobs.len(), 2, "{requests:?}");
    assert!(blobs.iter().all(|(m, _)| m == "HEAD"), "{requests:?}");
    // Besides the HEADs, only the manifest (as docker does).
    let others: Vec<_> = requests
        .iter()
        .filter(|(_, p)| !p.contains("/blobs/"))
        .collect();
    assert_eq!(others.len(), 1, "{requests:?}");
    assert_eq!(others[0].0, "PUT");
    assert!(others[0].1.ends_with("/manifests/v1"), "{requests:?}");
}

#[test]
fn push_recompresses_once_and_converts_the_manifest() {
    let registry = Registry::start(None);
    let env = Env::new();
    let id = env.import_base("base");
    let dest = format!("{}/zst/base:v1", registry.host());
    // The imported layer is a plain tar: zstd means re-compressing it.
    let out = run(
        &env,
        &[
            "-v",
            "--progress",
            "json",
            "push",
            "--compression",
            "zstd",
            "base",
            &dest,
        ],
        None,
    );
    // Compressed and uploaded at once, not uploaded again afterwards.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("uploading while compressing failed"), "{log}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(events.iter().any(|e| e["status"] == "Pushed"), "{stdout}");
    let aux = &events.last().unwrap()["aux"];
    let digest = aux["Digest"].as_str().unwrap().to_string();
    let manifest = remote_manifest(&env, &dest);
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let variants = env.root().join("strata/v1/variants/v1");
    assert_eq!(std::fs::read_dir(&variants).unwrap().count(), 1);

    // A fresh store pulls it: the same image (the config, hence the ID, did not change),
    // its layer in zstd.
    let dst = Env::new();
    let pulled = ok(&dst, &["pull", &dest]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(image_id(&dst, &dest), id);
    ok(&dst, &["system", "check"]);

    // The next push finds the variant: nothing is compressed again, the blob is mounted.
    let other = format!("{}/zst/other:v1", registry.host());
    let out = ok(&env, &["push", "--compression", "zstd", "base", &other]);
    assert!(!out.contains("Compressing"), "{out}");
    assert_eq!(pushed_digest(&out), digest);
    // GC keeps the variant while the image lives, and check is clean.
    let tar = common::base_rootfs().to_str().unwrap();
    env.ok(&["import", "-c", "ENV JUNK=1", tar, "junk"]);
    ok(&env, &["rmi", "junk"]);
    let again = ok(
        &env,
        &[
            "--progress",
            "plain",
            "push",
            "--compression",
            "zstd",
            "base",
            &other,
        ],
    );
    assert!(!again.contains("Compressing"), "{again}");
    ok(&env, &["system", "check"]);
    // Without --compression the stored bytes go as they are.
    let plain = format!("{}/zst/plain:v1", registry.host());
    let out = ok(&env, &["push", "base", &plain]);
    assert_eq!(
        remote_manifest(&env, &plain)["layers"][0]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
    assert_ne!(pushed_digest(&out), digest);
}

#[test]
fn pull_all_tags() {
    let registry = Registry::start(None);
    let src = Env::new();
    let id = src.import_base("base");
    let tar = common::base_rootfs().to_str().unwrap();
    let other = src.ok(&["import", "-c", "ENV OTHER=1", tar, "other"]);
    let repo = format!("{}/all/tags", registry.host());
    ok(&src, &["push", "base", &format!("{repo}:one")]);
    ok(&src, &["push", "other", &format!("{repo}:two")]);
    let dst = Env::new();
    let out = ok(&dst, &["pull", "-a", &repo]);
    assert!(out.contains("one: Pulling from"), "{out}");
    assert!(out.contains("two: Pulling from"), "{out}");
    assert_eq!(out.lines().last().unwrap(), repo);
    assert_eq!(image_id(&dst, &format!("{repo}:one")), id);
    assert_eq!(image_id(&dst, &format!("{repo}:two")), other.trim());
    let err = support::fails(&dst, &["pull", "-a", &format!("{repo}:one")], None);
    assert!(err.contains("--all-tags"), "{err}");
}

#[test]
fn progress_styles() {
    let registry = Registry::start(None);
    let env = Env::new();
    env.import_base("base");
    let dest = format!("{}/prog/base:v1", registry.host());
    // tty: live lines redrawn in place.
    let tty = ok(&env, &["--progress", "tty", "push", "base", &dest]);
    assert!(tty.contains("\x1b[2K"), "{tty:?}");
    assert!(tty.contains(": Pushed"), "{tty:?}");
    // plain: one line per event, no control sequences.
    let dst = Env::new();
    let plain = ok(&dst, &["--progress", "plain", "pull", &dest]);
    assert!(!plain.contains('\x1b'), "{plain:?}");
    assert!(plain.contains(": Pulling fs layer\n"), "{plain}");
    assert!(plain.contains(": Pull complete\n"), "{plain}");
    // json: one object per event.
    let other = Env::new();
    let json = ok(&other, &["--progress", "json", "pull", &dest]);
    for line in json.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(event["status"].is_string(), "{line}");
    }
    assert!(json.contains(r#""status":"Pull complete""#), "{json}");
}

fn env_of(env: &Env, image: &str) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_str(&ok(env, &["inspect", image])).unwrap();
    json[0]["Config"]["Env"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn build(env: &Env, args: &[&str]) -> String {
    let out = run(env, args, None);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "strata {args:?} failed:\n{stderr}");
    stderr
}

#[test]
fn build_pulls_its_base_on_demand_pushes_and_rechecks_with_pull() {
    let registry = Registry::start(None);
    let src = Env::new();
    let base_id = src.import_base("base");
    let base = format!("{}/lib/base:v1", registry.host());
    ok(&src, &["push", "base", &base]);
    let ctx = src.path("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM {base}\nENV BUILT=1\nCOPY hello /hello\n"),
    )
    .unwrap();
    std::fs::write(ctx.join("hello"), "hello\n").unwrap();
    let ctx = ctx.to_str().unwrap();

    // An empty store: FROM pulls the base, --push sends the result.
    let dst = Env::new();
    let app = format!("{}/app/built:v1", registry.host());
    let log = build(
        &dst,
        &["--progress", "plain", "build", "--push", "-t", &app, ctx],
    );
    assert!(log.contains("v1: Pulling from lib/base"), "{log}");
    assert!(log.contains(": Pull complete"), "{log}");
    assert_eq!(image_id(&dst, &base), base_id);
    let digest = pushed_digest(log.lines().rfind(|l| l.contains(": digest: ")).unwrap());
    let built_id = image_id(&dst, &app);
    let third = Env::new();
    let pulled = ok(&third, &["pull", &app]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(image_id(&third, &app), built_id);
    assert!(env_of(&third, &app).contains(&"BUILT=1".to_string()));

    // A newer base under the same tag: a plain build keeps the stored one, --pull takes it.
    let tar = common::base_rootfs().to_str().unwrap();
    src.ok(&["import", "-c", "ENV NEWER=1", tar, "newer"]);
    ok(&src, &["push", "newer", &base]);
    let log = build(&dst, &["build", "-t", "local:one", ctx]);
    assert!(!log.contains("Pulling from"), "{log}");
    assert!(!env_of(&dst, "local:one").contains(&"NEWER=1".to_string()));
    let log = build(
        &dst,
        &[
            "--progress",
            "plain",
            "build",
            "--pull",
            "-t",
            "local:two",
            ctx,
        ],
    );
    assert!(log.contains("Status: Downloaded newer image"), "{log}");
    assert!(env_of(&dst, "local:two").contains(&"NEWER=1".to_string()));
    // Up to date now: --pull checks and downloads nothing.
    let log = build(
        &dst,
        &[
            "--progress",
            "plain",
            "build",
            "--pull",
            "-t",
            "local:three",
            ctx,
        ],
    );
    assert!(log.contains("Status: Image is up to date"), "{log}");
    ok(&dst, &["system", "check"]);
}

#[test]
fn a_failed_upload_while_compressing_falls_back_to_the_stored_variant() {
    // A registry that refuses every PATCH: the streamed upload fails, the variant is pushed
    // with an ordinary POST + PUT afterwards.
    let blobs = Arc::new(Mutex::new(HashMap::<String, Vec<u8>>::new()));
    let manifest = Arc::new(Mutex::new(Vec::new()));
    let patches = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (b, m, p) = (blobs.clone(), manifest.clone(), patches.clone());
    let handler: Arc<BodyHandler> = Arc::new(move |method, path, _headers, body| {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        match method {
            "HEAD" => match b.lock().unwrap().get(route.rsplit('/').next().unwrap()) {
                Some(blob) => {
                    Reply::new(200, Vec::new()).header("Content-Length", &blob.len().to_string())
                }
                None => Reply::new(404, Vec::new()),
            },
            "POST" => Reply::new(202, Vec::new()).header("Location", "/v2/f/img/blobs/uploads/u"),
            "PATCH" => {
                p.fetch_add(1, Ordering::SeqCst);
                Reply::new(500, Vec::new())
            }
            "PUT" if route.contains("/manifests/") => {
                *m.lock().unwrap() = body.to_vec();
                Reply::new(201, Vec::new())
            }
            "PUT" => {
                let digest = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("digest="))
                    .unwrap();
                assert_eq!(Digest::of_bytes(body).to_string(), digest);
                b.lock().unwrap().insert(digest.to_string(), body.to_vec());
                Reply::new(201, Vec::new())
            }
            _ => Reply::new(405, Vec::new()),
        }
    });
    let port = fake_registry_with_bodies(handler);
    let env = Env::new();
    env.import_base("base");
    let out = run(
        &env,
        &[
            "-v",
            "push",
            "--compression",
            "zstd",
            "base",
            &format!("127.0.0.1:{port}/f/img:v1"),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("uploading while compressing failed"),
        "{stderr}"
    );
    assert!(patches.load(Ordering::SeqCst) >= 1);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.lock().unwrap()).unwrap();
    let layer = &manifest["layers"][0];
    assert_eq!(
        layer["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let blob = blobs.lock().unwrap()[layer["digest"].as_str().unwrap()].clone();
    assert!(blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]), "not zstd");
    ok(&env, &["system", "check"]);
}
