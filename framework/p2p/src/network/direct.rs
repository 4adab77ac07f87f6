//! The direct protocol on the task's side: per-peer windows of one-way streams, requests, and what a peer's
//! frames are worth when they break the protocol.

use std::sync::atomic::Ordering;

use libp2p::{PeerId, request_response};

use super::Task;
use crate::P2pError;
use crate::codec::{Frame, Violation, violation_of};
use crate::config::MAX_MESSAGE_CEILING;
use crate::events::{NetEvent, ResponseHandle};
use crate::score::Offence;

/// Direct streams one peer may have open to another at once, per kind. The receiver refuses streams beyond
/// its per-connection limit (256) without telling anyone, so a burst must queue here instead.
pub(super) const MAX_IN_FLIGHT: usize = 64;

/// One-way messages queued per peer behind the window; beyond it `send` answers [`P2pError::Busy`].
const MAX_QUEUED: usize = 8192;

/// The sending side of the direct protocol towards one peer.
#[derive(Debug, Default)]
pub(super) struct PeerOut {
    one_way_in_flight: usize,
    pub requests_in_flight: usize,
    pub queue: std::collections::VecDeque<Vec<u8>>,
}

impl Task {
    /// A direct-protocol violation: punished, or (a frame over our limit only) dropped and counted.
    pub(super) fn violation(&mut self, peer: PeerId, v: &Violation) {
        match classify(v) {
            Some((offence, why)) => self.punish(peer, offence, &why),
            None => {
                self.stats.oversized_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, violation = %v, "dropping a frame over our limit (the peer's may be larger)");
            }
        }
    }

    /// Sends a one-way message now if the peer's window has room, else queues it behind the window.
    pub(super) fn send_one_way(&mut self, peer: PeerId, data: Vec<u8>) -> Result<(), P2pError> {
        let out = self.outbox.entry(peer).or_default();
        if out.one_way_in_flight < MAX_IN_FLIGHT && out.queue.is_empty() {
            out.one_way_in_flight += 1;
            let id = self.swarm.behaviour_mut().direct.send_request(&peer, Frame::OneWay(data));
            self.in_flight.insert(id, (peer, true));
            Ok(())
        } else if out.queue.len() < MAX_QUEUED {
            out.queue.push_back(data);
            Ok(())
        } else {
            Err(P2pError::Busy(MAX_QUEUED))
        }
    }

    /// A direct stream finished (answered or failed): frees its slot in the window and sends what waited.
    pub(super) fn release(&mut self, id: request_response::OutboundRequestId) {
        let Some((peer, one_way)) = self.in_flight.remove(&id) else { return };
        let Some(out) = self.outbox.get_mut(&peer) else { return };
        if one_way {
            out.one_way_in_flight = out.one_way_in_flight.saturating_sub(1);
        } else {
            out.requests_in_flight = out.requests_in_flight.saturating_sub(1);
        }
        while out.one_way_in_flight < MAX_IN_FLIGHT {
            let Some(data) = out.queue.pop_front() else { break };
            out.one_way_in_flight += 1;
            let id = self.swarm.behaviour_mut().direct.send_request(&peer, Frame::OneWay(data));
            self.in_flight.insert(id, (peer, true));
        }
    }

    pub(super) fn on_direct(&mut self, event: request_response::Event<Frame, Vec<u8>>) {
        use request_response::{Event, InboundFailure, Message, OutboundFailure};
        match event {
            Event::Message { peer, message: Message::Request { request, channel, .. }, .. } => {
                let Some(from) = self.peers.identity(&peer) else { return };
                if !matches!(request, Frame::Invalid(_)) && !self.admit(peer) {
                    // Dropping the channel fails the peer's request; a one-way message gets no receipt.
                    return;
                }
                match request {
                    Frame::OneWay(data) => {
                        // The empty answer is the delivery receipt that closes the stream.
                        let _ = self.swarm.behaviour_mut().direct.send_response(channel, Vec::new());
                        self.emit(NetEvent::Direct { from, data });
                    }
                    Frame::Request(data) => match self.commands.upgrade() {
                        Some(commands) => {
                            let reply =
                                ResponseHandle { channel, commands, max: self.config.max_message_bytes };
                            self.emit(NetEvent::Request { from, data, reply });
                        }
                        None => drop(channel),
                    },
                    Frame::Invalid(v) => {
                        drop(channel);
                        self.violation(peer, &v);
                    }
                }
            }
            Event::Message { message: Message::Response { request_id, response }, .. } => {
                self.release(request_id);
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure { peer, request_id, error, .. } => {
                self.release(request_id);
                if let OutboundFailure::Io(e) = &error
                    && let Some(v) = violation_of(e)
                {
                    self.violation(peer, v);
                }
                if let Some(reply) = self.pending.remove(&request_id) {
                    let pk = self.peers.identity(&peer).unwrap_or_default();
                    let _ = reply.send(Err(P2pError::RequestFailed { peer: pk, reason: error.to_string() }));
                } else {
                    tracing::debug!(%peer, %error, "direct message not delivered");
                }
            }
            Event::InboundFailure { peer, error, .. } => {
                if let InboundFailure::Io(e) = &error
                    && let Some(v) = violation_of(e)
                {
                    self.violation(peer, v);
                } else {
                    tracing::debug!(%peer, %error, "inbound direct message failed");
                }
            }
            Event::ResponseSent { .. } => {}
        }
    }
}

/// The offence behind a protocol violation, if it is one: a frame over our limit but under the protocol ceiling
/// may come from a peer whose limits are larger (dropped without blame, counted in `oversized_dropped`).
fn classify(v: &Violation) -> Option<(Offence, String)> {
    match v {
        Violation::Oversized { len, .. } if *len <= MAX_MESSAGE_CEILING => None,
        Violation::Oversized { .. } => Some((Offence::Oversized, v.to_string())),
        Violation::Malformed(_) => Some((Offence::Malformed, v.to_string())),
    }
}
