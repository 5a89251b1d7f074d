"""The two parsing shortcuts of signing.validation behave exactly like the pyHanko/asn1crypto code they bypass."""

from __future__ import annotations

import io

from asn1crypto import x509
from hypothesis import given
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfStreamError

from signing import validation

_hex_body = st.text(alphabet="0123456789abcdefABCDEF \n\r\t%gZ<", max_size=200)


def _read(reader, data: bytes):
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except PdfStreamError as exc:
        return ("error", type(exc).__name__, stream.tell())
    return ("ok", type(value).__name__, bytes(value.original_bytes), stream.tell())


@given(body=_hex_body, closed=st.booleans(), tail=st.binary(max_size=10))
def test_fast_hex_reader_matches_pyhanko(body, closed, tail):
    data = b"<" + body.encode() + (b">" if closed else b"") + tail
    assert _read(validation._read_hex_string_fast, data) == _read(validation._pyhanko_read_hex_string, data)


def test_fast_hex_reader_is_installed():
    assert generic.read_hex_string_from_stream is validation._read_hex_string_fast


def _name(**attrs: str) -> x509.Name:
    return x509.Name.build(attrs)


@given(
    a=st.sampled_from(["Alice Maire", "alice  maire", "ALICE MAIRE", "Bob"]),
    b=st.sampled_from(["Alice Maire", "alice maire", "Bob", " bob "]),
)
def test_name_comparison_unchanged(a, b):
    left, right = _name(common_name=a, country_name="FR"), _name(common_name=b, country_name="FR")
    for _ in range(2):  # the second round is answered from the cache
        expected = validation._asn1crypto_rdn_values(None, left.chosen[-1]) == validation._asn1crypto_rdn_values(
            None, right.chosen[-1]
        )
        assert (left.chosen[-1] == right.chosen[-1]) == expected
