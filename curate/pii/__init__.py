"""PII detection and replacement for the ``pii`` step (presidio, offline). See docs/steps/pii.md.

:mod:`curate.pii.recognizers` holds the pattern recognizers (Korean identifiers, phones, accounts;
international e-mail, card, IP, IBAN, SSN, phones); :mod:`curate.pii.engine` builds presidio's
analyzer and anonymizer around them without spaCy models or network access. Both import presidio
(the ``pii`` extra), so the step imports them in ``setup()``; this module only holds names and
defaults and imports nothing heavy.
"""

from __future__ import annotations

#: presidio entity type -> curate entity key (a key of curate.tokens.PII_TOKENS; metric ``pii_<key>``)
ENTITY_KEYS: dict[str, str] = {
    "KR_BANK_ACCOUNT": "acc",
    "KR_RRN": "rrn",
    "PHONE_NUMBER": "tell",
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD": "card",
    "IP_ADDRESS": "ip",
    "IBAN_CODE": "iban",
    "US_SSN": "ssn",
    "KR_PASSPORT": "passport",
    "KR_DRIVER_LICENSE": "driver_license",
    "KR_FRN": "frn",
    "KR_BRN": "brn",
    "URL": "url",
}
#: curate entity key -> presidio entity type
PRESIDIO_ENTITIES: dict[str, str] = {v: k for k, v in ENTITY_KEYS.items()}

#: Entities masked by default: every key of curate.tokens.PII_TOKENS but ``url``.
DEFAULT_ENTITIES: tuple[str, ...] = ("acc", "rrn", "tell", "email", "card", "ip", "iban", "ssn", "passport",
                                     "driver_license", "frn", "brn")
#: phonenumbers regions searched by default: presidio's defaults (Korean numbers have their own patterns).
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")


def import_presidio() -> None:
    """Import presidio-analyzer and presidio-anonymizer without pulling in Hugging Face transformers.

    presidio-analyzer imports ``transformers`` (and through it ``torch``) at import time when it is
    installed, for NER engines this step never uses; that takes 5-15 s in every worker process. While
    presidio loads, ``transformers`` is marked unavailable (presidio guards that import and keeps a
    ``None``); afterwards the mark is removed, so other code in the process imports it normally. If
    ``transformers`` is already loaded, nothing is blocked.
    """
    import sys

    if "presidio_analyzer" in sys.modules and "presidio_anonymizer" in sys.modules:
        return
    block = "transformers" not in sys.modules
    if block:
        sys.modules["transformers"] = None  # type: ignore[assignment]
    try:
        import presidio_analyzer  # noqa: F401
        import presidio_anonymizer  # noqa: F401
    finally:
        if block and "transformers" in sys.modules and sys.modules["transformers"] is None:
            del sys.modules["transformers"]
