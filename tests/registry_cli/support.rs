//! What the registry tests share: the real registry process and running the binary with a
//! private home directory (so the user's own `~/.docker` is never read).
#![allow(dead_code)]

use crate::common::{self, Env};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---- the real registry -------------------------------------------------------------------

/// A `docker-registry` process on a free loopback port with its own storage; killed on drop.
pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// Starts the registry, with htpasswd basic auth for `user` when given.
    pub fn start(user: Option<(&str, &str)>) -> Registry {
        Registry::start_with(user, false)
    }

    /// Starts the registry; with `tls`, over HTTPS with a fresh self-signed certificate.
    pub fn start_with(user: Option<(&str, &str)>, tls: bool) -> Registry {
        Registry::start_in(tempfile::tempdir().unwrap(), user, tls, None)
    }

    /// Starts the registry with `auth` as its `auth:` section (YAML, indented by two),
    /// keeping its files in `dir`.
    pub fn start_with_auth(dir: tempfile::TempDir, auth: &str) -> Registry {
        Registry::start_in(dir, None, false, Some(auth))
    }

    fn start_in(
        dir: tempfile::TempDir,
        user: Option<(&str, &str)>,
        tls: bool,
        auth: Option<&str>,
    ) -> Registry {
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if tls {
            let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
            common::tool(
                "openssl",
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                    "-keyout",
                    key.to_str().unwrap(),
                    "-out",
                    cert.to_str().unwrap(),
                ],
            );
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((name, password)) = user {
            let hash = bcrypt::hash(password, 4).unwrap();
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{name}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                htpasswd.display()
            ));
        }
        if let Some(auth) = auth {
            config.push_str(&format!("auth:\n{auth}"));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry is installed (tests/setup-host.sh)");
        let mut registry = Registry { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = registry.child.try_wait().unwrap().is_some();
            assert!(
                Instant::now() < deadline && !exited,
                "registry did not start: {}",
                std::fs::read_to_string(registry.dir.path().join("registry.log")).unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A home directory for credentials, so the user's own `~/.docker` is never read.
pub fn home(env: &Env) -> PathBuf {
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    home
}

pub fn run(env: &Env, args: &[&str], stdin: Option<&str>) -> Output {
    let home = home(env);
    let mut cmd = env.cmd(args);
    cmd.env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

pub fn ok(env: &Env, args: &[&str]) -> String {
    ok_in(env, args, None)
}

pub fn ok_in(env: &Env, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(env, args, stdin);
    assert!(
        out.status.success(),
        "strata {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn fails(env: &Env, args: &[&str], stdin: Option<&str>) -> String {
    let out = run(env, args, stdin);
    assert_eq!(
        out.status.code(),
        Some(1),
        "strata {args:?} should fail:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stderr).unwrap()
}

/// The manifest digest on push's last line.
pub fn pushed_digest(out: &str) -> String {
    let line = out.lines().last().unwrap();
    line.split("digest: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_string()
}

pub fn image_id(env: &Env, name: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(&ok(env, &["inspect", name])).unwrap();
    json[0]["Id"].as_str().unwrap().to_string()
}
