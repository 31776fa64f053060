"""What a ledger transaction is. Every kind the ledger writes is declared here, once."""

from __future__ import annotations

from enum import StrEnum


class TransactionKind(StrEnum):
    SIGNUP = "SIGNUP"
    EARN = "EARN"
    REFERRAL = "REFERRAL"
    BIRTHDAY = "BIRTHDAY"
    REDEEM = "REDEEM"
    CANCEL = "CANCEL"
    REFUND = "REFUND"
    REPAY = "REPAY"
    EXPIRE = "EXPIRE"
    ADJUST = "ADJUST"
    BADGE = "BADGE"

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    TransactionKind.SIGNUP: "The welcome bonus for enrolling.",
    TransactionKind.EARN: "Points earned by a purchase or a rewarded action.",
    TransactionKind.REFERRAL: "The bonus for referring a member, or for being referred.",
    TransactionKind.BIRTHDAY: "The program's birthday bonus.",
    TransactionKind.REDEEM: "Points spent on a reward (negative).",
    TransactionKind.CANCEL: "A cancelled redemption's points, given back.",
    TransactionKind.REFUND: "Points a refunded purchase had earned, taken back (negative).",
    TransactionKind.REPAY: "Points owed after a refund, repaid from later earnings.",
    TransactionKind.EXPIRE: "Points that reached their expiry date unspent (negative).",
    TransactionKind.ADJUST: "The operator's correction, with its reason (either sign).",
    TransactionKind.BADGE: "The bonus for unlocking a level of a badge.",
}
