//! The tutorials' commands (tests/tutorial/script.sh) run once with docker and once with
//! strata against the same local registry (Debian's `docker-registry` on 127.0.0.1 with
//! htpasswd auth) and the same base image: per command, the exit codes and the output's
//! header columns must match. The run is written to $CARGO_TARGET_TMPDIR/tutorial-last-run.txt
//! (tests/tutorial/last-run.txt is a saved copy).
//!
//! strata's run happens in a network namespace of the test's own (its bridges and veths live
//! there): a thread of this process enters a new namespace, listens on 127.0.0.1:PORT there
//! and forwards each connection to the registry in the host's namespace, so both CLIs talk to
//! the same registry under the same name. docker's run uses dockerd (`--bridge=none`): the
//! networks it creates are its own host bridges; the script sends no traffic between them.
//! Traffic is checked in strata's namespace after its run: containers on a user network reach
//! each other by name, a container outside it does not.

mod common;
#[path = "registry_cli/support.rs"]
mod support;

use common::{docker_available, Env};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::Registry;

const USER: &str = "tutor";
const PASS: &str = "tut0rial";

/// Copies both ways between two streams until either side closes.
fn splice<A: Duplex, B: Duplex>(a: A, b: B) {
    let (mut a2, mut b2) = (a.dup(), b.dup());
    let (mut a, mut b) = (a, b);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        b.close_write();
    });
    let _ = std::io::copy(&mut b2, &mut a2);
    a2.close_write();
    let _ = up.join();
}

/// A stream that can be cloned and half-closed.
trait Duplex: Read + Write + Send + 'static + Sized {
    fn dup(&self) -> Self;
    fn close_write(&self);
}

impl Duplex for TcpStream {
    fn dup(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Duplex for UnixStream {
    fn dup(&self) -> Self {
        self.try_clone().unwrap()
    }
    fn close_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// Runs the script with `cli` and the environment given; returns the result file's text.
fn run_script(cli: &Path, kind: &str, dir: &Path, reg: &str, base: &str, pfx: &str) -> String {
    let out = dir.join(format!("{kind}.result"));
    let home = dir.join(format!("{kind}-home"));
    std::fs::create_dir_all(&home).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tutorial/script.sh");
    let res = Command::new("sh")
        .arg(&script)
        .env("CLI", cli)
        .env("CLI_KIND", kind)
        .env("REG", reg)
        .env("BASE", base)
        .env("OUT", &out)
        .env("REG_USER", USER)
        .env("REG_PASS", PASS)
        .env("PFX", pfx)
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("STRATA_ROOT")
        .stdin(Stdio::null())
        .output()
        .expect("run tests/tutorial/script.sh");
    eprintln!(
        "--- {kind} run stderr:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(res.status.success(), "script with {kind}: {res:?}");
    std::fs::read_to_string(&out).unwrap()
}

const INNER: &str = "STRATA_TUTORIAL_INNER";

/// The strata run: this test binary again, under `unshare --net`, with a forwarder from the
/// namespace's 127.0.0.1:`port` to the host's registry through a Unix socket (a path, which
/// network namespaces do not separate).
fn run_strata_in_netns(wrapper: &Path, dir: &Path, port: u16, base: &str, pfx: &str) -> String {
    let sock = dir.join("registry.sock");
    let unix = UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        for conn in unix.incoming() {
            let Ok(conn) = conn else { break };
            let up = TcpStream::connect(("127.0.0.1", port)).expect("connect to the registry");
            std::thread::spawn(move || splice(conn, up));
        }
    });
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .arg("--net")
        .arg(exe)
        .args([
            "--exact",
            "tutorial_commands_match_docker",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .env("TUT_WRAPPER", wrapper)
        .env("TUT_DIR", dir)
        .env("TUT_PORT", port.to_string())
        .env("TUT_BASE", base)
        .env("TUT_PFX", pfx)
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "strata's run in its own network namespace failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(dir.join("strata.result")).unwrap()
}

/// Inside the namespace: loopback up, 127.0.0.1:PORT forwarded to the Unix socket, the script.
fn inner() {
    let var = |k: &str| std::env::var(k).unwrap();
    let lo = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("run ip");
    assert!(lo.success(), "lo up");
    let port: u16 = var("TUT_PORT").parse().unwrap();
    let dir = PathBuf::from(var("TUT_DIR"));
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let sock = dir.join("registry.sock");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            let up = UnixStream::connect(&sock).expect("connect to the forwarder");
            std::thread::spawn(move || splice(conn, up));
        }
    });
    let reg = format!("127.0.0.1:{port}");
    let wrapper = PathBuf::from(var("TUT_WRAPPER"));
    let (base, pfx) = (var("TUT_BASE"), var("TUT_PFX"));
    run_script(&wrapper, "strata", &dir, &reg, &base, &pfx);
    traffic(&wrapper, &base, &pfx);
}

/// What the docker run leaves out: containers on the tutorial's user network reach each other
/// by name, and a container outside it does not.
fn traffic(wrapper: &Path, base: &str, pfx: &str) {
    let strata = |args: &[&str]| {
        Command::new(wrapper)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run strata")
    };
    let ok = |args: &[&str]| {
        let out = strata(args);
        assert!(out.status.success(), "strata {args:?}: {out:?}");
    };
    let (net, srv) = (format!("{pfx}-tnet"), format!("{pfx}-srv"));
    ok(&["network", "create", &net]);
    ok(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        base,
        "sleep",
        "1000",
    ]);
    let ping = ["ping", "-c", "1", "-W", "2", srv.as_str()];
    let on_net: Vec<&str> = ["run", "--rm", "--network", &net, base]
        .into_iter()
        .chain(ping)
        .collect();
    ok(&on_net);
    let outside: Vec<&str> = ["run", "--rm", "--network", "none", base]
        .into_iter()
        .chain(ping)
        .collect();
    assert!(
        !strata(&outside).status.success(),
        "reached {srv} from --network none"
    );
    ok(&["rm", "-f", &srv]);
    ok(&["network", "rm", &net]);
}

/// Splits a result file into (step, exit, header) rows.
fn rows(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let step = f.next().unwrap_or("").to_string();
            let code = f.next().unwrap_or("").to_string();
            let header = f.next().unwrap_or("").to_string();
            (step, code, header)
        })
        .collect()
}

#[test]
fn tutorial_commands_match_docker() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    if !docker_available() {
        return;
    }
    let docker = Path::new("/usr/bin/docker");
    let env = Env::new();
    let dir = env.path("run");
    std::fs::create_dir_all(&dir).unwrap();
    let pfx = format!("strata-tut-{}", std::process::id());
    let base = format!("{pfx}/base:1");
    env.ok(&["import", common::base_rootfs().to_str().unwrap(), &base]);

    // The same image in docker: strata's docker-format archive, loaded.
    let archive = env.path("base.tar");
    env.ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        archive.to_str().unwrap(),
        &base,
    ]);
    let loaded = Command::new(docker)
        .args(["load", "-i", archive.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(loaded.status.success(), "docker load: {loaded:?}");

    // strata through a wrapper with a fresh store.
    let wrapper = env.path("strata");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {} --root {} \"$@\"\n",
            common::strata_bin(),
            env.root().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let registry = Registry::start(Some((USER, PASS)));
    let reg = format!("127.0.0.1:{}", registry.port);
    let docker_out = run_script(docker, "docker", &dir, &reg, &base, &pfx);
    // Whatever the docker run left behind (the script removes its objects when all went well).
    for c in ["c1", "c2", "c3"] {
        let _ = Command::new(docker)
            .args(["rm", "-f", &format!("{pfx}-{c}")])
            .output();
    }
    for n in ["n1", "n2"] {
        let _ = Command::new(docker)
            .args(["network", "rm", &format!("{pfx}-{n}")])
            .output();
    }
    let _ = Command::new(docker).args(["rmi", &base]).output();
    let strata_out = run_strata_in_netns(&wrapper, &dir, registry.port, &base, &pfx);

    let (d, s) = (rows(&docker_out), rows(&strata_out));
    let mut report = format!(
        "{:<24} {:<8} {:<8} header (docker | strata)\n",
        "step", "docker", "strata"
    );
    let mut diffs = Vec::new();
    for i in 0..d.len().max(s.len()) {
        let empty = (String::new(), String::new(), String::new());
        let (dr, sr) = (d.get(i).unwrap_or(&empty), s.get(i).unwrap_or(&empty));
        let header = if dr.2 == sr.2 {
            dr.2.clone()
        } else {
            format!("{} | {}", dr.2, sr.2)
        };
        report.push_str(&format!("{:<24} {:<8} {:<8} {header}\n", dr.0, dr.1, sr.1));
        let expected = dr.2.starts_with("EXPECTED-DIFFERENCE");
        if dr.0 != sr.0 || (!expected && (dr.1 != sr.1 || dr.2 != sr.2)) {
            diffs.push(format!("- docker {dr:?}\n+ strata {sr:?}"));
        }
    }
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tutorial-last-run.txt");
    std::fs::write(&saved, &report).unwrap();
    eprintln!("{report}(written to {})", saved.display());
    assert!(
        diffs.is_empty(),
        "docker and strata differ:\n{}",
        diffs.join("\n")
    );
}
