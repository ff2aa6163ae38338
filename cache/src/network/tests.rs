use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn create(nets: &Networks, name: &str, subnet: Option<&str>) -> Result<Network> {
    nets.update(|s| {
        s.create(CreateNetwork {
            name: name.into(),
            subnet: subnet.map(|s| s.parse().unwrap()),
            ..Default::default()
        })
    })
}

#[test]
fn builtins_exist_once() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    let again = store.networks().unwrap();
    let names: Vec<String> = again.list().unwrap().into_iter().map(|n| n.name).collect();
    assert_eq!(names, ["bridge", "host", "none"]);
    let bridge = nets.find("bridge").unwrap();
    assert_eq!(bridge.subnet.unwrap().to_string(), "172.17.0.0/16");
    assert_eq!(bridge.gateway, Some(Ipv4Addr::new(172, 17, 0, 1)));
    assert_eq!(nets.find("none").unwrap().driver, "null");
    let err = nets.update(|s| s.remove("bridge")).unwrap_err();
    assert!(err.to_string().contains("pre-defined network"), "{err}");
}

#[test]
fn create_pools_overlap_and_names() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    let a = create(&nets, "a", None).unwrap();
    assert_eq!(a.subnet.unwrap().to_string(), "172.18.0.0/16");
    assert_eq!(a.gateway, Some(Ipv4Addr::new(172, 18, 0, 1)));
    assert_eq!(
        a.interface.as_deref(),
        Some(&*format!("br-{}", &a.id[..12]))
    );
    let b = create(&nets, "b", Some("10.9.0.0/24")).unwrap();
    assert_eq!(b.subnet.unwrap().to_string(), "10.9.0.0/24");
    let err = create(&nets, "c", Some("10.9.0.128/25")).unwrap_err();
    assert!(matches!(err, NetworkError::Overlap), "{err}");
    let err = create(&nets, "c", Some("172.17.3.0/24")).unwrap_err();
    assert!(matches!(err, NetworkError::Overlap), "{err}");
    let err = create(&nets, "a", None).unwrap_err();
    assert_eq!(err.to_string(), "network with name a already exists");
    assert!(create(&nets, "bad/name", None).is_err());
    // Nothing changed by the failures.
    assert_eq!(nets.list().unwrap().len(), 5);
    assert_eq!(nets.find(&b.id[..10]).unwrap().name, "b");
    assert!(matches!(
        nets.find("nosuch").unwrap_err(),
        NetworkError::NotFound(_)
    ));
    let removed = nets.update(|s| s.remove("a")).unwrap();
    assert_eq!(removed.id, a.id);
    assert!(nets.list().unwrap().iter().all(|n| n.name != "a"));
    // Its subnet is free again.
    assert_eq!(
        create(&nets, "d", None)
            .unwrap()
            .subnet
            .unwrap()
            .to_string(),
        "172.18.0.0/16"
    );
}

#[test]
fn connect_activate_and_free() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    create(&nets, "n", Some("10.1.0.0/29")).unwrap();
    let me = Holder::current();
    assert!(me.alive());
    let mut ips = Vec::new();
    for c in ["c1", "c2", "c3"] {
        nets.update(|s| s.connect("n", c, c, vec![], None)).unwrap();
        let (_, a) = nets.update(|s| s.activate("n", c, me, "veth")).unwrap();
        ips.push(a.ip);
    }
    assert_eq!(
        ips,
        [
            Ipv4Addr::new(10, 1, 0, 2),
            Ipv4Addr::new(10, 1, 0, 3),
            Ipv4Addr::new(10, 1, 0, 4)
        ]
    );
    let err = nets
        .update(|s| s.connect("n", "c1", "c1", vec![], None))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "endpoint with name c1 already exists in network n"
    );
    let err = nets.update(|s| s.remove("n")).unwrap_err();
    assert!(matches!(err, NetworkError::InUse { .. }), "{err}");
    // A requested address that is taken is refused; a free one is given.
    nets.update(|s| s.connect("n", "c4", "c4", vec![], Some(Ipv4Addr::new(10, 1, 0, 3))))
        .unwrap();
    let err = nets.update(|s| s.activate("n", "c4", me, "v")).unwrap_err();
    assert!(err.to_string().contains("Address already in use"), "{err}");
    nets.update(|s| s.deactivate("n", "c2")).unwrap();
    let (_, a) = nets.update(|s| s.activate("n", "c4", me, "v")).unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 1, 0, 3));
    // /29: hosts .1-.6, .1 is the gateway; .5 and .6 left.
    for c in ["c5", "c6"] {
        nets.update(|s| s.connect("n", c, c, vec![], None)).unwrap();
        nets.update(|s| s.activate("n", c, me, "v")).unwrap();
    }
    nets.update(|s| s.connect("n", "c7", "c7", vec![], None))
        .unwrap();
    let err = nets.update(|s| s.activate("n", "c7", me, "v")).unwrap_err();
    assert!(matches!(err, NetworkError::Exhausted { .. }), "{err}");
    let gone = nets.update(|s| Ok(s.forget_container("c1"))).unwrap();
    assert_eq!(gone.len(), 1);
    let (_, a) = nets.update(|s| s.activate("n", "c7", me, "v")).unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 1, 0, 2));
}

#[test]
fn dead_holders_free_their_addresses() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    create(&nets, "n", Some("10.2.0.0/30")).unwrap();
    // A process that has exited (and been reaped) holds nothing.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = Holder::of_pid(child.id()).unwrap_or(Holder {
        pid: child.id(),
        start_time: 1,
    });
    child.wait().unwrap();
    assert!(!dead.alive());
    nets.update(|s| s.connect("n", "a", "a", vec![], None))
        .unwrap();
    let (_, a) = nets.update(|s| s.activate("n", "a", dead, "v")).unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 2, 0, 2));
    // /30 has one address besides the gateway: taken by a dead holder, so given again.
    nets.update(|s| s.connect("n", "b", "b", vec![], None))
        .unwrap();
    let (_, b) = nets
        .update(|s| s.activate("n", "b", Holder::current(), "v"))
        .unwrap();
    assert_eq!(b.ip, a.ip);
    let freed = nets.update(|s| Ok(s.reclaim())).unwrap();
    assert_eq!(freed.len(), 1);
    assert_eq!(freed[0].1, "a");
    assert!(nets.find("n").unwrap().endpoints["a"].active.is_none());
}

#[test]
fn transient_endpoints_go_whole() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    let (net, a) = nets
        .update(|s| s.activate_transient("bridge", "b1", "build-b1", Holder::current(), "v1"))
        .unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(172, 17, 0, 2));
    assert!(net.endpoints["b1"].transient);
    let err = nets
        .update(|s| s.activate_transient("bridge", "b1", "build-b1", Holder::current(), "v"))
        .unwrap_err();
    assert!(
        matches!(err, NetworkError::AlreadyConnected { .. }),
        "{err}"
    );
    assert!(nets
        .update(|s| s.activate_transient("none", "b2", "b2", Holder::current(), "v"))
        .is_err());
    // Its holder died: reclaiming frees the address and forgets the endpoint.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = Holder::of_pid(child.id()).unwrap_or(Holder {
        pid: child.id(),
        start_time: 1,
    });
    child.wait().unwrap();
    nets.update(|s| s.activate_transient("bridge", "b3", "b3", dead, "v3"))
        .unwrap();
    let freed = nets.update(|s| Ok(s.reclaim())).unwrap();
    assert_eq!(freed.len(), 1);
    assert_eq!(freed[0].1, "b3");
    let bridge = nets.find("bridge").unwrap();
    assert!(!bridge.endpoints.contains_key("b3"));
    assert!(bridge.endpoints["b1"].active.is_some());
    // A container's endpoint stays when its holder dies; a transient one goes on disconnect.
    nets.update(|s| s.disconnect("bridge", "b1")).unwrap();
    assert!(nets.find("bridge").unwrap().endpoints.is_empty());
    // The record on disk does not carry the flag for containers' endpoints.
    nets.update(|s| s.connect("bridge", "c", "c", vec![], None))
        .unwrap();
    let text = std::fs::read_to_string(
        store
            .metadata_dir()
            .join("networks")
            .join(format!("{}.json", bridge.id)),
    )
    .unwrap();
    assert!(!text.contains("transient"), "{text}");
}

#[test]
fn concurrent_allocations_never_collide() {
    let (_d, store) = store();
    let nets = store.networks().unwrap();
    create(&nets, "n", Some("10.3.0.0/24")).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let nets = store.networks().unwrap();
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let c = format!("c{t}-{i}");
                        nets.update(|s| {
                            s.connect("n", &c, &c, vec![], None)?;
                            s.activate("n", &c, Holder::current(), "v")
                        })
                        .unwrap()
                        .1
                        .ip
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<Ipv4Addr> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n);
    assert_eq!(n, 80);
}
