//! `strata build --progress`: plain lines, JSON objects for CI, and the live tty display
//! (through a pseudo terminal made by util-linux `script`), with the real binary.

mod common;

use common::Env;
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

const DOCKERFILE: &str =
    "FROM base\nCOPY app.txt /app.txt\nRUN echo tick-line && sleep 1 && echo tock-line\n";

fn context(env: &Env) -> std::path::PathBuf {
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    fs::write(ctx.join("app.txt"), "app\n").unwrap();
    ctx
}

fn json_lines(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap()
}

#[test]
fn json_progress_is_one_object_per_event() {
    let env = Env::new();
    env.import_base("base");
    let ctx = context(&env);
    let ctx = ctx.to_str().unwrap();
    let out = env.run(&["--progress=json", "build", "-t", "app:1", ctx]);
    assert!(out.status.success(), "{out:?}");
    let events = json_lines(&out.stderr);
    let run: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "step" && e["name"].as_str().unwrap().contains("RUN echo"))
        .collect();
    assert_eq!(run.len(), 2, "running, then done: {events:?}");
    assert_eq!(run[0]["status"], "running");
    assert_eq!(run[1]["status"], "done");
    assert_eq!(run[1]["cached"], false);
    assert_eq!(
        run[0]["name"],
        "[stage-0 2/2] RUN echo tick-line && sleep 1 && echo tock-line"
    );
    assert!(time(&run[1]["completed"]) > time(&run[1]["started"]));
    assert!(run[1]["duration"].as_f64().unwrap() >= 1.0);
    let id = run[0]["id"].clone();
    let logs: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "log" && e["id"] == id)
        .map(|e| e["line"].as_str().unwrap())
        .collect();
    assert_eq!(logs, ["tick-line", "tock-line"]);
    for e in &events {
        time(&e["time"]);
        assert!(e["elapsed"].is_number(), "{e}");
    }
    let last = events.last().unwrap();
    let image = env.ok(&["images", "-q", "--no-trunc", "app:1"]);
    assert_eq!(last["type"], "result");
    assert_eq!(last["image"], image.trim());
    assert_eq!(last["tags"], serde_json::json!(["docker.io/library/app:1"]));

    // A rebuild: every step a cache hit.
    let out = env.run(&["--progress=json", "build", ctx]);
    let events = json_lines(&out.stderr);
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "step" && e["status"] != "running")
        .collect();
    assert_eq!(finished.len(), 2);
    assert!(finished
        .iter()
        .all(|e| e["status"] == "cached" && e["cached"] == true));

    // A failure: the step's status, then the failure object.
    fs::write(
        Path::new(ctx).join("Dockerfile"),
        "FROM base\nRUN echo doomed; exit 7\n",
    )
    .unwrap();
    let out = env.run(&["--progress=json", "build", ctx]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr);
    // The JSON objects, then the error message as every command prints it.
    let (json_part, error) = text.split_at(text.find("\nerror: ").unwrap() + 1);
    assert!(error.contains("exit code: 7"), "{text}");
    let events = json_lines(json_part.as_bytes());
    assert!(events
        .iter()
        .any(|e| e["type"] == "step" && e["status"] == "error"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "log" && e["line"] == "doomed"));
    let last = events.last().unwrap();
    assert_eq!(last["type"], "failure");
    assert!(
        last["error"].as_str().unwrap().contains("exit code: 7"),
        "{last}"
    );
}

/// Runs `strata ARGS` on a pseudo terminal; returns everything it wrote there.
fn on_tty(env: &Env, args: &[&str]) -> (bool, String) {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = format!(
        "{} --root {}",
        quote(common::strata_bin()),
        quote(env.root().to_str().unwrap())
    );
    for a in args {
        line.push(' ');
        line.push_str(&quote(a));
    }
    let out = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .env("COLUMNS", "100")
        .env("LINES", "40")
        .env_remove("STRATA_ROOT")
        // As every test's Env: RUN steps make no interface on the host.
        .env("STRATA_DEFAULT_NETWORK", "none")
        .output()
        .expect("run script (util-linux)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn tty_progress_redraws_in_place() {
    let env = Env::new();
    env.import_base("base");
    let ctx = context(&env);
    let ctx = ctx.to_str().unwrap();
    // auto on a terminal is the tty display.
    let (ok, screen) = on_tty(&env, &["build", "-t", "app:1", ctx]);
    assert!(ok, "{screen}");
    assert!(screen.contains("[+] Building"), "{screen}");
    assert!(
        screen.contains("\x1b[2K") && screen.contains("A\r"),
        "cursor moves: {screen:?}"
    );
    // The running step's output shows under it while it runs.
    assert!(screen.contains(" => => # tick-line"), "{screen}");
    // The last frame: everything done, the export summary, no step output left.
    let last = &screen[screen.rfind("[+] Building").unwrap()..];
    assert!(last.contains("FINISHED"), "{last}");
    assert!(
        !last.contains("# tick-line"),
        "finished steps collapse: {last}"
    );
    let image = env.ok(&["images", "-q", "--no-trunc", "app:1"]);
    assert!(
        last.contains(&format!(" => => writing image {}", image.trim())),
        "{last}"
    );
    assert!(
        last.contains(" => => naming to docker.io/library/app:1"),
        "{last}"
    );
    assert!(
        last.contains(" => [stage-0 2/2] RUN echo tick-line"),
        "{last}"
    );

    let (ok, screen) = on_tty(&env, &["--progress=tty", "build", ctx]);
    assert!(ok, "{screen}");
    let last = &screen[screen.rfind("[+] Building").unwrap()..];
    assert!(last.contains(" => CACHED [stage-0 2/2] RUN echo"), "{last}");
    assert!(
        last.contains(" => CACHED [stage-0 1/2] COPY app.txt /app.txt"),
        "{last}"
    );

    // plain on a terminal stays one line per event, no escapes.
    let (ok, screen) = on_tty(&env, &["--progress=plain", "build", ctx]);
    assert!(ok, "{screen}");
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert!(screen.contains("CACHED"), "{screen}");

    // A failure leaves the failed step's output below the last frame, then the error.
    fs::write(
        Path::new(ctx).join("Dockerfile"),
        "FROM base\nRUN echo doomed; exit 7\n",
    )
    .unwrap();
    let (ok, screen) = on_tty(&env, &["--progress=tty", "build", ctx]);
    assert!(!ok);
    assert!(
        screen.contains(" => ERROR [stage-0 1/1] RUN echo doomed; exit 7"),
        "{screen}"
    );
    assert!(
        screen.contains("------\r\n > [stage-0 1/1] RUN echo doomed; exit 7:\r\ndoomed\r\n------"),
        "{screen:?}"
    );
    assert!(screen.contains("error: "), "{screen}");
}

#[test]
fn plain_progress_without_a_terminal() {
    let env = Env::new();
    env.import_base("base");
    let ctx = context(&env);
    let err = String::from_utf8(
        env.cmd(&["build", "-t", "app:1", ctx.to_str().unwrap()])
            .output()
            .unwrap()
            .stderr,
    )
    .unwrap();
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(
        err.contains("#1 [stage-0 1/2] COPY app.txt /app.txt"),
        "{err}"
    );
    assert!(err.contains(" tick-line\n"), "{err}");
    let image = env.ok(&["images", "-q", "--no-trunc", "app:1"]);
    assert!(
        err.contains(&format!("writing image {} done", image.trim())),
        "{err}"
    );
    assert!(
        err.contains("naming to docker.io/library/app:1 done"),
        "{err}"
    );
}

#[test]
fn json_progress_stays_json_when_cancelled() {
    use std::io::BufRead;
    let env = Env::new();
    env.import_base("base");
    let ctx = env.path("ctx");
    fs::create_dir_all(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM base\nRUN echo waiting && sleep 41.5\n",
    )
    .unwrap();
    let mut child = env
        .cmd(&["--progress=json", "build", ctx.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    // Interrupt once the step has printed: the build is surely running it.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let started = line.contains("\"line\":\"waiting\"");
        seen.push(line);
        if started {
            break;
        }
    }
    common::tool("kill", &["-INT", &child.id().to_string()]);
    seen.extend(lines.map(|l| l.unwrap()));
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let first_error = seen.iter().position(|l| l.starts_with("error: ")).unwrap();
    let events = json_lines(seen[..first_error].join("\n").as_bytes());
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "warning" && e["message"] == "cancelling the build..."),
        "{seen:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(last["type"], "failure");
    assert_eq!(last["error"], "the build was cancelled");
}
