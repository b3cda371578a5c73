"""Turn a flat record (JSON object, CSV row, Parquet row) into a :class:`Doc` with field mapping.

``--text-field/--id-field/--url-field/--title-field/--date-field/--lang-field`` name the columns;
when a name is not given the common ones are tried (``text``, ``content``, ``body``...). Every other
field goes to ``meta`` (or only ``--meta-fields`` when given), so nothing in the record is lost.
"""

from __future__ import annotations

from curate.ingest.base import Bad, Doc, ReaderOptions

TEXT_KEYS = ("text", "content", "body", "document", "review", "article", "sentence")
URL_KEYS = ("url", "link", "uri")
TITLE_KEYS = ("title", "headline")
DATE_KEYS = ("created", "date", "published", "timestamp", "created_at", "publish_date")
ID_KEYS = ("id",)
LANG_KEYS = ("lang", "language")


def _pick(record: dict, explicit: str | None, candidates: tuple[str, ...]) -> str | None:
    if explicit is not None:
        return explicit
    for key in candidates:
        if key in record:
            return key
    return None


def _scalar_str(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def record_to_doc(record: dict, opts: ReaderOptions, position: int, byte_offset: int | None = None) -> Doc | Bad:
    """Map one record to a Doc, or a Bad when its text field is missing or not text."""
    text_key = _pick(record, opts.text_field, TEXT_KEYS)
    if text_key is None or text_key not in record:
        wanted = repr(opts.text_field) if opts.text_field else f"one of {', '.join(TEXT_KEYS)}"
        return Bad("missing_field", f"record {position} has no text field {wanted} (fields: "
                   f"{', '.join(sorted(map(str, record))[:20])}); set --text-field", position, byte_offset)
    text = record[text_key]
    if text is None or (isinstance(text, float) and text != text):  # null, or NaN from a pandas export
        text = ""
    elif isinstance(text, (bytes, bytearray)):  # a Parquet binary column
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            return Bad("invalid_utf8", f"record {position}: text field {text_key!r} is not UTF-8 ({exc.reason} at "
                       f"byte {exc.start})", position, byte_offset, bytes(text))
    elif not isinstance(text, str):
        if isinstance(text, (dict, list)):
            return Bad("malformed_record", f"record {position}: text field {text_key!r} holds a "
                       f"{type(text).__name__}, not text", position, byte_offset)
        text = str(text)
    used = {text_key}
    fields = {}
    for name, explicit, candidates in (("id", opts.id_field, ID_KEYS), ("url", opts.url_field, URL_KEYS),
                                       ("title", opts.title_field, TITLE_KEYS), ("created", opts.date_field, DATE_KEYS),
                                       ("lang", opts.lang_field, LANG_KEYS)):
        key = _pick(record, explicit, candidates)
        if key is not None and key in record:
            fields[name] = record[key]
            used.add(key)
    if opts.meta_fields:
        meta = {k: record[k] for k in opts.meta_fields if k in record}
    else:
        meta = {k: v for k, v in record.items() if k not in used}
    if "id" in fields and fields["id"] is not None:
        meta["source_id"] = fields["id"]
    created = fields.get("created")
    return Doc(text=text, url=_scalar_str(fields.get("url")), title=_scalar_str(fields.get("title")),
               created=created if created not in ("", None) else None,
               lang=_scalar_str(fields.get("lang")) or opts.lang, meta=meta, position=position)
