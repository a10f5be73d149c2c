//! Matching publishes to the broker's acknowledgements, so that `publish` returns `Ok` only
//! once the broker has the message (PUBACK for QoS 1, PUBREC for QoS 2, written to the socket
//! for QoS 0).
//!
//! rumqttc 0.25 has no per-publish ack future: it reports `Outgoing::Publish(pkid)` when it
//! writes a publish (in the order requests were queued) and `Incoming::PubAck(pkid)` when the
//! broker acknowledges it. Publishers queue their reply slot here in the same critical section
//! in which they hand the request to rumqttc, so the FIFO order of [`Acks::queued`] is the order
//! rumqttc writes them; the owner task then moves each slot to its packet id and resolves it on
//! the ack. On connection loss every slot fails (nothing is replayed: the session is clean).

use std::collections::{HashMap, VecDeque};

use tokio::sync::oneshot;

use crate::transport::TransportError;

/// Where a publisher waits for its outcome.
pub(super) type Reply = oneshot::Sender<Result<(), TransportError>>;

/// The reply slots of publishes not yet acknowledged.
#[derive(Debug, Default)]
pub(super) struct Acks {
    /// Handed to rumqttc, not yet written.
    queued: VecDeque<Reply>,
    /// Written with a packet id, waiting for the broker.
    inflight: HashMap<u16, Reply>,
    /// Written while its packet id was still in flight; rumqttc sends it once that one is acked.
    collided: Option<(u16, Reply)>,
}

impl Acks {
    pub fn push(&mut self, reply: Reply) {
        self.queued.push_back(reply);
    }

    /// Publishes handed to rumqttc but not yet written (they occupy its request channel).
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// rumqttc wrote a publish. Packet id 0 is QoS 0: done.
    pub fn on_written(&mut self, pkid: u16) {
        let reply = match self.collided.take() {
            Some((collided, reply)) if collided == pkid && !self.inflight.contains_key(&pkid) => {
                Some(reply)
            }
            other => {
                self.collided = other;
                self.queued.pop_front()
            }
        };
        let Some(reply) = reply else { return };
        if pkid == 0 {
            let _gone = reply.send(Ok(()));
        } else {
            self.inflight.insert(pkid, reply);
        }
    }

    /// rumqttc held a publish back because its packet id is still in flight.
    pub fn on_collision(&mut self, pkid: u16) {
        if let Some(reply) = self.queued.pop_front() {
            self.collided = Some((pkid, reply));
        }
    }

    /// The broker acknowledged (or refused, with its reason) packet `pkid`.
    pub fn on_ack(&mut self, pkid: u16, outcome: Result<(), TransportError>) {
        if let Some(reply) = self.inflight.remove(&pkid) {
            let _gone = reply.send(outcome);
        }
    }

    /// Fails every waiting publisher (connection lost, or closing).
    pub fn fail_all(&mut self, error: impl Fn() -> TransportError) {
        let collided = self.collided.take().map(|(_, reply)| reply);
        let inflight = self.inflight.drain().map(|(_, reply)| reply);
        for reply in self.queued.drain(..).chain(inflight).chain(collided) {
            let _gone = reply.send(Err(error()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(acks: &mut Acks) -> oneshot::Receiver<Result<(), TransportError>> {
        let (tx, rx) = oneshot::channel();
        acks.push(tx);
        rx
    }

    #[test]
    fn replies_follow_the_acks_not_the_writes() {
        let mut acks = Acks::default();
        let mut first = slot(&mut acks);
        let mut second = slot(&mut acks);
        acks.on_written(1);
        acks.on_written(2);
        assert!(first.try_recv().is_err(), "not acked yet");
        acks.on_ack(2, Ok(()));
        assert!(matches!(second.try_recv(), Ok(Ok(()))));
        acks.on_ack(1, Err(TransportError::Rejected("NotAuthorized".into())));
        assert!(matches!(
            first.try_recv(),
            Ok(Err(TransportError::Rejected(_)))
        ));
    }

    #[test]
    fn qos0_is_done_once_written() {
        let mut acks = Acks::default();
        let mut only = slot(&mut acks);
        acks.on_written(0);
        assert!(matches!(only.try_recv(), Ok(Ok(()))));
    }

    #[test]
    fn a_collided_publish_waits_for_its_resend() {
        let mut acks = Acks::default();
        let mut old = slot(&mut acks);
        let mut new = slot(&mut acks);
        acks.on_written(1);
        acks.on_collision(1);
        acks.on_ack(1, Ok(()));
        assert!(matches!(old.try_recv(), Ok(Ok(()))));
        acks.on_written(1); // the resend
        assert!(new.try_recv().is_err());
        acks.on_ack(1, Ok(()));
        assert!(matches!(new.try_recv(), Ok(Ok(()))));
    }

    #[test]
    fn connection_loss_fails_everyone() {
        let mut acks = Acks::default();
        let mut written = slot(&mut acks);
        acks.on_written(7);
        let mut queued = slot(&mut acks);
        acks.fail_all(|| TransportError::NotConnected);
        assert!(matches!(
            written.try_recv(),
            Ok(Err(TransportError::NotConnected))
        ));
        assert!(matches!(
            queued.try_recv(),
            Ok(Err(TransportError::NotConnected))
        ));
        assert_eq!(acks.queued_len(), 0);
    }
}
