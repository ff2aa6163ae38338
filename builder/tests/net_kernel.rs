//! Kernel side of container networks: bridges, veth pairs, addresses, cleanup. Each test
//! re-executes itself inside a network namespace of its own (`unshare --net`), so every
//! interface it makes lives and dies there.

use std::net::Ipv4Addr;
use std::process::Command;

use strata_builder::net::{self, netlink::Socket, Netns};
use strata_cache::network::{CreateNetwork, Holder};
use strata_cache::Store;

const INSIDE: &str = "STRATA_TEST_IN_NETNS";

/// Runs test `name` again in a new network namespace; true when this is that run.
fn in_own_netns(name: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .arg("--net")
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "{name} in its own network namespace failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{name} did not run: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    false
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bridge_veth_and_cleanup() {
    if !in_own_netns("bridge_veth_and_cleanup") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let net = net::create_network(
        &store,
        CreateNetwork {
            name: "n1".into(),
            subnet: Some("10.77.0.0/24".parse().unwrap()),
            ..Default::default()
        },
    )
    .unwrap();
    let bridge = net.interface.clone().unwrap();
    let shown = ip(&["-4", "addr", "show", "dev", &bridge]);
    assert!(shown.contains("10.77.0.1/24"), "{shown}");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/forwarding"))
            .unwrap()
            .trim(),
        "1",
        "a non-internal network routes out (masqueraded)"
    );

    // A "container": a namespace held by a descriptor, connected to the network.
    let ns = Netns::create().unwrap();
    let cid = "c".repeat(64);
    store
        .networks()
        .unwrap()
        .update(|s| s.connect("n1", &cid, "web", vec!["www".into()], None))
        .unwrap();
    let att = net::attach(&store, &ns, "n1", &cid, Holder::current()).unwrap();
    assert_eq!(att.endpoint.ip, Ipv4Addr::new(10, 77, 0, 2));
    assert_eq!(att.interface, "eth0");
    let links = ip(&["-o", "link", "show", "master", &bridge]);
    assert!(links.contains(&att.endpoint.host_interface), "{links}");
    // Inside: the address, the MAC, the default route; the gateway answers.
    let inside = ns
        .run(|| {
            let mut s = Socket::open()?;
            s.links()
        })
        .unwrap();
    assert!(inside.iter().any(|l| l.name == "eth0"));
    let nsenter = |args: &[&str]| {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", ns.path().display()))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (_, addr) = nsenter(&["ip", "addr", "show", "eth0"]);
    assert!(addr.contains("10.77.0.2/24"), "{addr}");
    assert!(addr.contains("02:42:0a:4d:00:02"), "{addr}");
    let (_, routes) = nsenter(&["ip", "route"]);
    assert!(routes.contains("default via 10.77.0.1"), "{routes}");
    let (ok, out) = nsenter(&["busybox", "ping", "-c", "1", "-W", "2", "10.77.0.1"]);
    assert!(ok, "ping the gateway: {out}");

    // Hosts entries: a second container sees the first by name and alias.
    let ns2 = Netns::create().unwrap();
    let cid2 = "d".repeat(64);
    store
        .networks()
        .unwrap()
        .update(|s| s.connect("n1", &cid2, "client", vec![], None))
        .unwrap();
    let att2 = net::attach(&store, &ns2, "n1", &cid2, Holder::current()).unwrap();
    assert_eq!(att2.endpoint.ip, Ipv4Addr::new(10, 77, 0, 3));
    let hosts = net::hosts_content(&store, &cid2, "client").unwrap();
    assert!(hosts.contains("10.77.0.3\tclient\n"), "{hosts}");
    assert!(
        hosts.contains("10.77.0.2\tweb www cccccccccccc\n"),
        "{hosts}"
    );

    // In use: the network cannot go.
    let err = net::remove_network(&store, "n1").unwrap_err();
    assert!(err.to_string().contains("has active endpoints"), "{err}");

    // Detach deletes the veth pair.
    net::detach(&store, "n1", &cid).unwrap();
    assert!(!ip(&["link"]).contains(&att.endpoint.host_interface));
    assert!(!ns
        .run(|| Socket::open()?.links())
        .unwrap()
        .iter()
        .any(|l| l.name == "eth0"));

    // A dropped namespace takes its veth with it; the store still says active until cleanup.
    drop(ns2);
    let mut gone = false;
    for _ in 0..100 {
        if !ip(&["link"]).contains(&att2.endpoint.host_interface) {
            gone = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(gone, "the host end outlived its namespace");

    // A leftover bridge whose network record is gone is found and removed by cleanup.
    let mut sock = Socket::open().unwrap();
    net::detach(&store, "n1", &cid2).unwrap();
    let removed = net::remove_network(&store, "n1").unwrap();
    assert_eq!(removed.id, net.id);
    assert!(!ip(&["link"]).contains(&bridge));
    let net2 = net::create_network(
        &store,
        CreateNetwork {
            name: "n2".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let br2 = net2.interface.clone().unwrap();
    // Simulate a crash between removing the record and the bridge.
    store
        .networks()
        .unwrap()
        .update(|s| s.remove("n2"))
        .unwrap();
    assert!(sock.link(&br2).unwrap().is_some());
    let report = net::cleanup(&store, false).unwrap();
    assert_eq!(report.interfaces, std::slice::from_ref(&br2));
    assert!(
        sock.link(&br2).unwrap().is_some(),
        "check without repair changes nothing"
    );
    net::cleanup(&store, true).unwrap();
    assert!(sock.link(&br2).unwrap().is_none());
    assert_eq!(
        net::cleanup(&store, false).unwrap(),
        net::Cleanup::default()
    );
}

#[test]
fn nftables_table_replaced_whole() {
    if !in_own_netns("nftables_table_replaced_whole") {
        return;
    }
    use strata_builder::net::nft::{sync, Bridge};
    let list = || {
        let out = Command::new("nft")
            .args(["list", "table", "ip", "strata-t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let bridges = vec![
        Bridge {
            interface: "br-a".into(),
            subnet: "10.70.0.0/16".parse().unwrap(),
            internal: false,
        },
        Bridge {
            interface: "br-b".into(),
            subnet: "10.71.0.0/20".parse().unwrap(),
            internal: false,
        },
        Bridge {
            interface: "br-c".into(),
            subnet: "10.72.0.0/24".parse().unwrap(),
            internal: true,
        },
    ];
    sync("strata-t", &bridges).unwrap();
    let rules = list();
    assert!(
        rules.contains("ip saddr 10.70.0.0/16 oifname != \"br-a\" masquerade"),
        "{rules}"
    );
    assert!(
        rules.contains("ip saddr 10.71.0.0/20 oifname != \"br-b\" masquerade"),
        "{rules}"
    );
    assert!(!rules.contains("10.72.0.0"), "{rules}");
    assert!(
        rules.contains("iifname \"br-c\" oifname \"br-a\" drop"),
        "{rules}"
    );
    assert!(
        rules.contains("ct state established,related accept"),
        "{rules}"
    );
    assert!(
        rules.contains("iifname \"br-a\" oifname \"br-b\" drop"),
        "{rules}"
    );
    assert!(
        rules.contains("iifname \"br-b\" oifname \"br-a\" drop"),
        "{rules}"
    );
    // Replaced whole, not appended to.
    sync("strata-t", &bridges[..1]).unwrap();
    let rules = list();
    assert_eq!(rules.matches("masquerade").count(), 1, "{rules}");
    assert!(!rules.contains("br-b"), "{rules}");
    sync("strata-t", &[]).unwrap();
    assert_eq!(list(), "");
}
