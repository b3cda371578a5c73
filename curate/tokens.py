"""The reserved tokens of every tokenizer curate trains, defined once.

The PII step writes these placeholders into document text; the tokenizer trainer reserves them as
single tokens with fixed ids; the shard builder and the training launcher read the ids back from the
tokenizer (or the shard manifest). Changing this list changes the ids of every tokenizer trained
afterwards, so only ever *append* to it.

Ids, in this order, from 0:

==  =====================  ============================================================
id  token                  meaning
==  =====================  ============================================================
0   ``<|endoftext|>``      end of document (appended after every document in the shards;
                           also BOS/UNK for transformers, as in GPT-NeoX)
1   ``<|padding|>``        padding
2   ``<|acc|>``            bank account number (Polyglot-Ko)
3   ``<|rrn|>``            Korean resident registration number (Polyglot-Ko)
4   ``<|tell|>``           telephone number (Polyglot-Ko's spelling)
5.. the rest of :data:`PII_TOKENS`, in its order
==  =====================  ============================================================

``<|endoftext|>`` = 0 and ``<|padding|>`` = 1 are GPT-NeoX's ids. The two control tokens are
*special*: when a document's text happens to contain the string ``<|endoftext|>``, the shard builder
encodes it as plain text, never as the control token. The PII placeholders are ordinary added tokens:
they are always matched as one token (also by ``transformers``) and survive
``decode(..., skip_special_tokens=True)``, because they are content.
"""

from __future__ import annotations

EOD_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|padding|>"

#: Control tokens, in id order (ids 0 and 1).
CONTROL_TOKENS: tuple[str, ...] = (EOD_TOKEN, PAD_TOKEN)

#: Entity name -> placeholder the PII step substitutes for a detected value (patterns only; names of
#: people are not replaced). Ids follow the control tokens in this order. Append only.
PII_TOKENS: dict[str, str] = {
    "acc": "<|acc|>",                        # bank account number
    "rrn": "<|rrn|>",                        # Korean resident registration number (주민등록번호)
    "tell": "<|tell|>",                      # telephone number
    "email": "<|email|>",                    # e-mail address
    "card": "<|card|>",                      # payment card number
    "ip": "<|ip|>",                          # IPv4 / IPv6 address
    "iban": "<|iban|>",                      # international bank account number
    "ssn": "<|ssn|>",                        # US social security number
    "passport": "<|passport|>",              # passport number
    "driver_license": "<|driver_license|>",  # driver's licence number
    "frn": "<|frn|>",                        # Korean foreign registration number (외국인등록번호)
    "brn": "<|brn|>",                        # Korean business registration number (사업자등록번호)
    "url": "<|url|>",                        # URL, for recipes that mask them (off by default)
}

#: Every reserved token in id order: SPECIAL_TOKENS[i] has id i in every curate tokenizer.
SPECIAL_TOKENS: tuple[str, ...] = CONTROL_TOKENS + tuple(PII_TOKENS.values())

#: Token -> fixed id.
TOKEN_IDS: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}

EOD_ID = TOKEN_IDS[EOD_TOKEN]
PAD_ID = TOKEN_IDS[PAD_TOKEN]


def pii_token(entity: str) -> str:
    """The placeholder for ``entity`` (a key of :data:`PII_TOKENS`); raises KeyError with the choices."""
    try:
        return PII_TOKENS[entity]
    except KeyError:
        raise KeyError(f"unknown PII entity {entity!r}; known: {', '.join(PII_TOKENS)}") from None
