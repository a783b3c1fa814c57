//! Transport: one call's attempts (credentials, rate limit, a fresh
//! signature, the HTTP exchange, the answer parsed), retried under the retry
//! policy, each reported to the observer.

use std::time::Duration;

use reqwest::Url;
use tokio::time::Instant;
use tracing::{Instrument, field};

use super::ReadClient;
use crate::credentials::{Credentials, error_chain};
use crate::error::{CallError, CallErrorKind};
use crate::observe::{AttemptOutcome, AttemptRecord, CallInfo};
use crate::ratelimit::Paced;
use crate::request::{ApiRequest, RequestStamp, SignedRequest};
use crate::response::{WireResponse, parse_response};
use crate::retry::Failure;

impl ReadClient {
    /// Sends `req` with retries, returning the parsed answer.
    pub(crate) async fn execute<T: WireResponse>(
        &self,
        req: &ApiRequest,
    ) -> Result<(T, CallInfo), CallError> {
        if self.read_only && req.action().is_mutating() {
            return Err(CallError::before_sending(
                req.action(),
                req.group(),
                CallErrorKind::ReadOnly,
            ));
        }
        let span = tracing::info_span!(
            "ecs_call",
            action = %req.action(),
            group = req.group().unwrap_or("-"),
            batch = req.batch_size(),
            attempt = field::Empty,
            request_id = field::Empty,
        );
        self.retry_loop(req, span.clone()).instrument(span).await
    }

    async fn retry_loop<T: WireResponse>(
        &self,
        req: &ApiRequest,
        span: tracing::Span,
    ) -> Result<(T, CallInfo), CallError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut throttled = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let (started_at, t0, result) = self.attempt::<T>(req).await;
            let duration = t0.elapsed();
            let request_id = match &result {
                Ok((_, id)) => Some(id.clone()),
                Err(kind) => request_id_of(kind),
            }
            .filter(|id| !id.is_empty());
            if let Some(id) = &request_id {
                span.record("request_id", id.as_str());
            }
            let retry_in = match &result {
                Ok(_) => None,
                // Temporary credentials the service calls expired were
                // dropped by `attempt`; new ones are fetched for one more try.
                Err(kind)
                    if kind.is_expired_token()
                        && !renewed
                        && self.shared.credentials.can_refresh() =>
                {
                    renewed = true;
                    Some(Duration::ZERO)
                }
                Err(kind) => {
                    throttled += u32::from(kind.is_throttling());
                    let failure = Failure {
                        retryable: kind.is_retryable(),
                        throttled: kind.is_throttling(),
                        retry_after: kind.retry_after(),
                    };
                    self.shared.retry.delay_after(
                        &failure,
                        attempt,
                        throttled,
                        start.elapsed(),
                        self.shared.limiters.is_adaptive(),
                        rand::random::<f64>(),
                    )
                }
            };
            if let Some(observer) = &self.observer {
                observer.record(&AttemptRecord {
                    action: req.action(),
                    group: req.group().map(str::to_owned),
                    batch_size: req.batch_size(),
                    attempt,
                    started_at,
                    duration,
                    request_id: request_id.clone(),
                    outcome: outcome_of(&result),
                    retry_in,
                });
            }
            match result {
                Ok((value, id)) => {
                    let elapsed = start.elapsed();
                    tracing::debug!(
                        elapsed_ms = elapsed.as_millis(),
                        exchange_ms = duration.as_millis(),
                        "call succeeded"
                    );
                    return Ok((
                        value,
                        CallInfo {
                            action: req.action(),
                            request_id: id,
                            attempts: attempt,
                            elapsed,
                        },
                    ));
                }
                Err(kind) => match retry_in {
                    Some(delay) => {
                        tracing::info!(
                            error = %error_chain(&kind),
                            exchange_ms = duration.as_millis(),
                            retry_in_ms = delay.as_millis(),
                            "attempt failed; retrying"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        tracing::debug!(error = %error_chain(&kind), "call failed");
                        return Err(CallError {
                            action: req.action(),
                            group: req.group().map(str::to_owned),
                            attempts: attempt,
                            elapsed: start.elapsed(),
                            kind,
                        });
                    }
                },
            }
        }
    }

    /// One attempt: current credentials, a slot of the rate limit, a fresh
    /// signature, the exchange. Returns when the exchange started.
    async fn attempt<T: WireResponse>(
        &self,
        req: &ApiRequest,
    ) -> (jiff::Timestamp, Instant, Result<(T, String), CallErrorKind>) {
        let credentials = match self.shared.credentials.current().await {
            Ok(c) => c,
            Err(e) => {
                return (
                    jiff::Timestamp::now(),
                    Instant::now(),
                    Err(CallErrorKind::Credentials(Box::new(e))),
                );
            }
        };
        let limiter = self.shared.limiter.as_deref();
        let permit = match limiter {
            Some(l) => Some(l.acquire().await),
            None => None,
        };
        let signed = req.sign_as(
            self.shared.signature_version,
            &credentials,
            &RequestStamp::fresh(),
            &host_header(self.endpoint_of(req.action())),
        );
        let started_at = jiff::Timestamp::now();
        let t0 = Instant::now();
        let result = self.exchange::<T>(&signed, &credentials).await;
        if matches!(&result, Err(kind) if kind.is_expired_token()) {
            self.shared.credentials.invalidate(&credentials).await;
        }
        if let (Some(limiter), Some(permit)) = (limiter, permit) {
            limiter.record(&permit, paced(&result));
        }
        (started_at, t0, result)
    }

    async fn exchange<T: WireResponse>(
        &self,
        signed: &SignedRequest,
        credentials: &Credentials,
    ) -> Result<(T, String), CallErrorKind> {
        let url = format!("{}?{}", self.endpoint_of(signed.action()), signed.query());
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                CallErrorKind::Timeout {
                    after: self.shared.timeout,
                }
            } else if crate::tls::is_tls_failure(&e) {
                CallErrorKind::Tls {
                    endpoint: self.endpoint_of(signed.action()).to_string(),
                    source: e.without_url(),
                }
            } else {
                // The URL holds the STS token; the error must not carry it.
                CallErrorKind::Transport(e.without_url())
            }
        };
        let mut request = self.shared.http.post(url);
        for (name, value) in signed.headers() {
            request = request.header(*name, value);
        }
        let resp = request
            .header(reqwest::header::CONTENT_LENGTH, "0")
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let header_id = resp
            .headers()
            .get("x-acs-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = retry_after(resp.headers());
        let body = resp.bytes().await.map_err(transport)?;
        let value: T = parse_response(status, header_id.as_deref(), &body, credentials).map_err(
            |mut kind| {
                if let CallErrorKind::Api(e) = &mut kind {
                    e.retry_after = retry_after;
                }
                kind
            },
        )?;
        let id = Some(value.request_id())
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .or(header_id)
            .unwrap_or_default();
        Ok((value, id))
    }
}

/// The `x-acs-retry-after` header: a positive whole number of milliseconds.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get("x-acs-retry-after")?.to_str().ok()?;
    match text.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
        _ => None,
    }
}

/// What an attempt's result tells the limiter.
fn paced<T>(result: &Result<T, CallErrorKind>) -> Paced {
    match result {
        Ok(_) => Paced::Accepted,
        Err(kind) if kind.is_throttling() => Paced::Throttled(kind.retry_after()),
        Err(_) => Paced::Failed,
    }
}

/// The `Host` header the HTTP client sends for `url` (the port only when it
/// is not the scheme's default), which ACS3 signs.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

fn request_id_of(kind: &CallErrorKind) -> Option<String> {
    match kind {
        CallErrorKind::Api(e) => Some(e.request_id.clone()),
        CallErrorKind::Decode { request_id, .. } => Some(request_id.clone()),
        _ => None,
    }
}

fn outcome_of<T>(result: &Result<T, CallErrorKind>) -> AttemptOutcome {
    match result {
        Ok(_) => AttemptOutcome::Ok,
        Err(CallErrorKind::Api(e)) => AttemptOutcome::Api {
            status: e.status,
            code: e.code.clone(),
            retryable: e.is_retryable(),
        },
        Err(CallErrorKind::Timeout { .. }) => AttemptOutcome::Timeout,
        Err(CallErrorKind::Decode { status, .. }) => AttemptOutcome::Decode { status: *status },
        Err(CallErrorKind::Credentials(_)) => AttemptOutcome::Credentials,
        Err(other) => AttemptOutcome::Transport {
            error: error_chain(other),
        },
    }
}
