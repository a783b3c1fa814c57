//! A stand-in for the ECS metadata service on a loopback port, with the
//! paths and headers of reference 6.3, counting what it is asked.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

pub const TOKEN: &str = "imds-session-token";

#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Answer the IMDSv2 token PUT (otherwise 404, like an IMDSv1-only host).
    pub issue_tokens: bool,
    /// Refuse GETs without the token.
    pub require_token: bool,
    pub role: String,
    pub code: String,
    pub access_key_id: String,
    pub secret: String,
    pub security_token: String,
    pub expiration: String,
}

impl Default for Behaviour {
    fn default() -> Behaviour {
        Behaviour {
            issue_tokens: true,
            require_token: true,
            role: "moat-role".into(),
            code: "Success".into(),
            access_key_id: "STS.metadata-id".into(),
            secret: "metadata-secret".into(),
            security_token: "metadata-sts-token".into(),
            expiration: "2099-01-01T00:00:00Z".into(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Counts {
    pub token_puts: u32,
    pub role_gets: u32,
    pub credential_gets: u32,
    pub without_token: u32,
}

#[derive(Debug)]
pub struct MetadataServer {
    pub addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    pub counts: Arc<Mutex<Counts>>,
}

impl MetadataServer {
    pub async fn start(behaviour: Behaviour) -> MetadataServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let behaviour = Arc::new(Mutex::new(behaviour));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let (b, c) = (behaviour.clone(), counts.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (b, c) = (b.clone(), c.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(b.clone(), c.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        MetadataServer {
            addr,
            behaviour,
            counts,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().expect("counts lock")
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn handle(
    behaviour: Arc<Mutex<Behaviour>>,
    counts: Arc<Mutex<Counts>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let b = behaviour.lock().expect("behaviour lock").clone();
    let mut c = counts.lock().expect("counts lock");
    let path = req.uri().path().to_owned();
    if req.method() == Method::PUT && path == "/latest/api/token" {
        c.token_puts += 1;
        let ttl = req
            .headers()
            .get("X-aliyun-ecs-metadata-token-ttl-seconds")
            .is_some();
        return Ok(if b.issue_tokens && ttl {
            answer(StatusCode::OK, TOKEN)
        } else {
            answer(StatusCode::NOT_FOUND, "")
        });
    }
    let has_token = req
        .headers()
        .get("X-aliyun-ecs-metadata-token")
        .is_some_and(|v| v == TOKEN);
    if !has_token {
        c.without_token += 1;
        if b.require_token {
            return Ok(answer(StatusCode::UNAUTHORIZED, ""));
        }
    }
    let base = "/latest/meta-data/ram/security-credentials/";
    if req.method() != Method::GET || !path.starts_with(base) {
        return Ok(answer(StatusCode::NOT_FOUND, ""));
    }
    let rest = &path[base.len()..];
    if rest.is_empty() {
        c.role_gets += 1;
        return Ok(answer(StatusCode::OK, b.role.clone()));
    }
    if rest != b.role {
        return Ok(answer(StatusCode::NOT_FOUND, ""));
    }
    c.credential_gets += 1;
    let body = serde_json::json!({
        "AccessKeyId": b.access_key_id,
        "AccessKeySecret": b.secret,
        "SecurityToken": b.security_token,
        "Expiration": b.expiration,
        "LastUpdated": "2024-05-01T00:00:00Z",
        "Code": b.code,
    });
    Ok(answer(StatusCode::OK, body.to_string()))
}
