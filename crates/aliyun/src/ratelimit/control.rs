//! The pace of one limiter as a pure state machine: every method takes the
//! time from its caller, so tests drive it with a clock of their own and the
//! async limiter only adds waiting.
//!
//! A fixed pace is a token bucket: `rate` calls a second on average, at most
//! `burst` at once after a quiet spell.
//!
//! An adaptive pace is the same bucket with a rate that moves, as TCP's
//! congestion window does:
//!
//! - **Slow start.** It starts at a safe rate with a small burst and doubles
//!   the rate each time a call sent at the current rate succeeds while the
//!   rate was what held the caller back, and lets the next call go at once
//!   (the answer clocks it out, as an ACK does), so the rate doubles about
//!   once per round trip while the callers want more.
//! - **Backing off.** At the first `Throttling`, and then at most once per
//!   round trip (a throttled call sent before the last decrease says nothing
//!   new), the rate drops to a share (`backoff`) of what the service
//!   accepted over the window the throttled call was sent in (the one
//!   ending at its send time, not at its answer), or of the rate itself if
//!   that is lower.
//!   Answers of calls sent before the throttled one may come after its
//!   answer (the order of answers is not the order of sends, least of all
//!   on a loaded machine); each such success still counted in that window,
//!   so it revises the rate up to the share of the new count (never down,
//!   and never above the share of the rate before the decrease).
//!   The service counts calls over a window (a second for a QPS quota), and
//!   a slow start may have filled it in a burst; so from then on the
//!   limiter also never lets more calls go in any window than a call under
//!   the ceiling (below), or the rate's worth if that is more, which holds
//!   calls until the burst has aged out of it instead of sending them into
//!   a full quota. Each call counts there from when the service may have
//!   got it: at the latest, its delay past the fastest exchange after its
//!   send (dated again whenever a faster exchange shows up, as the first
//!   answers come before any fast one).
//! - **Recovery.** What the service accepted when it refused a call (the
//!   most accepted calls sent within one window, per second) is a known
//!   ceiling, and the rate climbs back within `recover` to a call a window
//!   under it, as TCP CUBIC climbs back quickly to the window it last lost
//!   packets at. So a back-off costs a share of the quota for a moment, not
//!   for the rest of the run.
//! - **Additive increase.** There, while the rate holds callers back, it
//!   grows by a small share (`increase`) of the rate set at the last
//!   decrease per second, doubling for every `patience` without a
//!   throttle, so it probes slowly past a known quota and quickly far from
//!   one. Once the quota is known (two back-offs in a row found the same
//!   ceiling, or slow start was refused at twice it or more), the probe
//!   waits a `patience` first.
//! - **Retry-after.** When the service says how long to wait
//!   (`x-acs-retry-after`), no call goes before that, at any pace.
//!
//! Waiting callers are not given reservations in advance: each asks again
//! when its turn comes, so a change of rate applies to the next call.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// No limiter goes faster than this (calls per second).
pub const MAX_RATE: f64 = 10_000.0;

/// The longest wait a retry-after can impose on the limiter; longer values
/// are cut to this.
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// Settings of an adaptive pace. The defaults are what moat uses.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveRate {
    /// Calls per second before anything is known about the quota.
    pub start: f64,
    /// Calls allowed at once at the start and after a quiet spell.
    pub burst: u32,
    /// Never faster than this (`--max-rps` with `--adaptive-rate`);
    /// `None` for [`MAX_RATE`].
    pub cap: Option<f64>,
    /// Never slower than this, however often calls are throttled.
    pub floor: f64,
    /// After a throttle the rate becomes this share of the rate the service
    /// accepted over the last window (0 to 1).
    pub backoff: f64,
    /// After a decrease, the rate climbs back within this long to a call a
    /// window under the ceiling (the most calls the service accepted within
    /// one window, per second).
    pub recover: Duration,
    /// Growth per second past the ceiling, as a share of the rate set at
    /// the last decrease (at least [`MIN_INCREASE`] calls per second per
    /// second).
    pub increase: f64,
    /// The growth doubles for every stretch this long without a throttle.
    pub patience: Duration,
    /// The window over which the service is taken to count calls.
    pub window: Duration,
}

/// The least additive increase, in calls per second per second, so a rate
/// that fell to the floor still climbs back.
pub const MIN_INCREASE: f64 = 1.0;

impl Default for AdaptiveRate {
    /// Starts at 10 calls per second (the fixed rate of earlier versions,
    /// safe for any account) with a burst of 5; backs off to 97% of what
    /// the service accepted in the last second, never below 1 call per
    /// second (what Alibaba's SDK documentation suggests while backing
    /// off); climbs back within half a second to a call a second under
    /// what the service accepted, then grows past it by 1% of the
    /// backed-off rate a second (after 5 s once the quota is known),
    /// doubling every 5 s without a throttle.
    fn default() -> AdaptiveRate {
        AdaptiveRate {
            start: 10.0,
            burst: 5,
            cap: None,
            floor: 1.0,
            backoff: 0.97,
            recover: Duration::from_millis(500),
            increase: 0.01,
            patience: Duration::from_secs(5),
            window: Duration::from_secs(1),
        }
    }
}

/// What a pace follows.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Fixed,
    Adaptive(AdaptiveRate),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    SlowStart,
    /// After the first decrease.
    Steady(Known),
}

/// What the last decrease learnt of the quota.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Known {
    /// When it came, and the rate it set.
    since: Instant,
    base: f64,
    /// The most accepted calls sent within one window, per second, when
    /// it came: the rate climbs back to just under this, then past it.
    ceiling: f64,
    /// The ceiling the decrease before found, if there was one.
    previous: Option<f64>,
}

impl Known {
    /// What the rate climbs back to: a call a window under the ceiling.
    /// The service counts calls as they reach it, the pace as they go, and
    /// the two orders differ by a little: at the ceiling itself, nearly
    /// every window would be refused once.
    fn target(&self, window: Duration) -> f64 {
        (self.ceiling - 1.0 / window.as_secs_f64()).max(self.base)
    }

    /// Two decreases in a row found the same ceiling (within 2%, or a
    /// call a window), or the first came while slow start sent at twice
    /// the ceiling or more: the quota is known, and probing past it waits
    /// a `patience` more.
    fn confirmed(&self, window: Duration) -> bool {
        let slack = (0.02 * self.ceiling).max(1.0 / window.as_secs_f64());
        self.previous
            .is_some_and(|p| (p - self.ceiling).abs() <= slack)
    }
}

/// Handed out with each call; given back with its outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Permit {
    sent_at: Instant,
    epoch: u64,
    /// The pace held this caller back (it waited, or took the last token).
    limited: bool,
}

impl Permit {
    pub fn sent_at(&self) -> Instant {
        self.sent_at
    }
}

/// A change worth telling a user about.
#[derive(Clone, Debug, PartialEq)]
pub enum RateChange {
    /// Slow start doubled the rate.
    Doubled { from: f64, to: f64 },
    /// A throttle lowered the rate; `accepted` is what the service accepted
    /// over the last window, per second; `held` the pause the service asked
    /// for, if it did.
    Decreased {
        from: f64,
        to: f64,
        accepted: f64,
        held: Option<Duration>,
    },
    /// The service asked for a pause; no call goes before `until`.
    Held { until: Instant, asked: Duration },
    /// A success answered after the last decrease, of a call sent in the
    /// window that decrease counted, raised the count and so the rate.
    Revised { from: f64, to: f64, accepted: f64 },
}

/// What a pace has done so far.
#[derive(Clone, Debug, PartialEq)]
pub struct RateStats {
    pub adaptive: bool,
    /// The rate now, calls per second.
    pub rate: f64,
    /// The highest rate the pace has allowed.
    pub peak_rate: f64,
    /// The most calls the service accepted within one window.
    pub peak_accepted: usize,
    /// Attempts sent.
    pub sent: u64,
    /// Attempts answered `Throttling`.
    pub throttled: u64,
    /// Times a throttle lowered the rate.
    pub decreases: u64,
}

/// When the service may have counted a call: its send time while it is in
/// flight, then [`Pace::counted_at`].
#[derive(Clone, Copy, Debug, PartialEq)]
struct Counted {
    at: Instant,
    sent: Instant,
    answered: Option<Instant>,
}

/// The state of one limiter.
#[derive(Clone, Debug)]
pub struct Pace {
    kind: Kind,
    rate: f64,
    cap: f64,
    burst: f64,
    tokens: f64,
    refilled: Instant,
    hold_until: Option<Instant>,
    phase: Phase,
    epoch: u64,
    decreased_at: Option<Instant>,
    /// The last decrease: the end of the window it counted (the throttled
    /// call's send time) and the rate before it.
    counted: Option<(Instant, f64)>,
    window: Duration,
    /// When the service may have counted each call of the last two
    /// windows, in that order, without those answered `Throttling` (the
    /// service did not count them).
    at_service: VecDeque<Counted>,
    /// The fastest exchange seen: a call's answer came at least this long
    /// after it was sent.
    fastest: Option<Duration>,
    /// Send times of the last two windows' successful calls, oldest first.
    accepted: VecDeque<Instant>,
    stats: RateStats,
}

impl Pace {
    /// A token bucket: `per_second` on average, `burst` at once (at least 1).
    pub fn fixed(per_second: f64, burst: u32, now: Instant) -> Pace {
        let burst = f64::from(burst.max(1));
        Pace::build(Kind::Fixed, per_second, per_second, burst, now)
    }

    pub fn adaptive(settings: &AdaptiveRate, now: Instant) -> Pace {
        let cap = settings.cap.unwrap_or(MAX_RATE).min(MAX_RATE);
        let floor = settings.floor.min(cap);
        let start = settings.start.clamp(floor, cap);
        let settings = AdaptiveRate {
            floor,
            ..settings.clone()
        };
        let burst = f64::from(settings.burst.max(1));
        Pace::build(Kind::Adaptive(settings), start, cap, burst, now)
    }

    fn build(kind: Kind, rate: f64, cap: f64, burst: f64, now: Instant) -> Pace {
        let window = match &kind {
            Kind::Adaptive(s) => s.window.max(Duration::from_millis(1)),
            Kind::Fixed => Duration::from_secs(1),
        };
        Pace {
            stats: RateStats {
                adaptive: matches!(kind, Kind::Adaptive(_)),
                rate,
                peak_rate: rate,
                peak_accepted: 0,
                sent: 0,
                throttled: 0,
                decreases: 0,
            },
            kind,
            rate,
            cap,
            burst,
            tokens: burst,
            refilled: now,
            hold_until: None,
            phase: Phase::SlowStart,
            epoch: 0,
            decreased_at: None,
            counted: None,
            window,
            at_service: VecDeque::new(),
            fastest: None,
            accepted: VecDeque::new(),
        }
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn stats(&self) -> RateStats {
        RateStats {
            rate: self.rate,
            ..self.stats.clone()
        }
    }

    /// The earliest time, `now` or later, at which the next call may go.
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.forget_before(now);
        let mut at = now;
        if let Some(hold) = self.hold_until
            && hold > at
        {
            at = hold;
        }
        let tokens = self.tokens_at(at);
        if tokens < 1.0 {
            at += Duration::from_secs_f64((1.0 - tokens) / self.rate);
        }
        if let Phase::Steady(known) = &self.phase {
            // No more calls in any window than the service is known to
            // take (a call under the ceiling), nor than the rate gives
            // when it is higher: the n-th newest call must have left the
            // window.
            let limit = known.target(self.window).max(self.rate);
            let most = ((limit * self.window.as_secs_f64()).floor() as usize).max(1);
            let from = at.checked_sub(self.window);
            let first = from.map_or(0, |f| self.at_service.partition_point(|c| c.at <= f));
            if self.at_service.len() - first >= most {
                at = at.max(self.at_service[self.at_service.len() - most].at + self.window);
            }
        }
        at
    }

    /// Takes the next call at `now`, which [`Pace::ready_at`] allowed.
    /// `waited`: the caller had to wait for its slot.
    pub fn take(&mut self, now: Instant, waited: bool) -> Permit {
        self.tokens = self.tokens_at(now) - 1.0;
        self.refilled = now;
        self.at_service.push_back(Counted {
            at: now,
            sent: now,
            answered: None,
        });
        self.stats.sent += 1;
        Permit {
            sent_at: now,
            epoch: self.epoch,
            limited: waited || self.tokens < 1.0,
        }
    }

    /// The call of `permit` succeeded; `now` is when its answer came.
    pub fn succeeded(&mut self, permit: &Permit, now: Instant) -> Option<RateChange> {
        let at = self.accepted.partition_point(|t| *t <= permit.sent_at);
        self.accepted.insert(at, permit.sent_at);
        let exchange = now.saturating_duration_since(permit.sent_at);
        let faster = self.fastest.is_none_or(|f| exchange < f);
        if faster {
            self.fastest = Some(exchange);
        }
        if let Some(at) = self.position_in_sent(permit.sent_at) {
            self.at_service.remove(at);
            let counted = Counted {
                at: self.counted_at(permit.sent_at, now),
                sent: permit.sent_at,
                answered: Some(now),
            };
            let to = self.at_service.partition_point(|c| c.at <= counted.at);
            self.at_service.insert(to, counted);
        }
        if faster {
            self.redate();
        }
        self.forget_before(now);
        self.stats.peak_accepted = self
            .stats
            .peak_accepted
            .max(self.accepted_in_window_to(now));
        let Kind::Adaptive(settings) = &self.kind else {
            return None;
        };
        let (increase, patience) = (settings.increase, settings.patience);
        let recover = settings.recover.as_secs_f64().max(1e-3);
        let (backoff, floor) = (settings.backoff, settings.floor);
        if let Some(change) = self.revise(permit, now, backoff, floor) {
            return Some(change);
        }
        if !permit.limited {
            // The callers did not want more than the rate gave them: a
            // success at this pace says nothing about a faster one.
            return None;
        }
        let from = self.rate;
        match self.phase {
            Phase::SlowStart => {
                if permit.epoch != self.epoch || from >= self.cap {
                    return None;
                }
                let to = (from * 2.0).min(self.cap);
                self.set_rate(to, now);
                // The answer clocks the next call out at once, as an ACK
                // does in TCP's slow start: waiting a full slot of the new
                // rate after a round trip at the old one would double the
                // rate once per round trip plus a slot, and at 10 a second
                // the slot is five times a 20 ms round trip.
                self.tokens = self.tokens.max(1.0);
                self.epoch += 1;
                Some(RateChange::Doubled { from, to })
            }
            Phase::Steady(known) => {
                let patience = patience.as_secs_f64().max(1e-3);
                let mut calm = now.saturating_duration_since(known.since).as_secs_f64();
                if known.confirmed(self.window) {
                    calm -= patience;
                }
                // One call at full use is 1/rate of a second.
                let target = known.target(self.window);
                let to = if from < target {
                    let per_second = ((target - known.base) / recover).max(MIN_INCREASE);
                    (from + per_second / from).min(target)
                } else if calm < 0.0 {
                    from
                } else {
                    let doublings = (calm / patience).floor();
                    let per_second =
                        (increase * known.base).max(MIN_INCREASE) * 2f64.powf(doublings.min(16.0));
                    from + per_second / from
                };
                self.set_rate(to.min(self.cap), now);
                None
            }
        }
    }

    /// The call of `permit` was answered `Throttling` at `now`, with the
    /// service's retry-after if it sent one.
    pub fn throttled(
        &mut self,
        permit: &Permit,
        now: Instant,
        retry_after: Option<Duration>,
    ) -> Option<RateChange> {
        self.stats.throttled += 1;
        // The service did not count it, so it takes no room in the window.
        if let Some(at) = self.position_in_sent(permit.sent_at) {
            self.at_service.remove(at);
        }
        let held = retry_after;
        if let Some(asked) = held {
            let until = now + asked.min(MAX_HOLD);
            self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
        }
        let hold_change = held.map(|asked| RateChange::Held {
            until: now + asked.min(MAX_HOLD),
            asked,
        });
        let Kind::Adaptive(settings) = &self.kind else {
            return hold_change;
        };
        let (backoff, floor) = (settings.backoff, settings.floor);
        if self.decreased_at.is_some_and(|d| permit.sent_at < d) {
            // Sent before the last decrease, at the old pace.
            return hold_change;
        }
        self.forget_before(now);
        // What the service accepted in the window it refused this call in:
        // the one ending when the call was sent. The window ending `now`
        // would leave out the calls of the latency's length at its start,
        // which the service still counted against this call.
        let accepted =
            self.accepted_in_window_to(permit.sent_at) as f64 / self.window.as_secs_f64();
        let from = self.rate;
        let to = (backoff * from.min(accepted)).max(floor).min(self.cap);
        self.set_rate(to, now);
        // No burst right after a throttle.
        self.tokens = self.tokens.min(0.0);
        let ceiling = self.busiest_window().max(to);
        let previous = match self.phase {
            Phase::Steady(known) => Some(known.ceiling),
            // Refused while sending at twice what was accepted or more: the
            // service held the count, not the pace, so the ceiling is the
            // quota as much as a second refusal at it would say.
            Phase::SlowStart if from >= 2.0 * ceiling => Some(ceiling),
            Phase::SlowStart => None,
        };
        self.phase = Phase::Steady(Known {
            since: now,
            base: to,
            ceiling,
            previous,
        });
        self.epoch += 1;
        self.decreased_at = Some(now);
        self.counted = Some((permit.sent_at, from));
        self.stats.decreases += 1;
        Some(RateChange::Decreased {
            from,
            to,
            accepted,
            held,
        })
    }

    /// A success of a call sent in the window the last decrease counted,
    /// answered after that decrease: the count was short by it, so the rate
    /// goes up to what the decrease would have set had the answer come in
    /// time.
    fn revise(
        &mut self,
        permit: &Permit,
        now: Instant,
        backoff: f64,
        floor: f64,
    ) -> Option<RateChange> {
        let (end, before) = self.counted?;
        if self.decreased_at.is_none_or(|d| permit.sent_at >= d) {
            return None;
        }
        // Any late success of a call sent before the decrease may have
        // made a window busier than the ceiling counted.
        let busiest = self.busiest_window();
        if let Phase::Steady(known) = &mut self.phase {
            known.ceiling = known.ceiling.max(busiest);
        }
        let edge = end.checked_sub(self.window);
        let in_window = permit.sent_at <= end && edge.is_none_or(|e| permit.sent_at > e);
        if !in_window {
            return None;
        }
        let accepted = self.accepted_in_window_to(end) as f64 / self.window.as_secs_f64();
        let to = (backoff * before.min(accepted)).max(floor).min(self.cap);
        let from = self.rate;
        let Phase::Steady(known) = &mut self.phase else {
            return None;
        };
        if to <= from {
            return None;
        }
        known.base = to;
        self.set_rate(to, now);
        Some(RateChange::Revised { from, to, accepted })
    }

    /// Where a call sent at `sent_at` and still in flight is in
    /// `at_service` (dated by its send time until it is answered).
    fn position_in_sent(&self, sent_at: Instant) -> Option<usize> {
        let from = self.at_service.partition_point(|c| c.at < sent_at);
        (from..self.at_service.len())
            .take_while(|&i| self.at_service[i].at == sent_at)
            .find(|&i| self.at_service[i].sent == sent_at && self.at_service[i].answered.is_none())
    }

    /// Dates the answered calls again after a faster exchange: the first
    /// answers come before anything shows how fast an exchange can be (on
    /// fresh connections, to a service just woken up), and dated by their
    /// own exchange they would free their slots as early as their sends.
    fn redate(&mut self) {
        for i in 0..self.at_service.len() {
            let c = self.at_service[i];
            if let Some(answered) = c.answered {
                self.at_service[i].at = self.counted_at(c.sent, answered);
            }
        }
        self.at_service.make_contiguous().sort_by_key(|c| c.at);
    }

    /// The latest the service may have counted a call sent at `sent` and
    /// answered at `answered`: as long after its send as its exchange took
    /// longer than the fastest one, as if all of the delay fell on its way
    /// in. Counting it from its send time would free its slot too early: a
    /// call sent as it leaves the window by the pace's clock finds it still
    /// counted there. Half way was tried: on a loaded machine the delay of
    /// the first calls is mostly on the way in (they open connections to a
    /// service just woken up), and the call sent into the first slot they
    /// freed was refused, which lowered the rate (the accounts benchmark:
    /// 1.12-1.14x the bound, against 1.09-1.10x, runs taken in turn). A
    /// slot freed late costs only the delay on the way back. It is never
    /// after the answer, so `at_service` stays in order as later calls are
    /// taken at the back.
    fn counted_at(&self, sent: Instant, answered: Instant) -> Instant {
        let exchange = answered.saturating_duration_since(sent);
        sent + exchange.saturating_sub(self.fastest.unwrap_or(exchange))
    }

    fn set_rate(&mut self, to: f64, now: Instant) {
        // Tokens earned so far are earned at the old rate.
        self.tokens = self.tokens_at(now);
        self.refilled = self.refilled.max(now);
        self.rate = to;
        self.stats.peak_rate = self.stats.peak_rate.max(to);
    }

    fn tokens_at(&self, t: Instant) -> f64 {
        let earned = t.saturating_duration_since(self.refilled).as_secs_f64() * self.rate;
        (self.tokens + earned).min(self.burst)
    }

    /// The most successful calls sent within one window of the last two,
    /// per second: what the service has shown it accepts. On a loaded
    /// machine calls reach the service in another order than they were
    /// sent, so the window ending at a refused call's send time can miss
    /// calls the service counted against it.
    fn busiest_window(&self) -> f64 {
        let mut most = 0;
        let mut from = 0;
        for (to, t) in self.accepted.iter().enumerate() {
            while self.accepted[from] + self.window <= *t {
                from += 1;
            }
            most = most.max(to + 1 - from);
        }
        most as f64 / self.window.as_secs_f64()
    }

    /// Successful calls sent in the window that ends at `end`.
    fn accepted_in_window_to(&self, end: Instant) -> usize {
        let upto = self.accepted.partition_point(|t| *t <= end);
        let before = end
            .checked_sub(self.window)
            .map_or(0, |edge| self.accepted.partition_point(|t| *t <= edge));
        upto - before
    }

    /// Drops what no window can need any more. Two windows are kept: a
    /// throttle answered at `now` looks at the window ending when its call
    /// was sent, a round trip earlier.
    fn forget_before(&mut self, now: Instant) {
        let Some(edge) = now.checked_sub(self.window * 2) else {
            return;
        };
        while self.at_service.front().is_some_and(|c| c.at <= edge) {
            self.at_service.pop_front();
        }
        while self.accepted.front().is_some_and(|t| *t <= edge) {
            self.accepted.pop_front();
        }
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
