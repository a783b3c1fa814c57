//! The client over https: a loopback TLS front that terminates TLS with a
//! fixture certificate for 127.0.0.1 and passes the bytes on to the
//! emulator, so a call that succeeds was signed, sent over a verified TLS
//! session and checked by the emulator.
//!
//! The fixtures in `tests/data/tls` were made once with OpenSSL 3.0; both
//! certificates are valid from 2000 to 2100, so no clock in use can find
//! them expired or not yet valid. `server.key` is the fixture's own key,
//! trusted by nothing but these tests; the root's key was thrown away.
//!
//! ```text
//! # ca.cnf: [ca] default_ca=fixture; [fixture] database=index.txt,
//! #   new_certs_dir=., serial=serial, default_md=sha256, policy=any,
//! #   unique_subject=no; [any] commonName=supplied;
//! #   [root] basicConstraints=critical,CA:TRUE,
//! #   keyUsage=critical,keyCertSign,cRLSign;
//! #   [server] basicConstraints=critical,CA:FALSE,
//! #   keyUsage=critical,digitalSignature, extendedKeyUsage=serverAuth,
//! #   subjectAltName=IP:127.0.0.1
//! touch index.txt; echo 01 > serial
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out root.key
//! openssl req -new -key root.key -subj "/CN=moat test root" -out root.csr
//! openssl ca -batch -config ca.cnf -selfsign -keyfile root.key -in root.csr \
//!     -extensions root -startdate 20000101000000Z -enddate 21000101000000Z \
//!     -notext -out root.pem
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key
//! openssl req -new -key server.key -subj "/CN=127.0.0.1" -out server.csr
//! openssl ca -batch -config ca.cnf -cert root.pem -keyfile root.key \
//!     -in server.csr -extensions server -startdate 20000101000000Z \
//!     -enddate 21000101000000Z -notext -out server.pem
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use moat_aliyun::tls::CaBundle;
use moat_aliyun::{CallErrorKind, Client, Credentials, GroupFilter, NewGroup};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::emulator::{KEY_ID, KEY_SECRET, config, emulator};

const ROOT: &[u8] = include_bytes!("../data/tls/root.pem");
const SERVER_CERT: &[u8] = include_bytes!("../data/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../data/tls/server.key");

/// A TLS front on a loopback port, forwarding each session's plaintext to
/// `upstream`. Counts the handshakes it completed.
struct TlsFront {
    addr: SocketAddr,
    sessions: Arc<AtomicU32>,
}

impl TlsFront {
    async fn start(upstream: SocketAddr) -> TlsFront {
        let chain = CertificateDer::pem_slice_iter(SERVER_CERT)
            .collect::<Result<Vec<_>, _>>()
            .expect("the fixture certificate");
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).expect("the fixture key");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the fixture certificate and key match");
        let acceptor = TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let sessions = Arc::new(AtomicU32::new(0));
        let counter = sessions.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, counter) = (acceptor.clone(), counter.clone());
                tokio::spawn(async move {
                    // A refused handshake just ends the connection, as a
                    // real server's would.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut plain) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        TlsFront { addr, sessions }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }
}

fn upstream(handle: &moat_emulator::EmulatorHandle) -> SocketAddr {
    handle
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .expect("the emulator listens on an address")
}

fn chain_of(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[tokio::test]
async fn signed_calls_go_over_https_verified_against_an_added_root() {
    let handle = emulator(|_| {});
    let front = TlsFront::start(upstream(&handle)).await;
    let mut config = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    config.endpoint = Some(front.endpoint());
    config.ca_bundle = Some(CaBundle::from_pem("root.pem", ROOT).expect("the fixture root"));
    let client = Client::new(&config).expect("config");

    let group = NewGroup {
        name: "over-tls".into(),
        description: None,
        vpc_id: Some("vpc-test".into()),
        group_type: None,
    };
    let created = client
        .create_security_group(
            &group,
            &moat_aliyun::ClientToken::new("tls-1").expect("token"),
        )
        .await
        .expect("a signed call over https");
    let listed = client
        .describe_security_groups(&GroupFilter::default())
        .await
        .expect("a signed read over https");
    assert_eq!(listed.value.len(), 1);
    assert_eq!(listed.value[0].id, created.value);
    // Both calls went through the front, over the pool's one session.
    assert_eq!(front.sessions.load(Ordering::SeqCst), 1);
    assert_eq!(handle.emulator().stats().ok("DescribeSecurityGroups"), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_typed_error_naming_the_endpoint() {
    let handle = emulator(|_| {});
    let front = TlsFront::start(upstream(&handle)).await;
    // The platform's roots alone: the fixture root is not among them.
    let mut config = config(&handle, Credentials::access_key(KEY_ID, KEY_SECRET));
    config.endpoint = Some(front.endpoint());
    let client = Client::new(&config).expect("config");

    let e = client
        .describe_security_groups(&GroupFilter::default())
        .await
        .expect_err("the fixture certificate is not trusted");
    let CallErrorKind::Tls { endpoint, source } = &e.kind else {
        panic!("expected a TLS error, got {e:?}");
    };
    assert_eq!(endpoint, &format!("{}/", front.endpoint()));
    assert_eq!(
        e.kind.to_string(),
        format!("no TLS session with {}/", front.endpoint())
    );
    let chain = chain_of(source);
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    // A certificate that is not trusted stays so: the call is not retried,
    // and nothing reached the service.
    assert_eq!(e.attempts, 1);
    assert_eq!(front.sessions.load(Ordering::SeqCst), 0);
    assert_eq!(
        handle.emulator().stats().errors("DescribeSecurityGroups"),
        0
    );
    assert_eq!(handle.emulator().stats().ok("DescribeSecurityGroups"), 0);
}

#[test]
fn a_bundle_of_another_shape_is_refused_by_name() {
    let e = CaBundle::from_pem("server.key", SERVER_KEY).expect_err("a key is no certificate");
    assert_eq!(
        e.to_string(),
        "CA bundle server.key holds no PEM certificate"
    );
}
