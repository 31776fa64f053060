"""Referrals: when a referred member's first qualifying purchase comes in, both earn.

A referral pays out once per new member (a referral_award row), the referrer at most
`max_per_referrer` times. Self-referral is refused at enrollment; loops cannot form, since a
member is referred only when it enrolls, by someone already enrolled.
"""

from __future__ import annotations

from domain import earning, events, ledger, members, sql, tiers, views, wording
from domain.earning import bonus_line
from domain.transaction_kind import TransactionKind
from domain.unit import Unit


async def reward_first_purchase(
    unit: Unit,
    referee: views.MemberView,
    purchase: earning.Purchase,
    award: earning.Award,
    purchase_id: int,
    pending_days: int,
) -> views.MemberView:
    """Pays the referral if this purchase qualifies and none was paid yet; returns the new
    member as it stands afterwards. The bonuses wait as long as the
    purchase's own points (`pending_days`): a purchase returned within its window should not
    have paid out spendable points already."""
    referral = unit.program.referral
    if referral is None or referee.referred_by is None:
        return referee
    minimum = referral.minimum.get(purchase.currency)
    if award.eligible_amount <= 0 or (minimum is not None and award.eligible_amount < minimum):
        return referee
    # The new member's wallet row is the lock: two first purchases at once pay out once.
    wallet = ledger.Wallet.of(referee)
    await ledger.lock(unit, wallet)
    paid = await sql.row(
        unit.conn, "SELECT 1 AS yes FROM referral_award WHERE referee_id = ?", [referee.id]
    )
    if paid is not None:
        return referee
    # The referrer's wallet too: its referees' first purchases are counted one at a time.
    # (Referrers enrolled before their referees, so these locks are always taken in that order.)
    referrer = await members.find(members.MemberRef(id=referee.referred_by))
    await ledger.lock(unit, ledger.Wallet.of(referrer))
    count = await sql.row(
        unit.conn,
        "SELECT COUNT(*) AS n FROM referral_award WHERE referrer_id = ?",
        [referee.referred_by],
    )
    await sql.execute(
        unit.conn,
        "INSERT INTO referral_award (referee_id, referrer_id, purchase_id, created_at) "
        "VALUES (?, ?, ?, ?)",
        [referee.id, referee.referred_by, purchase_id, unit.now],
    )
    if referral.referee_points:
        movement = await ledger.credit(
            unit,
            wallet,
            referral.referee_points,
            ledger.ISSUANCE,
            ledger.Posting(
                kind=TransactionKind.REFERRAL,
                source="program",
                reference=f"purchase:{purchase_id}",
                description=wording.text(unit.program, "referee_welcome"),
                breakdown=[
                    bonus_line(
                        unit.program, "referral", "referred_by_friend", referral.referee_points
                    )
                ],
            ),
            counts_toward_lifetime=True,
            pending_days=pending_days,
        )
        referee = ledger.after(referee, movement)
    referrer_paid = referral.referrer_points > 0 and (
        referral.max_per_referrer is None
        or int(count["n"] if count else 0) < referral.max_per_referrer
    )
    if referrer_paid:
        paid_referrer = await ledger.credit(
            unit,
            ledger.Wallet.of(referrer),
            referral.referrer_points,
            ledger.ISSUANCE,
            ledger.Posting(
                kind=TransactionKind.REFERRAL,
                source="program",
                reference=f"member:{referee.id}",
                description=wording.text(unit.program, "referrer_bonus"),
                breakdown=[
                    bonus_line(
                        unit.program, "referral", "friend_referred", referral.referrer_points
                    )
                ],
            ),
            counts_toward_lifetime=True,
            pending_days=pending_days,
        )
        await tiers.settle(unit, ledger.after(referrer, paid_referrer))
    unit.emit(
        events.ReferralRewarded(
            member_id=referee.id,
            referrer_id=referee.referred_by,
            referee_id=referee.id,
            purchase_id=purchase_id,
            referee_points=referral.referee_points,
            referrer_points=referral.referrer_points if referrer_paid else 0,
        )
    )
    return referee
