//! Fixed little-endian binary encoding of commands: the journal's payload format.
//!
//! Layout: `[kind u8][ts_ns u64][fields…]`, every integer little-endian, client ids as 36
//! raw bytes. Kinds: 1 NewOrder, 2 Cancel, 3 Replace, 4 MassCancel, 5 Deposit, 6 Withdraw,
//! 7 CreateAccount, 8 TimeTick, 9 HaltSymbol (symbol u16), 10 ResumeSymbol (symbol u16),
//! 11 SuspendAccount (account u32), 12 ResumeAccount (account u32), 13 CreateApiKey (key
//! u64, account u32, CompID 64 raw bytes, nonce 16 bytes), 14 RevokeApiKey (key u64). Kinds are never
//! renumbered (journals outlive binaries); an unknown kind is a decode error. Decoding validates every tag and enum value, so a corrupted payload that
//! passed its CRC still cannot turn into a wrong command silently.

use crate::command::{
    ApiKey, CancelOrder, Command, CommandKind, MassCancel, MassCancelScope, NewOrder, OrdType,
    OrderRef, ReplaceOrder, StpMode, Tif, Transfer,
};
use crate::types::{
    AccountId, ApiKeyId, AssetId, ClOrdId, CompId, OrderId, Price, Qty, SessionId, Side, SymbolId,
    CL_ORD_ID_MAX_LEN, COMP_ID_MAX_LEN,
};

/// Upper bound of an encoded command's length in bytes.
pub const MAX_COMMAND_LEN: usize = 128;

/// A payload that is not a valid command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid command encoding: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

struct W<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl W<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    fn cl(&mut self, c: &ClOrdId) {
        self.bytes(&c.0);
    }
    fn target(&mut self, t: &OrderRef) {
        match t {
            OrderRef::Id(id) => {
                self.u8(0);
                self.u64(id.0);
            }
            OrderRef::ClOrdId(c) => {
                self.u8(1);
                self.cl(c);
            }
        }
    }
}

struct R<'a> {
    buf: &'a [u8],
    at: usize,
}

type Res<T> = Result<T, DecodeError>;

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let s = self
            .buf
            .get(self.at..self.at + n)
            .ok_or(DecodeError("truncated"))?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Res<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Res<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Res<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        Ok(self.take(N)?.try_into().unwrap())
    }
    fn bool(&mut self) -> Res<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("bad bool")),
        }
    }
    fn cl(&mut self) -> Res<ClOrdId> {
        let b = self.take(CL_ORD_ID_MAX_LEN)?;
        let mut out = [0u8; CL_ORD_ID_MAX_LEN];
        out.copy_from_slice(b);
        let id = ClOrdId(out);
        // Printable ASCII then zero padding only.
        let len = id.as_bytes().len();
        if id.0[len..].iter().any(|&x| x != 0)
            || id.as_bytes().iter().any(|b| !(0x21..=0x7e).contains(b))
        {
            return Err(DecodeError("bad client order id"));
        }
        Ok(id)
    }
    fn side(&mut self) -> Res<Side> {
        match self.u8()? {
            0 => Ok(Side::Buy),
            1 => Ok(Side::Sell),
            _ => Err(DecodeError("bad side")),
        }
    }
    fn target(&mut self) -> Res<OrderRef> {
        match self.u8()? {
            0 => Ok(OrderRef::Id(OrderId(self.u64()?))),
            1 => Ok(OrderRef::ClOrdId(self.cl()?)),
            _ => Err(DecodeError("bad order reference")),
        }
    }
}

fn side_u8(s: Side) -> u8 {
    match s {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// Encodes `cmd` into `buf` (at least [`MAX_COMMAND_LEN`] bytes); returns the length.
pub fn encode_command(cmd: &Command, buf: &mut [u8]) -> usize {
    let mut w = W { buf, at: 0 };
    let kind = match &cmd.kind {
        CommandKind::NewOrder(_) => 1,
        CommandKind::Cancel(_) => 2,
        CommandKind::Replace(_) => 3,
        CommandKind::MassCancel(_) => 4,
        CommandKind::Deposit(_) => 5,
        CommandKind::Withdraw(_) => 6,
        CommandKind::CreateAccount { .. } => 7,
        CommandKind::TimeTick => 8,
        CommandKind::HaltSymbol { .. } => 9,
        CommandKind::ResumeSymbol { .. } => 10,
        CommandKind::SuspendAccount { .. } => 11,
        CommandKind::ResumeAccount { .. } => 12,
        CommandKind::CreateApiKey(_) => 13,
        CommandKind::RevokeApiKey { .. } => 14,
    };
    w.u8(kind);
    w.u64(cmd.ts_ns);
    match &cmd.kind {
        CommandKind::NewOrder(o) => {
            w.u32(o.account.0);
            w.u16(o.session.0);
            w.cl(&o.cl_ord_id);
            w.u16(o.symbol.0);
            w.u8(side_u8(o.side));
            w.u8(match o.ord_type {
                OrdType::Limit => 0,
                OrdType::Market => 1,
            });
            w.i64(o.price.0);
            w.i64(o.qty.0);
            w.i64(o.quote_budget);
            w.u8(match o.tif {
                Tif::Gtc => 0,
                Tif::Ioc => 1,
                Tif::Fok => 2,
                Tif::Gtd => 3,
            });
            w.u64(o.expire_ns);
            w.u8(o.post_only as u8);
            w.u8(match o.stp {
                StpMode::CancelNewest => 0,
                StpMode::CancelOldest => 1,
                StpMode::CancelBoth => 2,
                StpMode::Decrement => 3,
            });
        }
        CommandKind::Cancel(c) => {
            w.u32(c.account.0);
            w.u16(c.symbol.0);
            w.target(&c.target);
            w.cl(&c.cl_ord_id);
        }
        CommandKind::Replace(r) => {
            w.u32(r.account.0);
            w.u16(r.symbol.0);
            w.target(&r.target);
            w.cl(&r.cl_ord_id);
            w.i64(r.price.0);
            w.i64(r.qty.0);
        }
        CommandKind::MassCancel(m) => {
            w.u32(m.account.0);
            match m.scope {
                MassCancelScope::Account => {
                    w.u8(0);
                    w.u16(0);
                }
                MassCancelScope::Symbol(s) => {
                    w.u8(1);
                    w.u16(s.0);
                }
                MassCancelScope::Session(s) => {
                    w.u8(2);
                    w.u16(s.0);
                }
            }
            w.cl(&m.cl_ord_id);
        }
        CommandKind::Deposit(t) | CommandKind::Withdraw(t) => {
            w.u32(t.account.0);
            w.u16(t.asset.0);
            w.i64(t.amount);
            w.u64(t.reference);
        }
        CommandKind::CreateAccount { account } => w.u32(account.0),
        CommandKind::TimeTick => {}
        CommandKind::HaltSymbol { symbol } | CommandKind::ResumeSymbol { symbol } => {
            w.u16(symbol.0)
        }
        CommandKind::SuspendAccount { account } | CommandKind::ResumeAccount { account } => {
            w.u32(account.0)
        }
        CommandKind::CreateApiKey(k) => {
            w.u64(k.key.0);
            w.u32(k.account.0);
            w.bytes(&k.comp_id.0);
            w.bytes(&k.nonce);
        }
        CommandKind::RevokeApiKey { key } => w.u64(key.0),
    }
    w.at
}

/// Decodes a command encoded by [`encode_command`]; trailing bytes are an error.
pub fn decode_command(buf: &[u8]) -> Result<Command, DecodeError> {
    let mut r = R { buf, at: 0 };
    let kind = r.u8()?;
    let ts_ns = r.u64()?;
    let kind = match kind {
        1 => CommandKind::NewOrder(NewOrder {
            account: AccountId(r.u32()?),
            session: SessionId(r.u16()?),
            cl_ord_id: r.cl()?,
            symbol: SymbolId(r.u16()?),
            side: r.side()?,
            ord_type: match r.u8()? {
                0 => OrdType::Limit,
                1 => OrdType::Market,
                _ => return Err(DecodeError("bad order type")),
            },
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
            quote_budget: r.i64()?,
            tif: match r.u8()? {
                0 => Tif::Gtc,
                1 => Tif::Ioc,
                2 => Tif::Fok,
                3 => Tif::Gtd,
                _ => return Err(DecodeError("bad time in force")),
            },
            expire_ns: r.u64()?,
            post_only: r.bool()?,
            stp: match r.u8()? {
                0 => StpMode::CancelNewest,
                1 => StpMode::CancelOldest,
                2 => StpMode::CancelBoth,
                3 => StpMode::Decrement,
                _ => return Err(DecodeError("bad STP mode")),
            },
        }),
        2 => CommandKind::Cancel(CancelOrder {
            account: AccountId(r.u32()?),
            symbol: SymbolId(r.u16()?),
            target: r.target()?,
            cl_ord_id: r.cl()?,
        }),
        3 => CommandKind::Replace(ReplaceOrder {
            account: AccountId(r.u32()?),
            symbol: SymbolId(r.u16()?),
            target: r.target()?,
            cl_ord_id: r.cl()?,
            price: Price(r.i64()?),
            qty: Qty(r.i64()?),
        }),
        4 => {
            let account = AccountId(r.u32()?);
            let tag = r.u8()?;
            let v = r.u16()?;
            let scope = match tag {
                0 if v == 0 => MassCancelScope::Account,
                1 => MassCancelScope::Symbol(SymbolId(v)),
                2 => MassCancelScope::Session(SessionId(v)),
                _ => return Err(DecodeError("bad mass cancel scope")),
            };
            CommandKind::MassCancel(MassCancel {
                account,
                scope,
                cl_ord_id: r.cl()?,
            })
        }
        5 | 6 => {
            let t = Transfer {
                account: AccountId(r.u32()?),
                asset: AssetId(r.u16()?),
                amount: r.i64()?,
                reference: r.u64()?,
            };
            if kind == 5 {
                CommandKind::Deposit(t)
            } else {
                CommandKind::Withdraw(t)
            }
        }
        7 => CommandKind::CreateAccount {
            account: AccountId(r.u32()?),
        },
        8 => CommandKind::TimeTick,
        9 => CommandKind::HaltSymbol {
            symbol: SymbolId(r.u16()?),
        },
        10 => CommandKind::ResumeSymbol {
            symbol: SymbolId(r.u16()?),
        },
        11 => CommandKind::SuspendAccount {
            account: AccountId(r.u32()?),
        },
        12 => CommandKind::ResumeAccount {
            account: AccountId(r.u32()?),
        },
        13 => {
            let key = ApiKeyId(r.u64()?);
            let account = AccountId(r.u32()?);
            let comp_id = CompId(r.array::<COMP_ID_MAX_LEN>()?);
            if !comp_id.is_valid() {
                return Err(DecodeError("bad CompID"));
            }
            CommandKind::CreateApiKey(ApiKey {
                key,
                account,
                comp_id,
                nonce: r.array::<16>()?,
            })
        }
        14 => CommandKind::RevokeApiKey {
            key: ApiKeyId(r.u64()?),
        },
        _ => return Err(DecodeError("unknown command kind")),
    };
    if r.at != buf.len() {
        return Err(DecodeError("trailing bytes"));
    }
    Ok(Command { ts_ns, kind })
}
