//! The address policy (no calls into the platform's own networks) and transport errors:
//! unreachable host, bad TLS certificate.

mod panel_common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use panel_common::*;
use shared::panel::{
    connect, NetRule, NetworkPolicy, PanelError, PanelKind, PanelOptions, PanelUrl,
};

fn refused<T: std::fmt::Debug>(result: Result<T, PanelError>) -> bool {
    matches!(result, Err(PanelError::RefusedAddress { .. }))
}

#[test]
fn non_public_addresses_are_refused_by_default() {
    let strict = NetworkPolicy::strict();
    for raw in [
        "http://127.0.0.1:8000/",
        "http://127.8.9.10/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://localhost:8000/",
        "http://api.localhost/",
    ] {
        assert!(
            refused(PanelUrl::parse(raw, &strict)),
            "{raw} must be refused"
        );
    }
    for raw in [
        "https://8.8.8.8/",
        "https://172.32.0.1:2053/path/",
        "https://[2001:4860::1]/",
        "https://panel.example.com:8443/",
    ] {
        assert!(
            PanelUrl::parse(raw, &strict).is_ok(),
            "{raw} must be allowed"
        );
    }
}

#[test]
fn allow_list_and_platform_networks() {
    let allowed = NetworkPolicy::strict()
        .allow(NetRule::parse("127.0.0.1").unwrap())
        .allow(NetRule::parse("10.20.0.0/16").unwrap());
    assert!(PanelUrl::parse("http://127.0.0.1:9000/", &allowed).is_ok());
    assert!(PanelUrl::parse("http://10.20.3.4/", &allowed).is_ok());
    assert!(refused(PanelUrl::parse("http://10.21.0.1/", &allowed)));
    assert!(refused(PanelUrl::parse("http://127.0.0.2/", &allowed)));

    let platform =
        NetworkPolicy::from_lists(&[], &["203.0.113.0/24".into(), "madar.example.com".into()])
            .unwrap();
    assert!(refused(PanelUrl::parse("https://203.0.113.7/", &platform)));
    assert!(refused(PanelUrl::parse(
        "https://MADAR.example.com./",
        &platform
    )));
    assert!(PanelUrl::parse("https://198.51.100.7/", &platform).is_ok());

    assert!(matches!(
        NetRule::parse("10.0.0.0/33"),
        Err(PanelError::InvalidRequest(_))
    ));
}

#[test]
fn malformed_urls_are_explained() {
    let strict = NetworkPolicy::strict();
    for raw in [
        "panel.example.com",
        "ftp://panel.example.com/",
        "https://admin:secret@panel.example.com/",
        "",
    ] {
        let result = PanelUrl::parse(raw, &strict);
        assert!(
            matches!(result, Err(PanelError::InvalidUrl(_))),
            "{raw}: {result:?}"
        );
        // The message never repeats a password from the URL.
        assert!(!result.unwrap_err().to_string().contains("secret"));
    }
    let url = PanelUrl::parse("https://panel.example.com:2053/abc?x=1#y", &strict).unwrap();
    assert_eq!(url.as_str(), "https://panel.example.com:2053/abc/");
}

/// A host name from /etc/hosts (other than localhost) that points at a non-public address,
/// such as the machine's own name: a DNS name the policy must refuse after resolving it.
fn local_name() -> (String, IpAddr) {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    hosts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('#').next()?.split_whitespace();
            let ip: IpAddr = fields.next()?.parse().ok()?;
            let private = match ip {
                IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
                IpAddr::V6(_) => false,
            };
            let name = fields.find(|name| !name.contains("localhost"))?;
            private.then(|| (name.to_string(), ip))
        })
        .next()
        .expect("/etc/hosts names this machine with a private or loopback address")
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused() {
    let (name, ip) = local_name();
    let fake = start_marzban().await;
    let port = fake.local_addr().port();
    let raw = format!("http://{name}:{port}/");

    // The name itself is not on any list, so it parses; resolving it finds the address.
    let strict = NetworkPolicy::strict();
    let url = PanelUrl::parse(&raw, &strict).unwrap();
    assert!(refused(url.check_resolved(&strict).await));
    let result = connect(
        PanelKind::Marzban,
        url,
        password("admin", "admin-password"),
        PanelOptions {
            network: strict,
            ..options()
        },
    )
    .await;
    assert!(refused(result.map(drop)));

    // Allow-listing the address it resolves to lets the client through, by name. (The fake
    // listens on 127.0.0.1 only, so this part needs the name to point there.)
    if ip == IpAddr::from([127, 0, 0, 1]) {
        let allowed = NetworkPolicy::strict().allow(NetRule::Net(ip.into()));
        let url = PanelUrl::parse(&raw, &allowed).unwrap();
        let panel = connect(
            PanelKind::Marzban,
            url,
            password("admin", "admin-password"),
            PanelOptions {
                network: allowed,
                ..options()
            },
        )
        .await
        .map_err(|error| error.to_string())
        .unwrap();
        assert!(panel.health().await.is_ok());
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = PanelUrl::parse(&format!("http://127.0.0.1:{port}/"), &policy()).unwrap();
    let result = connect(
        PanelKind::Marzban,
        url,
        password("admin", "admin-password"),
        options(),
    )
    .await;
    let error = result.err().unwrap();
    assert!(matches!(error, PanelError::Unreachable(_)), "{error:?}");
    assert!(!error.to_string().contains("admin-password"));
}

/// A TLS server with a self-signed certificate (what a panel with a home-made certificate
/// serves): the handshake fails on the client's side.
async fn self_signed_server() -> SocketAddr {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let cert = certified.cert.der().clone();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(loopback()).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client aborts the handshake; nothing more to serve.
                let _ = acceptor.accept(stream).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_self_signed_certificate_is_bad_tls() {
    let addr = self_signed_server().await;
    for kind in [PanelKind::Marzban, PanelKind::Xui] {
        let url = PanelUrl::parse(&format!("https://{addr}/"), &policy()).unwrap();
        let result = connect(kind, url, password("admin", "admin-password"), options()).await;
        let error = result.err().unwrap();
        assert!(
            matches!(error, PanelError::BadTls(_)),
            "{kind:?}: {error:?}"
        );
    }
}

#[test]
fn errors_never_show_secrets_and_say_what_to_do() {
    let credentials = password("admin", "hunter2");
    assert!(!format!("{credentials:?}").contains("hunter2"));
    let token =
        shared::panel::PanelCredentials::ApiToken(shared::secret::SecretString::new("tok-123"));
    assert!(!format!("{token:?}").contains("tok-123"));
    for error in [
        PanelError::WrongCredentials,
        PanelError::WrongBasePath,
        PanelError::Timeout,
        PanelError::BadTls("x".into()),
        PanelError::Unreachable("x".into()),
    ] {
        let text = error.to_string();
        assert!(text.contains(':'), "{text} should say what to do");
    }
}

#[tokio::test]
async fn every_connection_is_checked_not_only_the_first_look_up() {
    // A client built without `connect`'s up-front check (as if the name changed its
    // address after it): the resolver still refuses the private address at connection time.
    let (name, _) = local_name();
    let fake = start_marzban().await;
    let strict = NetworkPolicy::strict();
    let url = PanelUrl::parse(
        &format!("http://{name}:{}/", fake.local_addr().port()),
        &strict,
    )
    .unwrap();
    let panel = shared::panel::MarzbanPanel::new(
        url,
        password("admin", "admin-password"),
        PanelOptions {
            network: strict,
            ..options()
        },
    )
    .unwrap();
    use shared::panel::Panel as _;
    let result = panel.health().await;
    assert!(refused(result), "the resolver must refuse {name}");
    assert!(fake.accounts().is_empty());
    fake.shutdown().await;
}
