//! docker's command-line surface, end to end with the real binary: the management-command
//! groups (sharing each command's flags with its short form), `inspect --type`, `version`,
//! `info`, `builder prune`, `system prune`, the grouped help and completions, and the README's
//! command reference (checked against the CLI so it cannot drift).

mod common;

use common::Env;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs strata with `stdin` piped in; returns (exit code, stdout, stderr).
fn run_in(env: &Env, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = env
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of a help text from "Options:" on (the flags), without the usage line, which
/// names the command.
fn options_of(help: &str) -> String {
    let at = help.find("Options:").expect("help has Options:");
    help[at..].to_string()
}

/// The section of `strata --help` under `heading`, as command names.
fn section(help: &str, heading: &str) -> Vec<String> {
    let start = help.find(heading).unwrap_or_else(|| panic!("no {heading}")) + heading.len();
    help[start..]
        .trim_start_matches('\n')
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

#[test]
fn help_shows_management_commands_apart_from_commands() {
    let env = Env::new();
    let help = env.ok(&["--help"]);
    let groups = section(&help, "Management Commands:");
    let commands = section(&help, "\nCommands:\n");
    for g in ["builder", "image", "system"] {
        assert!(groups.contains(&g.to_string()), "{g} in {groups:?}");
        assert!(!commands.contains(&g.to_string()));
    }
    for c in [
        "build", "images", "info", "inspect", "search", "version", "tag",
    ] {
        assert!(commands.contains(&c.to_string()), "{c} in {commands:?}");
    }
    let mut sorted = commands.clone();
    sorted.sort();
    assert_eq!(commands, sorted, "docker lists commands alphabetically");
    assert!(help.contains("Run 'strata COMMAND --help' for more information on a command."));

    let image = env.ok(&["image", "--help"]);
    for sub in [
        "build", "history", "import", "inspect", "load", "ls", "prune", "pull", "push", "rm",
        "save", "tag",
    ] {
        assert!(
            image
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{sub} "))),
            "image {sub} in:\n{image}"
        );
    }
    let system = env.ok(&["system", "--help"]);
    for sub in ["df", "info", "prune", "check"] {
        assert!(system.contains(&format!("  {sub} ")), "system {sub}");
    }
    assert!(env.ok(&["builder", "--help"]).contains("  prune "));
}

#[test]
fn group_entries_take_exactly_the_short_forms_flags() {
    let env = Env::new();
    let pairs: &[(&[&str], &[&str])] = &[
        (&["images"], &["image", "ls"]),
        (&["images"], &["image", "list"]),
        (&["rmi"], &["image", "rm"]),
        (&["build"], &["image", "build"]),
        (&["build"], &["builder", "build"]),
        (&["tag"], &["image", "tag"]),
        (&["push"], &["image", "push"]),
        (&["pull"], &["image", "pull"]),
        (&["history"], &["image", "history"]),
        (&["save"], &["image", "save"]),
        (&["load"], &["image", "load"]),
        (&["import"], &["image", "import"]),
        (&["info"], &["system", "info"]),
    ];
    for (short, long) in pairs {
        let a = env.ok(&[short, &["--help"][..]].concat());
        let b = env.ok(&[long, &["--help"][..]].concat());
        assert_eq!(options_of(&a), options_of(&b), "{short:?} vs {long:?}");
    }
    // `image inspect` is `inspect` without --type.
    let inspect = env.ok(&["inspect", "--help"]);
    let image_inspect = env.ok(&["image", "inspect", "--help"]);
    assert!(inspect.contains("--type"));
    assert!(!image_inspect.contains("--type"));
    assert!(image_inspect.contains("--format"));
}

#[test]
fn image_group_runs_the_image_commands() {
    let env = Env::new();
    let id = env.import_base("base:1");
    let ls = env.ok(&["image", "ls"]);
    assert_eq!(ls, env.ok(&["images"]));
    assert!(ls.contains("base"), "{ls}");
    env.ok(&["image", "tag", "base:1", "other:2"]);
    assert!(env.ok(&["image", "list", "-q"]).contains(&id[7..19]));
    let got = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{json .RepoTags}}",
        "other:2",
    ]);
    assert_eq!(got.trim(), format!("{id} [\"base:1\",\"other:2\"]"));
    assert_eq!(
        env.ok(&["image", "history", "--no-trunc", "other:2"]),
        env.ok(&["history", "--no-trunc", "other:2"])
    );
    let tar = env.path("img.tar");
    env.ok(&["image", "save", "-o", tar.to_str().unwrap(), "other:2"]);
    let rm = env.ok(&["image", "rm", "other:2"]);
    assert!(rm.contains("Untagged: other:2"), "{rm}");
    env.ok(&["image", "remove", "base:1"]);
    assert_eq!(env.ok(&["image", "ls", "-q"]).trim(), "");
    let loaded = env.ok(&["image", "load", "-i", tar.to_str().unwrap()]);
    assert!(loaded.contains("other:2"), "{loaded}");
    assert!(env
        .ok(&["image", "prune", "-f"])
        .contains("Total reclaimed space"));
}

#[test]
fn inspect_finds_objects_by_type_name_or_id_prefix() {
    let env = Env::new();
    let id = env.import_base("base:1");
    let hex = id.strip_prefix("sha256:").unwrap();
    for args in [
        vec!["inspect", "base:1"],
        vec!["inspect", "--type", "image", "base:1"],
        vec!["inspect", &hex[..8]],
        vec!["image", "inspect", &hex[..12]],
    ] {
        let v: Value = serde_json::from_str(&env.ok(&args)).unwrap();
        assert_eq!(v[0]["Id"], id.as_str(), "{args:?}");
    }
    let out = env.run(&["inspect", "nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error: No such object: nothing"));
    let out = env.run(&["inspect", "--type", "image", "base:1", "nothing"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v.as_array().unwrap().len(),
        1,
        "found objects still printed"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such image: nothing"));
    // Networks: the built-in ones exist without any bridge being made.
    assert_eq!(
        env.ok(&["inspect", "--type", "network", "bridge"]),
        env.ok(&["network", "inspect", "bridge"])
    );
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.Name}} {{.Driver}}", "host"]),
        "host host\n"
    );
    let err = env.fails(&["inspect", "--type", "network", "base:1"], 1);
    assert!(err.contains("No such network: base:1"), "{err}");
    let err = env.fails(&["inspect", "--type", "volume", "base:1"], 2);
    assert!(err.contains("invalid value 'volume'"), "{err}");
    let err = env.fails(&["inspect", "-f", "{{.NoSuchField}}", "base:1"], 1);
    assert!(err.contains("NoSuchField"), "{err}");
}

fn git_head() -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn in_path(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn version_reports_build_platform_and_runtimes() {
    let env = Env::new();
    let v: Value = serde_json::from_str(&env.ok(&["version", "--format", "json"])).unwrap();
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    if let Some(head) = git_head() {
        assert_eq!(v["GitCommit"], head.as_str());
    }
    assert!(v["RustVersion"].as_str().unwrap().starts_with("rustc "));
    assert_eq!(v["Os"], "linux");
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    assert_eq!(v["Arch"], arch);
    let runtimes = v["Runtimes"].as_array().unwrap();
    assert_eq!(runtimes[0]["Name"], "embedded");
    for name in ["runc", "crun"] {
        let found = runtimes.iter().find(|r| r["Name"] == name);
        match in_path(name) {
            Some(path) => {
                let r = found.unwrap_or_else(|| panic!("{name} listed"));
                assert_eq!(r["Path"], path.to_str().unwrap());
                let own = common::tool(path.to_str().unwrap(), &["--version"]);
                assert!(own.contains(r["Version"].as_str().unwrap()), "{own}");
            }
            None => assert!(found.is_none()),
        }
    }
    assert_eq!(
        env.ok(&["version", "--format", "{{.Version}}"]).trim(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        env.ok(&["version", "-f", "{{.Os}}/{{.Arch}}"]).trim(),
        format!("linux/{arch}")
    );
    let text = env.ok(&["version"]);
    for key in [
        "Client:",
        " Version:",
        " Git commit:",
        " Rust version:",
        " Built:",
        " OS/Arch:",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    assert!(
        text.contains("embedded:") && text.contains("(default)"),
        "{text}"
    );
    env.fails(&["version", "--format", "{{.Nope}}"], 1);
}

#[test]
fn info_describes_store_host_and_credentialed_registries() {
    let env = Env::new();
    env.import_base("base:1");
    env.ok(&["tag", "base:1", "base:2"]); // a second name: still one image
    let auth = env.path("auth.json");
    std::fs::write(
        &auth,
        r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpzM2NyM3Q="},"https://index.docker.io/v1/":{"auth":"dXNlcjpzM2NyM3Q="}},
            "credHelpers":{"registry.example":"none"}}"#,
    )
    .unwrap();
    let authfile = auth.to_str().unwrap();
    let v: Value =
        serde_json::from_str(&env.ok(&["info", "--format", "json", "--authfile", authfile]))
            .unwrap();
    assert_eq!(v["Images"], 1);
    assert_eq!(v["Containers"], 0);
    assert_eq!(
        Path::new(v["StoreRoot"].as_str().unwrap()),
        env.root().as_path()
    );
    assert!(
        v["StoreSize"].as_u64().unwrap() > 100_000,
        "{}",
        v["StoreSize"]
    );
    let cgroup2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(v["CgroupVersion"], if cgroup2 { "2" } else { "1" });
    assert_eq!(
        v["KernelVersion"].as_str().unwrap(),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap()
            .trim()
    );
    let nproc = common::tool("nproc", &[]);
    assert_eq!(v["NCPU"].to_string(), nproc.trim());
    assert!(v["MemTotal"].as_u64().unwrap() > 0);
    assert!(["overlay", "copy"].contains(&v["Driver"].as_str().unwrap()));
    assert_eq!(
        v["RegistriesWithCredentials"],
        serde_json::json!(["127.0.0.1:5000", "docker.io", "registry.example"])
    );
    assert_eq!(v["DefaultRuntime"], "embedded");
    let text = env.ok(&["system", "info", "--authfile", authfile]);
    for key in [
        " Images: 1",
        " Storage Driver: ",
        " Cgroup Version: ",
        " Kernel Version: ",
        " Operating System: ",
        " CPUs: ",
        " Total Memory: ",
        "  127.0.0.1:5000",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    // The secrets (base64 of user:s3cr3t) never show.
    for out in [text, v.to_string()] {
        assert!(!out.contains("s3cr3t") && !out.contains("dXNlcjpzM2NyM3Q"));
    }
    assert_eq!(
        env.ok(&["info", "-f", "{{.Images}} {{.OSType}}"]).trim(),
        "1 linux"
    );
}

/// The store's build-cache record files.
fn cache_records(env: &Env) -> usize {
    std::fs::read_dir(env.root().join("strata/v1/buildcache/v1"))
        .map(|d| d.filter(|e| e.is_ok()).count())
        .unwrap_or(0)
}

/// Builds `FROM base` + one COPY of a file with `content`; `tag` names the image.
fn build_copy(env: &Env, name: &str, content: &str, tag: &str) {
    let ctx = env.path(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join(name), content).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM base:1\nCOPY {name} /{name}\n"),
    )
    .unwrap();
    env.ok(&["build", "-q", "-t", tag, ctx.to_str().unwrap()]);
}

#[test]
fn builder_prune_removes_dangling_then_all_build_cache() {
    let env = Env::new();
    env.import_base("base:1");
    build_copy(&env, "kept", "kept file\n", "kept:1");
    build_copy(&env, "gone", &"x".repeat(100_000), "gone:1");
    let records = cache_records(&env);
    assert!(records >= 2, "builds made cache records: {records}");
    env.ok(&["rmi", "gone:1"]);

    // The prompt, answered no: nothing changes.
    let (code, out, err) = run_in(&env, &["builder", "prune"], "n\n");
    assert_eq!(code, 0);
    assert!(
        err.contains(
            "WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N]"
        ),
        "{err}"
    );
    assert!(!out.contains("Deleted"));
    assert_eq!(cache_records(&env), records);

    // until=24h keeps what was used in the last day: everything.
    let out = env.ok(&["builder", "prune", "-f", "--filter", "until=24h"]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
    env.fails(&["builder", "prune", "-f", "--filter", "id=abc"], 1);
    env.fails(&["builder", "prune", "-f", "--filter", "until=3d"], 1);

    // Answered yes: the record of the removed image's layer goes (its 100 kB with it); the
    // one kept:1 shares stays.
    let (code, out, _) = run_in(&env, &["builder", "prune"], "y\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("Deleted build cache objects:\n"), "{out}");
    let deleted = out.lines().skip(1).take_while(|l| !l.is_empty()).count();
    assert_eq!(deleted, 1, "{out}");
    assert!(!out.contains("Total reclaimed space: 0B"), "{out}");
    assert_eq!(cache_records(&env), records - 1);
    assert!(env
        .ok(&["images", "-q"])
        .contains(&env.ok(&["inspect", "-f", "{{.Id}}", "kept:1"])[7..19]));

    let (_, _, err) = run_in(&env, &["builder", "prune", "-a"], "n\n");
    assert!(err
        .contains("WARNING! This will remove all build cache. Are you sure you want to continue?"));
    let out = env.ok(&["builder", "prune", "-af"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert_eq!(cache_records(&env), 0);
    // The image is untouched and intact.
    env.ok(&["system", "check"]);
    env.ok(&["inspect", "kept:1"]);
}

#[test]
fn system_prune_removes_dangling_images_and_build_cache() {
    let env = Env::new();
    env.import_base("base:1");
    build_copy(&env, "one", "one\n", "app:1");
    build_copy(&env, "two", "two\n", "app:1"); // app:1 moves: the first build is dangling
    let dangling = env.ok(&["images", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1, "{dangling}");

    let (code, _, err) = run_in(&env, &["system", "prune"], "no\n");
    assert_eq!(code, 0);
    assert!(
        err.contains(
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - all dangling build cache\n\nAre you sure you want to continue? [y/N]"
        ),
        "{err}"
    );
    assert_eq!(
        env.ok(&["images", "-q", "--filter", "dangling=true"]),
        dangling
    );

    // A network no container uses goes too. Made inside a network namespace of its own, so
    // no bridge reaches the host.
    let unshared = |args: &[&str]| {
        let out = Command::new("unshare")
            .arg("--net")
            .arg(common::strata_bin())
            .arg("--root")
            .arg(env.root())
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    unshared(&["network", "create", "spare"]);
    let out = unshared(&["system", "prune", "-f", "--volumes"]);
    assert!(out.contains("Deleted Networks:\nspare\n"), "{out}");
    assert!(!unshared(&["network", "ls"]).contains("spare"));
    assert!(out.contains("Deleted Images:\ndeleted: sha256:"), "{out}");
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert_eq!(env.ok(&["images", "-q", "--filter", "dangling=true"]), "");
    env.ok(&["inspect", "app:1"]);
    env.ok(&["inspect", "base:1"]);

    let (_, _, err) = run_in(&env, &["system", "prune", "-a"], "\n");
    assert!(err.contains("  - all images without at least one container associated to them\n  - all build cache\n"), "{err}");
    let out = env.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.contains("untagged: "), "{out}");
    assert_eq!(env.ok(&["images", "-q"]), "");
    assert_eq!(cache_records(&env), 0);
    env.ok(&["system", "check"]);
}

#[test]
fn completions_know_the_groups() {
    let env = Env::new();
    let bash = env.ok(&["completion", "bash"]);
    for word in [
        "strata__subcmd__image__subcmd__ls",
        "strata__subcmd__builder__subcmd__prune",
        "strata__subcmd__system__subcmd__info",
        "strata__subcmd__search",
    ] {
        assert!(bash.contains(word), "{word}");
    }
    let zsh = env.ok(&["completion", "zsh"]);
    assert!(
        zsh.contains("'ls:List images'") || zsh.contains("ls:List images"),
        "zsh"
    );
}

const BEGIN: &str = "<!-- command reference: generated by `strata debug cli-reference`, checked by tests/cli_groups.rs -->\n";
const END: &str = "<!-- end of command reference -->";

/// The README's command reference is exactly what the CLI says. Regenerate with
/// `STRATA_BLESS=1 cargo test --test cli_groups readme`.
#[test]
fn readme_command_reference_matches_the_cli() {
    let env = Env::new();
    let reference = env.ok(&["debug", "cli-reference"]);
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let start = readme.find(BEGIN).expect("README has the reference marker") + BEGIN.len();
    let end = readme[start..]
        .find(END)
        .expect("README has the end marker")
        + start;
    if std::env::var_os("STRATA_BLESS").is_some() {
        let updated = format!("{}{reference}{}", &readme[..start], &readme[end..]);
        std::fs::write(&readme_path, updated).unwrap();
        return;
    }
    assert_eq!(
        &readme[start..end],
        reference,
        "README's command reference is stale: run STRATA_BLESS=1 cargo test --test cli_groups readme"
    );
    // Every command a user can run is in it, one line each.
    for cmd in [
        "strata image ls",
        "strata images",
        "strata system prune",
        "strata builder prune",
        "strata search",
        "strata version",
        "strata info",
    ] {
        assert_eq!(
            reference
                .lines()
                .filter(|l| l.starts_with(&format!("| `{cmd} "))
                    || l.starts_with(&format!("| `{cmd}`")))
                .count(),
            1,
            "{cmd}"
        );
    }
}

/// `ps -a --format json` lines, parsed.
fn ps_all(env: &Env) -> Vec<Value> {
    env.ok(&["container", "ls", "-a", "--no-trunc", "--format", "json"])
        .lines()
        .map(|l| serde_json::from_str(l).expect("ps json"))
        .collect()
}

#[test]
fn container_group_runs_the_container_commands() {
    let env = Env::new();
    env.import_base("base");
    let pairs: &[(&[&str], &[&str])] = &[
        (&["ps"], &["container", "ls"]),
        (&["ps"], &["container", "ps"]),
        (&["ps"], &["container", "list"]),
        (&["run"], &["container", "run"]),
        (&["create"], &["container", "create"]),
        (&["rm"], &["container", "rm"]),
        (&["exec"], &["container", "exec"]),
        (&["logs"], &["container", "logs"]),
        (&["stop"], &["container", "stop"]),
        (&["kill"], &["container", "kill"]),
        (&["top"], &["container", "top"]),
        (&["pause"], &["container", "pause"]),
        (&["unpause"], &["container", "unpause"]),
        (&["stats"], &["container", "stats"]),
        (&["diff"], &["container", "diff"]),
        (&["export"], &["container", "export"]),
        (&["commit"], &["container", "commit"]),
        (&["restart"], &["container", "restart"]),
        (&["attach"], &["container", "attach"]),
        (&["start"], &["container", "start"]),
    ];
    for (short, long) in pairs {
        let a = env.ok(&[short, &["--help"][..]].concat());
        let b = env.ok(&[long, &["--help"][..]].concat());
        assert_eq!(options_of(&a), options_of(&b), "{short:?} vs {long:?}");
    }

    let out = env.ok(&["container", "run", "--name", "once", "base", "echo", "hi"]);
    assert_eq!(out, "hi\n");
    let id = env
        .ok(&[
            "container",
            "create",
            "--name",
            "made",
            "base",
            "sleep",
            "30",
        ])
        .trim()
        .to_string();
    assert_eq!(ps_all(&env).len(), 2);
    let v: Value = serde_json::from_str(&env.ok(&["container", "inspect", "made"])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    // inspect without --type: a container of that name first (docker's order).
    let v: Value = serde_json::from_str(&env.ok(&["inspect", &id[..10]])).unwrap();
    assert_eq!(v[0]["Id"], id.as_str());
    let v: Value =
        serde_json::from_str(&env.ok(&["inspect", "--type", "container", "made"])).unwrap();
    assert_eq!(v[0]["Name"], "/made");
    assert_eq!(
        env.ok(&["inspect", "-f", "{{.State.Status}}", "made"])
            .trim(),
        "created"
    );
    let err = env.fails(&["inspect", "--type", "image", "made"], 1);
    assert!(err.contains("No such image: made"), "{err}");
    let err = env.fails(&["container", "inspect", "base"], 1);
    assert!(err.contains("No such container: base"), "{err}");

    env.ok(&["container", "start", "made"]);
    let v: Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(
        (
            v["Containers"].clone(),
            v["ContainersRunning"].clone(),
            v["ContainersStopped"].clone()
        ),
        (2.into(), 1.into(), 1.into())
    );
    env.ok(&["container", "pause", "made"]);
    let v: Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(v["ContainersPaused"], 1);
    env.ok(&["container", "unpause", "made"]);
    assert!(env.ok(&["container", "top", "made"]).contains("sleep"));
    // system df counts them: two containers, one running, the image in use.
    let df = env.ok(&["system", "df"]);
    let row = |kind: &str| -> Vec<String> {
        let line = df.lines().find(|l| l.starts_with(kind)).unwrap();
        line[kind.len()..]
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(&row("Containers")[..2], ["2", "1"], "{df}");
    assert_eq!(&row("Images")[..2], ["1", "1"], "{df}");
    assert!(
        row("Images")[3].starts_with("0B"),
        "in use: nothing reclaimable\n{df}"
    );
    let verbose = env.ok(&["system", "df", "-v"]);
    let base_row = verbose.lines().find(|l| l.starts_with("base ")).unwrap();
    assert!(base_row.ends_with(" 2"), "{verbose}");
    env.ok(&["container", "kill", "made"]);

    // system prune removes both stopped containers, then the image they held with -a.
    let out = env.ok(&["system", "prune", "-a", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(&id), "{out}");
    assert!(out.contains("untagged: base"), "{out}");
    assert!(ps_all(&env).is_empty());
    let v: Value = serde_json::from_str(&env.ok(&["info", "--format", "json"])).unwrap();
    assert_eq!(
        (v["Containers"].clone(), v["Images"].clone()),
        (0.into(), 0.into())
    );
}
