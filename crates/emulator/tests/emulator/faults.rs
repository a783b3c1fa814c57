//! Injected faults over HTTP, the stats endpoint and the control endpoints.

use std::time::{Duration, Instant};

use moat_emulator::{FaultConfig, Stats};

use crate::support::{Client, create_group, http, start_emulator, start_with};

fn post_faults(addr: std::net::SocketAddr, body: &str) -> crate::support::Resp {
    http(
        addr,
        "POST",
        "/_emulator/faults",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap()
}

fn stats(addr: std::net::SocketAddr) -> Stats {
    let r = http(addr, "GET", "/_emulator/stats", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    serde_json::from_str(&r.body).unwrap()
}

/// Outcome of each call: "ok", an error code, or "dropped".
fn outcomes(c: &Client, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| match c.try_call("DescribeSecurityGroups", &[]) {
            Ok(r) if r.status == 200 => "ok".to_owned(),
            Ok(r) => format!("{} {}", r.status, r.code()),
            Err(_) => "dropped".to_owned(),
        })
        .collect()
}

#[test]
fn stats_count_per_action_and_reset() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let g = create_group(&c, "stats");
    c.call("DescribeSecurityGroups", &[]).ok();
    c.call("DescribeSecurityGroupAttribute", &[("SecurityGroupId", &g)])
        .ok();
    c.call(
        "DescribeSecurityGroupAttribute",
        &[("SecurityGroupId", "sg-nope")],
    )
    .err(404, "InvalidSecurityGroupId.NotFound");
    let r = http(emu.addr(), "GET", "/_emulator/stats", &[], b"").unwrap();
    assert_eq!(
        r.json(),
        serde_json::json!({"calls": {
            "CreateSecurityGroup": {"ok": 1, "error": 0},
            "DescribeSecurityGroupAttribute": {"ok": 1, "error": 1},
            "DescribeSecurityGroups": {"ok": 1, "error": 0},
        }})
    );
    let r = http(emu.addr(), "POST", "/_emulator/reset-stats", &[], b"").unwrap();
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"calls": {}}))
    );
    assert_eq!(stats(emu.addr()).total(), 0);
}

#[test]
fn latency_delays_every_api_answer_but_not_the_control_endpoints() {
    let emu = start_with(|cfg| cfg.faults.latency_ms = 150);
    let c = Client::new(emu.addr());
    let t = Instant::now();
    c.call("DescribeSecurityGroups", &[]).ok();
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    // Ask the stats endpoint many times: with the latency applied these would
    // take at least 3 seconds, so finishing sooner proves it is exempt.
    let t = Instant::now();
    for _ in 0..20 {
        stats(emu.addr());
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[test]
fn a_qps_quota_answers_throttling_beyond_it() {
    let emu = start_with(|cfg| cfg.faults.max_qps = 3);
    let c = Client::new(emu.addr());
    let got = outcomes(&c, 5);
    // Five quick calls fit in one second: three pass, two are throttled. On a
    // machine so slow that a second passes, more would pass; never fewer.
    assert_eq!(got[..3], ["ok", "ok", "ok"]);
    let throttled: Vec<&String> = got.iter().filter(|o| *o != "ok").collect();
    assert!(throttled.iter().all(|o| *o == "400 Throttling"), "{got:?}");
    let r = c.try_call("DescribeSecurityGroups", &[]).unwrap();
    if r.status != 200 {
        assert_eq!(
            r.json()["Message"],
            "Request was denied due to request throttling."
        );
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(outcomes(&c, 1), ["ok"]);
    let s = stats(emu.addr());
    assert_eq!(
        s.errors("DescribeSecurityGroups") as usize,
        throttled.len() + usize::from(r.status != 200)
    );
}

/// Outcome of each call in `region`: "ok" or the status and error code.
fn outcomes_in(c: &Client, region: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(
            |_| match c.try_call("DescribeSecurityGroups", &[("RegionId", region)]) {
                Ok(r) if r.status == 200 => "ok".to_owned(),
                Ok(r) => format!("{} {}", r.status, r.code()),
                Err(_) => "dropped".to_owned(),
            },
        )
        .collect()
}

#[test]
fn each_region_has_a_qps_quota_of_its_own() {
    let emu = start_with(|cfg| cfg.faults.max_qps = 3);
    let c = Client::new(emu.addr());
    // Hangzhou spends its quota and is throttled; Shanghai, asked right
    // after, still gets all of its own (timing can only let more pass).
    let mut hangzhou = outcomes_in(&c, "cn-hangzhou", 3);
    assert_eq!(hangzhou, ["ok", "ok", "ok"]);
    while !hangzhou.iter().any(|o| o == "400 Throttling") {
        assert!(hangzhou.len() < 100, "never throttled: {hangzhou:?}");
        hangzhou.extend(outcomes_in(&c, "cn-hangzhou", 1));
    }
    let shanghai = outcomes_in(&c, "cn-shanghai", 3);
    assert_eq!(shanghai, ["ok", "ok", "ok"]);
    // The stats count the same calls per region.
    let r = http(emu.addr(), "GET", "/_emulator/stats?by=region", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let by_region: moat_emulator::RegionStats = serde_json::from_str(&r.body).unwrap();
    let throttled = hangzhou.iter().filter(|o| *o != "ok").count() as u64;
    assert_eq!(
        by_region.ok("cn-hangzhou"),
        hangzhou.len() as u64 - throttled
    );
    assert_eq!(by_region.regions["cn-hangzhou"].error, throttled);
    assert_eq!(by_region.ok("cn-shanghai"), 3);
    assert_eq!(by_region.regions["cn-shanghai"].error, 0);
    assert_eq!(
        emu.emulator().region_stats(),
        by_region,
        "the library and the endpoint agree"
    );
}

#[test]
fn seeded_faults_repeat_exactly() {
    let emu = start_emulator();
    let c = Client::new(emu.addr());
    let cfg = r#"{"throttle_rate": 0.2, "error_rate": 0.3, "drop_rate": 0.2, "seed": 8}"#;
    assert_eq!(post_faults(emu.addr(), cfg).status, 200);
    let first = outcomes(&c, 40);
    // Setting the same seed again restarts the same sequence.
    assert_eq!(post_faults(emu.addr(), cfg).status, 200);
    let second = outcomes(&c, 40);
    assert_eq!(first, second);
    for kind in [
        "ok",
        "400 Throttling",
        "500 InternalError",
        "503 ServiceUnavailable",
        "dropped",
    ] {
        assert!(
            first.iter().any(|o| o == kind),
            "{kind} missing from {first:?}"
        );
    }
    // Every fault counts as an error, every success as ok.
    let s = emu.emulator().stats();
    let oks = first.iter().filter(|o| *o == "ok").count() * 2;
    assert_eq!(s.ok("DescribeSecurityGroups") as usize, oks);
    assert_eq!(s.errors("DescribeSecurityGroups") as usize, 80 - oks);
    // The control endpoints are never faulted.
    assert_eq!(post_faults(emu.addr(), r#"{"drop_rate": 1.0}"#).status, 200);
    assert_eq!(outcomes(&c, 3), ["dropped", "dropped", "dropped"]);
    assert_eq!(
        stats(emu.addr()).errors("DescribeSecurityGroups") as usize,
        83 - oks
    );
    let r = http(emu.addr(), "GET", "/_emulator/faults", &[], b"").unwrap();
    assert_eq!(r.json()["drop_rate"], 1.0);
    assert_eq!(post_faults(emu.addr(), "{}").status, 200);
    assert_eq!(outcomes(&c, 1), ["ok"]);
}

#[test]
fn dropped_calls_are_sometimes_carried_out_and_the_sequence_decides_which() {
    let run = || {
        let emu = start_with(|cfg| {
            cfg.faults = FaultConfig {
                drop_rate: 1.0,
                seed: Some(99),
                ..FaultConfig::default()
            }
        });
        let c = Client::new(emu.addr());
        for i in 0..20 {
            let r = c.try_call(
                "CreateSecurityGroup",
                &[
                    ("SecurityGroupName", &format!("drop{i}")),
                    ("VpcId", "vpc-1"),
                ],
            );
            assert!(r.is_err(), "call {i} was answered");
        }
        emu.emulator()
            .snapshot()
            .groups
            .iter()
            .map(|g| g.security_group_name.clone())
            .collect::<Vec<_>>()
    };
    let created = run();
    assert!(!created.is_empty() && created.len() < 20, "{created:?}");
    let mut again = run();
    let mut created = created;
    created.sort();
    again.sort();
    assert_eq!(created, again);
}

#[test]
fn error_and_throttle_rates_of_one_fail_every_call() {
    let emu = start_with(|cfg| cfg.faults.throttle_rate = 1.0);
    let c = Client::new(emu.addr());
    assert_eq!(outcomes(&c, 3), ["400 Throttling"; 3]);
    emu.emulator()
        .set_faults(FaultConfig {
            error_rate: 1.0,
            ..FaultConfig::default()
        })
        .unwrap();
    for o in outcomes(&c, 10) {
        assert!(
            o == "500 InternalError" || o == "503 ServiceUnavailable",
            "{o}"
        );
    }
    let bad = post_faults(emu.addr(), r#"{"error_rate": 0.7, "drop_rate": 0.7}"#);
    assert_eq!(bad.status, 400);
    assert!(
        bad.json()["error"]
            .as_str()
            .unwrap()
            .contains("more than 1")
    );
    assert_eq!(post_faults(emu.addr(), r#"{"latency": 5}"#).status, 400);
}

#[test]
fn a_retry_with_the_client_token_after_a_lost_answer_applies_nothing_twice() {
    // Seed 1's first drop is one that is carried out (checked below by the
    // group existing), as when the answer is lost on the way back.
    let emu = start_with(|cfg| {
        cfg.faults = FaultConfig {
            drop_rate: 1.0,
            seed: Some(1),
            ..FaultConfig::default()
        }
    });
    let c = Client::new(emu.addr());
    let args = [
        ("SecurityGroupName", "retried"),
        ("VpcId", "vpc-1"),
        ("ClientToken", "plan-7-batch-1"),
    ];
    let mut attempts = 0;
    while emu.emulator().is_empty() {
        attempts += 1;
        assert!(attempts < 20, "no drop was carried out");
        assert!(c.try_call("CreateSecurityGroup", &args).is_err());
    }
    emu.emulator().set_faults(FaultConfig::default()).unwrap();
    let first = emu.emulator().snapshot().groups[0]
        .security_group_id
        .clone();
    let retry = c.call("CreateSecurityGroup", &args).ok();
    assert_eq!(retry["SecurityGroupId"], first.as_str());
    assert_eq!(emu.emulator().snapshot().groups.len(), 1);
}
