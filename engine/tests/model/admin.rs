//! Deposit, Withdraw, CreateAccount (SEMANTICS.md "Deposit / Withdraw / CreateAccount").

use super::{Model, MAX_ACCOUNT_TOTAL};
use tachyon_engine::{AccountId, AdminTarget, Event, LedgerReason, RejectReason, Transfer};

impl Model {
    /// Checks shared by deposits and withdrawals.
    fn check_transfer(&self, t: &Transfer, deposit: bool) -> Result<(), RejectReason> {
        if !self.account_exists(t.account) {
            return Err(RejectReason::UnknownAccount);
        }
        // A suspended account may receive deposits, not withdraw.
        if !deposit && self.account_suspended(t.account) {
            return Err(RejectReason::AccountSuspended);
        }
        if t.asset.0 as usize >= self.cfg.assets.len() {
            return Err(RejectReason::UnknownAsset);
        }
        let b = self.bal(t.account, t.asset);
        let total = b.available as i128 + b.locked as i128;
        // Only deposits are capped: a withdrawal can only lower the total.
        if t.amount <= 0 || (deposit && total + t.amount as i128 > MAX_ACCOUNT_TOTAL) {
            return Err(RejectReason::InvalidAmount);
        }
        if !deposit && t.amount > b.available {
            return Err(RejectReason::InsufficientBalance);
        }
        Ok(())
    }

    pub(super) fn deposit(&mut self, t: &Transfer, out: &mut Vec<Event>) {
        match self.check_transfer(t, true) {
            Err(reason) => out.push(Event::AdminRejected {
                target: AdminTarget::Account(t.account),
                reason,
            }),
            Ok(()) => self.ledger(
                out,
                t.account,
                t.asset,
                t.amount,
                0,
                LedgerReason::Deposit,
                t.reference,
            ),
        }
    }

    pub(super) fn withdraw(&mut self, t: &Transfer, out: &mut Vec<Event>) {
        match self.check_transfer(t, false) {
            Err(reason) => out.push(Event::AdminRejected {
                target: AdminTarget::Account(t.account),
                reason,
            }),
            Ok(()) => self.ledger(
                out,
                t.account,
                t.asset,
                -t.amount,
                0,
                LedgerReason::Withdrawal,
                t.reference,
            ),
        }
    }

    pub(super) fn create_account(&mut self, account: AccountId, out: &mut Vec<Event>) {
        if account.0 >= self.cfg.max_accounts {
            out.push(Event::AdminRejected {
                target: AdminTarget::Account(account),
                reason: RejectReason::InvalidAccount,
            });
        } else if self.accounts.contains(&account) {
            out.push(Event::AdminRejected {
                target: AdminTarget::Account(account),
                reason: RejectReason::AccountExists,
            });
        } else {
            self.accounts.insert(account);
            out.push(Event::AccountCreated { account });
        }
    }
}
