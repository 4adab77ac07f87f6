#![doc = include_str!("../README.md")]
// Generated code is not ours to lint.
#![allow(clippy::all, rust_2018_idioms, missing_docs, unreachable_pub)]

/// The application boundary (`cairn.app.v1`): the `Application` service the node calls on an app.
pub mod app {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cairn.app.v1.rs"));
    }
}

/// The public node API (`cairn.node.v1`): the `Node` service wallets, explorers and the CLI call.
pub mod node {
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/cairn.node.v1.rs"));
    }
}

/// Encoded `FileDescriptorSet` of every cairn `.proto`, for `tonic-reflection`
/// (`Builder::register_encoded_file_descriptor_set(cairn_proto::FILE_DESCRIPTOR_SET)`).
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/cairn_descriptor.bin"));

/// Fully-qualified gRPC service names, as reflection and health checks spell them.
pub const APPLICATION_SERVICE: &str = "cairn.app.v1.Application";
pub const NODE_SERVICE: &str = "cairn.node.v1.Node";

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn descriptor_set_names_both_services() {
        let text = String::from_utf8_lossy(super::FILE_DESCRIPTOR_SET);
        assert!(text.contains("cairn.app.v1"));
        assert!(text.contains("cairn.node.v1"));
        assert!(text.contains("FinalizeBlock"));
        assert!(text.contains("SubscribeEvents"));
    }

    #[test]
    fn messages_round_trip() {
        let req = super::app::v1::FinalizeBlockRequest {
            txs: vec![b"a=b".to_vec()],
            hash: vec![7; 32],
            height: 3,
            time_ms: 1,
            proposer: vec![1; 32],
            misbehavior: vec![],
            decided_last_commit: None,
        };
        let bytes = req.encode_to_vec();
        let back = super::app::v1::FinalizeBlockRequest::decode(bytes.as_slice()).unwrap();
        assert_eq!(back, req);
    }
}
