//! A scripted fake of the API on a loopback port: it answers each request
//! with the next step of a script and records what it received, so tests
//! can check every attempt (nonce, signature, client token) and play out
//! failures the real service produces (errors, slow answers, dropped
//! connections).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Clone, Debug)]
pub enum Step {
    /// Answer with this status and JSON body.
    Answer(u16, serde_json::Value),
    /// Answer after a pause.
    Slow(Duration, u16, serde_json::Value),
    /// Close the connection without an answer.
    Drop,
    /// Answer with this status, JSON body and extra headers.
    WithHeaders(u16, serde_json::Value, Vec<(&'static str, String)>),
}

pub fn ok() -> Step {
    Step::Answer(200, serde_json::json!({"RequestId": "req-ok"}))
}

pub fn error(status: u16, code: &str, request_id: &str) -> Step {
    Step::Answer(
        status,
        serde_json::json!({"RequestId": request_id, "HostId": "ecs.example", "Code": code,
            "Message": format!("message of {code}"), "Recommend": ""}),
    )
}

#[derive(Debug)]
pub struct Received {
    pub method: String,
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    script: VecDeque<Step>,
    received: Vec<Received>,
}

#[derive(Debug)]
pub struct ScriptedServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl ScriptedServer {
    pub async fn start(script: Vec<Step>) -> ScriptedServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            received: Vec::new(),
        }));
        let s = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(s.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ScriptedServer { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn push(&self, steps: impl IntoIterator<Item = Step>) {
        self.state.lock().expect("lock").script.extend(steps);
    }

    /// The requests received so far, in order.
    pub fn take_received(&self) -> Vec<Received> {
        std::mem::take(&mut self.state.lock().expect("lock").received)
    }
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let params = form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let step = {
        let mut s = state.lock().expect("lock");
        s.received.push(Received {
            method: req.method().to_string(),
            params,
        });
        s.script.pop_front()
    };
    let mut headers = Vec::new();
    let (status, body) = match step {
        Some(Step::Answer(status, body)) => (status, body),
        Some(Step::WithHeaders(status, body, extra)) => {
            headers = extra;
            (status, body)
        }
        Some(Step::Slow(pause, status, body)) => {
            tokio::time::sleep(pause).await;
            (status, body)
        }
        // Returning an error makes hyper close the connection unanswered.
        Some(Step::Drop) => return Err(std::io::Error::other("scripted drop")),
        None => (
            500,
            serde_json::json!({"Code": "InternalError", "Message": "script ended"}),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, value);
        }
    }
    Ok(r)
}
