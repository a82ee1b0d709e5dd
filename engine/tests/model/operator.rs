//! HaltSymbol / ResumeSymbol / SuspendAccount / ResumeAccount / CreateApiKey /
//! RevokeApiKey (SEMANTICS.md "Operator commands", "API keys"). The effects on other commands are checked where those commands are
//! (`orders.rs`, `cancel.rs`, `admin.rs`).

use super::Model;
use tachyon_engine::{
    AccountId, AdminTarget, ApiKey, ApiKeyId, Event, RejectReason, SymbolId, MAX_API_KEYS,
};

impl Model {
    pub(super) fn set_halted(&mut self, symbol: SymbolId, halted: bool, out: &mut Vec<Event>) {
        if symbol.0 as usize >= self.cfg.instruments.len() {
            out.push(Event::AdminRejected {
                target: AdminTarget::Symbol(symbol),
                reason: RejectReason::UnknownSymbol,
            });
            return;
        }
        // Idempotent: the event states the status after the command.
        if halted {
            self.halted.insert(symbol);
        } else {
            self.halted.remove(&symbol);
        }
        out.push(Event::SymbolStatus { symbol, halted });
    }

    pub(super) fn set_suspended(
        &mut self,
        account: AccountId,
        suspended: bool,
        out: &mut Vec<Event>,
    ) {
        let reject = if !self.accounts.contains(&account) {
            Some(RejectReason::UnknownAccount)
        } else if account == self.cfg.fee_account {
            Some(RejectReason::InvalidAccount)
        } else {
            None
        };
        if let Some(reason) = reject {
            out.push(Event::AdminRejected {
                target: AdminTarget::Account(account),
                reason,
            });
            return;
        }
        if suspended {
            self.suspended.insert(account);
        } else {
            self.suspended.remove(&account);
        }
        out.push(Event::AccountStatus { account, suspended });
    }

    pub(super) fn create_api_key(&mut self, k: &ApiKey, out: &mut Vec<Event>) {
        let reject = if k.key.0 == 0 || !k.comp_id.is_valid() {
            Some(RejectReason::InvalidApiKey)
        } else if !self.accounts.contains(&k.account) {
            Some(RejectReason::UnknownAccount)
        } else if k.account == self.cfg.fee_account {
            Some(RejectReason::InvalidAccount)
        } else if self.api_keys.iter().any(|x| x.key == k.key) {
            Some(RejectReason::ApiKeyExists)
        } else if self.api_keys.len() >= MAX_API_KEYS {
            Some(RejectReason::TooManyApiKeys)
        } else {
            None
        };
        match reject {
            Some(reason) => out.push(Event::AdminRejected {
                target: AdminTarget::ApiKey(k.key),
                reason,
            }),
            None => {
                self.api_keys.push(*k);
                out.push(Event::ApiKeyCreated(*k));
            }
        }
    }

    pub(super) fn revoke_api_key(&mut self, key: ApiKeyId, out: &mut Vec<Event>) {
        let before = self.api_keys.len();
        let mut owner = None;
        self.api_keys.retain(|k| {
            if k.key == key {
                owner = Some(k.account);
            }
            k.key != key
        });
        match owner {
            Some(account) => {
                assert_eq!(self.api_keys.len(), before - 1);
                out.push(Event::ApiKeyRevoked { key, account });
            }
            None => out.push(Event::AdminRejected {
                target: AdminTarget::ApiKey(key),
                reason: RejectReason::UnknownApiKey,
            }),
        }
    }
}
