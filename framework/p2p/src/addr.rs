//! Bootstrap peer addresses as people write them in a config file.
//!
//! Three forms are accepted:
//! - `127.0.0.1:26656` — dial the address, learn the peer's key from the handshake;
//! - `<64 hex chars of the consensus public key>@127.0.0.1:26656` — also pin the key: a node answering there
//!   with another key is refused by the noise handshake;
//! - `/ip4/127.0.0.1/tcp/26656` with an optional `/p2p/<peer id>` (libp2p multiaddr form; `/ip6` too).
//!
//! Host names are not resolved (the stack has no DNS transport): write an IP address.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use cairn_primitives::PublicKey;
use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use crate::P2pError;
use crate::identity::{peer_id_of, public_key_of};

/// A peer to dial: its socket address and, when known, the consensus key expected there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddr {
    pub key: Option<PublicKey>,
    pub addr: SocketAddr,
}

impl PeerAddr {
    pub fn new(key: Option<PublicKey>, addr: SocketAddr) -> PeerAddr {
        PeerAddr { key, addr }
    }

    /// The libp2p multiaddr, with `/p2p/<peer id>` when the key is known.
    pub fn to_multiaddr(&self) -> Multiaddr {
        let mut m = socket_multiaddr(self.addr);
        if let Some(peer) = self.key.and_then(|k| peer_id_of(&k).ok()) {
            m.push(Protocol::P2p(peer));
        }
        m
    }
}

/// `/ip4/…/tcp/…` (or `/ip6`) for a socket address.
pub(crate) fn socket_multiaddr(addr: SocketAddr) -> Multiaddr {
    let mut m = Multiaddr::empty();
    match addr {
        SocketAddr::V4(a) => m.push(Protocol::Ip4(*a.ip())),
        SocketAddr::V6(a) => m.push(Protocol::Ip6(*a.ip())),
    }
    m.push(Protocol::Tcp(addr.port()));
    m
}

/// The socket address of an `/ip4|ip6/…/tcp/…` multiaddr, ignoring trailing `/p2p`.
pub(crate) fn multiaddr_socket(m: &Multiaddr) -> Option<SocketAddr> {
    let mut it = m.iter();
    let ip: std::net::IpAddr = match it.next()? {
        Protocol::Ip4(ip) => ip.into(),
        Protocol::Ip6(ip) => ip.into(),
        _ => return None,
    };
    match it.next()? {
        Protocol::Tcp(port) => Some(SocketAddr::new(ip, port)),
        _ => None,
    }
}

impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key {
            Some(k) => write!(f, "{k}@{}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

impl FromStr for PeerAddr {
    type Err = P2pError;

    fn from_str(input: &str) -> Result<PeerAddr, P2pError> {
        let bad = |reason: String| P2pError::InvalidAddr { input: input.to_string(), reason };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad(
                "empty; expected host:port, KEYHEX@host:port or /ip4/IP/tcp/PORT[/p2p/PEERID]".into()
            ));
        }
        if s.starts_with('/') {
            return parse_multiaddr(s).map_err(bad);
        }
        let (key, addr) = match s.split_once('@') {
            Some((k, a)) => (Some(parse_key(k).map_err(bad)?), a),
            None => (None, s),
        };
        let addr = parse_socket(addr).map_err(bad)?;
        Ok(PeerAddr { key, addr })
    }
}

fn parse_key(k: &str) -> Result<PublicKey, String> {
    let key = PublicKey::from_hex(k)
        .map_err(|e| format!("public key part {k:?}: {e} (expected 64 hex characters)"))?;
    key.validate().map_err(|e| format!("public key part {k:?}: {e}"))?;
    Ok(key)
}

fn parse_socket(a: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = a.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match a.rsplit_once(':') {
        None => Err(format!("address part {a:?} has no port (expected IP:PORT, e.g. 127.0.0.1:26656)")),
        Some((host, port)) => {
            if port.parse::<u16>().is_err() {
                Err(format!("port {port:?} in {a:?} is not a number from 0 to 65535"))
            } else {
                Err(format!(
                    "host {host:?} in {a:?} is not an IP address (host names are not resolved; \
                     IPv6 needs brackets: [::1]:26656)"
                ))
            }
        }
    }
}

fn parse_multiaddr(s: &str) -> Result<PeerAddr, String> {
    let m: Multiaddr = s.parse().map_err(|e| format!("not a multiaddr: {e}"))?;
    let mut it = m.iter();
    let ip: std::net::IpAddr = match it.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        Some(other) => return Err(format!("unsupported first component /{other} (expected /ip4 or /ip6)")),
        None => return Err("empty multiaddr".into()),
    };
    let port = match it.next() {
        Some(Protocol::Tcp(port)) => port,
        Some(other) => return Err(format!("unsupported transport {other} (only /tcp is served)")),
        None => return Err("missing /tcp/PORT".into()),
    };
    let key = match it.next() {
        None => None,
        Some(Protocol::P2p(peer)) => Some(
            public_key_of(&peer)
                .ok_or_else(|| format!("peer id {peer} is not an ed25519 identity, so not a cairn node"))?,
        ),
        Some(other) => {
            return Err(format!("unexpected component {other} after /tcp (only /p2p/PEERID may follow)"));
        }
    };
    if let Some(extra) = it.next() {
        return Err(format!("unexpected trailing component {extra}"));
    }
    Ok(PeerAddr { key, addr: SocketAddr::new(ip, port) })
}

#[cfg(test)]
mod tests {
    use cairn_primitives::Keypair;

    use super::*;

    fn err(s: &str) -> String {
        s.parse::<PeerAddr>().unwrap_err().to_string()
    }

    #[test]
    fn all_three_forms_parse() {
        let k = Keypair::derived("addr", 0).public();
        let plain: PeerAddr = "127.0.0.1:4000".parse().unwrap();
        assert_eq!(plain, PeerAddr::new(None, "127.0.0.1:4000".parse().unwrap()));
        let keyed: PeerAddr = format!("{k}@127.0.0.1:4000").parse().unwrap();
        assert_eq!(keyed.key, Some(k));
        let multi: PeerAddr = keyed.to_multiaddr().to_string().parse().unwrap();
        assert_eq!(multi, keyed);
        let bare: PeerAddr = "/ip4/127.0.0.1/tcp/4000".parse().unwrap();
        assert_eq!(bare, plain);
        let v6: PeerAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(v6.addr.port(), 4000);
        assert_eq!(keyed.to_string().parse::<PeerAddr>().unwrap(), keyed);
    }

    #[test]
    fn bad_addresses_name_the_bad_part() {
        let k = Keypair::derived("addr", 0).public();
        assert!(err("").contains("empty"));
        assert!(err("zz@127.0.0.1:4000").contains("public key part \"zz\""), "{}", err("zz@127.0.0.1:4000"));
        assert!(err(&format!("{k}@127.0.0.1")).contains("has no port"));
        assert!(err("127.0.0.1:99999").contains("port \"99999\""));
        assert!(err("localhost:4000").contains("host \"localhost\""));
        assert!(err("/ip4/127.0.0.1/udp/4000").contains("only /tcp"));
        assert!(err("/dns4/example.org/tcp/4000").contains("expected /ip4 or /ip6"));
        assert!(err("/ip4/127.0.0.1").contains("missing /tcp"));
        assert!(err("/ip4/127.0.0.1/tcp/4000/p2p/xyz").contains("not a multiaddr"));
        assert!(err("/ip4/127.0.0.1/tcp/4000/tcp/5").contains("after /tcp"));
        // Every error repeats the whole input so a config with many peers points at the right one.
        assert!(err("localhost:4000").contains("\"localhost:4000\""));
    }
}
