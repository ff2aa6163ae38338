//! `ADD http(s)://...` through the real binary, against HTTP and HTTPS servers the test starts
//! on 127.0.0.1 (python3's http.server, which sends Last-Modified from the file's mtime).

mod common;

use common::{docker_available, tool, Env};
use sha2::Digest as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

const SERVER: &str = r#"
import http.server, os, ssl, sys
root, log = sys.argv[1], sys.argv[2]
class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def log_request(self, code="-", size="-"):
        with open(log, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, code))
    def log_message(self, *a):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) > 3:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[3], sys.argv[4])
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// A file server on 127.0.0.1 serving `root`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    scheme: &'static str,
}

impl Server {
    fn start(root: &Path, log: PathBuf, tls: Option<(&Path, &Path)>) -> Server {
        let mut cmd = Command::new("python3");
        cmd.args(["-c", SERVER]).arg(root).arg(&log);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 (tests/setup-host.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Server {
            child,
            port,
            log,
            scheme: if tls.is_some() { "https" } else { "http" },
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}://127.0.0.1:{}/{path}", self.scheme, self.port)
    }

    /// How many GETs of `/path` were answered.
    fn gets(&self, path: &str) -> usize {
        self.answered(path, "")
    }

    /// How many GETs of `/path` were answered with a status starting with `code`.
    fn answered(&self, path: &str, code: &str) -> usize {
        let want = format!("GET /{path} {code}");
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(&want))
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn build(env: &Env, ctx: &Path, extra: &[&str], vars: &[(&str, &Path)]) -> std::process::Output {
    let mut args = vec!["--progress", "plain", "build"];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    let mut cmd = env.cmd(&args);
    cmd.env_remove("SSL_CERT_FILE");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn build_ok(env: &Env, ctx: &Path, extra: &[&str]) -> String {
    let out = build(env, ctx, extra, &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "build failed:\n{err}");
    err
}

fn build_err(env: &Env, ctx: &Path) -> String {
    let out = build(env, ctx, &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn step_cached(log: &str, needle: &str) -> bool {
    let id = log
        .lines()
        .find(|l| l.starts_with('#') && l.contains(needle))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {needle:?}:\n{log}"))
        .to_string();
    log.lines().any(|l| l == format!("{id} CACHED"))
}

const MTIME: u64 = 1_000_000_000;

fn serve_files(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let tool_sh = b"#!/bin/sh\necho tool\n";
    fs::write(dir.join("tool.sh"), tool_sh).unwrap();
    fs::write(dir.join("other.sh"), b"#!/bin/sh\necho other\n").unwrap();
    // A real gzip'd tar: ADD of a URL must not unpack it.
    let tar = tool(
        "sh",
        &[
            "-c",
            &format!("cd {} && tar -czf archive.tar.gz tool.sh", dir.display()),
        ],
    );
    assert!(tar.is_empty());
    for name in ["tool.sh", "other.sh", "archive.tar.gz"] {
        let f = fs::File::options()
            .write(true)
            .open(dir.join(name))
            .unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(MTIME))
            .unwrap();
    }
}

#[test]
fn add_urls_like_buildkit() {
    let env = Env::new();
    env.import_base("base");
    let www = env.path("www");
    serve_files(&www);
    let server = Server::start(&www, env.path("http.log"), None);
    let sum = sha256(&fs::read(www.join("tool.sh")).unwrap());
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let dockerfile = format!(
        "FROM base\n\
         ADD --checksum=sha256:{sum} {tool} /usr/local/bin/\n\
         ADD {archive} /downloads/\n\
         ADD --chmod=755 --chown=app {other} /opt/renamed\n",
        tool = server.url("tool.sh"),
        archive = server.url("archive.tar.gz"),
        other = server.url("other.sh"),
    );
    fs::write(ctx.join("Dockerfile"), &dockerfile).unwrap();
    let out = env.path("rootfs");
    let spec = format!("type=local,dest={}", out.display());
    build_ok(&env, &ctx, &["-t", "fetched", "-o", &spec]);
    let tool_file = out.join("usr/local/bin/tool.sh");
    assert_eq!(
        fs::read_to_string(&tool_file).unwrap(),
        "#!/bin/sh\necho tool\n"
    );
    let meta = fs::metadata(&tool_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), MTIME as i64, "mtime from Last-Modified");
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let archive = out.join("downloads/archive.tar.gz");
    assert_eq!(
        fs::read(&archive).unwrap(),
        fs::read(www.join("archive.tar.gz")).unwrap(),
        "not unpacked"
    );
    let renamed = fs::metadata(out.join("opt/renamed")).unwrap();
    assert_eq!(renamed.permissions().mode() & 0o7777, 0o755);
    assert_eq!((renamed.uid(), renamed.gid()), (1000, 1000));
    assert_eq!(
        (server.gets("tool.sh"), server.gets("archive.tar.gz")),
        (1, 1)
    );

    // A rebuild: the checksum is the key, so that URL is not fetched again; the others are
    // asked for with If-Modified-Since (the server sent Last-Modified): a 304 gives their key
    // without a download, and they hit the cache.
    let log = build_ok(&env, &ctx, &[]);
    assert!(step_cached(&log, "ADD --checksum"), "{log}");
    assert!(step_cached(&log, "archive.tar.gz"), "{log}");
    assert_eq!(
        (
            server.gets("tool.sh"),
            server.answered("archive.tar.gz", "304")
        ),
        (1, 1)
    );
    fs::write(www.join("archive.tar.gz"), b"not an archive any more").unwrap();
    let (out, log) = {
        let dir = env.path("rootfs2");
        let spec = format!("type=local,dest={}", dir.display());
        (dir.clone(), build_ok(&env, &ctx, &["-o", &spec]))
    };
    assert!(step_cached(&log, "ADD --checksum"), "{log}");
    assert!(!step_cached(&log, "archive.tar.gz"), "{log}");
    assert_eq!(server.answered("archive.tar.gz", "200"), 2);
    assert_eq!(
        fs::read(out.join("downloads/archive.tar.gz")).unwrap(),
        b"not an archive any more"
    );
    // The validators can be lost: the URL is then simply fetched again.
    fs::remove_dir_all(env.root().join("strata/v1/http-cache")).unwrap();
    let log = build_ok(&env, &ctx, &[]);
    assert!(step_cached(&log, "archive.tar.gz"), "{log}");
    assert_eq!(server.answered("archive.tar.gz", "200"), 3);
    // Known unchanged (304) but not cached: fetched when the step runs.
    let log = build_ok(&env, &ctx, &["--no-cache"]);
    assert!(!step_cached(&log, "archive.tar.gz"), "{log}");
    assert_eq!(
        (
            server.answered("archive.tar.gz", "304"),
            server.answered("archive.tar.gz", "200")
        ),
        (2, 4)
    );
    assert!(env.ok(&["system", "check"]).contains("store is clean"));

    // From outside: docker sees the files with their modes and times.
    if docker_available() {
        let name = env.load_into_docker("fetched", "strata-addurl");
        let got = tool(
            "docker",
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &name,
                "stat",
                "-c",
                "%a %u %Y %n",
                "/usr/local/bin/tool.sh",
                "/opt/renamed",
                "/downloads/archive.tar.gz",
            ],
        );
        tool("docker", &["rmi", &name]);
        assert_eq!(
            got,
            format!(
                "600 0 {MTIME} /usr/local/bin/tool.sh\n755 1000 {MTIME} /opt/renamed\n600 0 {MTIME} /downloads/archive.tar.gz\n"
            )
        );
    }
}

#[test]
fn add_url_failures_name_the_line() {
    let env = Env::new();
    env.import_base("base");
    let www = env.path("www");
    serve_files(&www);
    let server = Server::start(&www, env.path("http.log"), None);
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    let before = env.snapshot();
    let wrong = "0".repeat(64);
    let cases = [
        (
            format!(
                "FROM base\nADD --checksum=sha256:{wrong} {} /\n",
                server.url("tool.sh")
            ),
            format!("digest mismatch sha256:{wrong}: sha256:"),
        ),
        (
            format!("FROM base\nADD {} /\n", server.url("missing.txt")),
            "invalid response status 404".to_string(),
        ),
        (
            "FROM base\nADD https://github.com/moby/buildkit.git#v0.10.1 /src\n".to_string(),
            "ADD of a Git repository".to_string(),
        ),
    ];
    for (dockerfile, message) in &cases {
        fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        let err = build_err(&env, &ctx);
        assert!(err.contains(message.as_str()), "{dockerfile}\n{err}");
        assert!(err.contains("Dockerfile:2"), "{err}");
    }
    assert!(env.ok(&["system", "check"]).contains("store is clean"));
    // Only the base's blobs: nothing a failed fetch wrote stayed in the store.
    assert_eq!(env.snapshot().1, before.1);
}

#[test]
fn add_https_verifies_the_certificate() {
    let env = Env::new();
    env.import_base("base");
    let www = env.path("www");
    serve_files(&www);
    // A CA and a server certificate it signed (rustls refuses a CA as the server's own).
    let p = |n: &str| env.path(n).to_str().unwrap().to_string();
    let (key, cert, ca) = (
        env.path("key.pem"),
        env.path("cert.pem"),
        env.path("ca.pem"),
    );
    fs::write(env.path("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=strata test CA",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.pem"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &p("key.pem"),
            "-out",
            &p("leaf.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &p("leaf.csr"),
            "-CA",
            &p("ca.pem"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
            "-out",
            &p("cert.pem"),
        ],
    ] {
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    let server = Server::start(&www, env.path("https.log"), Some((&cert, &key)));
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        format!("FROM base\nADD {} /fetched\n", server.url("tool.sh")),
    )
    .unwrap();
    let err = build_err(&env, &ctx);
    assert!(
        err.contains("Dockerfile:2") && err.contains("invalid peer certificate"),
        "{err}"
    );
    assert_eq!(server.gets("tool.sh"), 0);
    // Trusted through $SSL_CERT_FILE, it works.
    let out = build(&env, &ctx, &["-t", "https"], &[("SSL_CERT_FILE", &ca)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.gets("tool.sh"), 1);
}
