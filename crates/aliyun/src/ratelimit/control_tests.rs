//! The pace as a state machine on a clock of the tests' own: single steps,
//! then whole runs against models of a service quota, simulated event by
//! event so they take no real time and always come out the same.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Takes `n` calls as early as the pace allows, starting at `t`; returns
/// their send times, in milliseconds after `t0`.
fn drain(pace: &mut Pace, t0: Instant, t: Instant, n: usize) -> Vec<u128> {
    let mut now = t;
    (0..n)
        .map(|_| {
            let at = pace.ready_at(now);
            let waited = at > now;
            now = at;
            pace.take(at, waited);
            (at - t0).as_millis()
        })
        .collect()
}

#[test]
fn a_fixed_pace_is_a_token_bucket() {
    let t0 = Instant::now();
    let mut pace = Pace::fixed(10.0, 2, t0);
    assert_eq!(drain(&mut pace, t0, t0, 5), [0, 0, 100, 200, 300]);
    // A long pause fills the bucket again, but never above the burst.
    let later = t0 + Duration::from_secs(60);
    let waits = drain(&mut pace, t0, later, 3);
    assert_eq!(waits, [60_000, 60_000, 60_100]);
    // Successes and throttles do not move a fixed rate.
    let at = pace.ready_at(later);
    let p = pace.take(at, true);
    assert_eq!(pace.succeeded(&p, later + ms(20)), None);
    assert_eq!(pace.throttled(&p, later + ms(20), None), None);
    assert_eq!(pace.rate(), 10.0);
}

#[test]
fn an_adaptive_pace_starts_at_a_safe_rate_with_a_small_burst() {
    let t0 = Instant::now();
    let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    // Five at once, then one each 100 ms.
    assert_eq!(drain(&mut pace, t0, t0, 7), [0, 0, 0, 0, 0, 100, 200]);
}

#[test]
fn slow_start_doubles_once_per_round_while_the_rate_holds_callers_back() {
    let t0 = Instant::now();
    let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let first: Vec<Permit> = (0..6).map(|_| pace.take(t0, false)).collect();
    // The first four left tokens in the bucket: they were not held back.
    assert!(first[..4].iter().all(|p| !p.limited));
    assert!(first[4].limited && first[5].limited);
    assert_eq!(pace.succeeded(&first[0], t0 + ms(20)), None);
    assert_eq!(pace.rate(), 10.0);
    assert_eq!(
        pace.succeeded(&first[4], t0 + ms(20)),
        Some(RateChange::Doubled {
            from: 10.0,
            to: 20.0
        })
    );
    // Another answer of the same round does not double again.
    assert_eq!(pace.succeeded(&first[5], t0 + ms(21)), None);
    assert_eq!(pace.rate(), 20.0);
    // The doubling answer lets the next call go at once, and the one
    // after it about a slot of the new rate (50 ms) later.
    let at = pace.ready_at(t0 + ms(21));
    assert_eq!(at, t0 + ms(21));
    let next = pace.take(at, true);
    assert_eq!((pace.ready_at(at) - at).as_millis(), 49);
    assert_eq!(
        pace.succeeded(&next, at + ms(20)),
        Some(RateChange::Doubled {
            from: 20.0,
            to: 40.0
        })
    );
    assert_eq!(pace.stats().peak_rate, 40.0);
}

#[test]
fn the_cap_bounds_slow_start_and_the_start() {
    let t0 = Instant::now();
    let settings = AdaptiveRate {
        cap: Some(15.0),
        ..AdaptiveRate::default()
    };
    let mut pace = Pace::adaptive(&settings, t0);
    for i in 0..20u64 {
        let at = pace.ready_at(t0 + ms(i * 10));
        let p = pace.take(at, true);
        pace.succeeded(&p, at + ms(5));
    }
    assert_eq!(pace.rate(), 15.0);
    let low = AdaptiveRate {
        cap: Some(4.0),
        ..AdaptiveRate::default()
    };
    assert_eq!(Pace::adaptive(&low, t0).rate(), 4.0);
}

/// An adaptive pace capped at `rate` that slow start has already taken
/// there.
fn sending_at(rate: f64, t0: Instant) -> Pace {
    let settings = AdaptiveRate {
        cap: Some(rate),
        ..AdaptiveRate::default()
    };
    let mut pace = Pace::adaptive(&settings, t0);
    pace.rate = rate;
    pace
}

#[test]
fn a_throttle_backs_off_to_what_the_service_accepted_once_per_round() {
    let t0 = Instant::now();
    let mut pace = sending_at(400.0, t0);
    // 100 calls in 0.25 s are accepted, then 20 more are sent and all
    // throttled.
    for i in 0..100u64 {
        let p = pace.take(t0 + ms(i * 25 / 10), true);
        pace.succeeded(&p, t0 + ms(i * 25 / 10 + 20));
    }
    let late: Vec<Permit> = (0..20u64)
        .map(|i| pace.take(t0 + ms(250 + i), true))
        .collect();
    let now = t0 + ms(290);
    let change = pace.throttled(&late[0], now, None);
    assert_eq!(
        change,
        Some(RateChange::Decreased {
            from: 400.0,
            to: 97.0,
            accepted: 100.0,
            held: None
        })
    );
    // The others were sent before the decrease: no further decrease.
    for p in &late[1..] {
        assert_eq!(pace.throttled(p, now + ms(1), None), None);
    }
    assert_eq!(pace.rate(), 97.0);
    let stats = pace.stats();
    assert_eq!((stats.throttled, stats.decreases), (20, 1));
    assert_eq!(stats.peak_accepted, 100);

    // The quota still holds the 100 accepted calls of the last second: a
    // window takes a call under that, so the 2nd oldest of them must age
    // out first (at 97 a window, it was the 4th).
    let at = pace.ready_at(now + ms(1));
    assert_eq!((at - t0).as_millis(), 1002);

    // A call sent after the decrease that is throttled lowers it again.
    let p = pace.take(at, true);
    let change = pace.throttled(&p, at + ms(20), None);
    assert!(
        matches!(change, Some(RateChange::Decreased { from: 97.0, .. })),
        "{change:?}"
    );
}

#[test]
fn a_throttle_counts_the_window_its_call_was_refused_in_not_the_one_ending_at_its_answer() {
    // The service counts 200 calls in the second before the throttled call
    // was sent: 15 in a burst at its start, then 185 spread out. The answer
    // comes 20 ms later, when the burst has left the second ending now; the
    // service still counted it.
    let t0 = Instant::now();
    let mut pace = sending_at(1000.0, t0);
    let sends = (0..15u64)
        .map(|i| 10 + i)
        .chain((0..185u64).map(|i| 30 + 5 * i));
    for at in sends {
        let p = pace.take(t0 + ms(at), true);
        pace.succeeded(&p, t0 + ms(at + 20));
    }
    let refused = pace.take(t0 + ms(1005), true);
    let change = pace.throttled(&refused, t0 + ms(1025), None);
    assert_eq!(
        change,
        Some(RateChange::Decreased {
            from: 1000.0,
            to: 194.0,
            accepted: 200.0,
            held: None
        })
    );
    assert_eq!(pace.stats().peak_accepted, 200);
}

#[test]
fn answers_that_come_after_the_throttle_still_count_in_its_window() {
    // 50 calls go in a burst and the service accepts them all; the call
    // after them is refused, and its answer comes before those of the last
    // ten accepted (answers out of order, as on a loaded machine).
    let t0 = Instant::now();
    let mut pace = sending_at(1000.0, t0);
    let accepted: Vec<Permit> = (0..50u64).map(|i| pace.take(t0 + ms(i), true)).collect();
    for p in &accepted[..40] {
        pace.succeeded(p, t0 + ms(60));
    }
    let refused = pace.take(t0 + ms(50), true);
    assert_eq!(
        pace.throttled(&refused, t0 + ms(70), None),
        Some(RateChange::Decreased {
            from: 1000.0,
            to: 38.8,
            accepted: 40.0,
            held: None
        })
    );
    // The late answers were counted in the refused call's window: each
    // raises the rate to the share of the count so far, up to 97% of 50.
    let revised: Vec<Option<RateChange>> = accepted[40..]
        .iter()
        .map(|p| pace.succeeded(p, t0 + ms(80)))
        .collect();
    assert_eq!(
        revised[0],
        Some(RateChange::Revised {
            from: 38.8,
            to: 0.97 * 41.0,
            accepted: 41.0
        })
    );
    assert!(revised.iter().all(Option::is_some), "{revised:?}");
    assert_eq!(pace.rate(), 48.5);
    // The window takes a call under the 50 it accepted, 49: the 2nd
    // oldest of them must age out first, whatever the rate (at 48.5 a
    // window it was the 3rd, at 38.8 the 13th). Sent at 1 ms and answered
    // at 60, it took 38 ms longer than the fastest exchange (21 ms, of the
    // call sent at 39 ms): the service may have counted it as late as that
    // after its send. (Dated by the fastest exchange seen when it was answered, its
    // own, it left at 1,001 ms.)
    let at = pace.ready_at(t0 + ms(80));
    assert_eq!((at - t0).as_millis(), 1039);
    // A call sent after the decrease counts in no window of it: it revises
    // nothing.
    let next = pace.take(at, true);
    assert!(!matches!(
        pace.succeeded(&next, at + ms(20)),
        Some(RateChange::Revised { .. })
    ));
}

#[test]
fn the_rate_never_falls_below_the_floor() {
    let t0 = Instant::now();
    let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let mut now = t0;
    for _ in 0..50 {
        now = pace.ready_at(now);
        let p = pace.take(now, true);
        now += ms(20);
        pace.throttled(&p, now, None);
    }
    assert_eq!(pace.rate(), 1.0);
    // ...and climbs back from it.
    for _ in 0..30 {
        now = pace.ready_at(now);
        let p = pace.take(now, true);
        now += ms(20);
        pace.succeeded(&p, now);
    }
    assert!(pace.rate() > 1.0, "{}", pace.rate());
}

#[test]
fn a_retry_after_holds_every_call_at_any_pace() {
    let t0 = Instant::now();
    for mut pace in [
        Pace::fixed(100.0, 5, t0),
        Pace::adaptive(&AdaptiveRate::default(), t0),
    ] {
        let p = pace.take(t0, false);
        let now = t0 + ms(20);
        let change = pace.throttled(&p, now, Some(ms(800)));
        match change {
            Some(RateChange::Held { asked, .. }) => assert_eq!(asked, ms(800)),
            Some(RateChange::Decreased { held, .. }) => assert_eq!(held, Some(ms(800))),
            other => panic!("{other:?}"),
        }
        // The fixed pace goes as soon as the hold ends; the adaptive one
        // also lowered its rate to the floor, so it waits for a token too.
        let first = (pace.ready_at(now) - t0).as_millis();
        if pace.stats().adaptive {
            assert!(first > 820, "{first}");
        } else {
            assert_eq!(first, 820);
        }
        // A later, shorter retry-after does not shorten the hold.
        pace.throttled(&p, now, Some(ms(10)));
        assert_eq!((pace.ready_at(now) - t0).as_millis(), first);
        // An absurd one is cut to a minute.
        pace.throttled(&p, now, Some(Duration::from_secs(3600)));
        assert_eq!(pace.ready_at(now) - now, MAX_HOLD);
    }
}

#[test]
fn additive_increase_is_slow_near_the_quota_and_speeds_up_without_throttles() {
    let t0 = Instant::now();
    let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let p = pace.take(t0, true);
    pace.succeeded(&p, t0 + ms(10));
    pace.rate = 100.0;
    let p = pace.take(t0 + ms(20), true);
    pace.throttled(&p, t0 + ms(40), None);
    // Accepted one call in the last second: the floor-bound backoff.
    assert_eq!(pace.rate(), 1.0);
    pace.rate = 100.0;
    pace.phase = Phase::Steady(Known {
        since: t0,
        base: 100.0,
        ceiling: 100.0,
        previous: None,
    });
    // One second at full use: 100 calls add 1% of 100 calls per second.
    let mut now = t0;
    for _ in 0..100 {
        now += ms(10);
        let p = pace.take(now, true);
        pace.succeeded(&p, now);
    }
    let after_one = pace.rate();
    assert!((100.9..101.1).contains(&after_one), "{after_one}");
    // Ten seconds later without a throttle, the growth has doubled twice.
    let later = t0 + Duration::from_secs(10);
    let before = pace.rate();
    let p = pace.take(later, true);
    pace.succeeded(&p, later);
    let step = (pace.rate() - before) * before;
    assert!((3.9..4.1).contains(&step), "{step}");
}

#[test]
fn after_a_back_off_the_rate_climbs_back_to_what_was_accepted_then_waits_at_a_known_quota() {
    /// A second of 100 accepted calls sent at `rate`, then one refused.
    fn backed_off(rate: f64) -> (Pace, Instant) {
        let t0 = Instant::now();
        let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
        pace.rate = rate;
        let mut now = t0;
        for _ in 0..100 {
            now += ms(10);
            let p = pace.take(now, false);
            pace.succeeded(&p, now);
        }
        let p = pace.take(now, true);
        now += ms(20);
        pace.throttled(&p, now, None);
        assert_eq!(pace.rate(), 97.0);
        (pace, now)
    }
    fn at_full_use(pace: &mut Pace, from: Instant, seconds: f64) -> Instant {
        let mut now = from;
        let end = from + Duration::from_secs_f64(seconds);
        while now < end {
            now += Duration::from_secs_f64(1.0 / pace.rate());
            let p = pace.take(now, true);
            pace.succeeded(&p, now);
        }
        now
    }
    // Refused at 150 a second, with 100 accepted: the pace may have held
    // the count. Back at a call a second under the ceiling within
    // `recover` (half a second) at full use.
    let (mut pace, mut now) = backed_off(150.0);
    now = at_full_use(&mut pace, now, 0.4);
    assert!((98.0..99.0).contains(&pace.rate()), "{}", pace.rate());
    now = at_full_use(&mut pace, now, 0.15);
    assert!((99.0..99.2).contains(&pace.rate()), "{}", pace.rate());
    // Past it, the probing of an unconfirmed ceiling starts at once...
    now = at_full_use(&mut pace, now, 1.5);
    let probed = pace.rate();
    assert!(probed > 100.2, "{probed}");
    // ...and is refused at the same count: the quota is confirmed.
    let p = pace.take(now, true);
    now += ms(20);
    pace.throttled(&p, now, None);
    assert!(pace.rate() < 100.0);
    now = at_full_use(&mut pace, now, 0.6);
    let ceiling = pace.rate();
    assert!((99.0..=101.0).contains(&ceiling), "{ceiling}");
    // It stays there for the patience (5 s) before probing again.
    now = at_full_use(&mut pace, now, 4.0);
    assert_eq!(pace.rate(), ceiling);
    at_full_use(&mut pace, now, 2.0);
    assert!(pace.rate() > ceiling);

    // Refused in slow start at 1,000 a second, ten times what was
    // accepted: the service held the count, and the ceiling is confirmed
    // at once.
    let (mut pace, mut now) = backed_off(1000.0);
    now = at_full_use(&mut pace, now, 0.6);
    assert_eq!(pace.rate(), 99.0);
    now = at_full_use(&mut pace, now, 4.0);
    assert_eq!(pace.rate(), 99.0);
    at_full_use(&mut pace, now, 2.0);
    assert!(pace.rate() > 99.0);
}

#[test]
fn the_ceiling_counts_accepted_calls_sent_after_the_refused_one() {
    // On a loaded machine calls reach the service in another order than
    // they were sent: here the service counted fourteen calls sent after
    // the refused one, which the window ending at its send leaves out
    // (the fleet benchmark measured 36 of 50 so). The back-off takes the
    // short count, but the ceiling is the busiest window of the accepted
    // calls, so the rate climbs back to 48 a second (a call under it), not
    // to 35.
    let t0 = Instant::now();
    let mut pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    pace.rate = 1000.0;
    let permits: Vec<Permit> = (0..50).map(|i| pace.take(t0 + ms(10 * i), true)).collect();
    let mut now = t0 + ms(510);
    for (i, p) in permits.iter().enumerate() {
        if i != 35 {
            pace.succeeded(p, now);
        }
    }
    now += ms(10);
    pace.throttled(&permits[35], now, None);
    assert!((33.0..34.0).contains(&pace.rate()), "{}", pace.rate());
    let end = now + ms(600);
    while now < end {
        now += Duration::from_secs_f64(1.0 / pace.rate());
        let p = pace.take(now, true);
        pace.succeeded(&p, now);
    }
    // A call a second under the ceiling of 49.
    assert!((47.9..=48.0).contains(&pace.rate()), "{}", pace.rate());
}

// ---------------------------------------------------------------------
// Whole runs against models of a quota, on a simulated clock.

/// How the modelled service counts calls.
enum Quota {
    /// At most `n` accepted calls in any window of a second (what the
    /// emulator's `--max-qps` does).
    Sliding {
        n: usize,
        admitted: VecDeque<Instant>,
    },
    /// A token bucket of `rate` a second holding `burst`.
    Bucket {
        rate: f64,
        burst: f64,
        tokens: f64,
        last: Instant,
    },
}

impl Quota {
    fn sliding(n: usize) -> Quota {
        Quota::Sliding {
            n,
            admitted: VecDeque::new(),
        }
    }

    fn bucket(rate: f64, burst: f64, t0: Instant) -> Quota {
        Quota::Bucket {
            rate,
            burst,
            tokens: burst,
            last: t0,
        }
    }

    fn admit(&mut self, t: Instant) -> bool {
        match self {
            Quota::Sliding { n, admitted } => {
                while admitted
                    .front()
                    .is_some_and(|a| t.duration_since(*a) >= Duration::from_secs(1))
                {
                    admitted.pop_front();
                }
                if admitted.len() >= *n {
                    return false;
                }
                admitted.push_back(t);
                true
            }
            Quota::Bucket {
                rate,
                burst,
                tokens,
                last,
            } => {
                *tokens = (*tokens + t.duration_since(*last).as_secs_f64() * *rate).min(*burst);
                *last = t;
                if *tokens >= 1.0 {
                    *tokens -= 1.0;
                    true
                } else {
                    false
                }
            }
        }
    }
}

#[derive(Debug)]
struct Run {
    elapsed: Duration,
    ok: usize,
    throttled: usize,
    rate: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The head of the queue may be able to go (stale unless its
    /// generation is the current one).
    Grant(u64),
    /// A call reaches the service, which counts it or refuses it; its
    /// answer takes `back` more.
    Arrive { worker: usize, back: Duration },
    /// A call's answer arrives for worker `w`.
    Answer { worker: usize, ok: bool },
}

/// `calls` calls by `workers` concurrent callers through `pace` to a
/// service counting with `quota`, each answered `latency` (plus up to 2 ms
/// of deterministic jitter) after it is sent. Throttled calls are sent
/// again. Returns when the last call has succeeded.
fn simulate(
    pace: Pace,
    quota: Quota,
    t0: Instant,
    calls: usize,
    workers: usize,
    latency: Duration,
) -> Run {
    let jitter = Jitter {
        up_to: ms(2),
        way_in: None,
        opening: Duration::ZERO,
    };
    simulate_with_jitter(pace, quota, t0, calls, workers, latency, jitter)
}

/// A delay added to each exchange of a simulated run.
#[derive(Clone, Copy, Debug)]
struct Jitter {
    /// Each exchange takes up to this much longer than the latency.
    up_to: Duration,
    /// The share of it that falls on the way in, before the service counts
    /// the call; `None`: anywhere from none to all of it, call by call.
    way_in: Option<f64>,
    /// The first call of each caller takes this much longer on the way
    /// in: it opens a connection first (a TCP and TLS handshake) to a
    /// service only just serving (seen in the benchmarks: the first five
    /// calls of a run took 32-60 ms where the later ones took 24).
    opening: Duration,
}

/// [`simulate`] with `jitter` added to each exchange, so that calls reach
/// the service and answers come back in another order than the calls
/// went.
fn simulate_with_jitter(
    mut pace: Pace,
    mut quota: Quota,
    t0: Instant,
    calls: usize,
    workers: usize,
    latency: Duration,
    jitter: Jitter,
) -> Run {
    let jitter_us = (jitter.up_to.as_micros() as u64).max(1);
    let mut events: BinaryHeap<Reverse<(Instant, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |events: &mut BinaryHeap<_>, t: Instant, e: Event| {
        seq += 1;
        events.push(Reverse((t, seq, e)));
    };
    let mut waiting: VecDeque<(usize, Instant)> = VecDeque::new();
    let mut in_flight: Vec<Option<Permit>> = vec![None; workers];
    let mut opened = vec![false; workers];
    let mut left = calls;
    let mut generation = 0u64;
    let mut random = 0x2545_f491_4f6c_dd1du64;
    let mut next_random = move || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let (mut ok, mut throttled, mut end) = (0, 0, t0);
    for w in 0..workers.min(calls) {
        waiting.push_back((w, t0));
        left -= 1;
    }
    generation += 1;
    push(&mut events, pace.ready_at(t0), Event::Grant(generation));
    while let Some(Reverse((t, _, event))) = events.pop() {
        match event {
            Event::Grant(g) if g != generation => {}
            Event::Grant(_) => {
                let at = pace.ready_at(t);
                if at > t {
                    push(&mut events, at, Event::Grant(generation));
                    continue;
                }
                let Some((w, asked)) = waiting.pop_front() else {
                    continue;
                };
                let permit = pace.take(t, asked < t);
                in_flight[w] = Some(permit);
                let delay = Duration::from_micros(next_random() % jitter_us);
                let share = (next_random() % 1001) as f64 / 1000.0;
                let mut way_in = delay.mul_f64(jitter.way_in.unwrap_or(share));
                let back = delay.saturating_sub(way_in);
                if !std::mem::replace(&mut opened[w], true) {
                    way_in += jitter.opening;
                }
                push(
                    &mut events,
                    t + way_in,
                    Event::Arrive {
                        worker: w,
                        back: latency + back,
                    },
                );
                if !waiting.is_empty() {
                    generation += 1;
                    push(&mut events, pace.ready_at(t), Event::Grant(generation));
                }
            }
            Event::Arrive { worker, back } => {
                let ok = quota.admit(t);
                push(&mut events, t + back, Event::Answer { worker, ok });
            }
            Event::Answer {
                worker,
                ok: admitted,
            } => {
                let Some(permit) = in_flight[worker].take() else {
                    continue;
                };
                if admitted {
                    ok += 1;
                    end = t;
                    pace.succeeded(&permit, t);
                    if left > 0 {
                        left -= 1;
                        waiting.push_back((worker, t));
                    }
                } else {
                    throttled += 1;
                    pace.throttled(&permit, t, None);
                    // Retried at once: the pace decides when it goes.
                    waiting.push_back((worker, t));
                }
                if !waiting.is_empty() {
                    generation += 1;
                    push(&mut events, pace.ready_at(t), Event::Grant(generation));
                }
            }
        }
    }
    Run {
        elapsed: end - t0,
        ok,
        throttled,
        rate: pace.rate(),
    }
}

/// A run's wall time over the quota's bound (calls / quota per second).
fn ratio(run: &Run, quota_per_second: f64) -> f64 {
    run.elapsed.as_secs_f64() / (run.ok as f64 / quota_per_second)
}

#[test]
fn a_run_against_a_one_second_quota_gets_close_to_its_bound_with_few_throttles() {
    let t0 = Instant::now();
    // (calls, quota, callers): the plan benchmark, one (account, region)
    // pair of the fleet benchmark, a slow account, a long run.
    for (calls, quota, workers) in [
        (1010, 200, 16),
        (101, 50, 16),
        (200, 20, 16),
        (5000, 200, 16),
        (3000, 100, 4),
    ] {
        let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
        let run = simulate(pace, Quota::sliding(quota), t0, calls, workers, ms(20));
        let r = ratio(&run, quota as f64);
        assert_eq!(run.ok, calls, "every call succeeds in the end");
        assert!(
            r < 1.05,
            "{calls} calls at {quota}/s: {r:.3}x the bound, {run:?}"
        );
        let share = run.throttled as f64 / (run.ok + run.throttled) as f64;
        let allowed = (0.02 * calls as f64).max(workers as f64 + 2.0) / calls as f64;
        assert!(
            share <= allowed,
            "{calls} calls at {quota}/s: {} throttled, {run:?}",
            run.throttled
        );
        assert!(
            run.rate <= quota as f64 * 1.05 && run.rate >= quota as f64 * 0.8,
            "{calls} calls at {quota}/s: ended at {:.1}/s",
            run.rate
        );
    }
}

#[test]
fn slow_start_fills_the_first_window_early_enough_not_to_shape_the_later_ones() {
    // Against a sliding window, each second's calls can go only as the
    // calls of the second before age out, so a slow first tenth of a
    // second repeats in every window of the run. Waiting a full slot of
    // the new rate after each doubling sent 28 calls in the first 0.2 s
    // where the quota takes 40, and the plan benchmark's run took 1.029x
    // its bound here; the answer clocking the next call out takes it to
    // 1.017x.
    let t0 = Instant::now();
    let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let run = simulate(pace, Quota::sliding(200), t0, 1010, 16, ms(20));
    let r = ratio(&run, 200.0);
    assert!(r < 1.022, "{r:.4}x the bound, {run:?}");
}

#[test]
fn a_long_run_keeps_to_the_quota_after_backing_off() {
    // Without the climb back to what the service accepted, a long run
    // stayed near 97% of the quota after each back-off (1.018-1.022x); now
    // it keeps a call a second under the quota.
    let t0 = Instant::now();
    for (calls, quota, workers) in [(5000, 200, 16), (3000, 100, 4)] {
        let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
        let run = simulate(pace, Quota::sliding(quota), t0, calls, workers, ms(20));
        assert_eq!(run.ok, calls);
        let r = ratio(&run, quota as f64);
        assert!(r < 1.016, "{calls} calls at {quota}/s: {r:.4}x, {run:?}");
        assert!(run.throttled * 100 <= calls, "{run:?}");
    }
}

#[test]
fn answers_out_of_order_do_not_leave_the_rate_under_the_quota() {
    // One (account, region) pair of the fleet benchmark on a loaded
    // machine: answers take 20 ms plus up to 40 or 80 ms more, so at the
    // first throttle many successes of the window it counted are still on
    // their way. Counting them as they come keeps the run near its bound
    // (without it: 1.08x and 1.19x). A share of each delay falls on the way
    // back, where the window dates each call as if all of it fell on the
    // way in: 1.022x and 1.051x (1.019x and 1.033x dated half way).
    let t0 = Instant::now();
    for up_to in [ms(40), ms(80)] {
        let jitter = Jitter {
            up_to,
            way_in: None,
            opening: Duration::ZERO,
        };
        let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
        let run = simulate_with_jitter(pace, Quota::sliding(50), t0, 101, 16, ms(20), jitter);
        assert_eq!(run.ok, 101);
        let r = ratio(&run, 50.0);
        assert!(r < 1.06, "jitter {jitter:?}: {r:.3}x the bound, {run:?}");
    }
}

#[test]
fn the_first_calls_of_a_run_keep_their_slots_as_long_as_they_took() {
    // The first five calls open connections to a service just started and
    // take 50 ms; the later ones 20. The service counted the first ones
    // late, so their slots free late: dated by the fastest exchange seen
    // when they were answered (their own), they would free at their sends.
    let t0 = Instant::now();
    let mut pace = sending_at(1000.0, t0);
    let first: Vec<Permit> = (0..5).map(|_| pace.take(t0, true)).collect();
    for p in &first {
        pace.succeeded(p, t0 + ms(50));
    }
    let rest: Vec<Permit> = (0..45u64)
        .map(|i| pace.take(t0 + ms(100 + i), true))
        .collect();
    for (i, p) in (0..45u64).zip(&rest) {
        pace.succeeded(p, t0 + ms(120 + i));
    }
    let refused = pace.take(t0 + ms(150), true);
    assert!(matches!(
        pace.throttled(&refused, t0 + ms(170), None),
        Some(RateChange::Decreased { accepted: 50.0, .. })
    ));
    // 49 a window: the 2nd of the first five must leave it, 30 ms after
    // its send (50 ms where the fastest took 20) and a second.
    assert_eq!((pace.ready_at(t0 + ms(200)) - t0).as_millis(), 1030);
    // In a run whose callers each open a connection on the way in at
    // first, no more calls are refused than in the first window.
    let jitter = Jitter {
        up_to: ms(40),
        way_in: None,
        opening: ms(20),
    };
    let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let run = simulate_with_jitter(pace, Quota::sliding(50), t0, 101, 16, ms(20), jitter);
    assert_eq!(run.ok, 101);
    assert!(run.throttled <= 16, "{run:?}");
    assert!(ratio(&run, 50.0) < 1.05, "{run:?}");
}

#[test]
fn a_cap_below_the_quota_is_never_exceeded_and_meets_no_throttle() {
    let t0 = Instant::now();
    let settings = AdaptiveRate {
        cap: Some(50.0),
        ..AdaptiveRate::default()
    };
    let run = simulate(
        Pace::adaptive(&settings, t0),
        Quota::sliding(200),
        t0,
        500,
        16,
        ms(20),
    );
    assert_eq!((run.ok, run.throttled), (500, 0));
    assert_eq!(run.rate, 50.0);
    // 500 calls at 50 a second, the first burst included.
    assert!(
        run.elapsed >= Duration::from_secs_f64(495.0 / 50.0),
        "{run:?}"
    );
}

#[test]
fn a_token_bucket_quota_is_found_without_a_storm_of_throttles() {
    // A service that refills a bucket instead of counting a window: the
    // first throttle comes soon after the start, when little has been
    // accepted, so the first estimate is low; the additive increase, which
    // speeds up while nothing is throttled, finds the rate again.
    let t0 = Instant::now();
    let pace = Pace::adaptive(&AdaptiveRate::default(), t0);
    let run = simulate(pace, Quota::bucket(200.0, 20.0, t0), t0, 5000, 16, ms(20));
    assert_eq!(run.ok, 5000);
    assert!(run.throttled < 100, "{run:?}");
    assert!(ratio(&run, 200.0) < 2.0, "{run:?}");
}

#[test]
fn a_fixed_pace_keeps_its_rate_whatever_the_quota() {
    let t0 = Instant::now();
    let run = simulate(
        Pace::fixed(10.0, 1, t0),
        Quota::sliding(200),
        t0,
        50,
        16,
        ms(20),
    );
    assert_eq!((run.ok, run.throttled), (50, 0));
    assert_eq!(run.rate, 10.0);
    // The first call at once, then one each 100 ms.
    assert!(run.elapsed >= ms(4900) && run.elapsed < ms(5000), "{run:?}");
}

#[test]
fn after_a_back_off_a_call_held_up_on_the_way_keeps_its_slot_longer() {
    // The fastest exchange took 20 ms. Then 50 calls take 60 ms each (a
    // loaded machine): each reached the service up to 40 ms after it was
    // sent, and the service counts it from then.
    let t0 = Instant::now();
    let mut pace = sending_at(1000.0, t0);
    let fast = pace.take(t0, true);
    pace.succeeded(&fast, t0 + ms(20));
    let held_up: Vec<Permit> = (0..50u64)
        .map(|i| pace.take(t0 + ms(1500 + i), true))
        .collect();
    let refused = pace.take(t0 + ms(1550), true);
    for (i, p) in (0..50u64).zip(&held_up) {
        pace.succeeded(p, t0 + ms(1560 + i));
    }
    assert!(matches!(
        pace.throttled(&refused, t0 + ms(1570), None),
        Some(RateChange::Decreased { accepted: 50.0, .. })
    ));
    // A window takes 49 of them: the 2nd oldest must leave it, by the
    // service's count as late as its 40 ms delay after it was sent (dated
    // by its send, it left at 2,501 ms, when the service still counted it;
    // dated half way, at 2,521 ms, it still could).
    let at = pace.ready_at(t0 + ms(1600));
    assert_eq!((at - t0).as_millis(), 2541);
}
