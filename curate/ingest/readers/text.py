"""Plain text: one document per line (``--text-unit line``, sentence and comment dumps) or one per
file (``--text-unit file``, article folders)."""

from __future__ import annotations

from typing import Iterator

from curate.ingest.base import Bad, Doc, Item, ReadContext, Skip, decode_utf8, iter_lines


def read_text(ctx: ReadContext) -> Iterator[Item]:
    opts = ctx.options
    with ctx.open() as opened:
        if opts.text_unit == "file":
            raw = opened.stream.read(opts.max_record_bytes + 1)
            if len(raw) > opts.max_record_bytes:
                yield Bad("record_too_large", f"file is over the {opts.max_record_bytes:,}-byte limit "
                          "(--max-record-mb)", 0, 0, None)
                return
            text = decode_utf8(raw, 0, 0)
            yield text if isinstance(text, Bad) else Doc(text=text.lstrip("\ufeff").strip("\r\n"), lang=opts.lang,
                                                         position=0)
            return
        for lineno, offset, raw, length in iter_lines(opened.stream, opts.max_record_bytes):
            if raw is None:
                yield Bad("record_too_large", f"line {lineno + 1} is {length:,} bytes, over the "
                          f"{opts.max_record_bytes:,}-byte limit (--max-record-mb)", lineno, offset, None)
                continue
            text = decode_utf8(raw, lineno, offset)
            if isinstance(text, Bad):
                yield text
                continue
            if lineno == 0:
                text = text.lstrip("\ufeff")
            if not text.strip():
                yield Skip("blank_line")
            else:
                yield Doc(text=text, lang=opts.lang, position=lineno)
