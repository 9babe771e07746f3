//! RFC 7296 §2.7, §3.3: building SA payloads from configured suites and
//! choosing among the peer's proposals.
//!
//! A *suite* is one complete set of transforms (one of each type). The
//! initiator sends one Proposal per configured suite, in order of
//! preference; the responder walks the initiator's proposals in order and
//! takes the first one that contains an acceptable suite, answering with
//! exactly one transform of each type (§3.3.6). The initiator then checks
//! that what came back is one of the suites it offered.

use crate::consts::{DhGroup, EncrId, EsnId, IntegId, PrfId, ProtocolId, TransformType};
use crate::keys::CipherSpec;
use crate::payload::{Proposal, SaRepr, Transform};
use crate::prf::Prf;

/// The transforms of an IKE SA (RFC 7296 §3.3.2): ENCR (+ Key Length),
/// PRF, INTEG (NONE for the AEADs) and the D-H group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IkeSuite {
    /// Encryption algorithm of the SK payload.
    pub encr: EncrId,
    /// Its Key Length attribute, in bits.
    pub key_bits: Option<u16>,
    /// Integrity algorithm ([`IntegId::NONE`] for AES-GCM).
    pub integ: IntegId,
    /// Pseudorandom function.
    pub prf: PrfId,
    /// Diffie-Hellman group.
    pub dh: DhGroup,
}

impl IkeSuite {
    /// `aes128gcm16-prfsha256-x25519`.
    pub const AES128GCM_SHA256_X25519: IkeSuite = IkeSuite {
        encr: EncrId::ENCR_AES_GCM_16,
        key_bits: Some(128),
        integ: IntegId::NONE,
        prf: PrfId::PRF_HMAC_SHA2_256,
        dh: DhGroup::CURVE25519,
    };
    /// `aes128gcm16-prfsha256-ecp256`.
    pub const AES128GCM_SHA256_P256: IkeSuite = IkeSuite {
        dh: DhGroup::ECP_256,
        ..Self::AES128GCM_SHA256_X25519
    };
    /// `aes256gcm16-prfsha256-x25519`.
    pub const AES256GCM_SHA256_X25519: IkeSuite = IkeSuite {
        key_bits: Some(256),
        ..Self::AES128GCM_SHA256_X25519
    };
    /// `aes128-sha256-x25519` (AES-CBC with HMAC-SHA-256-128).
    pub const AES128CBC_SHA256_X25519: IkeSuite = IkeSuite {
        encr: EncrId::ENCR_AES_CBC,
        key_bits: Some(128),
        integ: IntegId::AUTH_HMAC_SHA2_256_128,
        prf: PrfId::PRF_HMAC_SHA2_256,
        dh: DhGroup::CURVE25519,
    };
    /// `aes256-sha256-ecp256` (AES-CBC with HMAC-SHA-256-128).
    pub const AES256CBC_SHA256_P256: IkeSuite = IkeSuite {
        key_bits: Some(256),
        dh: DhGroup::ECP_256,
        ..Self::AES128CBC_SHA256_X25519
    };

    /// The SK payload's cipher spec, or why this suite cannot protect an
    /// IKE SA (RFC 7296 §3.3.2: no ENCR_NULL for IKE).
    pub fn cipher(&self) -> Option<CipherSpec> {
        if self.encr == EncrId::ENCR_NULL {
            return None;
        }
        CipherSpec::new(self.encr, self.key_bits, self.integ).ok()
    }

    /// The PRF.
    pub fn prf(&self) -> Option<Prf> {
        Prf::from_id(self.prf).ok()
    }

    fn transforms(&self) -> Vec<Transform> {
        let mut t = vec![
            Transform::encr(self.encr, self.key_bits),
            Transform::prf(self.prf),
        ];
        if self.integ != IntegId::NONE {
            t.push(Transform::integ(self.integ));
        }
        t.push(Transform::dh(self.dh));
        t
    }

    /// A Proposal for this suite (`spi` empty in IKE_SA_INIT, 8 octets in
    /// an IKE SA rekey).
    pub fn proposal(&self, number: u8, spi: Vec<u8>) -> Proposal {
        Proposal {
            number,
            protocol: ProtocolId::IKE,
            spi,
            transforms: self.transforms(),
        }
    }
}

/// The transforms of a Child SA (RFC 7296 §3.3.2): for ESP an ENCR
/// (+ Key Length) and, unless combined mode, INTEG; for AH an INTEG only;
/// ESN; and for a rekey with PFS a D-H group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChildSuite {
    /// ESP or AH.
    pub protocol: ProtocolId,
    /// ESP's encryption algorithm and Key Length (`None` for AH).
    pub encr: Option<(EncrId, Option<u16>)>,
    /// Integrity ([`IntegId::NONE`] with a combined-mode cipher).
    pub integ: IntegId,
    /// 64-bit extended sequence numbers (RFC 4304).
    pub esn: bool,
}

impl ChildSuite {
    /// ESP AES-GCM-16 with a 128-bit key.
    pub const ESP_AES128GCM16: ChildSuite = ChildSuite {
        protocol: ProtocolId::ESP,
        encr: Some((EncrId::ENCR_AES_GCM_16, Some(128))),
        integ: IntegId::NONE,
        esn: false,
    };
    /// ESP AES-GCM-16 with a 256-bit key.
    pub const ESP_AES256GCM16: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_AES_GCM_16, Some(256))),
        ..Self::ESP_AES128GCM16
    };
    /// ESP AES-CCM-8 with a 128-bit key (constrained peers).
    pub const ESP_AES128CCM8: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_AES_CCM_8, Some(128))),
        ..Self::ESP_AES128GCM16
    };
    /// ESP AES-CCM-8 with a 256-bit key.
    pub const ESP_AES256CCM8: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_AES_CCM_8, Some(256))),
        ..Self::ESP_AES128GCM16
    };
    /// ESP ChaCha20-Poly1305 (RFC 7634).
    pub const ESP_CHACHA20POLY1305: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_CHACHA20_POLY1305, None)),
        ..Self::ESP_AES128GCM16
    };
    /// ESP AES-128-CBC with HMAC-SHA-256-128.
    pub const ESP_AES128CBC_SHA256: ChildSuite = ChildSuite {
        protocol: ProtocolId::ESP,
        encr: Some((EncrId::ENCR_AES_CBC, Some(128))),
        integ: IntegId::AUTH_HMAC_SHA2_256_128,
        esn: false,
    };
    /// ESP AES-256-CBC with HMAC-SHA-256-128.
    pub const ESP_AES256CBC_SHA256: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_AES_CBC, Some(256))),
        ..Self::ESP_AES128CBC_SHA256
    };
    /// ESP with NULL encryption and HMAC-SHA-256-128 (debugging only: it
    /// is never in a default list).
    pub const ESP_NULL_SHA256: ChildSuite = ChildSuite {
        encr: Some((EncrId::ENCR_NULL, None)),
        ..Self::ESP_AES128CBC_SHA256
    };
    /// AH with HMAC-SHA-256-128.
    pub const AH_SHA256: ChildSuite = ChildSuite {
        protocol: ProtocolId::AH,
        encr: None,
        integ: IntegId::AUTH_HMAC_SHA2_256_128,
        esn: false,
    };

    /// The same suite with ESN on or off.
    pub fn with_esn(self, esn: bool) -> Self {
        ChildSuite { esn, ..self }
    }

    /// The cipher spec (key, salt, IV and ICV lengths) of the SA.
    pub fn cipher(&self) -> Option<CipherSpec> {
        match (self.protocol, self.encr) {
            (ProtocolId::ESP, Some((encr, bits))) => CipherSpec::new(encr, bits, self.integ).ok(),
            (ProtocolId::AH, None) => CipherSpec::ah(self.integ).ok(),
            _ => None,
        }
    }

    fn transforms(&self, pfs: Option<DhGroup>) -> Vec<Transform> {
        let mut t = Vec::with_capacity(4);
        if let Some((encr, bits)) = self.encr {
            t.push(Transform::encr(encr, bits));
        }
        if self.integ != IntegId::NONE {
            t.push(Transform::integ(self.integ));
        }
        if let Some(g) = pfs {
            t.push(Transform::dh(g));
        }
        t.push(Transform::esn(if self.esn {
            EsnId::ESN
        } else {
            EsnId::NO_ESN
        }));
        t
    }

    /// A Proposal for this suite with our inbound SPI.
    pub fn proposal(&self, number: u8, spi: u32, pfs: Option<DhGroup>) -> Proposal {
        Proposal {
            number,
            protocol: self.protocol,
            spi: spi.to_be_bytes().to_vec(),
            transforms: self.transforms(pfs),
        }
    }
}

/// One SA payload with a proposal per IKE suite (numbered from 1).
pub fn ike_sa_payload(suites: &[IkeSuite], spi: &[u8]) -> SaRepr {
    SaRepr {
        proposals: suites
            .iter()
            .enumerate()
            .map(|(i, s)| s.proposal(number(i), spi.to_vec()))
            .collect(),
    }
}

/// One SA payload with a proposal per Child suite (numbered from 1).
pub fn child_sa_payload(suites: &[ChildSuite], spi: u32, pfs: Option<DhGroup>) -> SaRepr {
    SaRepr {
        proposals: suites
            .iter()
            .enumerate()
            .map(|(i, s)| s.proposal(number(i), spi, pfs))
            .collect(),
    }
}

fn number(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// Whether a proposal carries a transform of type `t` with ID `id` (and,
/// for ENCR, the Key Length `bits`) and no unknown attribute on it.
fn has(p: &Proposal, t: TransformType, id: u16, bits: Option<u16>) -> bool {
    p.transforms_of(t).any(|tr| {
        tr.id == id
            && !tr.has_unknown_attributes()
            && (t != TransformType::ENCR || tr.key_length() == bits)
    })
}

/// Whether `p` offers nothing of type `t` (a type may be absent: INTEG
/// with AEADs, DH in a Child SA without PFS).
fn none_of(p: &Proposal, t: TransformType) -> bool {
    p.transforms_of(t).next().is_none()
}

fn ike_suite_in(p: &Proposal, s: &IkeSuite) -> bool {
    p.protocol == ProtocolId::IKE
        && has(p, TransformType::ENCR, s.encr.0, s.key_bits)
        && has(p, TransformType::PRF, s.prf.0, None)
        && if s.integ == IntegId::NONE {
            none_of(p, TransformType::INTEG) || has(p, TransformType::INTEG, IntegId::NONE.0, None)
        } else {
            has(p, TransformType::INTEG, s.integ.0, None)
        }
        && has(p, TransformType::DH, s.dh.0, None)
}

/// RFC 7296 §2.7 (responder): the first of the initiator's proposals
/// that contains one of our suites, and that suite (our preference
/// decides between several suites within one proposal).
pub fn choose_ike(offered: &SaRepr, ours: &[IkeSuite]) -> Option<(u8, IkeSuite, Vec<u8>)> {
    offered.proposals.iter().find_map(|p| {
        ours.iter()
            .find(|s| ike_suite_in(p, s))
            .map(|s| (p.number, *s, p.spi.clone()))
    })
}

/// RFC 7296 §2.7 (initiator): the responder's answer must be one
/// proposal with exactly one transform of each type, and one of ours.
pub fn accepted_ike(answer: &SaRepr, ours: &[IkeSuite]) -> Option<(IkeSuite, Vec<u8>)> {
    let [p] = answer.proposals.as_slice() else {
        return None;
    };
    if !single_of_each(p) {
        return None;
    }
    ours.iter()
        .find(|s| ike_suite_in(p, s))
        .map(|s| (*s, p.spi.clone()))
}

fn single_of_each(p: &Proposal) -> bool {
    [
        TransformType::ENCR,
        TransformType::PRF,
        TransformType::INTEG,
        TransformType::DH,
        TransformType::ESN,
    ]
    .iter()
    .all(|t| p.transforms_of(*t).count() <= 1)
}

fn child_suite_in(p: &Proposal, s: &ChildSuite, pfs: Option<DhGroup>) -> bool {
    p.protocol == s.protocol
        && match s.encr {
            Some((e, bits)) => has(p, TransformType::ENCR, e.0, bits),
            None => none_of(p, TransformType::ENCR),
        }
        && if s.integ == IntegId::NONE {
            none_of(p, TransformType::INTEG) || has(p, TransformType::INTEG, IntegId::NONE.0, None)
        } else {
            has(p, TransformType::INTEG, s.integ.0, None)
        }
        && has(
            p,
            TransformType::ESN,
            if s.esn { EsnId::ESN.0 } else { EsnId::NO_ESN.0 },
            None,
        )
        && match pfs {
            Some(g) => has(p, TransformType::DH, g.0, None),
            None => {
                none_of(p, TransformType::DH) || has(p, TransformType::DH, DhGroup::NONE.0, None)
            }
        }
}

/// The outcome of choosing a Child SA proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenChild {
    /// The initiator's Proposal Num.
    pub number: u8,
    /// The suite.
    pub suite: ChildSuite,
    /// The initiator's inbound SPI (our outbound).
    pub peer_spi: u32,
    /// The D-H group for PFS, when the proposal carried one.
    pub pfs: Option<DhGroup>,
}

/// RFC 7296 §2.7 (responder) for Child SAs. `pfs_groups` are the groups we
/// accept for PFS in a CREATE_CHILD_SA; a proposal that asks for one we do
/// not have is skipped, one that carries none is taken without PFS.
pub fn choose_child(
    offered: &SaRepr,
    ours: &[ChildSuite],
    pfs_groups: &[DhGroup],
) -> Option<ChosenChild> {
    offered.proposals.iter().find_map(|p| {
        let spi = p.child_spi()?;
        let mut groups: Vec<Option<DhGroup>> = pfs_groups.iter().copied().map(Some).collect();
        groups.push(None);
        groups.into_iter().find_map(|g| {
            ours.iter()
                .find(|s| child_suite_in(p, s, g))
                .map(|s| ChosenChild {
                    number: p.number,
                    suite: *s,
                    peer_spi: spi,
                    pfs: g,
                })
        })
    })
}

/// RFC 7296 §2.7 (initiator) for Child SAs: one proposal, one of ours
/// (with the PFS group we asked for, if any).
pub fn accepted_child(
    answer: &SaRepr,
    ours: &[ChildSuite],
    pfs: Option<DhGroup>,
) -> Option<(ChildSuite, u32)> {
    let [p] = answer.proposals.as_slice() else {
        return None;
    };
    if !single_of_each(p) {
        return None;
    }
    let spi = p.child_spi()?;
    ours.iter()
        .find(|s| child_suite_in(p, s, pfs))
        .map(|s| (*s, spi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responder_takes_first_acceptable_proposal() {
        let offered = ike_sa_payload(
            &[
                IkeSuite::AES256CBC_SHA256_P256,
                IkeSuite::AES128GCM_SHA256_X25519,
            ],
            &[],
        );
        let (n, s, _) = choose_ike(&offered, &[IkeSuite::AES128GCM_SHA256_X25519]).unwrap();
        assert_eq!((n, s), (2, IkeSuite::AES128GCM_SHA256_X25519));
        let answer = ike_sa_payload(&[s], &[]);
        assert_eq!(
            accepted_ike(&answer, &[IkeSuite::AES128GCM_SHA256_X25519])
                .unwrap()
                .0,
            s
        );
        assert!(choose_ike(&offered, &[IkeSuite::AES256GCM_SHA256_X25519]).is_none());
    }

    #[test]
    fn child_proposal_with_and_without_pfs() {
        let offered = child_sa_payload(
            &[ChildSuite::ESP_AES128CCM8],
            0x1234,
            Some(DhGroup::CURVE25519),
        );
        let c = choose_child(
            &offered,
            &[ChildSuite::ESP_AES128CCM8],
            &[DhGroup::CURVE25519],
        )
        .unwrap();
        assert_eq!(c.pfs, Some(DhGroup::CURVE25519));
        assert_eq!(c.peer_spi, 0x1234);
        assert!(choose_child(&offered, &[ChildSuite::ESP_AES128CCM8], &[]).is_none());
        let plain = child_sa_payload(&[ChildSuite::ESP_AES128GCM16], 7, None);
        let c = choose_child(
            &plain,
            &[ChildSuite::ESP_AES128GCM16],
            &[DhGroup::CURVE25519],
        )
        .unwrap();
        assert_eq!(c.pfs, None);
        // A different key length is a different suite.
        assert!(choose_child(&plain, &[ChildSuite::ESP_AES256GCM16], &[]).is_none());
    }

    #[test]
    fn answer_with_two_transforms_of_a_type_is_refused() {
        let mut answer = ike_sa_payload(&[IkeSuite::AES128GCM_SHA256_X25519], &[]);
        answer.proposals[0]
            .transforms
            .push(Transform::dh(DhGroup::ECP_256));
        assert!(accepted_ike(&answer, &[IkeSuite::AES128GCM_SHA256_X25519]).is_none());
    }
}
