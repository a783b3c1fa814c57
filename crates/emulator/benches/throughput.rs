//! Emulator throughput: signed API calls over keep-alive loopback
//! connections, and the in-process cost of one call.
//!
//! Run with `cargo bench -p moat-emulator --bench throughput`. Figures go to
//! docs/benchmarks.md ("Emulator").

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moat_emulator::signature::{percent_encode, sign, string_to_sign};
use moat_emulator::{
    AccessKey, Clock, Direction, EmulatorConfig, FaultConfig, Params, SeedGroup, SystemClock,
    format_timestamp,
};
use moat_wire::{LooseString, Permission};

const KEY: &str = "LTAI5tBenchKey";
const SECRET: &str = "bench-secret";
static NONCE: AtomicU64 = AtomicU64::new(0);

fn signed_query(method: &str, business: &[(&str, String)]) -> String {
    let nonce = format!("bench-{}", NONCE.fetch_add(1, Ordering::Relaxed));
    let ts = format_timestamp(SystemClock.now());
    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), String::new()),
        ("Version".into(), "2014-05-26".into()),
        ("Format".into(), "JSON".into()),
        ("AccessKeyId".into(), KEY.into()),
        ("SignatureMethod".into(), "HMAC-SHA1".into()),
        ("SignatureVersion".into(), "1.0".into()),
        ("SignatureNonce".into(), nonce),
        ("Timestamp".into(), ts),
        ("RegionId".into(), "cn-hangzhou".into()),
    ];
    params.remove(0);
    params.extend(business.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let sts = string_to_sign(method, params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    params.push(("Signature".into(), sign(SECRET, &sts)));
    params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn {
            reader: BufReader::new(s),
        }
    }

    /// Sends a request; returns the status and body length.
    fn call(&mut self, query: &str) -> (u16, usize) {
        let req = format!("POST /?{query} HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n");
        self.reader
            .get_mut()
            .write_all(req.as_bytes())
            .expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("body");
        (status, len)
    }
}

fn permission(i: usize) -> Permission {
    Permission {
        ip_protocol: LooseString::from("tcp"),
        port_range: LooseString(format!("{}/{}", 1000 + i, 1000 + i)),
        source_cidr_ip: LooseString(format!("10.{}.{}.0/24", i / 256, i % 256)),
        description: LooseString(format!("rule number {i} of the benchmark group")),
        ..Permission::default()
    }
}

fn start(faults: FaultConfig) -> moat_emulator::EmulatorHandle {
    let handle = moat_emulator::start(EmulatorConfig {
        access_keys: vec![AccessKey::new(KEY, SECRET)],
        rules_per_group: 1000,
        faults,
        ..EmulatorConfig::default()
    })
    .expect("start");
    let mut g = SeedGroup::new("cn-hangzhou", "sg-bench200").vpc_id("vpc-bench");
    for i in 0..200 {
        let dir = if i % 4 == 3 {
            Direction::Egress
        } else {
            Direction::Ingress
        };
        let mut p = permission(i);
        if dir == Direction::Egress {
            p.dest_cidr_ip = std::mem::take(&mut p.source_cidr_ip);
        }
        g = g.rule(dir, p);
    }
    handle.emulator().seed_group(g).expect("seed");
    for i in 0..1000 {
        handle
            .emulator()
            .seed_group(SeedGroup::new("cn-hangzhou", format!("sg-many{i:05}")).vpc_id("vpc-bench"))
            .expect("seed");
    }
    handle
}

/// `threads` clients each sending `per_thread` calls built by `make`.
fn run(
    name: &str,
    addr: SocketAddr,
    threads: usize,
    per_thread: usize,
    make: fn(usize, usize) -> String,
) {
    let t = Instant::now();
    let results: Vec<(usize, usize, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|th| {
                s.spawn(move || {
                    let mut conn = Conn::open(addr);
                    let mut ok = 0;
                    let mut bytes = 0;
                    let mut worst = Duration::ZERO;
                    for i in 0..per_thread {
                        let q = make(th, i);
                        let t = Instant::now();
                        let (status, len) = conn.call(&q);
                        worst = worst.max(t.elapsed());
                        ok += usize::from(status == 200);
                        bytes += len;
                    }
                    (ok, bytes, worst)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let elapsed = t.elapsed();
    let calls = threads * per_thread;
    let ok: usize = results.iter().map(|r| r.0).sum();
    let bytes: usize = results.iter().map(|r| r.1).sum();
    let worst = results.iter().map(|r| r.2).max().unwrap_or_default();
    println!(
        "{name:<58} {calls:>6} calls  {:>8.0} calls/s  {:>7.1} us/call  worst {:>6.1} ms  ok {ok}  {:.1} KiB/answer",
        calls as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / calls as f64,
        worst.as_secs_f64() * 1e3,
        bytes as f64 / calls as f64 / 1024.0,
    );
}

fn main() {
    let handle = start(FaultConfig::default());
    let addr = handle.addr();

    // In-process cost, without HTTP: one signed 200-rule describe.
    let emulator = handle.emulator().clone();
    let n = 2000;
    let queries: Vec<String> = (0..n)
        .map(|_| {
            signed_query(
                "POST",
                &[
                    ("Action", "DescribeSecurityGroupAttribute".into()),
                    ("SecurityGroupId", "sg-bench200".into()),
                ],
            )
        })
        .collect();
    let t = Instant::now();
    for q in &queries {
        let reply = emulator.handle("POST", &Params::parse(Some(q), None));
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    println!(
        "{:<58} {n:>6} calls  {:>8.0} calls/s  {:>7.1} us/call",
        "in-process DescribeSecurityGroupAttribute, 200 rules",
        n as f64 / t.elapsed().as_secs_f64(),
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );

    for threads in [1, 4] {
        run(
            &format!("HTTP DescribeSecurityGroupAttribute 200 rules, {threads} conn"),
            addr,
            threads,
            4000 / threads,
            |_, _| {
                signed_query(
                    "POST",
                    &[
                        ("Action", "DescribeSecurityGroupAttribute".into()),
                        ("SecurityGroupId", "sg-bench200".into()),
                    ],
                )
            },
        );
    }
    run(
        "HTTP DescribeSecurityGroups page of 100 of 1001, 4 conn",
        addr,
        4,
        1000,
        |_, _| {
            signed_query(
                "POST",
                &[
                    ("Action", "DescribeSecurityGroups".into()),
                    ("MaxResults", "100".into()),
                ],
            )
        },
    );
    run(
        "HTTP Authorize+Revoke of 100 rules (alternating), 1 conn",
        addr,
        1,
        2000,
        |_, i| {
            let mut b: Vec<(&str, String)> = vec![("SecurityGroupId", "sg-many00001".into())];
            let action = if i % 2 == 0 {
                "AuthorizeSecurityGroup"
            } else {
                "RevokeSecurityGroup"
            };
            b.push(("Action", action.into()));
            let mut owned = Vec::new();
            for r in 1..=100 {
                owned.push((format!("Permissions.{r}.IpProtocol"), "tcp".to_owned()));
                owned.push((format!("Permissions.{r}.PortRange"), format!("{r}/{r}")));
                owned.push((
                    format!("Permissions.{r}.SourceCidrIp"),
                    "192.168.0.0/16".to_owned(),
                ));
            }
            let leaked: Vec<(&'static str, String)> = owned
                .into_iter()
                .map(|(k, v)| (&*Box::leak(k.into_boxed_str()), v))
                .collect();
            b.extend(leaked);
            signed_query("POST", &b)
        },
    );
    let stats = handle.emulator().stats();
    println!("emulator stats: {} calls counted", stats.total());
    handle.shutdown();

    // A QPS quota: how many calls pass in two seconds at --max-qps 200.
    let handle = start(FaultConfig {
        max_qps: 200,
        ..FaultConfig::default()
    });
    let addr = handle.addr();
    let t = Instant::now();
    let mut conn = Conn::open(addr);
    let (mut ok, mut throttled) = (0, 0);
    while t.elapsed() < Duration::from_secs(2) {
        let q = signed_query("POST", &[("Action", "DescribeSecurityGroups".into())]);
        match conn.call(&q).0 {
            200 => ok += 1,
            _ => throttled += 1,
        }
    }
    println!("--max-qps 200 for 2 s, one eager client: {ok} ok, {throttled} throttled");
    handle.shutdown();
}
