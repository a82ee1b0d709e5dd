//! HaltSymbol / ResumeSymbol / SuspendAccount / ResumeAccount (SEMANTICS.md "Operator
//! commands"). The effects on other commands are checked where those commands are
//! (`orders.rs`, `cancel.rs`, `admin.rs`).

use super::Model;
use tachyon_engine::{AccountId, AdminTarget, Event, RejectReason, SymbolId};

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
}
