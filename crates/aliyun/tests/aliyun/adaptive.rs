//! The adaptive rate against the emulator's QPS quota over loopback: it
//! finds the quota from a safe start, loses no call to throttling, and a
//! cap below the quota is a fixed ceiling that meets no throttle.

use moat_aliyun::{AdaptiveRate, Client, Credentials, GroupFilter, RegionRate};
use moat_emulator::FaultConfig;

use crate::emulator::{KEY_ID, KEY_SECRET, REGION, config, emulator};

/// `tasks` tasks making `calls` list calls each; every call must succeed.
async fn drive(client: &Client, tasks: u32, calls: u32) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let read = client.read_only();
            tokio::spawn(async move {
                for _ in 0..calls {
                    read.describe_security_groups(&GroupFilter::default())
                        .await
                        .expect("a throttled call is retried, never lost");
                }
            })
        })
        .collect();
    for h in handles {
        h.await.expect("task");
    }
}

fn only(stats: Vec<RegionRate>) -> RegionRate {
    assert_eq!(stats.len(), 1, "{stats:?}");
    stats.into_iter().next().expect("one limiter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adaptive_rate_finds_the_quota_and_loses_no_call() {
    let quota = 40;
    let handle = emulator(|c| {
        c.faults = FaultConfig {
            max_qps: quota,
            latency_ms: 5,
            ..FaultConfig::default()
        };
    });
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.adaptive = Some(AdaptiveRate::default());
    let client = Client::new(&c).expect("config");
    let (tasks, calls) = (8, 20);
    drive(&client, tasks, calls).await;

    let stats = handle.emulator().stats();
    let r = only(client.rate_stats());
    assert_eq!(r.region.as_deref(), Some(REGION));
    let s = r.stats;
    // Every call answered once, after as many throttled attempts as the
    // limiter saw: none lost, none counted twice.
    assert_eq!(stats.ok("DescribeSecurityGroups"), u64::from(tasks * calls));
    assert_eq!(stats.errors("DescribeSecurityGroups"), s.throttled);
    assert_eq!(s.sent, u64::from(tasks * calls) + s.throttled);
    // From 10 a second, slow start went past the quota, was throttled and
    // backed off: the quota was found without a flag.
    assert!(s.adaptive);
    assert!(s.peak_rate >= f64::from(quota), "{s:?}");
    assert!(s.throttled >= 1 && s.decreases >= 1, "{s:?}");
    assert!(s.rate < s.peak_rate, "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_under_the_quota_is_reached_and_never_throttled() {
    let handle = emulator(|c| {
        c.faults = FaultConfig {
            max_qps: 50,
            ..FaultConfig::default()
        };
    });
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.max_rps = Some(20.0);
    c.adaptive = Some(AdaptiveRate::default());
    let client = Client::new(&c).expect("config");
    drive(&client, 4, 10).await;
    let s = only(client.rate_stats()).stats;
    assert_eq!(s.peak_rate, 20.0, "{s:?}");
    assert_eq!((s.throttled, s.sent), (0, 40), "{s:?}");
    assert_eq!(
        handle.emulator().stats().errors("DescribeSecurityGroups"),
        0
    );
}

#[tokio::test]
async fn a_fixed_rate_stays_fixed_and_is_shared_by_every_region() {
    let handle = emulator(|_| {});
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.max_rps = Some(50.0);
    let client = Client::new(&c).expect("config");
    let other = client.for_region("cn-beijing").expect("region");
    drive(&client, 2, 5).await;
    drive(&other, 2, 5).await;
    let r = only(client.rate_stats());
    assert_eq!(r.region, None);
    assert!(!r.stats.adaptive);
    assert_eq!((r.stats.peak_rate, r.stats.sent), (50.0, 20));
}

#[tokio::test]
async fn each_region_has_its_own_adaptive_rate() {
    let handle = emulator(|_| {});
    let mut c = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    c.adaptive = Some(AdaptiveRate::default());
    let client = Client::new(&c).expect("config");
    let other = client.for_region("cn-beijing").expect("region");
    drive(&client, 2, 3).await;
    drive(&other, 1, 2).await;
    let stats = client.rate_stats();
    let by_region: Vec<_> = stats
        .iter()
        .map(|r| (r.region.as_deref(), r.stats.sent))
        .collect();
    assert_eq!(by_region, [(Some("cn-beijing"), 2), (Some(REGION), 6)]);
    assert_eq!(other.rate_stats().len(), 2, "siblings share the limiters");
}
