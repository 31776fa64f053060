"""A handful of demo members with real history, made through the same services as the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain import actions, adjustments, members, purchases, redemptions, refunds
from domain.actors import ADMIN, Actor, ActorKind
from domain.models import Member
from domain.program import Program
from partners import links, registry


@dataclass(frozen=True)
class DemoMember:
    external_id: str
    display_name: str
    email: str
    birthday: date


DEMO_MEMBERS = (
    DemoMember("ana", "Ana Popescu", "ana@example.ro", date(1991, 4, 12)),
    DemoMember("bogdan", "Bogdan Ionescu", "bogdan@example.ro", date(1985, 11, 2)),
    DemoMember("dorota", "Dorota Kowalska", "dorota@example.pl", date(1994, 7, 30)),
    DemoMember("kadri", "Kadri Tamm", "kadri@example.ee", date(1988, 1, 19)),
    DemoMember("elif", "Elif Yılmaz", "elif@example.com.tr", date(1999, 9, 5)),
)

# (member, partner, order, amount, currency, shipping, tax)
DEMO_PURCHASES = (
    ("ana", "skyways", "SKY-10001", "2450.00", "RON", "0", "391.18"),
    ("ana", "skyways", "SKY-10377", "1890.00", "EUR", "0", "301.76"),
    ("ana", "beanery", "BEAN-55102", "38.50", "RON", "0", "6.15"),
    ("ana", "paper-lantern", "PL-8812", "212.40", "RON", "19.99", "33.91"),
    ("bogdan", "paper-lantern", "PL-8890", "540.00", "RON", "0", "86.22"),
    ("bogdan", "skyways", "SKY-10420", "610.00", "EUR", "0", "97.39"),
    ("dorota", "beanery", "BEAN-55177", "64.00", "PLN", "0", "11.96"),
    ("dorota", "skyways", "SKY-10455", "1290.00", "PLN", "0", "241.22"),
    ("kadri", "paper-lantern", "PL-8901", "89.90", "EUR", "4.90", "14.17"),
    ("elif", "beanery", "BEAN-55230", "450.00", "TRY", "0", "68.64"),
)

DEMO_ACTIONS = (
    ("ana", "beanery", "REVIEW", "review-ana-espresso"),
    ("ana", "skyways", "EVENT_ATTENDANCE", "gala-2026"),
    ("bogdan", "paper-lantern", "NEWSLETTER_SIGNUP", None),
    ("dorota", "beanery", "APP_INSTALL", None),
    ("kadri", "paper-lantern", "REVIEW", "review-kadri-novel"),
    ("elif", "beanery", "SOCIAL_SHARE", "share-elif-latte"),
)


def _partner(key: str, ids: dict[str, int]) -> Actor:
    return Actor(ActorKind.PARTNER, partner_id=ids[key], partner_key=key)


async def seed(program: Program) -> bool:
    """Seeds the demo members unless the database already has members; says whether it did."""
    if await Member.exists():
        return False
    partner_ids = await registry.sync(program)
    by_name: dict[str, int] = {}
    for demo in DEMO_MEMBERS:
        # Elif joined on Ana's invitation: her first purchase pays them both.
        invited_by = None
        if demo.external_id == "elif":
            invited_by = (await Member.get(id=by_name["ana"])).referral_code
        enrolled = await members.enroll(
            program,
            ADMIN,
            members.Enrolment(
                demo.external_id, demo.display_name, demo.email, demo.birthday, invited_by
            ),
            f"demo-enrol-{demo.external_id}",
        )
        by_name[demo.external_id] = enrolled.member.id
    for name, partner, order, amount, currency, shipping, tax in DEMO_PURCHASES:
        actor = _partner(partner, partner_ids)
        await purchases.record(
            program,
            actor,
            purchases.PurchaseInput(
                member=members.MemberRef(id=by_name[name]),
                order_id=order,
                amount=amount,
                currency=currency,
                shipping=shipping,
                tax=tax,
            ),
            f"demo-{order}",
        )
    # A coffee order with lines: double points on coffee, a bonus for bringing a cup.
    await purchases.record(
        program,
        _partner("beanery", partner_ids),
        purchases.PurchaseInput(
            member=members.MemberRef(id=by_name["dorota"]),
            order_id="BEAN-55178",
            amount="46.00",
            currency="PLN",
            tax="8.60",
            lines=(
                purchases.LineInput("FLAT-WHITE", "coffee", 2, "15.00"),
                purchases.LineInput("CROISSANT", "bakery", 1, "16.00"),
                purchases.LineInput("OWN-CUP", "extras", 1, "0"),
            ),
        ),
        "demo-BEAN-55178",
    )
    # Kadri took one of two books back: half the order's points go back with it.
    await refunds.refund(
        program,
        _partner("paper-lantern", partner_ids),
        refunds.PurchaseRef(order_id="PL-8901"),
        "44.95",
        "demo-PL-8901-refund",
    )
    for name, partner, action, reference in DEMO_ACTIONS:
        await actions.record(
            program,
            _partner(partner, partner_ids),
            members.MemberRef(id=by_name[name]),
            action,
            reference,
            f"demo-{name}-{action}",
        )
    await links.link(
        program,
        _partner("skyways", partner_ids),
        members.MemberRef(id=by_name["ana"]),
        "skyways",
        "SW-448812",
    )
    await links.link(
        program,
        _partner("beanery", partner_ids),
        members.MemberRef(id=by_name["dorota"]),
        "beanery",
        "BEAN-CARD-7781",
    )
    coffee = await redemptions.redeem(
        program, ADMIN, members.MemberRef(id=by_name["ana"]), "coffee", "demo-ana-coffee"
    )
    tree = await redemptions.redeem(
        program, ADMIN, members.MemberRef(id=by_name["bogdan"]), "plant-a-tree", "demo-bogdan-tree"
    )
    await redemptions.fulfil(program, ADMIN, tree.redemption.id)
    await redemptions.redeem(
        program, ADMIN, members.MemberRef(id=by_name["ana"]), "coffee", "demo-ana-coffee-2"
    )
    await redemptions.cancel(program, ADMIN, coffee.redemption.id, "demo-ana-coffee-cancel")
    await adjustments.adjust(
        program,
        ADMIN,
        members.MemberRef(id=by_name["kadri"]),
        150,
        "Goodwill: delayed delivery of order PL-8901",
        "demo-kadri-goodwill",
    )
    return True
