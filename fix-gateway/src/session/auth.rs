//! Logon authentication (HMAC-SHA256 API keys) and failure lockout.
//!
//! A session configured `hmac-sha256` must send Username(553) = API key id and
//! RawData(96) = base64(HMAC-SHA256(secret, prehash)), RawDataLength(95) its length,
//! where the prehash is the Logon's own header text joined by SOH:
//!
//! ```text
//! SendingTime(52) ␁ MsgType(35) ␁ MsgSeqNum(34) ␁ SenderCompID(49) ␁ TargetCompID(56) [␁ Password(554)]
//! ```
//!
//! (values exactly as sent, `Password` appended only when present).
//!
//! Two kinds of key: a session's static key from config (`auth.key_id`/`auth.secret`),
//! and the keys the admin API creates (`tk_` + 16 hex digits), which the engine keeps in
//! its journaled key table (id, account, CompID, nonce) and whose secrets this module
//! derives from `fix.api_key_master` ([`tachyon_config::derive_api_key_secret`]). The
//! gateway adds them at start-up from the recovered engine state and as `ApiKeyCreated` /
//! `ApiKeyRevoked` events arrive. An admin-created key logs on only the session whose
//! SenderCompID it is bound to, and (for an order-entry session) only while that session
//! trades for the key's account.
//!
//! Failures are
//! counted per key id and per source address; too many within the window lock both out
//! for a while, so a leaked CompID cannot be used to brute-force a key and one address
//! cannot probe many keys. Secrets are only ever held as [`tachyon_config::Secret`],
//! whose `Debug` is redacted; this module never formats them.

use std::collections::HashMap;
use std::net::IpAddr;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use tachyon_config::{derive_api_key_secret, Auth, FixSession, Secret, SessionKind};
use tachyon_engine::{AccountId, ApiKey, ApiKeyId};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Lockout settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures (within `window_ns`) that trigger a lockout.
    pub max_failures: u32,
    /// Failures older than this are forgotten.
    pub window_ns: u64,
    /// How long a key or address stays locked.
    pub lockout_ns: u64,
    /// Bound on tracked keys + addresses (memory limit against address floods).
    pub max_tracked: usize,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    first_ns: u64,
    locked_until_ns: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    Key(String),
    Addr(IpAddr),
}

struct KeyEntry {
    key_id: String,
    sender_comp_id: String,
    secret: Secret,
}

/// An admin-created key, its secret derived from the master secret.
struct DynKey {
    account: AccountId,
    sender_comp_id: String,
    secret: Secret,
}

/// Why a Logon was refused; [`AuthError::text`] is what the Logout says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// Username(553) missing.
    MissingUsername,
    /// RawData(96) missing or not base64.
    MissingSignature,
    /// No such key id.
    UnknownKey,
    /// The key belongs to another SenderCompID.
    KeyNotForCompId,
    /// The key belongs to another account than the session trades for.
    KeyNotForAccount,
    /// The HMAC does not match.
    BadSignature,
    /// SendingTime outside the recv window.
    StaleSendingTime,
    /// Too many recent failures for this key or address.
    LockedOut,
}

impl AuthError {
    /// Logout Text(58).
    pub fn text(self) -> &'static str {
        match self {
            AuthError::MissingUsername => {
                "Authentication failed: Username(553) (API key id) required"
            }
            AuthError::MissingSignature => {
                "Authentication failed: RawData(96) base64 HMAC-SHA256 signature required"
            }
            AuthError::UnknownKey => "Authentication failed: unknown API key",
            AuthError::KeyNotForCompId => {
                "Authentication failed: API key not bound to this SenderCompID"
            }
            AuthError::KeyNotForAccount => {
                "Authentication failed: API key belongs to another account than this session's"
            }
            AuthError::BadSignature => "Authentication failed: invalid signature",
            AuthError::StaleSendingTime => "Authentication failed: SendingTime outside recv window",
            AuthError::LockedOut => {
                "Authentication failed: too many failures, locked out, retry later"
            }
        }
    }
}

/// The Logon fields the signature covers, as sent.
#[derive(Clone, Copy, Debug)]
pub struct LogonFields<'a> {
    /// SendingTime(52) text.
    pub sending_time: &'a [u8],
    /// SendingTime parsed, ns.
    pub sending_time_ns: u64,
    /// MsgSeqNum(34) text.
    pub seq_num: &'a [u8],
    /// SenderCompID(49).
    pub sender_comp_id: &'a [u8],
    /// TargetCompID(56).
    pub target_comp_id: &'a [u8],
    /// Username(553).
    pub username: Option<&'a [u8]>,
    /// RawData(96).
    pub raw_data: Option<&'a [u8]>,
    /// Password(554).
    pub password: Option<&'a [u8]>,
}

/// The API keys of every session, plus the lockout tracker. One per gateway, shared by
/// all its sessions (lockouts are per key and per address, across sessions).
pub struct Authenticator {
    keys: Vec<KeyEntry>,
    master: Option<Secret>,
    dynamic: HashMap<u64, DynKey>,
    /// Order-entry sessions' accounts by SenderCompID.
    session_accounts: HashMap<String, AccountId>,
    recv_window_ns: u64,
    policy: LockoutPolicy,
    failures: HashMap<Who, Failures>,
}

impl core::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Key ids only; never secrets.
        f.debug_struct("Authenticator")
            .field(
                "key_ids",
                &self
                    .keys
                    .iter()
                    .map(|k| k.key_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("api_keys", &self.dynamic.len())
            .field("recv_window_ns", &self.recv_window_ns)
            .field("policy", &self.policy)
            .field("tracked", &self.failures.len())
            .finish()
    }
}

/// The prehash the client signs.
pub fn prehash(f: &LogonFields<'_>, out: &mut Vec<u8>) {
    out.clear();
    for (i, part) in [
        f.sending_time,
        b"A",
        f.seq_num,
        f.sender_comp_id,
        f.target_comp_id,
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            out.push(0x01);
        }
        out.extend_from_slice(part);
    }
    if let Some(p) = f.password {
        out.push(0x01);
        out.extend_from_slice(p);
    }
}

/// base64(HMAC-SHA256(secret, prehash)): what a client puts in RawData(96).
pub fn sign(secret: &[u8], prehash: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(prehash);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Authenticator {
    /// Static keys from the configured sessions (`hmac-sha256` ones with a `key_id`);
    /// `master` (`fix.api_key_master`) derives the secrets of admin-created keys, which
    /// are added with [`Authenticator::add_api_key`].
    pub fn new(
        sessions: &[FixSession],
        master: Option<Secret>,
        recv_window_ns: u64,
        policy: LockoutPolicy,
    ) -> Authenticator {
        let keys = sessions
            .iter()
            .filter_map(|s| match &s.auth {
                Auth::HmacSha256 {
                    key_id: Some(key_id),
                    secret: Some(secret),
                } => Some(KeyEntry {
                    key_id: key_id.clone(),
                    sender_comp_id: s.sender_comp_id.clone(),
                    secret: secret.clone(),
                }),
                _ => None,
            })
            .collect();
        let session_accounts = sessions
            .iter()
            .filter(|s| s.kind == SessionKind::OrderEntry)
            .map(|s| (s.sender_comp_id.clone(), AccountId(s.account)))
            .collect();
        Authenticator {
            keys,
            master,
            dynamic: HashMap::new(),
            session_accounts,
            recv_window_ns,
            policy,
            failures: HashMap::new(),
        }
    }

    /// Accepts an admin-created key (from the engine's key table or an `ApiKeyCreated`
    /// event). Returns false, keeping nothing, when no master secret is configured (the
    /// key's secret cannot be derived, so it cannot log on).
    pub fn add_api_key(&mut self, k: &ApiKey) -> bool {
        let Some(master) = &self.master else {
            return false;
        };
        self.dynamic.insert(
            k.key.0,
            DynKey {
                account: k.account,
                sender_comp_id: k.comp_id.as_str().to_owned(),
                secret: derive_api_key_secret(master, k.key, &k.nonce),
            },
        );
        true
    }

    /// Forgets a revoked key: it no longer logs on.
    pub fn revoke_api_key(&mut self, key: ApiKeyId) {
        self.dynamic.remove(&key.0);
    }

    /// Admin-created keys held.
    pub fn api_key_count(&self) -> usize {
        self.dynamic.len()
    }

    fn locked(&self, who: &Who, now_ns: u64) -> bool {
        self.failures
            .get(who)
            .is_some_and(|f| f.locked_until_ns > now_ns)
    }

    fn fail(&mut self, who: Who, now_ns: u64) {
        if !self.failures.contains_key(&who) && self.failures.len() >= self.policy.max_tracked {
            // Bounded memory: forget entries neither locked nor within the window, then
            // the oldest if still full.
            let p = self.policy;
            self.failures.retain(|_, f| {
                f.locked_until_ns > now_ns || now_ns.saturating_sub(f.first_ns) < p.window_ns
            });
            if self.failures.len() >= self.policy.max_tracked {
                if let Some(oldest) = self
                    .failures
                    .iter()
                    .min_by_key(|(_, f)| f.first_ns)
                    .map(|(k, _)| k.clone())
                {
                    self.failures.remove(&oldest);
                }
            }
        }
        let p = self.policy;
        let f = self.failures.entry(who).or_insert(Failures {
            count: 0,
            first_ns: now_ns,
            locked_until_ns: 0,
        });
        if now_ns.saturating_sub(f.first_ns) >= p.window_ns {
            *f = Failures {
                count: 0,
                first_ns: now_ns,
                locked_until_ns: f.locked_until_ns,
            };
        }
        f.count += 1;
        if f.count >= p.max_failures {
            f.locked_until_ns = now_ns + p.lockout_ns;
            f.count = 0;
            f.first_ns = now_ns;
        }
    }

    /// True while `addr` is locked out (the caller may refuse the connection early).
    pub fn is_address_locked(&self, addr: IpAddr, now_ns: u64) -> bool {
        self.locked(&Who::Addr(addr), now_ns)
    }

    /// Verifies a Logon's signature. Every failure is counted against the address and,
    /// when a Username was given, against that key id.
    pub fn verify(
        &mut self,
        now_ns: u64,
        source: IpAddr,
        f: &LogonFields<'_>,
    ) -> Result<(), AuthError> {
        let result = self.check(now_ns, source, f);
        match result {
            Ok(()) => {
                self.failures.remove(&Who::Addr(source));
                if let Some(u) = f.username {
                    self.failures
                        .remove(&Who::Key(String::from_utf8_lossy(u).into_owned()));
                }
            }
            Err(AuthError::LockedOut) => {}
            Err(_) => {
                self.fail(Who::Addr(source), now_ns);
                if let Some(u) = f.username {
                    self.fail(Who::Key(String::from_utf8_lossy(u).into_owned()), now_ns);
                }
            }
        }
        result
    }

    fn check(&self, now_ns: u64, source: IpAddr, f: &LogonFields<'_>) -> Result<(), AuthError> {
        if self.locked(&Who::Addr(source), now_ns) {
            return Err(AuthError::LockedOut);
        }
        let user = f.username.ok_or(AuthError::MissingUsername)?;
        if self.locked(
            &Who::Key(String::from_utf8_lossy(user).into_owned()),
            now_ns,
        ) {
            return Err(AuthError::LockedOut);
        }
        let secret = match ApiKeyId::parse(user) {
            Some(id) => {
                let key = self.dynamic.get(&id.0).ok_or(AuthError::UnknownKey)?;
                if key.sender_comp_id.as_bytes() != f.sender_comp_id {
                    return Err(AuthError::KeyNotForCompId);
                }
                let session_account = std::str::from_utf8(f.sender_comp_id)
                    .ok()
                    .and_then(|c| self.session_accounts.get(c));
                if session_account.is_some_and(|a| *a != key.account) {
                    return Err(AuthError::KeyNotForAccount);
                }
                &key.secret
            }
            None => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.key_id.as_bytes() == user)
                    .ok_or(AuthError::UnknownKey)?;
                if key.sender_comp_id.as_bytes() != f.sender_comp_id {
                    return Err(AuthError::KeyNotForCompId);
                }
                &key.secret
            }
        };
        if now_ns.abs_diff(f.sending_time_ns) > self.recv_window_ns {
            return Err(AuthError::StaleSendingTime);
        }
        let sig = f
            .raw_data
            .and_then(|r| base64::engine::general_purpose::STANDARD.decode(r).ok())
            .ok_or(AuthError::MissingSignature)?;
        let mut pre = Vec::with_capacity(128);
        prehash(f, &mut pre);
        let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(&pre);
        // Constant-time comparison.
        mac.verify_slice(&sig).map_err(|_| AuthError::BadSignature)
    }
}
