//! Attribute policies and a model of the kernel's validating parser.
//!
//! C: `lib/nlattr.c` (`__nla_validate_parse()`, `validate_nla()`, `nla_attr_len[]`,
//! `nla_attr_minlen[]`), `include/net/netlink.h` (`struct nla_policy`, `enum
//! netlink_validation`).
//!
//! [`parse`] returns what `__nla_parse()` returns — the attribute table or the errno — and
//! writes the extack message and the kernel log lines into a [`Diag`], exactly when C writes
//! them. Only the features the IPVS policies use are modelled: no `nested_policy`, no
//! `validation_type` (ranges, masks, functions), no `strict_start_type`.

use super::nla::{Attr, NlaIter, NLA_F_NESTED, NLA_HDRLEN};
use super::{Diag, Errno};

/// `enum nla_policy_type` (the subset with simple length semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NlaType {
    /// `NLA_UNSPEC`: anything of at least `len` bytes (rejected under `NL_VALIDATE_UNSPEC`).
    Unspec,
    /// `NLA_U8`.
    U8,
    /// `NLA_U16`.
    U16,
    /// `NLA_U32`.
    U32,
    /// `NLA_U64`.
    U64,
    /// `NLA_S8`.
    S8,
    /// `NLA_S16`.
    S16,
    /// `NLA_S32`.
    S32,
    /// `NLA_S64`.
    S64,
    /// `NLA_BE16`.
    Be16,
    /// `NLA_BE32`.
    Be32,
    /// `NLA_MSECS`: a u64 with only a minimum length.
    Msecs,
    /// `NLA_FLAG`: no payload.
    Flag,
    /// `NLA_STRING`: at most `len` bytes, not counting one trailing NUL.
    String,
    /// `NLA_NUL_STRING`: a NUL within the first `len + 1` bytes, then as `NLA_STRING`.
    NulString,
    /// `NLA_BINARY`: at most `len` bytes (any length if `len == 0`).
    Binary,
    /// `NLA_NESTED`: empty, or at least one attribute header (contents not validated
    /// without a nested policy).
    Nested,
}

impl NlaType {
    /// `nla_attr_len[]`: the exact size C expects (and warns about when it differs).
    pub const fn exact_len(self) -> Option<usize> {
        match self {
            NlaType::U8 | NlaType::S8 => Some(1),
            NlaType::U16 | NlaType::S16 | NlaType::Be16 => Some(2),
            NlaType::U32 | NlaType::S32 | NlaType::Be32 => Some(4),
            NlaType::U64 | NlaType::S64 => Some(8),
            _ => None,
        }
    }

    /// `nla_attr_minlen[]`: the size below which the `default:` case of `validate_nla()`
    /// fails with `-ERANGE`.
    pub const fn min_len(self) -> usize {
        match self {
            NlaType::U8 | NlaType::S8 => 1,
            NlaType::U16 | NlaType::S16 | NlaType::Be16 => 2,
            NlaType::U32 | NlaType::S32 | NlaType::Be32 => 4,
            NlaType::U64 | NlaType::S64 | NlaType::Msecs => 8,
            NlaType::Nested => NLA_HDRLEN,
            _ => 0,
        }
    }
}

/// One entry of a `struct nla_policy` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlaPolicy {
    /// `.type`.
    pub kind: NlaType,
    /// `.len` (meaning depends on the type, see [`NlaType`]).
    pub len: u16,
}

impl NlaPolicy {
    /// An all-zero entry: `NLA_UNSPEC`, no minimum length.
    pub const UNSPEC: NlaPolicy = NlaPolicy {
        kind: NlaType::Unspec,
        len: 0,
    };

    /// `{ .type = kind }`.
    pub const fn of(kind: NlaType) -> Self {
        NlaPolicy { kind, len: 0 }
    }

    /// `{ .type = kind, .len = len }`.
    pub const fn with_len(kind: NlaType, len: u16) -> Self {
        NlaPolicy { kind, len }
    }
}

/// `enum netlink_validation`: which checks beyond the liberal baseline apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validate(u8);

impl Validate {
    /// `NL_VALIDATE_LIBERAL`.
    pub const LIBERAL: Validate = Validate(0);
    /// `NL_VALIDATE_TRAILING`: bytes after the last attribute are an error.
    pub const TRAILING: Validate = Validate(1 << 0);
    /// `NL_VALIDATE_MAXTYPE`: type 0 or above maxtype is an error.
    pub const MAXTYPE: Validate = Validate(1 << 1);
    /// `NL_VALIDATE_UNSPEC`: `NLA_UNSPEC` policy entries reject.
    pub const UNSPEC: Validate = Validate(1 << 2);
    /// `NL_VALIDATE_STRICT_ATTRS`: fixed-size types must have exactly their size.
    pub const STRICT_ATTRS: Validate = Validate(1 << 3);
    /// `NL_VALIDATE_NESTED`: `NLA_F_NESTED` must match the policy.
    pub const NESTED: Validate = Validate(1 << 4);
    /// `NL_VALIDATE_DEPRECATED_STRICT`.
    pub const DEPRECATED_STRICT: Validate = Validate(Self::TRAILING.0 | Self::MAXTYPE.0);
    /// `NL_VALIDATE_STRICT`: everything.
    pub const STRICT: Validate = Validate(
        Self::TRAILING.0 | Self::MAXTYPE.0 | Self::UNSPEC.0 | Self::STRICT_ATTRS.0 | Self::NESTED.0,
    );

    /// All bits of `other` are set.
    pub const fn contains(self, other: Validate) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union of two sets of checks.
    pub const fn union(self, other: Validate) -> Validate {
        Validate(self.0 | other.0)
    }
}

/// `"Attribute failed policy validation"`: the generic `out_err:` message of `validate_nla()`.
pub const MSG_POLICY: &str = "Attribute failed policy validation";
/// `"invalid attribute length"`: fixed-size type with another size, strict mode.
pub const MSG_INVALID_LENGTH: &str = "invalid attribute length";
/// `"NLA_F_NESTED is missing"`.
pub const MSG_NESTED_MISSING: &str = "NLA_F_NESTED is missing";
/// `"NLA_F_NESTED not expected"`.
pub const MSG_NESTED_UNEXPECTED: &str = "NLA_F_NESTED not expected";
/// `"Unsupported attribute"`: `NLA_UNSPEC` entry under `NL_VALIDATE_UNSPEC`.
pub const MSG_UNSUPPORTED: &str = "Unsupported attribute";
/// `"Unknown attribute type"`: type 0 or above maxtype under `NL_VALIDATE_MAXTYPE`.
pub const MSG_UNKNOWN_TYPE: &str = "Unknown attribute type";
/// `"bytes leftover after parsing attributes"`: set even in liberal mode, where it is only
/// a warning (sent with a successful ACK).
pub const MSG_LEFTOVER: &str = "bytes leftover after parsing attributes";

/// The result of [`parse`]: `tb[]`, the last attribute of each type `1..N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrTable<'a, const N: usize> {
    tb: [Option<Attr<'a>>; N],
}

impl<'a, const N: usize> AttrTable<'a, N> {
    /// An empty table (all `NULL`).
    pub const fn empty() -> Self {
        AttrTable { tb: [None; N] }
    }

    /// `tb[kind]`.
    pub fn get(&self, kind: u16) -> Option<Attr<'a>> {
        self.tb.get(usize::from(kind)).copied().flatten()
    }
}

/// Where [`parse`] sends its diagnostics.
#[derive(Debug)]
pub struct Sink<'d> {
    /// The request's diagnostics.
    pub diag: &'d mut Diag,
    /// Whether C passes an extack here (`false` models `NULL`: log lines only).
    pub extack: bool,
}

impl Sink<'_> {
    fn msg(&mut self, msg: &'static str) {
        if self.extack {
            self.diag.extack.msg = Some(msg);
        }
    }

    fn msg_attr(&mut self, msg: &'static str, attr: &Attr<'_>, pt: Option<NlaPolicy>) {
        if self.extack {
            self.diag.extack.msg = Some(msg);
            self.diag.extack.bad_attr = Some(attr.offset);
            self.diag.extack.policy = pt;
        }
    }
}

/// `validate_nla()` for one attribute whose type is within `1..=maxtype`.
fn validate_nla(
    attr: &Attr<'_>,
    pt: NlaPolicy,
    validate: Validate,
    sink: &mut Sink<'_>,
) -> Result<(), Errno> {
    let data = attr.payload();
    let attrlen = data.len();
    let pt_len = usize::from(pt.len);
    let fail = |err: Errno, sink: &mut Sink<'_>| {
        sink.msg_attr(MSG_POLICY, attr, Some(pt));
        Err(err)
    };

    if let Some(exact) = pt.kind.exact_len() {
        if attrlen != exact {
            let log = &mut sink.diag.log;
            log.invalid_length = log.invalid_length.saturating_add(1);
            log.first_invalid_length_type.get_or_insert(attr.kind());
            if validate.contains(Validate::STRICT_ATTRS) {
                sink.msg_attr(MSG_INVALID_LENGTH, attr, Some(pt));
                return Err(Errno::Einval);
            }
        }
    }

    if validate.contains(Validate::NESTED) {
        let flagged = attr.nla.raw_type() & NLA_F_NESTED != 0;
        if pt.kind == NlaType::Nested && !flagged {
            sink.msg_attr(MSG_NESTED_MISSING, attr, Some(pt));
            return Err(Errno::Einval);
        }
        if pt.kind != NlaType::Nested && pt.kind != NlaType::Unspec && flagged {
            sink.msg_attr(MSG_NESTED_UNEXPECTED, attr, Some(pt));
            return Err(Errno::Einval);
        }
    }

    match pt.kind {
        NlaType::Flag => {
            if attrlen > 0 {
                return fail(Errno::Erange, sink);
            }
        }
        NlaType::NulString | NlaType::String => {
            if pt.kind == NlaType::NulString {
                let minlen = if pt_len != 0 {
                    attrlen.min(pt_len + 1)
                } else {
                    attrlen
                };
                if minlen == 0 || !data[..minlen].contains(&0) {
                    return fail(Errno::Einval, sink);
                }
            }
            // case NLA_STRING (also reached by fallthrough, with err still -ERANGE)
            if attrlen < 1 {
                return fail(Errno::Erange, sink);
            }
            if pt_len != 0 {
                let mut len = attrlen;
                if data[len - 1] == 0 {
                    len -= 1;
                }
                if len > pt_len {
                    return fail(Errno::Erange, sink);
                }
            }
        }
        NlaType::Binary => {
            if pt_len != 0 && attrlen > pt_len {
                return fail(Errno::Erange, sink);
            }
        }
        NlaType::Nested => {
            if attrlen != 0 && attrlen < NLA_HDRLEN {
                return fail(Errno::Erange, sink);
            }
        }
        NlaType::Unspec => {
            if validate.contains(Validate::UNSPEC) {
                sink.msg_attr(MSG_UNSUPPORTED, attr, None);
                return Err(Errno::Einval);
            }
            if attrlen < pt_len {
                return fail(Errno::Erange, sink);
            }
        }
        _ => {
            let minlen = if pt_len != 0 {
                pt_len
            } else {
                pt.kind.min_len()
            };
            if attrlen < minlen {
                return fail(Errno::Erange, sink);
            }
        }
    }
    Ok(())
}

/// `__nla_parse(tb, N - 1, head, len, policy, validate, extack)`.
///
/// `base` is the offset of `head` in the outermost stream (for extack offsets). Policy
/// entries past the end of `policy` count as [`NlaPolicy::UNSPEC`], as the zero-filled tail
/// of a C array would.
pub fn parse<'a, const N: usize>(
    head: &'a [u8],
    base: usize,
    policy: &[NlaPolicy],
    validate: Validate,
    sink: &mut Sink<'_>,
) -> Result<AttrTable<'a, N>, Errno> {
    let maxtype = N.saturating_sub(1);
    let mut table = AttrTable::<N>::empty();
    let mut iter = NlaIter::with_base(head, base);
    for attr in iter.by_ref() {
        let kind = usize::from(attr.kind());
        if kind == 0 || kind > maxtype {
            if validate.contains(Validate::MAXTYPE) {
                sink.msg_attr(MSG_UNKNOWN_TYPE, &attr, None);
                return Err(Errno::Einval);
            }
            continue;
        }
        let pt = policy.get(kind).copied().unwrap_or(NlaPolicy::UNSPEC);
        validate_nla(&attr, pt, validate, sink)?;
        table.tb[kind] = Some(attr);
    }
    let rem = iter.leftover();
    if rem > 0 {
        let log = &mut sink.diag.log;
        log.leftover = log.leftover.saturating_add(1);
        log.last_leftover_bytes = rem;
        sink.msg(MSG_LEFTOVER);
        if validate.contains(Validate::TRAILING) {
            return Err(Errno::Einval);
        }
    }
    Ok(table)
}

/// `nla_parse_nested_deprecated(tb, N - 1, nla, policy, extack)`: liberal parse of a nested
/// attribute's payload.
pub fn parse_nested_deprecated<'a, const N: usize>(
    nla: &Attr<'a>,
    policy: &[NlaPolicy],
    sink: &mut Sink<'_>,
) -> Result<AttrTable<'a, N>, Errno> {
    parse(
        nla.payload(),
        nla.offset + NLA_HDRLEN,
        policy,
        Validate::LIBERAL,
        sink,
    )
}
