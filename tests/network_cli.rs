//! `strata network`: create, ls, inspect, rm, prune and their errors, with real bridges in
//! a network namespace of the test's own.

mod common;

use common::netns::{in_own_netns, ip};
use common::Env;

#[test]
fn create_list_inspect_remove() {
    if !in_own_netns("create_list_inspect_remove") {
        return;
    }
    let env = Env::new();
    let ls = env.ok(&["network", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(lines[0].starts_with("NETWORK ID"), "{ls}");
    assert!(lines[0].contains("NAME") && lines[0].contains("DRIVER") && lines[0].contains("SCOPE"));
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        assert!(
            lines.iter().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.get(1) == Some(&name) && f.get(2) == Some(&driver) && f.get(3) == Some(&"local")
            }),
            "{ls}"
        );
    }

    let id = env.ok(&[
        "network",
        "create",
        "--subnet",
        "10.20.0.0/24",
        "--gateway",
        "10.20.0.254",
        "--label",
        "team=a",
        "front",
    ]);
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let bridge = format!("br-{}", &id[..12]);
    assert!(ip(&["-4", "addr", "show", "dev", &bridge]).contains("10.20.0.254/24"));
    let back = env.ok(&["network", "create", "--internal", "back"]);

    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["network", "inspect", "front"])).unwrap();
    let n = &inspect[0];
    assert_eq!(n["Name"], "front");
    assert_eq!(n["Id"], id);
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    assert_eq!(n["Internal"], false);
    assert_eq!(n["EnableIPv6"], false);
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], "10.20.0.0/24");
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], "10.20.0.254");
    assert_eq!(n["Labels"]["team"], "a");
    assert_eq!(n["Containers"], serde_json::json!({}));
    assert_eq!(
        env.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.Internal}} {{json .IPAM.Config}}",
            "back"
        ])
        .trim(),
        r#"true [{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]"#
    );

    // Filters, quiet, json.
    assert_eq!(
        env.ok(&["network", "ls", "-q", "--filter", "label=team=a"])
            .trim(),
        &id[..12]
    );
    let names = env.ok(&[
        "network",
        "ls",
        "--filter",
        "driver=bridge",
        "--format",
        "json",
    ]);
    let names: Vec<String> = names
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["Name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["back", "bridge", "front"]);
    assert_eq!(
        env.ok(&["network", "ls", "-q", "--no-trunc", "--filter", "name=fro"])
            .trim(),
        id
    );
    assert_eq!(
        env.ok(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("id={}", &back[..6])
        ])
        .trim(),
        &back[..12]
    );

    // Bad input: docker's errors, nothing changed.
    let before = env.ok(&["network", "ls", "--no-trunc"]);
    let err = env.fails(
        &["network", "create", "--subnet", "10.20.0.128/25", "other"],
        1,
    );
    assert!(
        err.contains("Pool overlaps with other one on this address space"),
        "{err}"
    );
    let err = env.fails(&["network", "create", "front"], 1);
    assert!(
        err.contains("network with name front already exists"),
        "{err}"
    );
    let err = env.fails(
        &[
            "network",
            "create",
            "--subnet",
            "10.30.0.0/24",
            "--gateway",
            "10.31.0.1",
            "x",
        ],
        1,
    );
    assert!(
        err.contains("no matching subnet for gateway 10.31.0.1"),
        "{err}"
    );
    let err = env.fails(&["network", "inspect", "nosuch"], 1);
    assert!(err.contains("network nosuch not found"), "{err}");
    let err = env.fails(&["network", "rm", "nosuch"], 1);
    assert!(err.contains("network nosuch not found"), "{err}");
    let err = env.fails(&["network", "rm", "bridge"], 1);
    assert!(
        err.contains("bridge is a pre-defined network and cannot be removed"),
        "{err}"
    );
    // A subnet another interface uses (as docker0 uses 172.17.0.0/16) is refused.
    let out = std::process::Command::new("sh")
        .args([
            "-ec",
            "ip link add dum0 type veth peer name dum1 && ip addr add 10.44.0.5/16 dev dum0",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let bridges = ip(&["-o", "link"]).matches("br-").count();
    let err = env.fails(
        &["network", "create", "--subnet", "10.44.1.0/24", "taken"],
        1,
    );
    assert!(
        err.contains("overlaps 10.44.0.5/16 of interface dum0"),
        "{err}"
    );
    assert_eq!(
        ip(&["-o", "link"]).matches("br-").count(),
        bridges,
        "a refused network left its bridge"
    );
    ip(&["link", "del", "dum0"]);
    assert_eq!(env.ok(&["network", "ls", "--no-trunc"]), before);

    // rm removes record and bridge; prune removes the unused rest.
    assert_eq!(env.ok(&["network", "rm", "front"]).trim(), "front");
    assert!(!ip(&["link"]).contains(&bridge));
    let pruned = env.ok(&["network", "prune", "-f"]);
    assert_eq!(pruned, "Deleted Networks:\nback\n");
    assert_eq!(env.ok(&["network", "ls", "-q"]).lines().count(), 3);
    // Only loopback is left in the namespace.
    let links = ip(&["-o", "link"]);
    assert_eq!(links.lines().count(), 1, "{links}");
}

#[test]
fn inspect_format_uses_the_shared_template() {
    // The built-in networks are records only: nothing is created, no namespace needed.
    let env = Env::new();
    let out = env.ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Name}} {{.Driver}} {{json .IPAM.Config}}",
        "bridge",
    ]);
    assert!(out.starts_with("bridge bridge [{"), "{out}");
    assert!(out.contains("172.17.0.0/16"), "{out}");
    let err = env.fails(&["network", "inspect", "--format", "{{.Name", "bridge"], 1);
    assert!(err.contains("error:"), "{err}");
}
