//! Client side: requests, matching responses by token (RFC 7252 §5.3.2),
//! Block1 uploads and Block2 downloads (RFC 7959 §2.4, §2.5, §3).

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Instant;

use crate::block::{encode_uint, size_of_szx, BlockOption};
use crate::code::ResponseCode;
use crate::consts::{option, SZX_MAX};
use crate::endpoint::{
    content_format_of, response_code_of, Endpoint, Event, Outgoing, Owner, Request, RequestId,
    Response,
};
use crate::error::{BlockError, FailReason};
use crate::message::{Message, MessageType};

/// RFC 7959 §2.5: Block1 upload in progress; `num`/`szx` is the block in
/// flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UploadState {
    pub(crate) num: u32,
    pub(crate) szx: u8,
}

/// RFC 7959 §2.4: Block2 download in progress.
#[derive(Debug, Clone)]
pub(crate) struct DownloadState {
    pub(crate) next: BlockOption,
    /// Response code of block 0; later blocks must carry the same.
    pub(crate) code: ResponseCode,
    pub(crate) body: Vec<u8>,
    pub(crate) etag: Option<Vec<u8>>,
    pub(crate) content_format: Option<u16>,
}

/// One client request from `Endpoint::request` to its final event.
pub(crate) struct ClientExchange<P> {
    pub(crate) peer: P,
    pub(crate) token: Vec<u8>,
    pub(crate) request: Request,
    pub(crate) confirmable: bool,
    /// Message ID of the message in flight.
    pub(crate) mid: u16,
    /// Set once the message in flight was acknowledged (empty ACK) or, for
    /// NON, once it was sent.
    pub(crate) response_deadline: Option<Instant>,
    pub(crate) upload: Option<UploadState>,
    pub(crate) download: Option<DownloadState>,
    /// The second peer registered with `expect_response_from`, and whether
    /// the final answer came from it (then `Event::Response` names it).
    pub(crate) alt: Option<P>,
    pub(crate) answered_by_alt: bool,
}

/// Split a path into Uri-Path segments (RFC 7252 §6.4 step 8, simplified:
/// one leading "/" is dropped, the rest split at every "/").
pub(crate) fn path_segments(path: &str) -> Vec<&str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

impl<P: Clone + Eq + Hash + Debug> Endpoint<P> {
    /// Start a request. Payloads larger than the block size go out as an
    /// RFC 7959 Block1 sequence; Block2 responses are fetched to the end. The
    /// exchange ends with exactly one `Event::Response` or `Event::Failed`.
    pub fn request(&mut self, now: Instant, peer: P, req: Request, confirmable: bool) -> RequestId {
        let id = self.new_request_id();
        let mut token = self.random_token();
        while self.tokens.contains_key(&(peer.clone(), token.clone())) {
            token = self.random_token();
        }
        let szx = self.config.block_szx.min(SZX_MAX);
        let upload = (req.payload.len() > size_of_szx(szx)).then_some(UploadState { num: 0, szx });
        self.tokens.insert((peer.clone(), token.clone()), id);
        self.exchanges.insert(
            id,
            ClientExchange {
                peer,
                token,
                request: req,
                confirmable,
                mid: 0,
                response_deadline: None,
                upload,
                download: None,
                alt: None,
                answered_by_alt: false,
            },
        );
        self.send_client_message(now, id);
        id
    }

    /// Build and send the next message of an exchange: the (next block of
    /// the) request, or the request for the next Block2 block.
    fn send_client_message(&mut self, now: Instant, id: RequestId) {
        let mid = self.next_message_id();
        let pref_szx = self.config.block_szx.min(SZX_MAX);
        let response_timeout = self.config.response_timeout;
        let Some(exch) = self.exchanges.get_mut(&id) else {
            return;
        };
        let req = &exch.request;
        let mut msg = Message {
            mtype: if exch.confirmable {
                MessageType::Confirmable
            } else {
                MessageType::NonConfirmable
            },
            code: req.method.code(),
            message_id: mid,
            token: exch.token.clone(),
            options: Vec::new(),
            payload: Vec::new(),
        };
        for seg in path_segments(&req.path) {
            msg.push_option(option::URI_PATH, seg.as_bytes().to_vec());
        }
        for q in &req.query {
            msg.push_option(option::URI_QUERY, q.as_bytes().to_vec());
        }
        if let Some(dl) = &exch.download {
            // RFC 7959 §3.3 (Figure 8): later Block2 requests carry the
            // request options and Block2, but no payload and no Block1.
            msg.push_option(option::BLOCK2, dl.next.encode());
        } else {
            let mut last = true;
            if let Some(cf) = req.content_format {
                msg.push_option(option::CONTENT_FORMAT, encode_uint(u32::from(cf)));
            }
            if let Some(up) = exch.upload {
                let block = BlockOption::new(up.num, false, up.szx);
                let start = block.offset().min(req.payload.len());
                let end = start.saturating_add(block.size()).min(req.payload.len());
                let more = end < req.payload.len();
                last = !more;
                msg.push_option(
                    option::BLOCK1,
                    BlockOption::new(up.num, more, up.szx).encode(),
                );
                if up.num == 0 {
                    // RFC 7959 §4: Size1 announces the body size.
                    msg.push_option(option::SIZE1, encode_uint(req.payload.len() as u32));
                }
                msg.payload = req.payload[start..end].to_vec();
            } else {
                msg.payload = req.payload.clone();
            }
            if last && pref_szx < SZX_MAX {
                // RFC 7959 §2.4: ask for smaller response blocks.
                msg.push_option(
                    option::BLOCK2,
                    BlockOption::new(0, false, pref_szx).encode(),
                );
            }
        }
        let old_mid = exch.mid;
        let peer = exch.peer.clone();
        let confirmable = exch.confirmable;
        exch.mid = mid;
        exch.response_deadline = (!confirmable).then(|| now + response_timeout);
        self.outgoing.remove(&(peer.clone(), old_mid));
        let bytes = match msg.emit() {
            Ok(bytes) => bytes,
            Err(_) => {
                self.client_fail(id, FailReason::BlockError(BlockError::Protocol));
                return;
            }
        };
        if confirmable {
            self.send_confirmable(now, peer, mid, bytes, Owner::Client(id));
        } else {
            self.outgoing.insert(
                (peer.clone(), mid),
                Outgoing {
                    owner: Owner::Client(id),
                    retx: None,
                },
            );
            self.transmit(peer, bytes);
        }
    }

    /// RFC 7252 §5.2.2: the request was acknowledged with an empty ACK; the
    /// response follows separately.
    pub(crate) fn client_acked(&mut self, now: Instant, id: RequestId) {
        let timeout = self.config.response_timeout;
        if let Some(exch) = self.exchanges.get_mut(&id) {
            exch.response_deadline = Some(now + timeout);
        }
    }

    /// End an exchange with `Event::Failed`.
    pub(crate) fn client_fail(&mut self, id: RequestId, reason: FailReason) {
        let Some(exch) = self.remove_exchange(id) else {
            return;
        };
        match reason {
            FailReason::Timeout => self.counters.timeouts += 1,
            FailReason::BlockError(_) => self.counters.block_errors += 1,
            FailReason::Reset => {}
        }
        self.events.push_back(Event::Failed {
            id,
            peer: exch.peer,
            reason,
        });
    }

    fn client_done(&mut self, id: RequestId, response: Response) {
        if let Some(exch) = self.remove_exchange(id) {
            // The peer that actually answered: the request's, or the second
            // peer registered with `expect_response_from`.
            let peer = match (exch.answered_by_alt, exch.alt) {
                (true, Some(alt)) => alt,
                _ => exch.peer,
            };
            self.events
                .push_back(Event::Response { id, peer, response });
        }
    }

    fn remove_exchange(&mut self, id: RequestId) -> Option<ClientExchange<P>> {
        let exch = self.exchanges.remove(&id)?;
        self.tokens.remove(&(exch.peer.clone(), exch.token.clone()));
        self.alt_tokens.retain(|_, v| *v != id);
        let key = (exch.peer.clone(), exch.mid);
        if self
            .outgoing
            .get(&key)
            .is_some_and(|o| o.owner == Owner::Client(id))
        {
            self.outgoing.remove(&key);
        }
        Some(exch)
    }

    /// A response matched to exchange `id` (piggybacked or separate).
    pub(crate) fn client_response(&mut self, now: Instant, id: RequestId, msg: Message) {
        let code = response_code_of(&msg);
        let max_body = self.config.max_body;
        let Some(exch) = self.exchanges.get_mut(&id) else {
            return;
        };
        exch.response_deadline = None;

        // RFC 7959 §2.5: Block1 upload.
        if let Some(up) = exch.upload {
            let sent_end = (up.num as usize + 1) * size_of_szx(up.szx);
            let last_sent = sent_end >= exch.request.payload.len();
            if code == ResponseCode::Continue {
                if last_sent {
                    return self.client_fail(id, FailReason::BlockError(BlockError::Protocol));
                }
                let echoed = match msg.option(option::BLOCK1).map(BlockOption::decode) {
                    None => BlockOption::new(up.num, true, up.szx),
                    Some(Ok(b)) => b,
                    Some(Err(_)) => {
                        return self.client_fail(id, FailReason::BlockError(BlockError::Protocol))
                    }
                };
                if echoed.num < up.num {
                    self.counters.stale_block += 1;
                    return;
                }
                if echoed.num > up.num {
                    return self
                        .client_fail(id, FailReason::BlockError(BlockError::UnexpectedBlock));
                }
                // RFC 7959 §2.5 (Figure 7): the server may ask for smaller
                // blocks; continue at the same byte offset.
                let szx = echoed.szx.min(up.szx);
                let next_num = (sent_end / size_of_szx(szx)) as u32;
                exch.upload = Some(UploadState { num: next_num, szx });
                self.send_client_message(now, id);
                return;
            }
            // Any other code is the final response to the upload.
            exch.upload = None;
        }

        // RFC 7959 §2.4: Block2 download.
        let block2 = match msg.option(option::BLOCK2).map(BlockOption::decode) {
            None => None,
            Some(Ok(b)) => Some(b),
            Some(Err(_)) => {
                return self.client_fail(id, FailReason::BlockError(BlockError::Protocol))
            }
        };
        let etag = msg.option(option::ETAG).map(<[u8]>::to_vec);
        match (block2, exch.download.as_mut()) {
            (Some(b2), dl) => {
                let dl = match dl {
                    Some(dl) => {
                        if dl.code != code {
                            return self.client_fail(
                                id,
                                FailReason::BlockError(BlockError::ErrorResponse),
                            );
                        }
                        if b2.offset() < dl.body.len() {
                            self.counters.stale_block += 1;
                            return;
                        }
                        if b2.offset() != dl.body.len() {
                            return self.client_fail(
                                id,
                                FailReason::BlockError(BlockError::UnexpectedBlock),
                            );
                        }
                        if dl.etag != etag {
                            return self
                                .client_fail(id, FailReason::BlockError(BlockError::EtagMismatch));
                        }
                        dl
                    }
                    None => {
                        if b2.num != 0 {
                            return self.client_fail(
                                id,
                                FailReason::BlockError(BlockError::UnexpectedBlock),
                            );
                        }
                        exch.download.insert(DownloadState {
                            next: b2,
                            code,
                            body: Vec::new(),
                            etag,
                            content_format: content_format_of(&msg),
                        })
                    }
                };
                if b2.more && msg.payload.len() != b2.size() {
                    return self.client_fail(id, FailReason::BlockError(BlockError::BadBlockSize));
                }
                if dl.body.len() + msg.payload.len() > max_body {
                    return self.client_fail(id, FailReason::BlockError(BlockError::TooLarge));
                }
                dl.body.extend_from_slice(&msg.payload);
                if b2.more {
                    let size = b2.size();
                    dl.next = BlockOption::new((dl.body.len() / size) as u32, false, b2.szx);
                    self.send_client_message(now, id);
                } else {
                    let response = Response {
                        code,
                        content_format: dl.content_format,
                        payload: std::mem::take(&mut dl.body),
                    };
                    self.client_done(id, response);
                }
            }
            (None, Some(_)) => {
                // A follow-up block request answered without Block2 (e.g.
                // 4.02 for a block beyond the end, 4.08 when the server lost
                // the body): the representation cannot be completed.
                self.client_fail(id, FailReason::BlockError(BlockError::ErrorResponse))
            }
            (None, None) => {
                let response = Response {
                    code,
                    content_format: content_format_of(&msg),
                    payload: msg.payload,
                };
                self.client_done(id, response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::path_segments;

    #[test]
    fn segments() {
        assert_eq!(path_segments("/"), Vec::<&str>::new());
        assert_eq!(path_segments(""), Vec::<&str>::new());
        assert_eq!(path_segments("/authz-info"), vec!["authz-info"]);
        assert_eq!(path_segments("/a//b/"), vec!["a", "", "b", ""]);
        assert_eq!(path_segments("token"), vec!["token"]);
    }
}
