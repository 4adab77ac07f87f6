//! The direct-message wire format: one length-prefixed frame per libp2p stream, size checked before allocating.
//!
//! Request frame: `u32 big-endian length ‖ kind (1 byte) ‖ payload`, where the length counts kind + payload.
//! Response frame: `u32 big-endian length ‖ payload`. A one-way message (`kind = 0`) is answered with an empty
//! response as a delivery receipt; a request (`kind = 1`) with the node's reply.
//!
//! A request frame over the limit or with an unknown kind is read as [`Frame::Invalid`], which the network
//! task treats as the peer's offence (disconnect + score down). An oversized length prefix is refused before
//! anything is allocated.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// One direct frame as read from or written to a stream.
#[derive(Debug)]
pub enum Frame {
    /// A one-way message (kind 0).
    OneWay(Vec<u8>),
    /// A request expecting an answer (kind 1).
    Request(Vec<u8>),
    /// What a peer sent instead of a valid frame. Only produced by reading: returning it as a value (rather
    /// than an IO error, which libp2p would swallow without naming the peer) lets the network task punish
    /// the sender.
    Invalid(Violation),
}

/// A codec error that is the remote's fault, as opposed to a connection that went away.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    Oversized { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// The violation behind an IO error from this codec, if it was one.
pub(crate) fn violation_of(e: &io::Error) -> Option<&Violation> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<Violation>())
}

#[cfg(test)]
fn is_protocol_violation(e: &io::Error) -> bool {
    violation_of(e).is_some()
}

fn violation(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Violation::Malformed(msg))
}

/// Length-prefixed bytes with a hard limit on the payload.
#[derive(Clone, Debug)]
pub struct FrameCodec {
    pub max_payload: usize,
}

async fn read_len<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> io::Result<usize> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(io::Error::new(io::ErrorKind::InvalidData, Violation::Oversized { len, max }));
    }
    Ok(len)
}

async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    // One frame per stream: anything after it is a protocol violation, not something to ignore.
    let mut probe = [0u8; 1];
    if io.read(&mut probe).await? != 0 {
        return Err(violation("bytes after the frame".into()));
    }
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    head: &[u8],
    data: &[u8],
    max: usize,
) -> io::Result<()> {
    let len = head.len() + data.len();
    if data.len() > max {
        // Checked by the handle already; refusing here keeps the invariant local to the codec.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("payload of {} bytes over {max}", data.len()),
        ));
    }
    let len =
        u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(head).await?;
    io.write_all(data).await?;
    io.close().await
}

async fn read_request_frame<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    max_payload: usize,
) -> io::Result<Frame> {
    let len = read_len(io, max_payload.saturating_add(1)).await?;
    if len == 0 {
        return Err(violation("empty frame (no kind byte)".into()));
    }
    let mut kind = [0u8; 1];
    io.read_exact(&mut kind).await?;
    let body = read_body(io, len - 1).await?;
    match kind {
        [0] => Ok(Frame::OneWay(body)),
        [1] => Ok(Frame::Request(body)),
        [k] => Err(violation(format!("unknown frame kind {k}"))),
    }
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Frame;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Frame>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_request_frame(io, self.max_payload).await {
            Ok(frame) => Ok(frame),
            Err(e) => match e.into_inner().map(|inner| inner.downcast::<Violation>()) {
                Some(Ok(v)) => Ok(Frame::Invalid(*v)),
                Some(Err(inner)) => Err(io::Error::other(inner)),
                None => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
            },
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let len = read_len(io, self.max_payload).await?;
        read_body(io, len).await
    }

    async fn write_request<T>(&mut self, _: &StreamProtocol, io: &mut T, req: Frame) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match req {
            Frame::OneWay(data) => write_frame(io, &[0], &data, self.max_payload).await,
            Frame::Request(data) => write_frame(io, &[1], &data, self.max_payload).await,
            Frame::Invalid(v) => {
                Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not sendable: {v}")))
            }
        }
    }

    async fn write_response<T>(&mut self, _: &StreamProtocol, io: &mut T, res: Vec<u8>) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &[], &res, self.max_payload).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec;

    use super::*;

    fn proto() -> StreamProtocol {
        StreamProtocol::new("/test/1")
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    #[test]
    fn frames_round_trip() {
        let mut c = FrameCodec { max_payload: 100 };
        for (kind, frame) in [(0u8, Frame::OneWay(b"hello".to_vec())), (1, Frame::Request(b"hello".to_vec()))]
        {
            let mut buf = Cursor::new(Vec::new());
            block_on(c.write_request(&proto(), &mut buf, frame)).unwrap();
            let bytes = buf.into_inner();
            assert_eq!(&bytes[..5], &[0, 0, 0, 6, kind]);
            let got = block_on(c.read_request(&proto(), &mut Cursor::new(bytes))).unwrap();
            match (kind, got) {
                (0, Frame::OneWay(d)) | (1, Frame::Request(d)) => assert_eq!(d, b"hello"),
                (_, other) => panic!("kind {kind} read back as {other:?}"),
            }
        }
        let mut buf = Cursor::new(Vec::new());
        block_on(c.write_response(&proto(), &mut buf, vec![9; 100])).unwrap();
        let got = block_on(c.read_response(&proto(), &mut Cursor::new(buf.into_inner()))).unwrap();
        assert_eq!(got, vec![9; 100]);
    }

    #[test]
    fn oversized_and_malformed_frames_are_violations() {
        let mut c = FrameCodec { max_payload: 100 };
        let read =
            |c: &mut FrameCodec, bytes: Vec<u8>| block_on(c.read_request(&proto(), &mut Cursor::new(bytes)));
        let invalid = |r: io::Result<Frame>| match r {
            Ok(Frame::Invalid(v)) => Some(v),
            _ => None,
        };
        // Length claims 4 GiB: refused from the prefix alone, nothing allocated.
        let v = invalid(read(&mut c, vec![0xff, 0xff, 0xff, 0xff]));
        assert!(matches!(v, Some(Violation::Oversized { len: 0xffff_ffff, .. })), "{v:?}");
        // 101 bytes of payload: one over.
        let mut over = 102u32.to_be_bytes().to_vec();
        over.extend(std::iter::repeat_n(0, 102));
        assert!(matches!(invalid(read(&mut c, over)), Some(Violation::Oversized { .. })));
        // Exactly 100 bytes is fine.
        let mut exact = 101u32.to_be_bytes().to_vec();
        exact.extend(std::iter::repeat_n(0, 101));
        assert!(matches!(read(&mut c, exact), Ok(Frame::OneWay(d)) if d.len() == 100));
        // Unknown kind, trailing garbage, empty frame.
        for bytes in [vec![0, 0, 0, 1, 7], vec![0, 0, 0, 1, 0, 42], vec![0, 0, 0, 0]] {
            let v = invalid(read(&mut c, bytes.clone()));
            assert!(matches!(v, Some(Violation::Malformed(_))), "{bytes:?} gave {v:?}");
        }
        // A truncated frame is a broken stream, not a protocol violation.
        assert!(read(&mut c, vec![0, 0, 0, 9, 0, 1]).is_err());
        // An oversized response is an error carrying the violation.
        let mut big = 101u32.to_be_bytes().to_vec();
        big.extend(std::iter::repeat_n(0, 101));
        let e = block_on(c.read_response(&proto(), &mut Cursor::new(big))).unwrap_err();
        assert!(is_protocol_violation(&e));
        // The writer refuses oversized payloads too.
        let mut buf = Cursor::new(Vec::new());
        assert!(block_on(c.write_response(&proto(), &mut buf, vec![0; 101])).is_err());
    }
}

#[cfg(test)]
mod properties {
    use futures::io::Cursor;
    use libp2p::request_response::Codec;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_reader(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut c = FrameCodec { max_payload: 128 };
            let p = StreamProtocol::new("/test/1");
            let _ = futures::executor::block_on(c.read_request(&p, &mut Cursor::new(data.clone())));
            let _ = futures::executor::block_on(c.read_response(&p, &mut Cursor::new(data)));
        }
    }
}
