//! Answers that travel on a different peer than their request.
//!
//! The IPsec profile of ACE has the Resource Server answer the unprotected
//! `POST /authz-info` with a 2.01 sent **over the SA pair** that the token
//! just set up (draft-aragon-ace-ipsec-profile §3.3.1). At the CoAP layer the
//! request comes from one peer (plain UDP) and its piggybacked response goes
//! to another (the SA pair): same Message ID, same token, other transport.
//! The client registers that second peer for the one exchange; nothing else
//! is accepted from it, and matching still needs both Message ID and token.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use crate::block::size_of_szx;
use crate::consts::SZX_MAX;
use crate::endpoint::{Endpoint, IncomingId, RequestId, Response};
use crate::error::CoapError;
use crate::message::Message;

impl<P: Clone + Eq + Hash + Debug> Endpoint<P> {
    /// Client side: the response to request `id` may also come from `alt`
    /// (piggybacked in an ACK with the request's Message ID, or separate with
    /// its token). Call right after [`Endpoint::request`].
    pub fn expect_response_from(&mut self, id: RequestId, alt: P) {
        if let Some(exch) = self.exchanges.get_mut(&id) {
            if exch.peer == alt {
                return;
            }
            exch.alt = Some(alt.clone());
            let token = exch.token.clone();
            self.alt_tokens.insert((alt, token), id);
        }
    }

    /// The request's own peer when `msg`, received from `alt`, answers an
    /// exchange registered with [`Endpoint::expect_response_from`].
    pub(crate) fn alt_origin(&mut self, alt: &P, msg: &Message) -> Option<P> {
        let id = *self.alt_tokens.get(&(alt.clone(), msg.token.clone()))?;
        let exch = self.exchanges.get_mut(&id)?;
        if exch.mid != msg.message_id || exch.peer == *alt {
            return None;
        }
        exch.answered_by_alt = true;
        Some(exch.peer.clone())
    }

    /// Server side: answers request `id` like [`Endpoint::respond`], but sends
    /// the response to `via` instead of the request's peer. Duplicates of the
    /// request get the same response, again to `via`. The response must fit
    /// one message (no Block2 on a redirected answer).
    pub fn respond_via(
        &mut self,
        now: Instant,
        id: IncomingId,
        resp: Response,
        via: P,
    ) -> Result<(), CoapError> {
        let (orig, mid, confirmable, acked, block2) = {
            let inc = self
                .incoming
                .get(&id)
                .ok_or(CoapError::UnknownIncoming(id))?;
            (
                inc.peer.clone(),
                inc.mid,
                inc.confirmable,
                inc.acked,
                inc.block2,
            )
        };
        // A Block2 option on the request only asks for a block size (num 0,
        // RFC 7959 §2.4): fine as long as the answer fits that one block.
        let szx = block2
            .map_or(self.config.block_szx, |b| b.szx.min(self.config.block_szx))
            .min(SZX_MAX);
        if block2.is_some_and(|b| b.num != 0) || resp.payload.len() > size_of_szx(szx) {
            return Err(CoapError::Encode(
                "a redirected response must fit one block",
            ));
        }
        if !confirmable || acked {
            // NON response or separate CON response: a fresh message to `via`.
            if let Some(inc) = self.incoming.get_mut(&id) {
                inc.peer = via;
            }
            return self.respond(now, id, resp);
        }
        // Piggybacked: build it as usual, then move the reply from `orig` to `via`.
        let before = self.transmits.len();
        self.respond(now, id, resp)?;
        for (peer, _) in self.transmits.iter_mut().skip(before) {
            if *peer == orig {
                *peer = via.clone();
            }
        }
        // `respond` stored the reply for duplicates of (orig, mid): send those to `via` too.
        self.remember_redirect((orig, mid), via);
        Ok(())
    }

    fn remember_redirect(&mut self, key: (P, u16), via: P) {
        let cap = self.config.max_dedup_entries.max(1);
        while self.redirect_order.len() >= cap {
            if let Some(old) = self.redirect_order.pop_front() {
                self.redirects.remove(&old);
            }
        }
        self.redirect_order.push_back(key.clone());
        self.redirects.insert(key, via);
    }
}
