//! Outbound traffic for non-internal networks: one nftables table per store
//! (`ip strata-<tag>`), rebuilt whole from the network records in one atomic batch over
//! `NETLINK_NETFILTER` (no `nft` program):
//!
//! - `postrouting` (nat): `ip saddr SUBNET oifname != BRIDGE masquerade` per non-internal
//!   network, so replies from outside find their way back;
//! - `forward` (filter): established/related traffic accepted, then
//!   `iifname A oifname B drop` for every pair of strata bridges, so networks stay apart
//!   although forwarding is on for non-internal bridges.

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::netlink::Msg;
use strata_cache::network::Subnet;

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_CREATE: u16 = 0x400;
const NFPROTO_IPV4: u8 = 2;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_POLICY: u16 = 5;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;

const NF_INET_FORWARD: u32 = 2;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_ACCEPT: u32 = 1;
const NF_DROP: u32 = 0;
const REG1: u32 = 1;
const REG_VERDICT: u32 = 0;

/// One expression of a rule: its name and data attributes.
enum Expr {
    /// `meta load KEY => reg 1` (6 iifname, 7 oifname).
    Meta(u32),
    /// `payload load LEN @ network header + OFFSET => reg 1`.
    Payload { offset: u32, len: u32 },
    /// `reg 1 = (reg 1 & mask) ^ 0`.
    Bitwise(Vec<u8>),
    /// `cmp OP reg 1 DATA` (0 eq, 1 neq).
    Cmp(u32, Vec<u8>),
    /// `ct load state => reg 1`.
    CtState,
    /// `immediate verdict`.
    Verdict(u32),
    /// `masq`.
    Masq,
}

fn be(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

fn ifname(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

fn put_expr(m: &mut Msg, e: &Expr) {
    m.nest(NFTA_LIST_ELEM);
    let name = match e {
        Expr::Meta(_) => "meta",
        Expr::Payload { .. } => "payload",
        Expr::Bitwise(_) => "bitwise",
        Expr::Cmp(..) => "cmp",
        Expr::CtState => "ct",
        Expr::Verdict(_) => "immediate",
        Expr::Masq => "masq",
    };
    m.str(NFTA_EXPR_NAME, name);
    match e {
        Expr::Masq => {}
        Expr::Meta(key) => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG1)) // NFTA_META_DREG
                .attr(2, &be(*key)) // NFTA_META_KEY
                .end();
        }
        Expr::Payload { offset, len } => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG1)) // NFTA_PAYLOAD_DREG
                .attr(2, &be(1)) // NFTA_PAYLOAD_BASE: network header
                .attr(3, &be(*offset))
                .attr(4, &be(*len))
                .end();
        }
        Expr::Bitwise(mask) => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG1)) // NFTA_BITWISE_SREG
                .attr(2, &be(REG1)) // NFTA_BITWISE_DREG
                .attr(3, &be(mask.len() as u32))
                .nest(4) // NFTA_BITWISE_MASK
                .attr(NFTA_DATA_VALUE, mask)
                .end()
                .nest(5) // NFTA_BITWISE_XOR
                .attr(NFTA_DATA_VALUE, &vec![0u8; mask.len()])
                .end()
                .end();
        }
        Expr::Cmp(op, data) => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG1)) // NFTA_CMP_SREG
                .attr(2, &be(*op)) // NFTA_CMP_OP
                .nest(3) // NFTA_CMP_DATA
                .attr(NFTA_DATA_VALUE, data)
                .end()
                .end();
        }
        Expr::CtState => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG1)) // NFTA_CT_DREG
                .attr(2, &be(0)) // NFTA_CT_KEY: NFT_CT_STATE
                .end();
        }
        Expr::Verdict(code) => {
            m.nest(NFTA_EXPR_DATA)
                .attr(1, &be(REG_VERDICT)) // NFTA_IMMEDIATE_DREG
                .nest(2) // NFTA_IMMEDIATE_DATA
                .nest(NFTA_DATA_VERDICT)
                .attr(NFTA_VERDICT_CODE, &be(*code))
                .end()
                .end()
                .end();
        }
    }
    m.end();
}

fn nfgen(family: u8, res_id: u16) -> [u8; 4] {
    let mut g = [0u8; 4];
    g[0] = family;
    g[2..4].copy_from_slice(&res_id.to_be_bytes());
    g
}

fn msg(kind: u16, flags: u16) -> Msg {
    Msg::new(
        (NFNL_SUBSYS_NFTABLES << 8) | kind,
        flags | NLM_F_ACK,
        &nfgen(NFPROTO_IPV4, 0),
    )
}

/// A network as the firewall sees it.
#[derive(Clone, Debug)]
pub struct Bridge {
    /// The bridge interface.
    pub interface: String,
    /// The network's subnet.
    pub subnet: Subnet,
    /// No way out.
    pub internal: bool,
}

/// The batch that replaces table `table` with the rules for `bridges`.
fn batch(table: &str, bridges: &[Bridge], exists: bool) -> Vec<Msg> {
    let mut out = Vec::new();
    // add + delete + add: the table is replaced whether or not it existed.
    let mut t = msg(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    t.str(NFTA_TABLE_NAME, table);
    out.push(t);
    if exists || !bridges.is_empty() {
        let mut d = msg(NFT_MSG_DELTABLE, 0);
        d.str(NFTA_TABLE_NAME, table);
        out.push(d);
    }
    if bridges.is_empty() {
        return out;
    }
    let mut t = msg(NFT_MSG_NEWTABLE, NLM_F_CREATE);
    t.str(NFTA_TABLE_NAME, table);
    out.push(t);
    for (name, kind, hook, prio) in [
        ("postrouting", "nat", NF_INET_POST_ROUTING, 100i32),
        ("forward", "filter", NF_INET_FORWARD, 0),
    ] {
        let mut c = msg(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
        c.str(NFTA_CHAIN_TABLE, table)
            .str(NFTA_CHAIN_NAME, name)
            .nest(NFTA_CHAIN_HOOK)
            .attr(NFTA_HOOK_HOOKNUM, &be(hook))
            .attr(NFTA_HOOK_PRIORITY, &(prio as u32).to_be_bytes())
            .end()
            .attr(NFTA_CHAIN_POLICY, &be(NF_ACCEPT))
            .str(NFTA_CHAIN_TYPE, kind);
        out.push(c);
    }
    let rule = |chain: &str, exprs: &[Expr]| {
        let mut r = msg(NFT_MSG_NEWRULE, NLM_F_CREATE | 0x800); // NLM_F_APPEND
        r.str(NFTA_RULE_TABLE, table)
            .str(NFTA_RULE_CHAIN, chain)
            .nest(NFTA_RULE_EXPRESSIONS);
        for e in exprs {
            put_expr(&mut r, e);
        }
        r.end();
        r
    };
    for b in bridges.iter().filter(|b| !b.internal) {
        let prefix = b.subnet.prefix();
        // As nft writes it: whole bytes of the prefix, or all four and a mask.
        let len = if prefix % 8 == 0 {
            u32::from(prefix) / 8
        } else {
            4
        };
        let octets = b.subnet.addr().octets();
        let mut exprs = vec![Expr::Payload { offset: 12, len }];
        if prefix % 8 != 0 {
            let mask = (u32::MAX << (32 - u32::from(prefix))).to_be_bytes();
            exprs.push(Expr::Bitwise(mask.to_vec()));
        }
        exprs.push(Expr::Cmp(0, octets[..len as usize].to_vec()));
        exprs.push(Expr::Meta(7));
        exprs.push(Expr::Cmp(1, ifname(&b.interface)));
        exprs.push(Expr::Masq);
        out.push(rule("postrouting", &exprs));
    }
    // ct state established,related accept
    out.push(rule(
        "forward",
        &[
            Expr::CtState,
            Expr::Bitwise(6u32.to_ne_bytes().to_vec()),
            Expr::Cmp(1, vec![0; 4]),
            Expr::Verdict(NF_ACCEPT),
        ],
    ));
    for a in bridges {
        for b in bridges {
            if a.interface == b.interface {
                continue;
            }
            out.push(rule(
                "forward",
                &[
                    Expr::Meta(6),
                    Expr::Cmp(0, ifname(&a.interface)),
                    Expr::Meta(7),
                    Expr::Cmp(0, ifname(&b.interface)),
                    Expr::Verdict(NF_DROP),
                ],
            ));
        }
    }
    out
}

/// Replaces table `ip TABLE` with the rules for `bridges` (none: the table goes).
pub fn sync(table: &str, bridges: &[Bridge]) -> io::Result<()> {
    let fd: OwnedFd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(rustix::net::netlink::NETFILTER),
    )?;
    let msgs = batch(table, bridges, true);
    let mut buf = Vec::new();
    let begin = Msg::new(NFNL_MSG_BATCH_BEGIN, 0, &nfgen(0, NFNL_SUBSYS_NFTABLES));
    buf.extend(begin.finish(1));
    let n = msgs.len();
    for (i, m) in msgs.into_iter().enumerate() {
        buf.extend(m.finish(2 + i as u32));
    }
    let end = Msg::new(NFNL_MSG_BATCH_END, 0, &nfgen(0, NFNL_SUBSYS_NFTABLES));
    buf.extend(end.finish(2 + n as u32));
    rustix::net::send(&fd, &buf, SendFlags::empty())?;
    let mut acks = 0;
    let mut rbuf = vec![0u8; 64 << 10];
    while acks < n {
        let (len, _) = rustix::net::recv(&fd, &mut rbuf[..], RecvFlags::empty())?;
        let mut rest = &rbuf[..len];
        while rest.len() >= 20 {
            let mlen = u32::from_ne_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            if mlen < 16 || mlen > rest.len() {
                break;
            }
            if kind == 2 {
                let code = i32::from_ne_bytes(rest[16..20].try_into().expect("4 bytes"));
                if code != 0 {
                    return Err(io::Error::from_raw_os_error(-code));
                }
                acks += 1;
            }
            rest = &rest[((mlen + 3) & !3).min(rest.len())..];
        }
    }
    Ok(())
}
