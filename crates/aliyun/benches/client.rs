//! Client benchmarks (`cargo bench -p moat-aliyun --bench client`).
//!
//! 1. Overhead per call without a network: building, signing and encoding a
//!    request, and parsing and converting an answer of 200 rules.
//! 2. Throughput: DescribeSecurityGroupAttribute of a 200-rule group through
//!    the client, from several concurrent tasks sharing one client, against
//!    the in-process emulator on loopback (which verifies every signature),
//!    and against a loopback server that answers every request with the same
//!    200-rule body without checking it: the rate the client side alone can
//!    drive (HTTP, signing, parsing, conversion).

use std::hint::black_box;
use std::time::{Duration, Instant};

use moat_aliyun::actions;
use moat_aliyun::convert::read_permission;
use moat_aliyun::response::parse_response;
use moat_aliyun::wire::{
    DescribeSecurityGroupAttributeResponse, LooseInt, LooseString, Permission, Permissions,
};
use moat_aliyun::{ClientToken, Credentials, RequestStamp};
use moat_policy::model::{Direction, NicType, Peer, PortRange, Protocol, Rule, RuleKey, Verdict};

const RULES: usize = 200;

fn permission(i: usize) -> Permission {
    let ingress = i.is_multiple_of(2);
    let port = 1000 + i as u16;
    let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
    Permission {
        security_group_rule_id: format!("sgr-bench{i:012}").into(),
        direction: if ingress { "ingress" } else { "egress" }.into(),
        ip_protocol: "TCP".into(),
        port_range: format!("{port}/{port}").into(),
        policy: "Accept".into(),
        priority: LooseInt(Some(1 + (i % 100) as i64)),
        nic_type: "intranet".into(),
        source_cidr_ip: if ingress { cidr.clone() } else { String::new() }.into(),
        dest_cidr_ip: if ingress { String::new() } else { cidr }.into(),
        description: LooseString::from(format!("benchmark rule {i}")),
        create_time: "2024-05-01T08:30:00Z".into(),
        ..Permission::default()
    }
}

fn answer_body() -> Vec<u8> {
    let resp = DescribeSecurityGroupAttributeResponse {
        request_id: "5D3B1A10-0000-4000-8000-000000000000".into(),
        region_id: "cn-hangzhou".into(),
        security_group_id: "sg-bench".into(),
        security_group_name: "bench".into(),
        vpc_id: "vpc-bench".into(),
        permissions: Permissions {
            permission: (0..RULES).map(permission).collect(),
        },
        ..DescribeSecurityGroupAttributeResponse::default()
    };
    serde_json::to_vec(&resp).expect("serialising a wire type cannot fail")
}

fn rule(i: usize) -> Rule {
    Rule {
        key: RuleKey {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: PortRange::single(1000 + i as u16),
            peer: Peer::cidr(
                format!("10.{}.{}.0/24", i / 256, i % 256)
                    .parse()
                    .expect("cidr"),
            ),
            verdict: Verdict::Accept,
            nic_type: NicType::Intranet,
            source_ports: None,
            local: None,
        },
        priority: 1,
        description: format!("benchmark rule {i}"),
    }
}

/// Runs `f` `n` times and returns the mean time per run.
fn per_run(n: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed() / n
}

fn overhead() {
    let creds = Credentials::sts("STS.bench", "bench-secret", "bench-token");
    let body = answer_body();
    let rules: Vec<Rule> = (0..100).map(rule).collect();
    let token = ClientToken::new("bench-token-0001").expect("valid token");

    let describe_sign = per_run(20_000, || {
        let req = actions::describe_security_group_attribute(
            "cn-hangzhou",
            "sg-bench",
            None,
            1000,
            Some("next-page-token"),
        );
        black_box(req.sign(&creds, &RequestStamp::fresh()));
    });
    let authorize_sign = per_run(2_000, || {
        let req = actions::authorize(
            "cn-hangzhou",
            "sg-bench",
            Direction::Ingress,
            &rules,
            &token,
        )
        .expect("a valid batch");
        black_box(req.sign(&creds, &RequestStamp::fresh()));
    });
    let parse_convert = per_run(1_000, || {
        let resp: DescribeSecurityGroupAttributeResponse =
            parse_response(200, None, black_box(&body), &creds).expect("a valid answer");
        for p in &resp.permissions.permission {
            black_box(read_permission(p, None).expect("known direction"));
        }
    });
    println!("## client overhead per call (no network)");
    println!("| step | mean |");
    println!("| --- | --- |");
    println!("| DescribeSecurityGroupAttribute: build + sign + encode | {describe_sign:.2?} |");
    println!("| AuthorizeSecurityGroup, 100 rules: build + sign + encode | {authorize_sign:.2?} |");
    println!(
        "| parse + convert a {RULES}-rule answer ({} bytes) | {parse_convert:.2?} |",
        body.len()
    );
    println!(
        "| total per 200-rule read | {:.2?} |",
        describe_sign + parse_convert
    );
}

/// A loopback HTTP server answering every request with `body`.
async fn static_server(body: Vec<u8>) -> std::net::SocketAddr {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let body = Bytes::from(body);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Reads `sg-bench` from `tasks` concurrent tasks, 1200 reads in all, and
/// prints one table row.
async fn read_rate(client: &moat_aliyun::Client, label: &str, tasks: usize) {
    let per_task = 1200 / tasks;
    let t0 = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let reader = client.read_only();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let out = reader
                        .describe_security_group_attribute("sg-bench", None)
                        .await
                        .expect("a 200-rule read");
                    assert_eq!(
                        out.value.rules.len(),
                        RULES,
                        "{:?}",
                        out.value.unmodeled.first()
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("bench task");
    }
    let elapsed = t0.elapsed();
    let calls = (per_task * tasks) as f64;
    println!(
        "| {label} | {tasks} | {calls} | {:.0} | {:.2?} |",
        calls / elapsed.as_secs_f64(),
        elapsed.mul_f64(tasks as f64 / calls)
    );
}

fn throughput() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let emulator = moat_emulator::start(moat_emulator::EmulatorConfig::default())
        .expect("the emulator starts on loopback");
    let mut seed = moat_emulator::SeedGroup::new("cn-hangzhou", "sg-bench")
        .name("bench")
        .vpc_id("vpc-bench");
    for i in 0..RULES {
        let mut p = permission(i);
        p.security_group_rule_id = LooseString::default();
        let direction = if p.direction.as_str() == "ingress" {
            moat_emulator::Direction::Ingress
        } else {
            moat_emulator::Direction::Egress
        };
        seed = seed.rule(direction, p);
    }
    emulator
        .emulator()
        .seed_group(seed)
        .expect("seed 200 rules");
    runtime.block_on(async {
        let creds = Credentials::access_key(
            moat_emulator::DEMO_ACCESS_KEY_ID,
            moat_emulator::DEMO_ACCESS_KEY_SECRET,
        );
        let client_for = |endpoint: String| {
            let mut config =
                moat_aliyun::ClientConfig::with_credentials("cn-hangzhou", creds.clone());
            config.endpoint = Some(endpoint);
            config.max_rps = None;
            moat_aliyun::Client::new(&config).expect("valid config")
        };
        let static_addr = static_server(answer_body()).await;
        let to_emulator = client_for(emulator.endpoint());
        let to_static = client_for(format!("http://{static_addr}"));
        println!();
        println!("## DescribeSecurityGroupAttribute of a {RULES}-rule group over loopback");
        println!("| server | concurrent tasks | calls | requests/s | mean latency |");
        println!("| --- | --- | --- | --- | --- |");
        for tasks in [1usize, 4, 16] {
            read_rate(&to_emulator, "emulator", tasks).await;
        }
        for tasks in [1usize, 4, 16] {
            read_rate(&to_static, "static answer", tasks).await;
        }
    });
    let stats = emulator.emulator().stats();
    println!(
        "\nemulator stats: {} ok, {} errors",
        stats.ok("DescribeSecurityGroupAttribute"),
        stats.errors("DescribeSecurityGroupAttribute")
    );
    emulator.shutdown();
}

fn main() {
    overhead();
    throughput();
}
