"""Pages say what happened: a rejection is not shown as an approval, sentences have no holes."""

from __future__ import annotations

import re

from app_helpers import csrf_from, page_text


def test_a_rejected_step_reads_as_a_rejection_in_whole_sentences(demo, client_for):
    dgs = client_for("dgs")
    page = dgs.get("/documents/1").get_data(as_text=True)
    response = dgs.post("/documents/1/steps/visa_dgs/reject",
                        data={"csrf_token": csrf_from(page), "reason": "Montant erroné"})
    assert response.status_code == 302
    shown = dgs.get("/documents/1")
    html = shown.get_data(as_text=True)
    assert "desk-rejected" in html and "desk-done" not in html  # a ✘, not the approval's ✔
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page_text(shown)))
    assert "Circuit terminé : le document a été rejeté." in text
    assert "Terminé." not in text
    assert re.search(r"Rejeté \(visa\) — Claire Martin, bureau [^,]+, le \d\d/\d\d/\d{4}", text), text
    assert not re.search(r"\s,|— ,|bureau —", text)
