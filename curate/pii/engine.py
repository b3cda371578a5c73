"""An offline presidio engine: pattern recognizers only, no spaCy model, no network.

Presidio's default ``AnalyzerEngine()`` loads (and, when missing, downloads) a spaCy model; here
the NLP engine is presidio's ``NoOpNlpEngine``, the registry holds only the pattern recognizers of
:mod:`curate.pii.recognizers`, and the e-mail check reads the public-suffix list that ships inside
tldextract (``suffix_list_urls=()``, no cache directory): tldextract's module-level ``extract``,
which presidio's own ``EmailRecognizer`` calls, would first try to download the list.

:class:`PiiEngine` is what the ``pii`` step builds once per process: ``analyze`` returns the
non-overlapping spans to mask, ``anonymize`` replaces them through presidio-anonymizer and counts
them per entity. Nothing here logs, stores or raises with document text in it.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Iterable, Sequence

from curate.pii import DEFAULT_ENTITIES, DEFAULT_PHONE_REGIONS, ENTITY_KEYS, PRESIDIO_ENTITIES
from curate.pii.recognizers import GENERIC_KEY, LANGUAGE

# When two entities claim overlapping text with the same score and length, the earlier one wins.
_PRIORITY = ("rrn", "frn", "card", "iban", "email", "tell", "brn", "driver_license", "passport", "ssn", "acc", "ip", "url")


def quiet_presidio_logs() -> None:
    """Presidio logs configuration at INFO; keep its loggers at WARNING (they never log text there)."""
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logging.getLogger(name).setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def offline_tldextract():
    """A ``tldextract.TLDExtract`` that only reads its bundled public-suffix snapshot (no network)."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


@lru_cache(maxsize=4096)
def public_suffix_ok(domain: str) -> bool:
    """``domain`` ends in a known public suffix and has a registrable name before it."""
    r = offline_tldextract()(domain)
    return bool(r.suffix) and bool(r.domain)


def make_recognizers(entities: Iterable[str], phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
                     score_threshold: float = 0.5) -> list:
    """The recognizers for the curate entity keys in ``entities``."""
    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    from curate.pii import recognizers as r

    entities = set(entities)
    recs: list = []
    if "rrn" in entities:
        recs.append(r.KoreanRrnRecognizer())
    if "frn" in entities:
        recs.append(r.KoreanFrnRecognizer())
    if "brn" in entities:
        recs.append(r.KoreanBrnRecognizer())
    if "passport" in entities:
        recs.append(r.KoreanPassportRecognizer())
    if "driver_license" in entities:
        recs.append(r.KoreanDriverLicenseRecognizer())
    if "tell" in entities:
        recs += [r.KoreanPhoneRecognizer(), r.IntlPhoneRecognizer()]
        if phone_regions:
            recs.append(r.PhoneNumbersRecognizer(phone_regions, score_threshold=score_threshold))
    if "acc" in entities:
        recs.append(r.KoreanBankAccountRecognizer())
    if "card" in entities:
        recs.append(r.PaymentCardRecognizer())
    if "email" in entities:
        recs.append(r.EmailAddressRecognizer(public_suffix_ok))
    if "ip" in entities:
        recs.append(r.IpAddressRecognizer())
    if "ssn" in entities:
        recs.append(r.SsnRecognizer())
    if "iban" in entities:
        recs.append(r.IbanCodeRecognizer())  # presidio's: per-country layout + mod-97
    if "url" in entities:
        recs.append(UrlRecognizer(supported_language=LANGUAGE))
    return recs


def _no_context_enhancer():
    """Presidio's engine-level context enhancer works on spaCy lemmas, which the no-op NLP engine does
    not produce; it would only deep-copy every result. Context is handled per recognizer instead."""
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer

    class NoContextEnhancer(ContextAwareEnhancer):
        def __init__(self) -> None:
            super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0, context_prefix_count=0,
                             context_suffix_count=0)

        def enhance_using_context(self, text, raw_results, nlp_artifacts, recognizers, context=None):
            return raw_results

    return NoContextEnhancer()


def build_analyzer(recognizers: list, languages: Sequence[str] = (LANGUAGE,)):
    """A presidio ``AnalyzerEngine`` over ``recognizers`` with the no-op NLP engine (offline)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    quiet_presidio_logs()
    nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "none"} for lang in languages])
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=list(languages))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=list(languages),
                          log_decision_process=False, context_aware_enhancer=_no_context_enhancer())


def resolve_overlaps(results: list) -> list:
    """Keep non-overlapping spans: specific matches before generic ones (GENERIC_KEY), then the
    highest score, the longer span, the entity priority."""
    if len(results) <= 1:
        return list(results)
    rank = {PRESIDIO_ENTITIES[k]: i for i, k in enumerate(_PRIORITY)}
    ordered = sorted(results, key=lambda r: (bool((r.recognition_metadata or {}).get(GENERIC_KEY)), -r.score,
                                             -(r.end - r.start), rank.get(r.entity_type, 99), r.start))
    kept: list = []
    for r in ordered:
        if all(r.end <= k.start or r.start >= k.end for k in kept):
            kept.append(r)
    return sorted(kept, key=lambda r: r.start)


# Full-width forms (U+FF01..U+FF5E: digits, Latin letters, "－", "＠", "（", "＋") read as their ASCII
# counterparts. One character for one, so offsets in the translated text are offsets in the original.
_FULLWIDTH = re.compile("[\uFF01-\uFF5E]")
_FULLWIDTH_TABLE = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}


class PiiAnalysisError(RuntimeError):
    """Raised instead of whatever presidio raised, so that no document text reaches a message."""


class PiiEngine:
    """Find and replace PII in one string at a time (the ``pii`` step calls it per candidate row)."""

    def __init__(self, entities: Sequence[str] = DEFAULT_ENTITIES, tokens: dict[str, str] | None = None,
                 score_threshold: float = 0.5, phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> None:
        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        from curate.tokens import PII_TOKENS

        unknown = sorted(set(entities) - set(PRESIDIO_ENTITIES))
        if unknown:
            raise ValueError(f"unknown PII entities {unknown}; known: {', '.join(PRESIDIO_ENTITIES)}")
        self.entities = tuple(entities)
        self.tokens = {k: (tokens or {}).get(k, PII_TOKENS[k]) for k in self.entities}
        self.score_threshold = score_threshold
        self.recognizers = make_recognizers(self.entities, phone_regions, score_threshold)
        self.analyzer = build_analyzer(self.recognizers)
        self.anonymizer = AnonymizerEngine()
        # an empty token deletes the value (presidio's "replace" would write "<ENTITY_TYPE>" instead)
        self.operators = {PRESIDIO_ENTITIES[k]: OperatorConfig("replace", {"new_value": tok}) if tok
                          else OperatorConfig("redact") for k, tok in self.tokens.items()}
        # the registry holds only the enabled recognizers, so analyze() asks for all of them; the
        # no-op NLP engine's (empty) artifacts are the same for every text: build them once
        self._artifacts = self.analyzer.nlp_engine.process_text("", LANGUAGE)

    def analyze(self, text: str) -> list:
        """Non-overlapping presidio ``RecognizerResult`` spans at or above the score threshold."""
        if _FULLWIDTH.search(text) is not None:  # "０１０－１２３４－５６７８": same offsets, ASCII forms
            text = text.translate(_FULLWIDTH_TABLE)
        try:
            found = self.analyzer.analyze(text=text, language=LANGUAGE, score_threshold=self.score_threshold,
                                          nlp_artifacts=self._artifacts)
        except Exception as exc:  # never let an exception message carry the text
            raise PiiAnalysisError(f"PII analysis failed ({type(exc).__name__})") from None
        return resolve_overlaps(found)

    def anonymize(self, text: str) -> tuple[str, dict[str, int]]:
        """(text with every span replaced by its entity's token, count of spans per entity key)."""
        spans = self.analyze(text)
        if not spans:
            return text, {}
        try:
            # merge_entities_with_spaces=False: "010-1234-5678 010-2345-6789" is two numbers, two tokens
            out = self.anonymizer.anonymize(text=text, analyzer_results=spans, operators=self.operators,
                                            merge_entities_with_spaces=False)
        except Exception as exc:
            raise PiiAnalysisError(f"PII replacement failed ({type(exc).__name__})") from None
        counts: dict[str, int] = {}
        for item in out.items:
            key = ENTITY_KEYS[item.entity_type]
            counts[key] = counts.get(key, 0) + 1
        return out.text, counts


def build_stock_analyzer():
    """Presidio's own predefined pattern recognizers (English set plus its Korean ones), offline:
    the baseline that docs/quality.md compares with. Run ``analyze`` with language ``en`` and ``ko``."""
    from presidio_analyzer import RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (KrBrnRecognizer, KrDriverLicenseRecognizer,
                                                          KrFrnRecognizer, KrPassportRecognizer, KrRrnRecognizer)
    import tldextract.tldextract as tx

    quiet_presidio_logs()
    # presidio's EmailRecognizer calls the module-level tldextract.extract: point it at the snapshot
    tx.TLD_EXTRACTOR = offline_tldextract()
    languages = ["en", "ko"]
    nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "none"} for lang in languages])
    registry = RecognizerRegistry(supported_languages=languages)
    registry.load_predefined_recognizers(languages=languages, nlp_engine=nlp)
    for cls in (KrRrnRecognizer, KrFrnRecognizer, KrBrnRecognizer, KrPassportRecognizer, KrDriverLicenseRecognizer):
        registry.add_recognizer(cls())
    from presidio_analyzer import AnalyzerEngine

    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=languages)
