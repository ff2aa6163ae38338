//! `pull`, `push`, `login`, `logout` end to end: the real binary against the real CNCF
//! distribution registry (Debian's `docker-registry`) started on 127.0.0.1, and against a
//! tiny fake registry that injects faults (wrong bytes, 500, 429, dropped connections).

mod common;
#[path = "registry_cli/fake.rs"]
mod fake;
#[path = "registry_cli/support.rs"]
mod support;

use base64::Engine;
use common::Env;
use fake::{
    fake_registry, fake_registry_recording, serve_image, serve_one, small_image, Bodies, Handler,
    Reply,
};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use strata_cache::Digest;
use support::{fails, free_port, home, image_id, ok, ok_in, pushed_digest, run, Registry};

#[test]
fn push_pull_round_trip_keeps_digests_and_skips_existing_blobs() {
    let registry = Registry::start(None);
    let src = Env::new();
    let id = src.import_base("base");
    let dest = format!("{}/test/base:v1", registry.host());

    let out = ok(&src, &["push", "base", &dest]);
    assert!(
        out.starts_with(&format!(
            "The push refers to repository [{}/test/base]",
            registry.host()
        )),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let digest = pushed_digest(&out);
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with(&format!("v1: digest: {digest} size: ")),
        "{out}"
    );

    // Second push: every blob is there already.
    let again = ok(&src, &["push", "base", &dest]);
    assert!(again.contains("Layer already exists"), "{again}");
    assert!(!again.contains(": Pushed"), "{again}");
    assert_eq!(pushed_digest(&again), digest);

    // Another repository of the same registry: the layer is mounted, not uploaded.
    let other = format!("{}/other/base:v2", registry.host());
    let mounted = ok(&src, &["push", "base", &other]);
    assert!(mounted.contains("Mounted from test/base"), "{mounted}");

    // A fresh store pulls the same image: same ID, same manifest digest.
    let dst = Env::new();
    let pulled = ok(&dst, &["pull", &dest]);
    assert!(pulled.starts_with("v1: Pulling from "), "{pulled}");
    assert!(pulled.contains(": Pull complete"), "{pulled}");
    assert!(pulled.contains(&format!("Digest: {digest}")), "{pulled}");
    assert!(
        pulled.contains("Status: Downloaded newer image for"),
        "{pulled}"
    );
    assert_eq!(image_id(&dst, &dest), id);
    let by_digest = format!("{}/test/base@{digest}", registry.host());
    assert_eq!(image_id(&dst, &by_digest), id);
    let again = ok(&dst, &["pull", &dest]);
    assert!(again.contains("Already exists"), "{again}");
    assert!(again.contains("Status: Image is up to date"), "{again}");
    ok(&dst, &["system", "check"]);

    // By digest, into yet another store.
    let third = Env::new();
    ok(&third, &["pull", &by_digest]);
    assert_eq!(image_id(&third, &by_digest), id);

    // skopeo accepts what strata pushed.
    let inspect = common::tool(
        "skopeo",
        &["inspect", "--tls-verify=false", &format!("docker://{dest}")],
    );
    let json: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(json["Digest"], digest.as_str());

    // The wrong platform is refused.
    let err = fails(&third, &["pull", "--platform", "linux/s390x", &dest], None);
    assert!(
        err.contains("does not match the specified platform"),
        "{err}"
    );
}

#[test]
fn pull_selects_the_platform_of_an_index() {
    let registry = Registry::start(None);
    let src = Env::new();
    let id = src.import_base("base");
    let dest = format!("{}/multi/base:one", registry.host());
    let digest = pushed_digest(&ok(&src, &["push", "base", &dest]));
    let size = ok(&src, &["push", "base", &dest])
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    // A second image (another config) for another platform.
    let tar = common::base_rootfs().to_str().unwrap();
    let other_id = ok(&src, &["import", "-c", "ENV OTHER=1", tar, "other"]);
    let other_out = ok(
        &src,
        &[
            "push",
            "other",
            &format!("{}/multi/base:two", registry.host()),
        ],
    );
    let other_digest = pushed_digest(&other_out);
    let other_size: u64 = other_out
        .trim_end()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host = strata_builder::image::host_platform();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": other_digest, "size": other_size,
             "platform": {"os": "linux", "architecture": "riscv64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": digest, "size": size,
             "platform": {"os": host.os, "architecture": host.architecture}},
        ]
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let client = strata_registry::Client::new(strata_registry::ClientOptions {
        auth_file: Some(src.path("none.json")),
        ..Default::default()
    })
    .unwrap();
    let reference: strata_registry::Reference = format!("{}/multi/base:all", registry.host())
        .parse()
        .unwrap();
    let index_digest = client
        .put_manifest(
            &reference,
            "application/vnd.oci.image.index.v1+json",
            &bytes,
        )
        .unwrap();
    let mut tags = client.list_tags(&reference).unwrap();
    tags.sort();
    assert_eq!(tags, ["all", "one", "two"]);

    let dst = Env::new();
    let out = ok(&dst, &["pull", &reference.to_string()]);
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    assert_eq!(image_id(&dst, &reference.to_string()), id);
    let err = fails(
        &dst,
        &[
            "pull",
            "--platform",
            "windows/amd64",
            &reference.to_string(),
        ],
        None,
    );
    assert!(
        err.contains("no matching manifest for windows/amd64"),
        "{err}"
    );
    assert!(err.contains("linux/riscv64"), "{err}");
    let riscv = Env::new();
    ok(
        &riscv,
        &[
            "pull",
            "--platform",
            "linux/riscv64",
            &reference.to_string(),
        ],
    );
    assert_eq!(image_id(&riscv, &reference.to_string()), other_id.trim());
}

#[test]
fn login_push_logout_with_htpasswd() {
    let registry = Registry::start(Some(("alice", "s3cret")));
    let env = Env::new();
    env.import_base("base");
    let dest = format!("{}/private/base:v1", registry.host());
    let config = home(&env).join(".docker/config.json");

    let err = fails(&env, &["push", "base", &dest], None);
    assert!(err.contains("unauthorized"), "{err}");

    let err = fails(
        &env,
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        Some("wrong\n"),
    );
    assert!(err.contains("login to"), "{err}");
    assert!(!err.contains("wrong"), "the password leaked: {err}");
    assert!(!config.exists());

    let out = ok_in(
        &env,
        &["login", "-u", "alice", "--password-stdin", &registry.host()],
        Some("s3cret\n"),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    let auth = json["auths"][registry.host()]["auth"].as_str().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(auth)
            .unwrap(),
        b"alice:s3cret"
    );

    let out = ok(&env, &["push", "base", &dest]);
    let digest = pushed_digest(&out);
    let dst = Env::new();
    std::fs::create_dir_all(home(&dst).join(".docker")).unwrap();
    std::fs::copy(&config, home(&dst).join(".docker/config.json")).unwrap();
    let pulled = ok(&dst, &["pull", &dest]);
    assert!(pulled.contains(&digest), "{pulled}");

    let out = ok(&env, &["logout", &registry.host()]);
    assert_eq!(
        out.trim(),
        format!("Removing login credentials for {}", registry.host())
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert!(json["auths"].get(registry.host()).is_none(), "{json}");
    // Logged out already: docker says the same and succeeds.
    let out = ok(&env, &["logout", &registry.host()]);
    assert_eq!(
        out.trim(),
        format!("Removing login credentials for {}", registry.host())
    );
    let err = fails(&env, &["push", "base", &dest], None);
    assert!(err.contains("unauthorized"), "{err}");

    // --authfile / $REGISTRY_AUTH_FILE take the credentials elsewhere.
    let authfile = env.path("auth.json");
    ok_in(
        &env,
        &[
            "login",
            "--authfile",
            authfile.to_str().unwrap(),
            "-u",
            "alice",
            "--password-stdin",
            &registry.host(),
        ],
        Some("s3cret"),
    );
    assert!(authfile.exists());
    ok(
        &env,
        &[
            "push",
            "--authfile",
            authfile.to_str().unwrap(),
            "base",
            &dest,
        ],
    );
}

#[test]
fn wrong_bytes_are_refused_and_nothing_is_stored() {
    let port = fake_registry(serve_image(|_, layer| {
        let mut bad = layer.to_vec();
        bad[5000] ^= 1;
        Reply::new(200, bad)
    }));
    let env = Env::new();
    env.import_base("base");
    let before = env.snapshot();
    let (_, _, layer) = small_image();
    let err = fails(
        &env,
        &["pull", &format!("127.0.0.1:{port}/bad/image")],
        None,
    );
    assert!(err.contains("content mismatch"), "{err}");
    let after = env.snapshot();
    assert_eq!(before.0, after.0, "index.json changed");
    assert!(
        !after.1.contains(&Digest::of_bytes(&layer).hex()),
        "the corrupt layer was stored"
    );
    // At most the verified config is left, as garbage that check accepts.
    assert!(after.1.len() <= before.1.len() + 1);
    ok(&env, &["system", "check"]);
}

#[test]
fn pull_survives_500_429_and_a_dropped_connection() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let ranged = Arc::new(AtomicUsize::new(0));
    let ranges = ranged.clone();
    let port = fake_registry(serve_image(move |headers, layer| {
        match counter.fetch_add(1, Ordering::SeqCst) {
            0 => Reply::new(500, Vec::new()),
            1 => Reply {
                cut_after: Some(layer.len() / 2),
                ..Reply::new(200, layer.to_vec())
            },
            _ => match headers.get("range").and_then(|r| r.strip_prefix("bytes=")) {
                Some(from) => {
                    ranges.fetch_add(1, Ordering::SeqCst);
                    let from: usize = from.trim_end_matches('-').parse().unwrap();
                    Reply::new(206, layer[from..].to_vec()).header(
                        "Content-Range",
                        &format!("bytes {from}-{}/{}", layer.len() - 1, layer.len()),
                    )
                }
                None => Reply::new(200, layer.to_vec()),
            },
        }
    }));
    let env = Env::new();
    let name = format!("127.0.0.1:{port}/flaky/image:latest");
    let out = ok(&env, &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    let (_, config, _) = small_image();
    assert_eq!(image_id(&env, &name), Digest::of_bytes(&config).to_string());
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(
        ranged.load(Ordering::SeqCst),
        1,
        "the download was not resumed"
    );
    ok(&env, &["system", "check"]);
}

#[test]
fn unreachable_registry_fails_cleanly() {
    let env = Env::new();
    let port = free_port();
    let err = fails(
        &env,
        &["pull", &format!("127.0.0.1:{port}/nothing/here:latest")],
        None,
    );
    assert!(err.starts_with("error: pulling"), "{err}");
}

#[test]
fn bearer_tokens_from_the_token_endpoint_and_no_secret_in_logs() {
    let token_requests = Arc::new(AtomicUsize::new(0));
    let seen = token_requests.clone();
    let inner = serve_image(|_, layer| Reply::new(200, layer.to_vec()));
    let port = free_port();
    let realm = format!("http://127.0.0.1:{port}/token");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:hunter2")
    );
    let handler: Arc<Handler> = Arc::new(move |method, path, headers| {
        if path.starts_with("/token?") {
            seen.fetch_add(1, Ordering::SeqCst);
            let query = path.replace("%3A", ":").replace("%2F", "/");
            let scoped =
                query.contains("scope=repository:tok/image:pull") && query.contains("service=fake");
            if headers.get("authorization") != Some(&basic) || !scoped {
                return Reply::new(401, Vec::new());
            }
            return Reply::new(
                200,
                br#"{"token":"tok-SECRET-1","expires_in":300}"#.to_vec(),
            );
        }
        if headers.get("authorization").map(String::as_str) != Some("Bearer tok-SECRET-1") {
            return Reply::new(401, Vec::new()).header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="{realm}",service="fake",scope="repository:tok/image:pull""#
                ),
            );
        }
        inner(method, path, headers)
    });
    // The port was chosen before the handler; serve it there.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handler = handler.clone();
            std::thread::spawn(move || serve_one(stream, &*handler, &Bodies::default()));
        }
    });

    let env = Env::new();
    let name = format!("127.0.0.1:{port}/tok/image:latest");
    let err = fails(&env, &["pull", &name], None);
    assert!(err.contains("incorrect username or password"), "{err}");

    let docker = home(&env).join(".docker");
    std::fs::create_dir_all(&docker).unwrap();
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"{}"}}}}}}"#,
            base64::engine::general_purpose::STANDARD.encode("bob:hunter2")
        ),
    )
    .unwrap();
    let before = token_requests.load(Ordering::SeqCst);
    let out = run(&env, &["-vvv", "pull", &name], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // One token serves every request of the pull (it is cached).
    assert_eq!(token_requests.load(Ordering::SeqCst) - before, 1);
    for secret in ["tok-SECRET-1", "hunter2", "Ym9iOmh1bnRlcjI"] {
        assert!(
            !stderr.contains(secret),
            "{secret} leaked into the log:\n{stderr}"
        );
    }
}

#[test]
fn push_retries_a_failed_upload_and_sends_the_stored_bytes() {
    let puts = Arc::new(AtomicUsize::new(0));
    let counter = puts.clone();
    let handler: Arc<Handler> = Arc::new(move |method, path, _| match method {
        "HEAD" => Reply::new(404, Vec::new()),
        "POST" => Reply::new(202, Vec::new()).header("Location", "/v2/up/load/session?s=1"),
        "PUT" if path.starts_with("/v2/up/load/session?s=1&digest=") => {
            // The first upload fails on the server side.
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::new(500, Vec::new())
            } else {
                Reply::new(201, Vec::new())
            }
        }
        "PUT" if path.starts_with("/v2/up/load/manifests/") => Reply::new(201, Vec::new()),
        _ => Reply::new(404, Vec::new()),
    });
    let bodies = Bodies::default();
    let port = fake_registry_recording(handler, bodies.clone());
    let env = Env::new();
    env.import_base("base");
    let out = ok(
        &env,
        &["push", "base", &format!("127.0.0.1:{port}/up/load:v9")],
    );
    assert!(out.contains(": Pushed"), "{out}");
    // Layer (twice: failed then retried) and config uploads.
    assert_eq!(puts.load(Ordering::SeqCst), 3);
    let digest = pushed_digest(&out);
    let bodies = bodies.lock().unwrap();
    for (path, body) in bodies.iter() {
        if let Some(expected) = path.split("digest=").nth(1) {
            assert_eq!(Digest::of_bytes(body).to_string(), expected, "{path}");
        } else {
            assert!(path.ends_with("/manifests/v9"), "{path}");
            assert_eq!(Digest::of_bytes(body).to_string(), digest);
        }
    }
    assert_eq!(bodies.len(), 4);
}

#[test]
fn tls_registry_with_basic_auth() {
    let registry = Registry::start_with(Some(("carol", "pa55")), true);
    let env = Env::new();
    let id = env.import_base("base");
    let dest = format!("{}/tls/base:v1", registry.host());
    let out = ok_in(
        &env,
        &["login", "-u", "carol", "--password-stdin", &registry.host()],
        Some("pa55\n"),
    );
    assert!(out.contains("Login Succeeded"), "{out}");
    let digest = pushed_digest(&ok(&env, &["push", "base", &dest]));
    let dst = Env::new();
    std::fs::create_dir_all(home(&dst).join(".docker")).unwrap();
    std::fs::copy(
        home(&env).join(".docker/config.json"),
        home(&dst).join(".docker/config.json"),
    )
    .unwrap();
    let pulled = ok(&dst, &["pull", &dest]);
    assert!(pulled.contains(&digest), "{pulled}");
    assert_eq!(image_id(&dst, &dest), id);
    let inspect = common::tool(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--creds",
            "carol:pa55",
            &format!("docker://{dest}"),
        ],
    );
    assert!(inspect.contains(&digest), "{inspect}");
}
