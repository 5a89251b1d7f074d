"""Helpers of the invoice tests: generated invoices, right and wrong on purpose."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from parapheur.invoices.generate import InvoiceSpec, cii_xml

BUYER_SIRET = InvoiceSpec.buyer_siret

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100">&lol9;</rsm:CrossIndustryInvoice>
"""


def spec(number: str = "F-2026-001", **changes) -> InvoiceSpec:
    """A correct invoice spec addressed to the test collectivité."""
    values = dict(number=number, issue_date=date(2026, 11, 2), order_reference="ENG-2026-001",
                  lines=(("Ramettes de papier A4", Decimal("10"), Decimal("4.50"), Decimal("20")),
                         ("Classeurs", Decimal("3"), Decimal("2.10"), Decimal("5.5"))))
    values.update(changes)
    return InvoiceSpec(**values)


def xml(number: str = "F-2026-001", **changes) -> bytes:
    """A correct CII invoice."""
    return cii_xml(spec(number, **changes))


def xxe(target: str = "file:///etc/passwd") -> bytes:
    """A CII invoice whose number is an external entity (XXE)."""
    body = xml().decode().replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "")
    body = body.replace("<ram:ID>F-2026-001</ram:ID>", "<ram:ID>&xxe;</ram:ID>")
    return (f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "{target}">]>\n'
            + body).encode()


def supplier(index: int) -> dict[str, str]:
    """Valid identifiers (SIREN, SIRET, VAT number) of a made-up supplier number `index`."""
    from stdnum import luhn

    base = f"8{index:07d}"
    siren = base + luhn.calc_check_digit(base)
    siret_base = siren + "0001"
    siret = siret_base + luhn.calc_check_digit(siret_base)
    key = (12 + 3 * (int(siren) % 97)) % 97
    return {"seller_siren": siren, "seller_siret": siret, "seller_vat_id": f"FR{key:02d}{siren}",
            "seller_name": f"Fournisseur {index}"}


SERVICE = "services-techniques"


def make_finance_accounts(app, *, siret: str = BUYER_SIRET) -> None:
    """The collectivité (its SIRET), a finances agent and a technician of the ordering service."""
    from parapheur.accounts.models import Role
    from parapheur.accounts.services import create_desk, create_user
    from parapheur.db import get_session, transaction
    from parapheur.organisations.services import create_organisation

    with app.app_context():
        session = get_session()
        with transaction(session):
            now = app.config["CLOCK"]()
            org = create_organisation(session, slug="demo", name="Commune de Démo", siret=siret,
                                      now=now)
            agent = create_user(session, organisation=org, username="finances",
                                full_name="Karim Benali", password="demo-finances",
                                role=Role.AGENT, now=now)
            technicien = create_user(session, organisation=org, username="technicien",
                                     full_name="Lou Martin", password="demo-technicien",
                                     role=Role.AGENT, now=now)
            create_desk(session, organisation=org, slug="finances", name="Service finances",
                        members=[agent], now=now)
            create_desk(session, organisation=org, slug=SERVICE, name="Services techniques",
                        members=[technicien, agent], now=now)
