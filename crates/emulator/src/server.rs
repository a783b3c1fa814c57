//! The HTTP server: hyper on a dedicated thread, the API on `/`, the control
//! endpoints under `/_emulator/`, and the faults.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;

use crate::config::EmulatorConfig;
use crate::connections::{Activity, Registry, Tracked, out_of_descriptors};
use crate::emulator::{Emulator, Reply};
use crate::error::{ApiError, EmulatorError};
use crate::faults::{Fault, FaultConfig};
use crate::params::Params;
use crate::request::ApiRequest;

/// Largest request body read; SDK requests carry everything in the query.
const MAX_BODY_BYTES: usize = 1 << 20;
/// How long a shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What the accept loop and each connection obey.
#[derive(Clone, Copy, Debug)]
struct ServerLimits {
    idle_timeout: Duration,
    max_connections: usize,
}

/// A running emulator: its address, its core, and a clean shutdown (also
/// on drop).
#[derive(Debug)]
pub struct EmulatorHandle {
    addr: SocketAddr,
    emulator: Arc<Emulator>,
    stop: Option<watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts an emulator on its own thread and returns once it listens.
/// `EmulatorConfig::default()` listens on `127.0.0.1:0` with the demo key.
pub fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmulatorError> {
    if !config.listen.ip().is_loopback() && !config.allow_non_loopback {
        return Err(EmulatorError::NotLoopback(config.listen));
    }
    let emulator = Arc::new(Emulator::new(&config)?);
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| EmulatorError::Bind {
            addr: config.listen,
            source,
        })?;
    let bind_err = |source| EmulatorError::Bind {
        addr: config.listen,
        source,
    };
    let addr = listener.local_addr().map_err(bind_err)?;
    listener.set_nonblocking(true).map_err(bind_err)?;
    // One thread with a current-thread runtime: every handler is short and
    // synchronous under one lock, so more threads would only contend; the
    // waits (latency faults) are asynchronous.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EmulatorError::Runtime)?;
    let (stop, stopped) = watch::channel(false);
    let limits = ServerLimits {
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections.max(1),
    };
    let core = emulator.clone();
    let thread = std::thread::Builder::new()
        .name(format!("moat-emulator-{}", addr.port()))
        .spawn(move || runtime.block_on(serve(listener, core, limits, stopped)))
        .map_err(EmulatorError::Runtime)?;
    tracing::info!(%addr, "emulator listening");
    Ok(EmulatorHandle {
        addr,
        emulator,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl EmulatorHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the value for the client's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulated cloud: seeding, stats, faults, state.
    pub fn emulator(&self) -> &Arc<Emulator> {
        &self.emulator
    }

    /// Stops accepting, lets open connections finish (up to two seconds),
    /// and joins the server thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    /// Blocks until the server thread ends (it ends only on shutdown).
    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("emulator server thread panicked");
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// How long a closing connection may take to finish its answer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves one connection until the client closes it, it has been idle for
/// `idle_timeout` (not counting time spent answering), the registry asks it
/// to make room, or the server stops.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    emulator: Arc<Emulator>,
    (id, activity): (u64, Arc<Activity>),
    registry: Arc<Registry>,
    idle_timeout: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let for_service = activity.clone();
    let service = service_fn(move |req| {
        let emulator = emulator.clone();
        let serving = for_service.serving();
        async move {
            let answer = route(emulator, req).await;
            drop(serving);
            answer
        }
    });
    let io = TokioIo::new(Tracked::new(stream, activity.clone()));
    let conn = http1::Builder::new().serve_connection(io, service);
    tokio::pin!(conn);
    loop {
        // While a request is being answered the clock does not run (the
        // answer's end counts as activity); the floor keeps a zero timeout
        // from spinning.
        let wait = if activity.is_busy() {
            idle_timeout
        } else {
            idle_timeout.saturating_sub(activity.idle_for())
        }
        .max(Duration::from_millis(10));
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = stopped.changed() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
                break;
            }
            _ = activity.evict.notified() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
                break;
            }
            _ = tokio::time::sleep(wait) => {
                if !activity.is_busy() && activity.idle_for() >= idle_timeout {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
                    break;
                }
            }
        }
    }
    registry.unregister(id);
}

async fn serve(
    listener: std::net::TcpListener,
    emulator: Arc<Emulator>,
    limits: ServerLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "emulator cannot listen");
            return;
        }
    };
    let registry = Arc::new(Registry::new());
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // At the cap, the connection idle longest makes room; when
                    // every one is answering a request, the newcomer is closed.
                    if registry.len() >= limits.max_connections && !registry.evict_idlest() {
                        tracing::warn!(max = limits.max_connections, "connection cap reached, every connection busy: closing a new one");
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    // Registered here, not in its task: a burst of accepts
                    // runs before any of their tasks do, and must count.
                    let (id, activity) = registry.register();
                    connections.spawn(serve_connection(
                        stream,
                        emulator.clone(),
                        (id, activity),
                        registry.clone(),
                        limits.idle_timeout,
                        stopped.clone(),
                    ));
                }
                Err(e) => {
                    // Out of file descriptors: close the longest-idle
                    // connection so that the next accept succeeds, and do
                    // not spin the loop meanwhile.
                    if out_of_descriptors(&e) {
                        registry.evict_idlest();
                    }
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.shutdown().await;
}

/// Returned by the service to make hyper close the connection without
/// writing an answer (the `drop` fault).
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for DropConnection {}

type HttpResponse = Response<Full<Bytes>>;

fn respond(status: u16, content_type: &'static str, body: String) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json<T: serde::Serialize>(status: u16, value: &T) -> HttpResponse {
    respond(
        status,
        "application/json",
        serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned()),
    )
}

fn api_response(reply: Reply) -> HttpResponse {
    let mut resp = respond(reply.status, "application/json;charset=utf-8", reply.body);
    if let Ok(v) = HeaderValue::from_str(&reply.request_id) {
        resp.headers_mut().insert("x-acs-request-id", v);
    }
    resp
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|_| ())
}

async fn route(
    emulator: Arc<Emulator>,
    req: Request<Incoming>,
) -> Result<HttpResponse, DropConnection> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let Ok(body) = read_body(body).await else {
        return Ok(json(
            413,
            &serde_json::json!({"error": "request body too large"}),
        ));
    };
    match (&parts.method, path.as_str()) {
        (&Method::GET | &Method::POST, "/") => api(&emulator, &parts, &body).await,
        (&Method::GET, "/_emulator/stats") if parts.uri.query() == Some("by=region") => {
            Ok(json(200, &emulator.region_stats()))
        }
        (&Method::GET, "/_emulator/stats") => Ok(json(200, &emulator.stats())),
        (&Method::POST, "/_emulator/reset-stats") => {
            emulator.reset_stats();
            Ok(json(200, &emulator.stats()))
        }
        (&Method::GET, "/_emulator/faults") => Ok(json(200, &emulator.faults())),
        (&Method::POST, "/_emulator/faults") => Ok(set_faults(&emulator, &body)),
        (&Method::GET, "/_emulator/state") => Ok(json(200, &emulator.snapshot())),
        (_, "/") => Ok(json(405, &serde_json::json!({"error": "use GET or POST"}))),
        _ => Ok(json(404, &serde_json::json!({"error": "not found"}))),
    }
}

fn set_faults(emulator: &Emulator, body: &[u8]) -> HttpResponse {
    let config: FaultConfig = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => return json(400, &serde_json::json!({"error": e.to_string()})),
    };
    match emulator.set_faults(config) {
        Ok(()) => json(200, &emulator.faults()),
        Err(e) => json(400, &serde_json::json!({"error": e.to_string()})),
    }
}

async fn api(
    emulator: &Emulator,
    parts: &hyper::http::request::Parts,
    body: &[u8],
) -> Result<HttpResponse, DropConnection> {
    // Form fields in the body are request parameters too (the Go SDK sends
    // them there, reference 1.2); a body without a content type is read the
    // same way.
    let form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let params = Params::parse(
        parts.uri.query(),
        (form && !body.is_empty()).then_some(body),
    );
    let req = ApiRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
        params,
    };
    let (fault, latency) = emulator.next_fault(req.params.get("RegionId"));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        None => Ok(api_response(emulator.handle_request(&req))),
        Some(Fault::Answer(e)) => {
            emulator.record_call(&req, false);
            Ok(api_response(error_answer(emulator, &e, &req)))
        }
        Some(Fault::Drop { execute }) => {
            if execute {
                emulator.handle_uncounted(&req);
            }
            emulator.record_call(&req, false);
            Err(DropConnection)
        }
    }
}

fn error_answer(emulator: &Emulator, e: &ApiError, req: &ApiRequest) -> Reply {
    emulator.error_reply(e, req, emulator.next_request_id())
}
