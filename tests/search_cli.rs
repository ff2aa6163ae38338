//! `strata search` end to end: a registry's catalog through the real CNCF distribution
//! registry (Debian's `docker-registry` on 127.0.0.1, paginated with `?n=` and `Link`,
//! htpasswd auth), and Docker Hub's v1 search API through a test server.
//!
//! Docker Hub cannot be reached from these machines: the test server on 127.0.0.1 answers
//! `GET /v1/search?q=TERM&n=LIMIT` with a body in the exact JSON shape Docker Hub's index
//! returns (num_pages, num_results, page_size, page, query, results[] of star_count,
//! is_official, name, is_automated, description), and strata is pointed at it with
//! `STRATA_SEARCH_INDEX` (an environment variable for tests only).

mod common;
#[path = "registry_cli/support.rs"]
mod support;

use common::Env;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use support::Registry;

/// strata with its own HOME (credentials never read from the user's).
fn run(env: &Env, args: &[&str], extra: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let home = env.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = env.cmd(args);
    cmd.env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("STRATA_SEARCH_INDEX")
        .env_remove("STRATA_CATALOG_PAGE_SIZE")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
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

fn ok(env: &Env, args: &[&str], extra: &[(&str, &str)]) -> String {
    let out = run(env, args, extra, None);
    assert!(
        out.status.success(),
        "strata {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Names in the NAME column of a search table.
fn names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn catalog_search_follows_pagination_and_keeps_matching_names() {
    let env = Env::new();
    env.import_base("base");
    let reg = Registry::start(None);
    let host = reg.host();
    for repo in ["app/web", "app/db", "other", "tools/web-cli", "zz/webby"] {
        let name = format!("{host}/{repo}:1");
        ok(&env, &["tag", "base", &name], &[]);
        ok(&env, &["push", "-q", &name], &[]);
    }
    // Two names a page: the matches sit on pages 1, 2 and 3 of the registry's catalog.
    let page = [("STRATA_CATALOG_PAGE_SIZE", "2")];
    let out = ok(&env, &["search", &format!("{host}/web")], &page);
    assert!(
        out.starts_with("NAME") && out.lines().next().unwrap().contains("DESCRIPTION"),
        "{out}"
    );
    assert_eq!(
        names(&out),
        vec![
            format!("{host}/app/web"),
            format!("{host}/tools/web-cli"),
            format!("{host}/zz/webby")
        ]
    );
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]);
    // The default page size gives the same answer in one page.
    assert_eq!(ok(&env, &["search", &format!("{host}/web")], &[]), out);
    // --limit keeps the first N; an empty term lists everything.
    let out = ok(
        &env,
        &["search", "--limit", "2", &format!("{host}/web")],
        &page,
    );
    assert_eq!(names(&out).len(), 2);
    let all = ok(&env, &["search", &format!("{host}/")], &page);
    assert_eq!(names(&all).len(), 5);
    // JSON lines, and filters: a catalog has no stars nor official images.
    let json = ok(
        &env,
        &["search", "--format", "json", &format!("{host}/db")],
        &page,
    );
    let v: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], format!("{host}/app/db"));
    assert_eq!(v["IsOfficial"], "false");
    let none = ok(
        &env,
        &["search", "-f", "is-official=true", &format!("{host}/web")],
        &page,
    );
    assert_eq!(names(&none).len(), 0);
}

#[test]
fn catalog_search_authenticates_like_pull() {
    let env = Env::new();
    let reg = Registry::start(Some(("alice", "pw-alice")));
    let host = reg.host();
    let out = run(&env, &["search", &format!("{host}/x")], &[], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication required"), "{err}");
    let login = run(
        &env,
        &["login", "-u", "alice", "--password-stdin", &host],
        &[],
        Some("pw-alice\n"),
    );
    assert!(login.status.success(), "{login:?}");
    env.import_base("base");
    let name = format!("{host}/team/x-ray:1");
    ok(&env, &["tag", "base", &name], &[]);
    ok(&env, &["push", "-q", &name], &[]);
    let out = ok(&env, &["search", &format!("{host}/x-r")], &[]);
    assert_eq!(names(&out), vec![format!("{host}/team/x-ray")]);
}

/// What the fake index saw: request lines and whether X-Docker-Token was sent.
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// A v1 search index on 127.0.0.1 answering every request with `body` (Docker Hub's JSON).
fn fake_index(body: String) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut token = false;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                token |= h.to_ascii_lowercase().starts_with("x-docker-token: true");
            }
            record
                .lock()
                .unwrap()
                .push((line.trim().to_string(), token));
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
            let _ = s.flush();
            let mut rest = Vec::new();
            let _ = reader.get_mut().read_to_end(&mut rest);
        }
    });
    (url, seen)
}

/// Docker Hub's answer shape for `busybox` (values made up, shape as Docker Hub sends it).
fn hub_answer() -> String {
    serde_json::json!({
        "num_pages": 1,
        "num_results": 4,
        "page_size": 25,
        "page": 1,
        "query": "busybox",
        "results": [
            {"star_count": 12, "is_official": false, "name": "someone/busybox-tools",
             "is_automated": true, "description": "tools\nfor busybox"},
            {"star_count": 3300, "is_official": true, "name": "busybox",
             "is_automated": false, "description": "Busybox base image."},
            {"star_count": 0, "is_official": false, "name": "nobody/busybox",
             "is_automated": false, "description": ""},
            {"star_count": 45, "is_official": false, "name": "radial/busyboxplus",
             "is_automated": false,
             "description": "Full-chain, Internet enabled, busybox made from scratch. Comes in git and cURL flavors."}
        ]
    })
    .to_string()
}

#[test]
fn hub_search_speaks_the_v1_api_with_dockers_columns() {
    let env = Env::new();
    let (url, seen) = fake_index(hub_answer());
    let hub = [("STRATA_SEARCH_INDEX", url.as_str())];
    let out = ok(&env, &["search", "busybox"], &hub);
    let (line, token) = seen.lock().unwrap()[0].clone();
    assert_eq!(line, "GET /v1/search?q=busybox&n=25 HTTP/1.1");
    assert!(token, "X-Docker-Token: true sent as docker does");
    let lines: Vec<&str> = out.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]);
    // Most starred first; official marked [OK]; descriptions on one line, cut at 45
    // characters with docker's ellipsis.
    assert_eq!(
        names(&out),
        [
            "busybox",
            "radial/busyboxplus",
            "someone/busybox-tools",
            "nobody/busybox"
        ]
    );
    assert!(lines[1].contains("Busybox base image.") && lines[1].ends_with("[OK]"));
    assert!(
        lines[2].contains("Full-chain, Internet enabled, busybox made f… "),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("tools for busybox"));
    let full = ok(&env, &["search", "--no-trunc", "busybox"], &hub);
    assert!(full.contains("Comes in git and cURL flavors."));

    // --limit is sent as n; docker's filters apply to the answer.
    ok(&env, &["search", "--limit", "3", "library/busybox"], &hub);
    assert_eq!(
        seen.lock().unwrap().last().unwrap().0,
        "GET /v1/search?q=busybox&n=3 HTTP/1.1"
    );
    let out = ok(&env, &["search", "--limit", "3", "busybox"], &hub);
    assert_eq!(names(&out).len(), 3);
    let out = ok(&env, &["search", "--filter", "stars=40", "busybox"], &hub);
    assert_eq!(names(&out), ["busybox", "radial/busyboxplus"]);
    let out = ok(&env, &["search", "-f", "is-official=true", "busybox"], &hub);
    assert_eq!(names(&out), ["busybox"]);
    let out = ok(
        &env,
        &[
            "search",
            "-f",
            "is-official=false",
            "-f",
            "stars=1",
            "busybox",
        ],
        &hub,
    );
    assert_eq!(names(&out), ["radial/busyboxplus", "someone/busybox-tools"]);
    // is-automated is deprecated: true matches nothing (as moby does).
    let out = ok(
        &env,
        &["search", "-f", "is-automated=true", "busybox"],
        &hub,
    );
    assert_eq!(names(&out).len(), 0);

    let json = ok(&env, &["search", "--format", "json", "busybox"], &hub);
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        first,
        serde_json::json!({"Name": "busybox", "Description": "Busybox base image.",
                           "StarCount": "3300", "IsOfficial": "true"})
    );
    let tmpl = ok(
        &env,
        &[
            "search",
            "--format",
            "{{.Name}}: {{.StarCount}}",
            "--limit",
            "1",
            "busybox",
        ],
        &hub,
    );
    assert_eq!(tmpl, "busybox: 3300\n");
    let table = ok(
        &env,
        &[
            "search",
            "--format",
            "table {{.Name}}\\t{{.StarCount}}",
            "--limit",
            "2",
            "busybox",
        ],
        &hub,
    );
    assert_eq!(
        table,
        "NAME                 STARS\nbusybox              3300\nradial/busyboxplus   45\n"
    );

    // Bad input: docker's errors, nothing sent.
    let before = seen.lock().unwrap().len();
    for (args, msg) in [
        (
            vec!["search", "--limit", "101", "busybox"],
            "limit 101 is outside the range of [1, 100]",
        ),
        (
            vec!["search", "-f", "color=red", "busybox"],
            "invalid filter 'color'",
        ),
        (
            vec!["search", "-f", "stars=many", "busybox"],
            "invalid filter 'stars=many'",
        ),
        (
            vec!["search", "https://busybox"],
            "should not have a scheme",
        ),
    ] {
        let out = run(&env, &args, &hub, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert_eq!(seen.lock().unwrap().len(), before);
}

#[test]
fn hub_search_reports_an_index_that_refuses() {
    let env = Env::new();
    // Nothing listens on this port: a transport error, exit 1.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = run(
        &env,
        &["search", "busybox"],
        &[("STRATA_SEARCH_INDEX", url.as_str())],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("searching Docker Hub"));
}
