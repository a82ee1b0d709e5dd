//! Identifier and quantity newtypes. Units are always integers: prices in ticks of the
//! instrument, quantities in lots of the instrument, balances in the asset's smallest unit.

/// Engine-assigned order identifier, strictly increasing from 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(pub u64);

/// Account identifier (dense, `< EngineConfig::max_accounts`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub u32);

/// Instrument identifier: index into `EngineConfig::instruments`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SymbolId(pub u16);

/// Asset identifier: index into `EngineConfig::assets`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId(pub u16);

/// Session identifier assigned by the gateway (0 = no session, e.g. admin plane).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u16);

/// A price in ticks of its instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(pub i64);

/// A quantity in lots of its instrument.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Qty(pub i64);

/// Order side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid.
    Buy,
    /// Ask.
    Sell,
}

impl Side {
    /// The other side.
    #[inline]
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// Maximum length of a client order id in bytes.
pub const CL_ORD_ID_MAX_LEN: usize = 36;

/// A client order id (FIX ClOrdID): up to 36 printable ASCII bytes, stored inline so
/// commands and events never allocate. Zero-padded; the empty id is all zeros.
#[derive(Clone, Copy, Eq, PartialOrd, Ord)]
pub struct ClOrdId(pub [u8; CL_ORD_ID_MAX_LEN]);

impl PartialEq for ClOrdId {
    /// Byte equality, as four 8-byte words and one 4-byte word (no `memcmp` call).
    #[inline]
    fn eq(&self, other: &ClOrdId) -> bool {
        let (a, b) = (&self.0, &other.0);
        let w = |x: &[u8; CL_ORD_ID_MAX_LEN], i: usize| {
            u64::from_le_bytes(x[i..i + 8].try_into().unwrap())
        };
        let t = |x: &[u8; CL_ORD_ID_MAX_LEN]| u32::from_le_bytes(x[32..36].try_into().unwrap());
        (w(a, 0) ^ w(b, 0))
            | (w(a, 8) ^ w(b, 8))
            | (w(a, 16) ^ w(b, 16))
            | (w(a, 24) ^ w(b, 24))
            | ((t(a) ^ t(b)) as u64)
            == 0
    }
}

impl core::hash::Hash for ClOrdId {
    /// Hashes the bytes: consistent with the byte equality above.
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Default for ClOrdId {
    fn default() -> Self {
        ClOrdId::EMPTY
    }
}

impl ClOrdId {
    /// The empty id.
    pub const EMPTY: ClOrdId = ClOrdId([0; CL_ORD_ID_MAX_LEN]);

    /// Builds an id from bytes; `None` if longer than 36 bytes or not printable ASCII
    /// (0x21..=0x7e).
    pub fn new(bytes: &[u8]) -> Option<ClOrdId> {
        if bytes.len() > CL_ORD_ID_MAX_LEN || bytes.iter().any(|b| !(0x21..=0x7e).contains(b)) {
            return None;
        }
        let mut out = [0u8; CL_ORD_ID_MAX_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(ClOrdId(out))
    }

    /// Builds an id from a number's decimal text (convenient in tests and benches).
    pub fn from_u64(mut n: u64) -> ClOrdId {
        let mut digits = [0u8; 20];
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut out = [0u8; CL_ORD_ID_MAX_LEN];
        for i in 0..len {
            out[i] = digits[len - 1 - i];
        }
        ClOrdId(out)
    }

    /// The id's bytes without padding.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self
            .0
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(CL_ORD_ID_MAX_LEN);
        &self.0[..len]
    }

    /// True for the empty id.
    pub fn is_empty(&self) -> bool {
        self.0[0] == 0
    }
}

impl core::fmt::Debug for ClOrdId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Printable ASCII by construction.
        write!(
            f,
            "ClOrdId({:?})",
            core::str::from_utf8(self.as_bytes()).unwrap_or("<invalid>")
        )
    }
}

/// Longest FIX CompID an API key can be bound to (bytes).
pub const COMP_ID_MAX_LEN: usize = 64;

/// A FIX SenderCompID as the engine stores it (API key bindings): printable ASCII,
/// zero-padded.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompId(pub [u8; COMP_ID_MAX_LEN]);

impl CompId {
    /// `None` if empty, longer than [`COMP_ID_MAX_LEN`] or not printable ASCII.
    pub fn new(bytes: &[u8]) -> Option<CompId> {
        if bytes.is_empty()
            || bytes.len() > COMP_ID_MAX_LEN
            || bytes.iter().any(|b| !(0x21..=0x7e).contains(b))
        {
            return None;
        }
        let mut out = [0u8; COMP_ID_MAX_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(CompId(out))
    }

    /// The CompID's bytes (without padding).
    pub fn as_bytes(&self) -> &[u8] {
        let n = self
            .0
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(COMP_ID_MAX_LEN);
        &self.0[..n]
    }

    /// The CompID as text (it is ASCII by construction; anything else shows as empty).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// True for a valid CompID: non-empty printable ASCII, then only padding.
    pub fn is_valid(&self) -> bool {
        let b = self.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| (0x21..=0x7e).contains(c))
            && self.0[b.len()..].iter().all(|&c| c == 0)
    }
}

impl core::fmt::Debug for CompId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CompId({:?})", self.as_str())
    }
}

/// An API key's public id. Clients send it as Username(553) in the text form
/// `tk_` + 16 lowercase hex digits ([`ApiKeyId::text`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(pub u64);

impl ApiKeyId {
    /// Prefix of the text form; configured (static) key ids may not use it.
    pub const PREFIX: &'static str = "tk_";

    /// The text form, `tk_0123456789abcdef`.
    pub fn text(self) -> String {
        format!("{}{:016x}", Self::PREFIX, self.0)
    }

    /// Parses the text form (exactly `tk_` + 16 lowercase hex digits).
    pub fn parse(text: &[u8]) -> Option<ApiKeyId> {
        let hex = text.strip_prefix(Self::PREFIX.as_bytes())?;
        if hex.len() != 16 {
            return None;
        }
        let mut v = 0u64;
        for &c in hex {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            v = v << 4 | d as u64;
        }
        Some(ApiKeyId(v))
    }
}
