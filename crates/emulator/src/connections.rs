//! The server's open connections: when each last did something, whether it
//! is serving a request, and a way to close the one idle longest.
//!
//! A server that holds every idle connection forever is stopped by clients
//! that open sockets and never use them: the sockets pile up until the
//! process runs out of file descriptors and cannot accept anyone else. So
//! idle connections close after a timeout, at most a fixed number stay
//! open (a new one closes the longest-idle one when the cap is reached),
//! and running out of descriptors closes the longest-idle one too.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// What one connection is doing.
#[derive(Debug)]
pub(crate) struct Activity {
    epoch: Instant,
    /// Milliseconds from `epoch` to the last byte read or written.
    last_ms: AtomicU64,
    /// Requests being answered.
    busy: AtomicUsize,
    /// Set once the connection was asked to close, so that it is not chosen
    /// again while it closes.
    evicting: std::sync::atomic::AtomicBool,
    /// Woken to ask the connection to close.
    pub(crate) evict: Notify,
}

impl Activity {
    fn new(epoch: Instant) -> Activity {
        let a = Activity {
            epoch,
            last_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
            evicting: std::sync::atomic::AtomicBool::new(false),
            evict: Notify::new(),
        };
        a.touch();
        a
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long since the last byte went either way.
    pub(crate) fn idle_for(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last_ms.load(Ordering::Relaxed)),
        )
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    /// Marks a request as being answered until the guard drops.
    pub(crate) fn serving(self: &Arc<Self>) -> Serving {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Serving(self.clone())
    }
}

/// A request in progress; see [`Activity::serving`].
#[derive(Debug)]
pub(crate) struct Serving(Arc<Activity>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// Every open connection.
#[derive(Debug)]
pub(crate) struct Registry {
    epoch: Instant,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            epoch: Instant::now(),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn register(&self) -> (u64, Arc<Activity>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new(self.epoch));
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, activity.clone());
        (id, activity)
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Open connections not already closing.
    pub(crate) fn len(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|a| !a.evicting.load(Ordering::Relaxed))
            .count()
    }

    /// Asks the connection idle longest (and serving nothing) to close, the
    /// older of two idle equally long; false when every connection is
    /// serving a request or already closing.
    pub(crate) fn evict_idlest(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let idlest = open
            .iter()
            .filter(|(_, a)| !a.is_busy() && !a.evicting.load(Ordering::Relaxed))
            .max_by_key(|(id, a)| (a.idle_for(), std::cmp::Reverse(**id)));
        match idlest {
            Some((_, a)) => {
                a.evicting.store(true, Ordering::Relaxed);
                a.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A stream that records its traffic in an [`Activity`].
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Tracked<T> {
        Tracked { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// True for the errors `accept` gives when the process or the system has
/// no file descriptor left (EMFILE, ENFILE).
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(23 | 24))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn was_asked_to_close(a: &Activity) -> bool {
        tokio::time::timeout(Duration::ZERO, a.evict.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn the_idlest_free_connection_is_the_one_evicted() {
        let r = Registry::new();
        let (_, a) = r.register();
        let (_, b) = r.register();
        let (_, c) = r.register();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // a is idle longest but busy; b is idle longer than c.
        a.last_ms.store(0, Ordering::Relaxed);
        b.last_ms.store(1, Ordering::Relaxed);
        c.last_ms.store(u64::MAX / 2, Ordering::Relaxed);
        let serving = a.serving();
        a.last_ms.store(0, Ordering::Relaxed);
        assert!(r.evict_idlest());
        assert!(was_asked_to_close(&b).await);
        assert!(!was_asked_to_close(&a).await && !was_asked_to_close(&c).await);
        drop(serving);
        r.unregister(1);
        assert_eq!(r.len(), 2);

        let r2 = Registry::new();
        let (_, d) = r2.register();
        let _s = d.serving();
        assert!(!r2.evict_idlest(), "a busy connection is never evicted");
    }
}
