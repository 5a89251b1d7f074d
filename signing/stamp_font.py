"""OpenType font engine for stamps, correct for any units-per-em.

pyHanko 0.38's GlyphAccumulator writes glyph widths and kerning in font units, which PDF reads as
thousandths of an em: right for fonts with 1000 units per em, letters spread apart for DejaVu or
Liberation (2048). This engine makes HarfBuzz and the width table work in 1000 units per em.

Each signed document embeds a subset of the font, and fontTools' cost grows with the font:
DejaVu Sans (6,000 glyphs) takes about 0.15 s of CPU per signature. The font is therefore reduced
once per process to the Latin scripts, their marks, punctuation and currency signs
(`STAMP_RANGES`, layout tables kept), and a stamp whose text lies within it is made from the
reduced font; any other text is made from the whole font.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

PDF_GLYPH_UNITS = 1000
#: Tables for shaping only, which a font embedded in a PDF does without (MATH included).
LAYOUT_TABLES = ("GDEF", "GPOS", "GSUB", "MATH")


class ScaledGlyphAccumulator(GlyphAccumulator):
    """GlyphAccumulator whose shaping and /W entries use 1000 units per em."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._width_scale = PDF_GLYPH_UNITS / self.units_per_em
        self.hb_font.scale = (PDF_GLYPH_UNITS, PDF_GLYPH_UNITS)
        self.units_per_em = PDF_GLYPH_UNITS

    def _extract_subset(self, options: Any = None) -> None:
        """pyHanko's subset drops the layout tables (HarfBuzz shaped the text already), but
        fontTools decompiles them first (0.03 s a signature): remove them beforehand."""
        for tag in LAYOUT_TABLES:
            if tag in self.tt:
                del self.tt[tag]
        super()._extract_subset(options)

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        cached = self._glyphs.get(glyph_id)
        if cached is not None:
            return cached
        cid, width = super()._get_cid_and_width(glyph_id)
        # The parent cached the width in font units; replace it by the scaled one.
        self._glyphs[glyph_id] = result = (cid, round(width * self._width_scale))
        return result


@dataclass(frozen=True)
class ScaledGlyphAccumulatorFactory(GlyphAccumulatorFactory):
    """Factory for `ScaledGlyphAccumulator`, a drop-in for pyHanko's GlyphAccumulatorFactory."""

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        """A fresh engine for one document."""
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        data = _font_bytes(self.font_file)
        # fontTools reads tables lazily from the handle: give it one that stays open.
        return ScaledGlyphAccumulator(
            writer=writer, font_handle=BytesIO(data), font_size=self.font_size,
            ot_script_tag=self.ot_script_tag, ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction, bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream)


#: Latin (basic, Latin-1, extended A and B, extended additional), combining marks, general
#: punctuation, currency signs and letterlike symbols (n°, ™).
STAMP_RANGES = ((0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x1E00, 0x1EFF), (0x2000, 0x206F),
                (0x20A0, 0x20CF), (0x2100, 0x214F))
#: Appended to a font's path, names its reduced form (a key of the cache, never a file).
REDUCED = "#latin"

_FONT_BYTES: dict[str, bytes] = {}
_COVERED: dict[str, frozenset[int]] = {}
_LOCK = threading.Lock()


def stamp_font_file(font_path: str, text: str) -> str:
    """The font key a stamp of `text` is drawn with: the reduced font when it covers the text."""
    _font_bytes(font_path + REDUCED)
    covered = _COVERED[font_path + REDUCED]
    if all(ord(char) in covered for char in text if char not in "\n\r\t"):
        return font_path + REDUCED
    return font_path


def _font_bytes(key: str) -> bytes:
    data = _FONT_BYTES.get(key)
    if data is not None:
        return data
    with _LOCK:
        data = _FONT_BYTES.get(key)
        if data is None:
            if key.endswith(REDUCED):
                data, _COVERED[key] = _reduce(Path(key[: -len(REDUCED)]).read_bytes())
            else:
                data = Path(key).read_bytes()
            _FONT_BYTES[key] = data
    return data


def _reduce(data: bytes) -> tuple[bytes, frozenset[int]]:
    """The font cut down to STAMP_RANGES with its layout features, and the code points it has."""
    from fontTools import subset, ttLib

    font = ttLib.TTFont(BytesIO(data))
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    options.legacy_kern = True
    options.hinting = True
    options.drop_tables += ["FFTM"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[c for low, high in STAMP_RANGES for c in range(low, high + 1)])
    subsetter.subset(font)
    out = BytesIO()
    font.save(out)
    return out.getvalue(), frozenset(font.getBestCmap())
