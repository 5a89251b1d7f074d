"""OpenType font engine for stamps, correct for any units-per-em.

pyHanko 0.38's GlyphAccumulator writes glyph widths and kerning in font units, which PDF reads as
thousandths of an em: right for fonts with 1000 units per em, letters spread apart for DejaVu or
Liberation (2048). This engine makes HarfBuzz and the width table work in 1000 units per em.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory

PDF_GLYPH_UNITS = 1000


class ScaledGlyphAccumulator(GlyphAccumulator):
    """GlyphAccumulator whose shaping and /W entries use 1000 units per em."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._width_scale = PDF_GLYPH_UNITS / self.units_per_em
        self.hb_font.scale = (PDF_GLYPH_UNITS, PDF_GLYPH_UNITS)
        self.units_per_em = PDF_GLYPH_UNITS

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
        data = _FONT_BYTES.get(self.font_file)
        if data is None:
            data = _FONT_BYTES[self.font_file] = Path(self.font_file).read_bytes()
        # fontTools reads tables lazily from the handle: give it one that stays open.
        return ScaledGlyphAccumulator(
            writer=writer, font_handle=BytesIO(data), font_size=self.font_size,
            ot_script_tag=self.ot_script_tag, ot_language_tag=self.ot_language_tag,
            writing_direction=self.writing_direction, bcp47_lang_code=self.bcp47_lang_code,
            obj_stream=obj_stream)


_FONT_BYTES: dict[str, bytes] = {}
