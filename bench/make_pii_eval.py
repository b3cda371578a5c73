"""Build the Korean PII evaluation set: real Korean sentences with synthetic PII written into them.

    .venv/bin/python bench/make_pii_eval.py                 # -> .bench/pii/ko_eval.jsonl (3,000 documents)
    .venv/bin/python bench/make_pii_eval.py --docs 10000 --seed 7

Host text is real: Korean news sentences (korean_news_park), Naver movie reviews (korean_nsmc_reviews)
and news comments (korean_hate_speech), read from ``../shared/corpora`` at run time (``--shared``).
KorQuAD is *not* used here (its licence forbids modified copies); the false-positive evaluation
reads it unmodified instead. The output goes to ``.bench/`` (git-ignored) and is never committed.

Into the host sentences the script writes synthetic identifiers the way people write them in Korean
(``연락처 010-1234-5678로``, ``계좌번호: 110-123-456789 (신한)``, ``주민번호 900101-1234567``):

* resident registration numbers, half with a valid check digit (issued before October 2020), half
  with a wrong one (since then the last digits are random); dash, space or no separator;
* phone numbers: mobile 010 and 011/016-019, Seoul 02, area codes 031..064, 070, representative
  15xx/16xx/18xx, with ``-``, ``.``, space, no separator, ``(02)``, ``02)`` and ``+82`` forms;
* bank accounts in the layouts of the main banks, with the bank's name nearby;
* card numbers (Luhn-valid, Visa/Mastercard/Amex/JCB/domestic), e-mail addresses, and fewer
  foreign registration numbers, business registration numbers, passports, driver's licences and IPs.

A quarter of the templates carry no context word for their type (``{v}로 문자 주세요``), and 30% of
the documents carry no PII at all (precision is measured on them too). Every line is
``{"id", "source", "text", "spans": [{"type", "start", "end", "layout"}]}`` with character offsets.
The values are random digits, never real people's numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = ROOT.parent / "shared" / "corpora"
DEFAULT_OUT = ROOT / ".bench" / "pii" / "ko_eval.jsonl"

# ------------------------------------------------------------------------------------------------
# host sentences


def load_hosts(shared: Path) -> dict[str, list[str]]:
    """Real Korean sentences by source (short ones dropped, whitespace collapsed)."""
    news = (shared / "korean_news_park" / "korean-english-park.dev.ko").read_text(encoding="utf-8").splitlines()
    reviews = []
    with open(shared / "korean_nsmc_reviews" / "nsmc_raw_reviews_first312movies.jsonl", encoding="utf-8") as fh:
        for line in fh:
            reviews.append(json.loads(line)["review"])
    comments = []
    with open(shared / "korean_hate_speech" / "train.tsv", encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            comments.append(row["comments"])

    # a host sentence that already holds an e-mail address (one movie review does) would make a
    # correct detection look like a false positive: leave those out
    email = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

    def clean(xs: list[str]) -> list[str]:
        return [" ".join(x.split()) for x in xs if len(x.strip()) >= 8 and not email.search(x)]

    return {"news": clean(news), "review": clean(reviews), "comment": clean(comments)}


# ------------------------------------------------------------------------------------------------
# synthetic values

DASHES = "-"
SURNAMES = "김이박최정강조윤장임한오서신권황안송류홍"
GIVEN = "민서준지현우하은도윤예진수아영호성희재원"
BANKS = ["신한", "국민", "우리", "하나", "농협", "기업", "카카오뱅크", "토스뱅크", "케이뱅크", "새마을금고", "우체국", "SC제일",
         "부산", "대구", "수협", "씨티"]
BANK_LAYOUTS = {
    "신한": [(3, 3, 6)], "국민": [(6, 2, 6), (3, 2, 4, 3)], "우리": [(4, 3, 6)], "하나": [(3, 6, 5)],
    "농협": [(3, 4, 4, 2), (6, 2, 6)], "기업": [(3, 6, 2, 3)], "카카오뱅크": [(4, 2, 7)], "토스뱅크": [(4, 4, 4)],
    "케이뱅크": [(3, 3, 6)], "새마을금고": [(4, 4, 4, 1)], "우체국": [(6, 2, 6)], "SC제일": [(3, 2, 6)],
    "부산": [(3, 4, 4, 2)], "대구": [(3, 2, 6, 1)], "수협": [(4, 4, 4)], "씨티": [(3, 6, 3)],
}
EMAIL_DOMAINS = ["naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com", "korea.ac.kr",
                 "snu.ac.kr", "company.co.kr", "outlook.com", "yahoo.co.kr", "hotmail.com"]
AREA_CODES = ["031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055", "061", "062", "063", "064"]
REP_PREFIXES = ["1588", "1577", "1566", "1544", "1599", "1600", "1644", "1661", "1670", "1688", "1800", "1811", "1833", "1899"]


def digits(rng: random.Random, n: int, first_nonzero: bool = False) -> str:
    s = "".join(rng.choice("0123456789") for _ in range(n))
    if first_nonzero and s[0] == "0":
        s = rng.choice("123456789") + s[1:]
    return s


def name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + digits(rng, length - len(prefix) - 1)
    total = 0
    for i, c in enumerate(reversed(body)):
        n = int(c)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return body + str((10 - total % 10) % 10)


def rrn_like(rng: random.Random, genders: str, check: str, valid_checksum: bool) -> str:
    year = rng.randint(1940, 2019)
    g = int(rng.choice(genders[:2] if year < 2000 else genders[2:]))
    month = rng.randint(1, 12)
    day = rng.randint(1, 28)
    body = f"{year % 100:02d}{month:02d}{day:02d}{g}" + digits(rng, 5)
    s = sum(int(body[i]) * w for i, w in enumerate((2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)))
    good = ((11 if check == "rrn" else 13) - s % 11) % 10
    last = good if valid_checksum else rng.choice([d for d in range(10) if d != good])
    return body + str(last)


def gen_rrn(rng: random.Random, kind: str = "rrn") -> tuple[str, str]:
    valid = rng.random() < 0.5
    d = rrn_like(rng, "1234" if kind == "rrn" else "5678", kind, valid)
    r = rng.random()
    if r < 0.75:
        v, lay = f"{d[:6]}-{d[6:]}", "dash"
    elif r < 0.85:
        v, lay = f"{d[:6]} {d[6:]}", "space"
    else:
        v, lay = d, "bare"
    return v, f"{lay}/{'checksum' if valid else 'no-checksum'}"


def _join(parts: list[str], sep: str) -> str:
    return sep.join(parts)


def gen_phone(rng: random.Random) -> tuple[str, str]:
    kind = rng.choices(["010", "01x", "02", "0xx", "070", "rep", "+82"], weights=[40, 8, 14, 16, 6, 12, 4])[0]
    if kind == "rep":
        sep = rng.choices(["-", "", " "], weights=[85, 10, 5])[0]
        return rng.choice(REP_PREFIXES) + sep + digits(rng, 4), f"rep/{sep or 'none'}"
    if kind == "+82":
        return f"+82 10-{digits(rng, 4)}-{digits(rng, 4)}", "+82"
    if kind == "010":
        pre, mid = "010", digits(rng, 4)
        sep = rng.choices(["-", "", " ", "."], weights=[60, 15, 10, 15])[0]
    else:
        pre = {"01x": lambda: rng.choice(["011", "016", "017", "018", "019"]), "02": lambda: "02",
               "0xx": lambda: rng.choice(AREA_CODES), "070": lambda: "070"}[kind]()
        mid = digits(rng, 4 if kind == "070" else rng.choice([3, 4]), first_nonzero=True)
        sep = rng.choices(["-", ")", "(", ".", " ", ""], weights=[65, 8, 7, 10, 5, 5])[0]
    last = digits(rng, 4)
    if sep == ")":
        return f"{pre}){mid}-{last}", f"{kind}/{sep}"
    if sep == "(":
        return f"({pre}) {mid}-{last}", f"{kind}/{sep}"
    return _join([pre, mid, last], sep), f"{kind}/{sep or 'none'}"


def gen_account(rng: random.Random) -> tuple[str, str, str]:
    bank = rng.choice(BANKS)
    layout = rng.choice(BANK_LAYOUTS[bank])
    groups = [digits(rng, n, first_nonzero=(i == 0)) for i, n in enumerate(layout)]
    if rng.random() < 0.12:
        return "".join(groups), bank, "bare"
    return "-".join(groups), bank, "-".join(map(str, layout))


def gen_card(rng: random.Random) -> tuple[str, str]:
    issuer = rng.choices(["visa", "mc", "amex", "jcb", "bc"], weights=[35, 30, 10, 10, 15])[0]
    if issuer == "amex":
        d = luhn_complete(rng.choice(["34", "37"]), 15, rng)
        sep = rng.choice(["-", " ", ""])
        return sep.join([d[:4], d[4:10], d[10:]]), f"amex/{sep or 'none'}"
    prefix = {"visa": "4", "mc": rng.choice(["51", "52", "53", "54", "55"]), "jcb": "35", "bc": "94"}[issuer]
    d = luhn_complete(prefix, 16, rng)
    sep = rng.choices(["-", " ", ""], weights=[60, 20, 20])[0]
    return sep.join([d[i:i + 4] for i in range(0, 16, 4)]), f"{issuer}/{sep or 'none'}"


def gen_email(rng: random.Random) -> tuple[str, str]:
    roman = ["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim", "hong", "seo"]
    local = rng.choice(roman) + rng.choice(["", ".", "_"]) + rng.choice(["minsu", "jiwoo", "hyun", "sj", "dev", "love", "js"])
    if rng.random() < 0.5:
        local += str(rng.randint(1, 9999))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}", "email"


def gen_brn(rng: random.Random) -> tuple[str, str]:
    body = digits(rng, 9, first_nonzero=True)
    keys = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    s = sum(int(body[i]) * keys[i] for i in range(8))
    last = int(body[8]) * 5
    s += last // 10 + last
    d = body + str((10 - s % 10) % 10)
    return f"{d[:3]}-{d[3:5]}-{d[5:]}", "dash"


def gen_passport(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.7:
        return rng.choice("MS") + digits(rng, 3) + rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") + digits(rng, 4), "current"
    return "M" + digits(rng, 8), "previous"


def gen_license(rng: random.Random) -> tuple[str, str]:
    code = rng.choice(["11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "28"])
    rest = f"{rng.randint(0, 99):02d}-{digits(rng, 6)}-{digits(rng, 2)}"
    if rng.random() < 0.3:
        return rng.choice(["서울", "부산", "경기", "대구", "인천"]) + " " + rest, "region-name"
    return f"{code}-{rest}", "code"


def gen_ip(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.8:
        return f"{rng.choice([10, 172, 192, 211, 121, 58])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}", "v4"
    return "2001:db8:" + ":".join(f"{rng.randint(0, 65535):x}" for _ in range(4)) + "::" + f"{rng.randint(1, 999):x}", "v6"


# ------------------------------------------------------------------------------------------------
# templates: {v} is the value; {bank} and {name} are filled in. Templates marked with a leading "!"
# carry no context word for their type.

TEMPLATES = {
    "tell": ["연락처 {v}로 연락 주세요.", "문의: {v}", "전화번호는 {v}입니다.", "궁금하신 점은 {v}(으)로 전화 주세요.",
             "핸드폰 번호 {v} 로 문자 부탁드려요", "고객센터 {v} 운영시간 평일 9시~6시", "휴대폰: {v}", "TEL {v}",
             "!{v}로 문자 주세요.", "!{name}씨 번호 {v} 입니다", "!예약은 {v}번으로 하시면 돼요", "!{v} 여기로 카톡 주세요",
             "담당자 {name} ({v})", "대표전화 {v} (평일 09:00-18:00)"],
    "rrn": ["주민번호 {v}", "주민등록번호: {v}", "본인 확인을 위해 주민등록번호 {v} 를 입력했습니다.", "주민번호 앞뒤 다 {v} 입니다",
            "{name} (주민번호 {v})", "생년월일/주민번호: {v}", "!본인확인 {v} 제출 완료", "!{name} {v} 서울시 거주"],
    "frn": ["외국인등록번호 {v}", "외국인등록번호: {v} (체류자격 E-9)", "!등록증 {v} 사본 첨부"],
    "acc": ["계좌번호: {v} ({bank})", "{bank}은행 {v} 예금주 {name}", "입금 계좌는 {bank} {v} 입니다.", "{v} ({bank}) 으로 보내주세요",
            "환불 받을 계좌 {bank} {v}", "후원 계좌: {bank} {v} {name}", "{bank} {v} 로 송금 부탁드립니다", "입금은 {v} {bank} {name}",
            "!{v} {name} 앞으로 보내주세요"],
    "card": ["카드번호 {v}", "결제한 카드 {v} 취소 부탁드립니다.", "{v} 카드로 결제했는데 승인이 안 돼요", "신용카드 번호 {v} 유효기간 12/27",
             "!{v} 이걸로 해주세요", "체크카드 {v} 분실 신고합니다"],
    "email": ["이메일 {v}로 보내주세요.", "{v} 으로 연락 바랍니다", "메일 주소: {v}", "문의는 {v}", "!{v} 여기로 이력서 제출",
              "자료 요청은 {v} 로 부탁드립니다"],
    "brn": ["사업자등록번호 {v}", "상호: 행복상회 | 사업자번호 {v} | 대표 {name}", "!등록번호 {v}"],
    "passport": ["여권번호 {v}", "여권 번호는 {v} 입니다", "!{name} {v} 출국"],
    "driver_license": ["운전면허번호 {v}", "면허번호: {v}", "!신분증 {v} 확인"],
    "ip": ["접속 IP {v} 차단됨", "서버 주소 {v} 로 접속하세요", "!{v} 에서 로그인 시도"],
}
WEIGHTS = {"tell": 30, "rrn": 14, "acc": 16, "card": 12, "email": 12, "frn": 3, "brn": 4, "passport": 3,
           "driver_license": 3, "ip": 3}


def make_value(rng: random.Random, typ: str) -> tuple[str, str, dict]:
    extra = {"name": name(rng)}
    if typ == "tell":
        v, lay = gen_phone(rng)
    elif typ == "rrn":
        v, lay = gen_rrn(rng, "rrn")
    elif typ == "frn":
        v, lay = gen_rrn(rng, "frn")
    elif typ == "acc":
        v, extra["bank"], lay = gen_account(rng)
    elif typ == "card":
        v, lay = gen_card(rng)
    elif typ == "email":
        v, lay = gen_email(rng)
    elif typ == "brn":
        v, lay = gen_brn(rng)
    elif typ == "passport":
        v, lay = gen_passport(rng)
    elif typ == "driver_license":
        v, lay = gen_license(rng)
    else:
        v, lay = gen_ip(rng)
    return v, lay, extra


def fill(template: str, value: str, extra: dict) -> tuple[str, int, str]:
    """(snippet, offset of the value in it, context flag)."""
    context = "no-context" if template.startswith("!") else "context"
    t = template.lstrip("!")
    before, after = t.split("{v}", 1)
    before = before.format(**extra, v="")
    after = after.format(**extra, v="")
    return before + value + after, len(before), context


def make_docs(n: int, seed: int, hosts: dict[str, list[str]]) -> list[dict]:
    rng = random.Random(seed)
    types = list(WEIGHTS)
    weights = [WEIGHTS[t] for t in types]
    docs = []
    for i in range(n):
        source = rng.choice(list(hosts))
        pieces = [rng.choice(hosts[source]) for _ in range(rng.randint(1, 3))]
        n_pii = 0 if rng.random() < 0.3 else rng.choice([1, 1, 1, 2, 2, 3])
        inserts = []
        for _ in range(n_pii):
            typ = rng.choices(types, weights=weights)[0]
            v, lay, extra = make_value(rng, typ)
            snippet, off, ctx = fill(rng.choice(TEMPLATES[typ]), v, extra)
            inserts.append((rng.randint(0, len(pieces)), snippet, off, len(v), typ, f"{lay}/{ctx}"))
        # assemble: host sentences in order, each insert placed before host piece k (or at the end)
        text, spans = "", []
        for k in range(len(pieces) + 1):
            for pos, snippet, off, ln, typ, lay in inserts:
                if pos == k:
                    text += (" " if text else "")
                    spans.append({"type": typ, "start": len(text) + off, "end": len(text) + off + ln, "layout": lay})
                    text += snippet
            if k < len(pieces):
                text += (" " if text else "") + pieces[k]
        docs.append({"id": f"ko-{seed}-{i}", "source": source, "text": text, "spans": spans})
    return docs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    docs = make_docs(args.docs, args.seed, load_hosts(args.shared))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for d in docs:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    n_spans = sum(len(d["spans"]) for d in docs)
    print(f"wrote {len(docs)} documents, {n_spans} PII spans -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
