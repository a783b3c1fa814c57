//! The progress line on stderr, for a terminal only: how many groups of how
//! many are done, the rate of calls over the last seconds, and the time
//! left at the pace so far. Shared by apply and by the reads of plan,
//! drift, `test --live`, the plan apply makes from policies and the
//! promotion gate ([`reading`]).

use std::collections::VecDeque;
use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moat_exec::Reader;

use crate::output::plural;

/// A run shorter than this shows no reading progress at all.
pub const READ_SHOW_AFTER: Duration = Duration::from_millis(500);
/// The line is drawn at most this often.
const REDRAW_EVERY: Duration = Duration::from_millis(100);
/// The rate is the calls of this last stretch of time.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// One progress line, redrawn in place.
#[derive(Debug)]
pub struct ProgressLine {
    /// `reading`, `applying`.
    verb: &'static str,
    /// What a done group is: `read`, `done`.
    done_word: &'static str,
    total: AtomicUsize,
    done: AtomicUsize,
    calls: AtomicUsize,
    started: Instant,
    show_after: Duration,
    /// Left on the terminal at the end (apply's), or cleared (a plan's,
    /// which the plan itself follows).
    keep: bool,
    /// `TERM=dumb`: no escape sequences, spaces clear the line.
    plain: bool,
    state: Mutex<DrawState>,
}

#[derive(Debug, Default)]
struct DrawState {
    last: Option<Instant>,
    width: usize,
    /// (when, calls so far) of the last draws, for the rate.
    recent: VecDeque<(Instant, usize)>,
    finished: bool,
}

impl ProgressLine {
    /// A line for `total` groups when stderr is a terminal; `None`
    /// otherwise (pipes, files, CI logs never get one).
    pub fn for_terminal(
        verb: &'static str,
        done_word: &'static str,
        total: usize,
        show_after: Duration,
        keep: bool,
    ) -> Option<ProgressLine> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let plain = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        Some(ProgressLine {
            verb,
            done_word,
            total: AtomicUsize::new(total),
            done: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            started: Instant::now(),
            show_after,
            keep,
            plain,
            state: Mutex::new(DrawState::default()),
        })
    }

    pub fn set_total(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub fn group_done(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.draw(false);
    }

    pub fn calls_done(&self, calls: usize) {
        self.calls.fetch_add(calls, Ordering::Relaxed);
        self.draw(false);
    }

    /// Redraws the line if it is time to: never before `show_after`, at
    /// most every `REDRAW_EVERY`, always for the last group.
    pub fn draw(&self, force: bool) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        let done = self.done.load(Ordering::Relaxed);
        let total = self.total.load(Ordering::Relaxed);
        let calls = self.calls.load(Ordering::Relaxed);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.finished || elapsed < self.show_after {
            return;
        }
        let last_group = done >= total;
        if !force && !last_group && state.last.is_some_and(|t| now - t < REDRAW_EVERY) {
            return;
        }
        state.last = Some(now);
        state.recent.push_back((now, calls));
        while state
            .recent
            .front()
            .is_some_and(|(t, _)| now - *t > RATE_WINDOW)
        {
            state.recent.pop_front();
        }
        let text = line_text(self, done, total, calls, elapsed, &state.recent, now);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{}{text}", self.clear(state.width));
        state.width = text.chars().count();
        if last_group && self.keep {
            let _ = writeln!(err);
            state.finished = true;
        }
        let _ = err.flush();
    }

    /// Removes the line (unless it is kept), so what follows starts on a
    /// clean line.
    pub fn finish(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.finished {
            return;
        }
        state.finished = true;
        if state.last.is_none() {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.keep {
            let _ = writeln!(err);
        } else {
            let _ = write!(err, "{}", self.clear(state.width));
        }
        let _ = err.flush();
    }

    fn clear(&self, width: usize) -> String {
        if self.plain {
            format!("\r{}\r", " ".repeat(width))
        } else {
            "\r\x1b[2K".to_owned()
        }
    }
}

fn line_text(
    p: &ProgressLine,
    done: usize,
    total: usize,
    calls: usize,
    elapsed: Duration,
    recent: &VecDeque<(Instant, usize)>,
    now: Instant,
) -> String {
    let mut text = format!(
        "{}: {done}/{total} groups {}, {}",
        p.verb,
        p.done_word,
        plural(calls, "call", "calls")
    );
    // The rate over the window (from the start while the run is younger).
    let (since, base) = match recent.front() {
        Some(&(t, c)) if now - t >= Duration::from_millis(500) => (now - t, c),
        _ => (elapsed, 0),
    };
    if since > Duration::ZERO {
        let rate = (calls.saturating_sub(base)) as f64 / since.as_secs_f64();
        text.push_str(&format!(", {rate:.0} calls/s"));
    }
    if done > 0 && done < total {
        let left = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
        text.push_str(&format!(", about {} left", seconds(left)));
    }
    text
}

fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{:.0} s", s.ceil())
    } else {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    }
}

/// The reading progress of a plan, as the executor reports it.
#[derive(Debug)]
struct ReadLine(ProgressLine);

impl moat_exec::ReadProgress for ReadLine {
    fn reading(&self, groups: usize) {
        self.0.set_total(groups);
    }
    fn group_read(&self, calls: usize) {
        self.0.calls.fetch_add(calls, Ordering::Relaxed);
        self.0.group_done();
    }
}

/// Clears the reading progress line (if there is one) when dropped, so
/// what follows starts on a clean line, on every way out.
#[derive(Debug)]
pub struct Reading(Option<Arc<ReadLine>>);

impl Drop for Reading {
    fn drop(&mut self) {
        if let Some(line) = &self.0 {
            line.0.finish();
        }
    }
}

/// `reader`, telling a progress line on stderr of the groups it reads:
/// on a terminal only, after half a second, `verb` first (`reading`, or
/// `checking` for the promotion gate). The line goes when the [`Reading`]
/// is dropped. Plan, drift, `test --live` and the gate all read through it.
pub fn reading(reader: Reader, verb: &'static str) -> (Reader, Reading) {
    match ProgressLine::for_terminal(verb, "read", 0, READ_SHOW_AFTER, false) {
        Some(line) => {
            let line = Arc::new(ReadLine(line));
            (reader.with_progress(line.clone()), Reading(Some(line)))
        }
        None => (reader, Reading(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_left_read_in_seconds_then_minutes() {
        assert_eq!(seconds(0.2), "1 s");
        assert_eq!(seconds(41.5), "42 s");
        assert_eq!(seconds(125.0), "2m05s");
    }
}
