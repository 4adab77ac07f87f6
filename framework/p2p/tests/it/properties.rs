//! Arbitrary bytes from the network never panic the decoders, and what we encode decodes back.

use cairn_p2p::PeerAddr;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn peer_address_parsing_never_panics(s in ".{0,120}") {
        let _ = s.parse::<PeerAddr>();
    }

    #[test]
    fn keyed_addresses_round_trip(seed in any::<u64>(), a in any::<[u8; 4]>(), port in any::<u16>()) {
        let key = cairn_primitives::Keypair::derived("prop", seed).public();
        let addr = PeerAddr::new(Some(key), std::net::SocketAddr::from((a, port)));
        prop_assert_eq!(addr.to_string().parse::<PeerAddr>().unwrap(), addr);
        prop_assert_eq!(addr.to_multiaddr().to_string().parse::<PeerAddr>().unwrap(), addr);
        prop_assert_eq!(cairn_p2p::public_key_of(&cairn_p2p::peer_id_of(&key).unwrap()), Some(key));
    }
}
