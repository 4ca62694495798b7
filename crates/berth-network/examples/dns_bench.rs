//! Measures the embedded DNS server by hand (as root; docs/benchmarks.md): the latency
//! of sequential queries for a local and a forwarded name, and the daemon's resident
//! memory per listener. Everything runs in network namespaces of its own; the host's
//! is never touched.
//!
//! ```sh
//! . scripts/env.sh
//! cargo run --release --target "$BERTH_TARGET" -p berth-network --example dns_bench -- 1000 100
//! ```

use std::error::Error;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_network::dns::{DnsServer, Record, RESOLVER};
use berth_network::link::Netlink;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, RecordType};
use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn new_netns() -> Result<OwnedFd> {
    std::thread::spawn(|| -> Result<OwnedFd> {
        berth_sys::unshare(libc::CLONE_NEWNET)?;
        Netlink::open()?.set_up("lo")?;
        Ok(OwnedFd::from(File::open("/proc/thread-self/ns/net")?))
    })
    .join()
    .map_err(|_| "namespace thread panicked")?
}

fn path(ns: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", ns.as_raw_fd()))
}

/// A `NAME: N kB` line of a /proc file.
fn kib(file: &str, name: &str) -> Result<u64> {
    let status = std::fs::read_to_string(file)?;
    let line = status
        .lines()
        .find(|l| l.starts_with(name))
        .ok_or("no such line")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

/// A fake upstream on 127.0.0.1 of the calling thread's namespace: 192.0.2.1 for all.
fn upstream() -> Result<SocketAddr> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    let addr = s.local_addr()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.id, OpCode::Query);
            r.add_queries(q.queries.clone());
            if let Some(question) = q.queries.first() {
                r.add_answer(hickory_proto::rr::Record::from_rdata(
                    question.name().clone(),
                    60,
                    RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
                ));
            }
            if let Ok(bytes) = r.to_vec() {
                let _ = s.send_to(&bytes, from);
            }
        }
    });
    Ok(addr)
}

/// `n` sequential queries for `name` from inside `ns`: each round trip's time.
fn latencies(ns: &OwnedFd, name: &str, n: usize) -> Result<Vec<Duration>> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<Vec<Duration>> {
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))?;
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            sock.connect(RESOLVER)?;
            sock.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut buf = [0u8; 1500];
            let mut times = Vec::with_capacity(n);
            for i in 0..n {
                let mut q = Message::new(i as u16, MessageType::Query, OpCode::Query);
                q.metadata.recursion_desired = true;
                q.add_query(Query::query(Name::from_ascii(name)?, RecordType::A));
                let bytes = q.to_vec()?;
                let started = Instant::now();
                sock.send(&bytes)?;
                let got = sock.recv(&mut buf)?;
                times.push(started.elapsed());
                let r = Message::from_vec(&buf[..got])?;
                if r.id != i as u16
                    || r.response_code != ResponseCode::NoError
                    || r.answers.is_empty()
                {
                    return Err(format!("bad answer for {name}: {r}").into());
                }
            }
            Ok(times)
        })
        .join()
        .map_err(|_| "client thread panicked")?
    })
}

fn report(what: &str, mut t: Vec<Duration>) {
    t.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = t.iter().map(|d| us(*d)).sum::<f64>() / t.len() as f64;
    let at = |p: f64| us(t[((t.len() - 1) as f64 * p) as usize]);
    println!(
        "{what}: {} queries, median {:.0} µs, mean {:.0} µs, p99 {:.0} µs, min {:.0} µs",
        t.len(),
        at(0.5),
        mean,
        at(0.99),
        us(t[0])
    );
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let queries: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let listeners: usize = args.next().map_or(Ok(100), |a| a.parse())?;

    // The "daemon's" namespace: this thread's own, so the host's stays untouched.
    berth_sys::unshare(libc::CLONE_NEWNET)?;
    Netlink::open()?.set_up("lo")?;
    let server = DnsServer::start(vec![upstream()?], |e| eprintln!("{e}"))?;
    server.set_records(
        "net",
        vec![Record {
            names: vec!["web".into()],
            v4: Some(Ipv4Addr::new(10, 0, 0, 2)),
            v6: None,
        }],
    );
    let client = new_netns()?;
    server.add_listener("client", &path(&client), vec!["net".into()])?;

    // Warm up (first thread stacks, page faults), then measure.
    latencies(&client, "web", 100)?;
    latencies(&client, "www.example.", 100)?;
    report("local name", latencies(&client, "web", queries)?);
    report(
        "forwarded name",
        latencies(&client, "www.example.", queries)?,
    );

    let namespaces = (0..listeners)
        .map(|_| new_netns())
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(Duration::from_millis(200));
    let before = kib("/proc/self/status", "VmRSS:")?;
    let slab_before = kib("/proc/meminfo", "Slab:")?;
    let started = Instant::now();
    for (i, ns) in namespaces.iter().enumerate() {
        server.add_listener(&format!("ctr-{i}"), &path(ns), vec!["net".into()])?;
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let after = kib("/proc/self/status", "VmRSS:")?;
    let slab_after = kib("/proc/meminfo", "Slab:")?;
    println!(
        "{listeners} listeners: added in {:.1} ms ({:.0} µs each), RSS {before} KiB -> {after} KiB (+{} KiB), kernel slab (whole machine) {:+} KiB",
        took.as_secs_f64() * 1e3,
        took.as_secs_f64() * 1e6 / listeners as f64,
        after.saturating_sub(before),
        slab_after as i64 - slab_before as i64,
    );
    let started = Instant::now();
    for i in 0..listeners {
        server.remove_listener(&format!("ctr-{i}"));
    }
    println!(
        "{listeners} listeners removed in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    server.shutdown();
    Ok(())
}
