//! Test support: a raw HTTP/1.1 client over loopback and a signer written
//! for the tests from the reference, independent of the emulator's verifier
//! (it encodes the way the documentation describes: form-encode, then
//! `+` -> `%20`, `*` -> `%2A`, `%7E` -> `~`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use moat_emulator::{EmulatorConfig, EmulatorHandle, ManualClock, format_timestamp};
use serde_json::Value;

pub const KEY_ID: &str = "LTAI5tTestAccessKeyId01";
pub const SECRET: &str = "TestAccessKeySecret0123456789abc";
/// A fixed "now" for tests that pin the clock: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.body))
    }

    pub fn code(&self) -> String {
        self.json()["Code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Panics with the body unless the status is 200.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json()
    }

    /// Asserts an error answer with this status and code.
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
    }
}

/// Sends one request on a fresh connection and reads the whole answer.
/// `Err` when the server closed the connection without answering.
pub fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    // A request signed with ACS3 signs its Host header, so a given one is
    // sent as it is.
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    req.push_str(&format!(
        "Connection: close\r\nContent-Length: {}\r\n",
        body.len()
    ));
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed without an answer",
        ));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            }
            headers.push((k, v));
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok(Resp {
        status,
        headers,
        body: String::from_utf8(body).map_err(std::io::Error::other)?,
    })
}

/// Percent-encoding as the documentation describes it.
pub fn doc_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace('*', "%2A")
        .replace("%7E", "~")
}

/// Signs `params` (which must not contain `Signature`) for `method`.
pub fn test_sign(method: &str, params: &[(String, String)], secret: &str) -> (String, String) {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let canonical = sorted
        .iter()
        .map(|(k, v)| format!("{}={}", doc_encode(k), doc_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let sts = format!("{method}&{}&{}", doc_encode("/"), doc_encode(&canonical));
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("hmac key");
    mac.update(sts.as_bytes());
    (
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()),
        sts,
    )
}

static NONCE: AtomicU64 = AtomicU64::new(1);

/// A signing client for one emulator.
#[derive(Clone, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub key_id: String,
    pub secret: String,
    pub token: Option<String>,
    pub region: String,
    /// The Timestamp to send; the system clock when `None`.
    pub clock: Option<ManualClock>,
    pub method: String,
    /// The API version the calls name (ECS unless changed).
    pub version: String,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            key_id: KEY_ID.to_owned(),
            secret: SECRET.to_owned(),
            token: None,
            region: "cn-hangzhou".to_owned(),
            clock: None,
            method: "POST".to_owned(),
            version: "2014-05-26".to_owned(),
        }
    }

    fn now(&self) -> i64 {
        match &self.clock {
            Some(c) => moat_emulator::Clock::now(c),
            None => moat_emulator::Clock::now(&moat_emulator::SystemClock),
        }
    }

    /// The full parameter list of a call, signed, in wire order.
    pub fn signed(&self, action: &str, business: &[(&str, &str)]) -> Vec<(String, String)> {
        self.signed_for(&self.version, action, business)
    }

    /// [`Client::signed`] for another API version (VPC is `2016-04-28`).
    pub fn signed_for(
        &self,
        version: &str,
        action: &str,
        business: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let nonce = format!(
            "nonce-{}-{}",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst)
        );
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), action.into()),
            ("Version".into(), version.into()),
            ("Format".into(), "JSON".into()),
            ("AccessKeyId".into(), self.key_id.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("SignatureNonce".into(), nonce),
            ("SignatureType".into(), String::new()),
            ("Timestamp".into(), format_timestamp(self.now())),
        ];
        if !business.iter().any(|(k, _)| *k == "RegionId") {
            params.push(("RegionId".into(), self.region.clone()));
        }
        if let Some(t) = &self.token {
            params.push(("SecurityToken".into(), t.clone()));
        }
        params.extend(
            business
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let (sig, _) = test_sign(&self.method, &params, &self.secret);
        params.push(("Signature".into(), sig));
        params
    }

    /// Sends already-built parameters in the query string.
    pub fn send(&self, params: &[(String, String)]) -> std::io::Result<Resp> {
        let query = params
            .iter()
            .map(|(k, v)| format!("{}={}", doc_encode(k), doc_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        http(self.addr, &self.method, &format!("/?{query}"), &[], b"")
    }

    pub fn try_call(&self, action: &str, business: &[(&str, &str)]) -> std::io::Result<Resp> {
        self.send(&self.signed(action, business))
    }

    /// A VPC (2016-04-28) call.
    #[track_caller]
    pub fn vpc(&self, action: &str, business: &[(&str, &str)]) -> Resp {
        self.send(&self.signed_for("2016-04-28", action, business))
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    #[track_caller]
    pub fn call(&self, action: &str, business: &[(&str, &str)]) -> Resp {
        self.try_call(action, business)
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }
}

/// An emulator accepting the test key, with a pinned id seed.
pub fn start_emulator() -> EmulatorHandle {
    start_with(|_| {})
}

pub fn start_with(adjust: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut config = EmulatorConfig {
        access_keys: vec![moat_emulator::AccessKey::new(KEY_ID, SECRET)],
        id_seed: Some(1),
        ..EmulatorConfig::default()
    };
    adjust(&mut config);
    moat_emulator::start(config).expect("emulator starts")
}

/// An emulator whose clock stands at [`NOW`], and a client sharing it.
pub fn start_pinned() -> (EmulatorHandle, Client) {
    let clock = ManualClock::new(NOW);
    let c2 = clock.clone();
    let handle = start_with(move |cfg| cfg.clock = Arc::new(c2));
    let mut client = Client::new(handle.addr());
    client.clock = Some(clock);
    (handle, client)
}

/// Creates a VPC group and returns its id.
pub fn create_group(client: &Client, name: &str) -> String {
    let v = client
        .call(
            "CreateSecurityGroup",
            &[("SecurityGroupName", name), ("VpcId", "vpc-test0001")],
        )
        .ok();
    v["SecurityGroupId"].as_str().expect("group id").to_owned()
}

/// The rules of a group (all directions), following NextToken.
pub fn rules_of(client: &Client, group: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let mut args = vec![("SecurityGroupId", group), ("MaxResults", "10")];
        if !token.is_empty() {
            args.push(("NextToken", token.as_str()));
        }
        let v = client.call("DescribeSecurityGroupAttribute", &args).ok();
        out.extend(
            v["Permissions"]["Permission"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        token = v["NextToken"].as_str().unwrap_or_default().to_owned();
        if token.is_empty() {
            return out;
        }
    }
}

/// A request signed with ACS3-HMAC-SHA256 by the tests' own signer, written
/// from Alibaba's V3 signature documentation (independent of the emulator's
/// verifier): the query string to send and the headers, Authorization
/// included.
#[derive(Clone, Debug)]
pub struct V3Request {
    pub method: String,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Headers to sign (lower-case names); host and the x-acs-* ones are
    /// filled in by [`V3Request::sign`] when missing.
    pub headers: Vec<(String, String)>,
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl V3Request {
    pub fn new(action: &str, version: &str, query: &[(&str, &str)]) -> V3Request {
        V3Request {
            method: "POST".into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
            headers: vec![
                ("x-acs-action".into(), action.into()),
                ("x-acs-version".into(), version.into()),
            ],
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> V3Request {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The query string, each pair written as the documentation encodes.
    pub fn query_string(&self) -> String {
        self.query
            .iter()
            .map(|(k, v)| format!("{}={}", doc_encode(k), doc_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Signs every header present; returns all headers to send.
    pub fn sign(
        &self,
        addr: SocketAddr,
        key_id: &str,
        secret: &str,
        date: &str,
    ) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        let nonce = format!(
            "v3-nonce-{}-{}",
            std::process::id(),
            NONCE.fetch_add(1, Ordering::SeqCst)
        );
        for (name, value) in [
            ("host", addr.to_string()),
            ("x-acs-date", date.to_owned()),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", sha256_hex(&self.body)),
        ] {
            if !headers.iter().any(|(k, _)| k == name) {
                headers.push((name.to_owned(), value));
            }
        }
        let mut sorted = headers.clone();
        sorted.sort();
        let canonical_headers: String = sorted
            .iter()
            .map(|(k, v)| format!("{k}:{}\n", v.trim()))
            .collect();
        let signed: Vec<&str> = sorted.iter().map(|(k, _)| k.as_str()).collect();
        let signed = signed.join(";");
        let mut query = self.query.clone();
        query.sort();
        let canonical_query = query
            .iter()
            .map(|(k, v)| format!("{}={}", doc_encode(k), doc_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let payload = headers
            .iter()
            .find(|(k, _)| k == "x-acs-content-sha256")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let canonical = format!(
            "{}\n/\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload}",
            self.method
        );
        let sts = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical.as_bytes()));
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
        mac.update(sts.as_bytes());
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        headers.push((
            "authorization".into(),
            format!(
                "ACS3-HMAC-SHA256 Credential={key_id},SignedHeaders={signed},Signature={signature}"
            ),
        ));
        headers
    }

    /// Signs and sends the request.
    pub fn send(&self, addr: SocketAddr, key_id: &str, secret: &str, date: &str) -> Resp {
        let headers = self.sign(addr, key_id, secret, date);
        send_signed(
            addr,
            &self.method,
            &self.query_string(),
            &headers,
            &self.body,
        )
    }
}

/// Sends a request with the given query string, headers and body.
pub fn send_signed(
    addr: SocketAddr,
    method: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Resp {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let target = if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    };
    http(addr, method, &target, &headers, body).unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}
