"""PII redaction for report narratives written in Chinese or English.

Detection is rule-based (regexes, checksums and context words): no offline Chinese NER model
can be installed here, and rules are deterministic, explainable and fast enough to run on every
submission. Names and addresses are recall-limited; redaction is defence in depth, originals are
stored encrypted elsewhere.

Matching runs on an NFKC-normalized, simplified-Chinese copy of the text (full-width digits
and traditional characters are common in submissions); every span is mapped back to the
original string, and the output is the original text with spans replaced by placeholders.
"""

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from aggregation.text import to_simplified


class RedactionKind(StrEnum):
    ID_NUMBER = "id_number"
    PHONE = "phone"
    LANDLINE = "landline"
    BANK_CARD = "bank_card"
    EMAIL = "email"
    IM_ACCOUNT = "im_account"
    PERSON_NAME = "person_name"
    ADDRESS = "address"
    SSN = "ssn"
    US_PHONE = "us_phone"


@dataclass(frozen=True, slots=True)
class Redaction:
    """One redacted span; `start`/`end` index the original (unnormalized) string."""

    kind: RedactionKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class RedactionResult:
    """`text` is the input with every redacted span replaced by its kind's placeholder."""

    text: str
    redactions: tuple[Redaction, ...]


def placeholder_for(kind: RedactionKind) -> str:
    return f"[{kind.value.upper()}]"


PLACEHOLDER_RE: re.Pattern[str] = re.compile(
    "|".join(re.escape(placeholder_for(kind)) for kind in RedactionKind)
)

# Overlapping candidates are resolved in this order, longer spans first within a kind.
# Checksummed identifiers come first because their validation is the strongest evidence. E-mail
# and IM handles outrank a bare mobile number because they contain one (13800138000@163.com,
# 微信13800138000) and the whole handle is the identifier. Names and addresses are the least
# certain, so they never cut into a number.
_PRIORITY: tuple[RedactionKind, ...] = (
    RedactionKind.ID_NUMBER,
    RedactionKind.BANK_CARD,
    RedactionKind.SSN,
    RedactionKind.EMAIL,
    RedactionKind.IM_ACCOUNT,
    RedactionKind.PHONE,
    RedactionKind.US_PHONE,
    RedactionKind.LANDLINE,
    RedactionKind.ADDRESS,
    RedactionKind.PERSON_NAME,
)
_RANK = {kind: rank for rank, kind in enumerate(_PRIORITY)}

_Candidate = tuple[RedactionKind, int, int]

# Speed: `re` scans quickly for a pattern's first character only when the pattern (or every
# alternative of it) starts with a literal or a character class. Boundary look-behinds therefore
# come after the first character — "[0-9](?<![0-9].)" is a digit not preceded by a digit — and
# case variants are spelled out instead of using (?i) at the start.


def _words(text: str) -> frozenset[str]:
    # Word lists stay space-separated strings: as list literals (one element per line once
    # formatted) the gazetteers would run to hundreds of lines.
    return frozenset(text.split())


def _is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


# ---------------------------------------------------------------------------------------------
# Normalization with an offset map back to the original string

# ASCII, CJK punctuation up to U+3035 and CJK unified ideographs are their own NFKC form; only
# the other characters are normalized, one at a time, which keeps typical narratives cheap.
_NFKC_UNSTABLE_RE = re.compile(r"[^\x00-\x7f\u3001-\u3035\u4e00-\u9fff]")


def _nfkc_char(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


# NFKC keeps typographic dashes, which people and word processors put between digit groups
# (135—8842—6017, 214–63–0879); one character each way, so offsets are unchanged.
_DASHES_RE = re.compile("[\u2010-\u2015\u2212]")


def _normalize(text: str) -> tuple[str, list[int] | None]:
    """Return the matching text and, when lengths differ, each of its characters' origin index.

    NFKC never maps a character to nothing, so equal lengths mean every character mapped to
    exactly one and indices are shared (the map is then None).
    """
    normalized = _NFKC_UNSTABLE_RE.sub(_nfkc_char, text)
    origin: list[int] | None = None
    if len(normalized) != len(text):
        origin = []
        for index, char in enumerate(text):
            origin.extend([index] * len(unicodedata.normalize("NFKC", char)))
    normalized = _DASHES_RE.sub("-", normalized)
    simplified = to_simplified(normalized)
    # OpenCC's t2s tables map characters and phrases to same-length output; the check keeps
    # offsets right should a phrase ever change length (matching then simply stays traditional).
    if len(simplified) == len(normalized):
        normalized = simplified
    return normalized, origin


# ---------------------------------------------------------------------------------------------
# Resident ID numbers (GB 11643-1999)

_ID_PROVINCE_CODES = _words(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
    "61 62 63 64 65 71 81 82 83 91"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def _is_plausible_birth_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def resident_id_check_char(first_17_digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an 18-digit resident ID."""
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17_digits, _ID_WEIGHTS, strict=True)
    )
    return _ID_CHECK_CHARS[total % 11]


def is_valid_resident_id(number: str) -> bool:
    """An 18-character resident ID with a known province code, a real birth date and a matching
    check character (X in either case)."""
    if len(number) != 18 or not number[:17].isdigit() or number[:2] not in _ID_PROVINCE_CODES:
        return False
    if not _is_plausible_birth_date(int(number[6:10]), int(number[10:12]), int(number[12:14])):
        return False
    return resident_id_check_char(number[:17]) == number[17].upper()


def _is_old_resident_id(number: str) -> bool:
    # 15-digit IDs (issued before 1999) have no check digit; a province code plus a real
    # 19YY birth date keeps most order and contract numbers out.
    return number[:2] in _ID_PROVINCE_CODES and _is_plausible_birth_date(
        1900 + int(number[6:8]), int(number[8:10]), int(number[10:12])
    )


_ID18_RE = re.compile(r"[0-9](?<![0-9].)[0-9]{5}([ .-]?)[0-9]{8}\1[0-9]{3}[0-9Xx](?![0-9])")
# Any other grouping of 18 characters (4301 1119 9304 2256 27) counts only when valid.
_ID18_GROUPED_RE = re.compile(
    r"[0-9](?<![0-9].)(?<![0-9][ .-].)(?:[ .-]?[0-9]){16}[ .-]?[0-9Xx](?![0-9])"
)
_ID15_RE = re.compile(r"[1-9](?<![0-9].)[0-9]{14}(?![0-9])")
_ID_CONTEXT_RE = re.compile(r"(?:身份证|证件|(?<![A-Za-z])(?i:id))[^0-9。！？!?\n]{0,16}\Z")
_SEPARATORS_RE = re.compile(r"[ .-]")


def _find_id_numbers(s: str) -> Iterator[_Candidate]:
    for match in _ID18_RE.finditer(s):
        start = match.start()
        # A mistyped check digit still identifies the person (one digit off), so after ID
        # context any 18-digit number is redacted.
        if is_valid_resident_id(_SEPARATORS_RE.sub("", match.group())) or _ID_CONTEXT_RE.search(
            s, max(0, start - 24), start
        ):
            yield RedactionKind.ID_NUMBER, start, match.end()
    for match in _ID18_GROUPED_RE.finditer(s):
        if is_valid_resident_id(_SEPARATORS_RE.sub("", match.group())):
            yield RedactionKind.ID_NUMBER, match.start(), match.end()
    for match in _ID15_RE.finditer(s):
        if _is_old_resident_id(match.group()):
            yield RedactionKind.ID_NUMBER, match.start(), match.end()


# ---------------------------------------------------------------------------------------------
# Bank cards

_DIGIT_RUN_RE = re.compile(r"[0-9](?<![0-9].)(?<![0-9][ -].)(?:[ -]?[0-9]){12,18}(?![ -]?[0-9])")
_CARD_CONTEXT_RE = re.compile(
    r"卡号|银行卡|储蓄卡|信用卡|借记卡|账号|帐号|账户|帐户|(?i:card|account|acct)"
)
_SEPARATOR_SPLIT_RE = re.compile(r"([ -])")


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_ok(digits: str) -> bool:
    total = sum(int(char) for char in digits[-1::-2])
    total += sum(_LUHN_DOUBLED[int(char)] for char in digits[-2::-2])
    return total % 10 == 0


def _card_digits(run: str) -> str | None:
    """Digits of a run written as one block or in groups of four (last group shorter)."""
    parts = _SEPARATOR_SPLIT_RE.split(run)
    groups, separators = parts[::2], set(parts[1::2])
    if len(separators) > 1 or any(len(group) != 4 for group in groups[:-1]):
        return None
    return "".join(groups)


def _has_card_prefix(digits: str) -> bool:
    # Issuer prefixes with their usual lengths: UnionPay 62, Visa 4, Mastercard 51-55.
    length = len(digits)
    return (
        (digits.startswith("62") and length >= 16)
        or (digits[0] == "4" and length in (13, 16, 19))
        or ("51" <= digits[:2] <= "55" and length == 16)
    )


def _find_bank_cards(s: str) -> Iterator[_Candidate]:
    for match in _DIGIT_RUN_RE.finditer(s):
        digits = _card_digits(match.group())
        if digits is None:
            continue
        start = match.start()
        has_context = _CARD_CONTEXT_RE.search(s, max(0, start - 16), start) is not None
        luhn_ok = _luhn_ok(digits)
        # Luhn passes for one random number in ten, so it needs a prefix or context; after card
        # context a 16-19 digit number is redacted even with a typo in it.
        if (luhn_ok and (has_context or _has_card_prefix(digits))) or (
            has_context and len(digits) >= 16
        ):
            yield RedactionKind.BANK_CARD, start, match.end()


# ---------------------------------------------------------------------------------------------
# Phone numbers

_MOBILE = r"1[3-9][0-9](?:[ .-]?[0-9]){8}(?![0-9])"
_MOBILE_RE = re.compile(
    # 138_0013_8000 and 138/0013/8000 too; dates (13/05/2023, 2013/05/20) never match, as
    # the first three digits stand together right after a non-digit.
    r"1(?<![0-9+].)[3-9][0-9](?:[ ./_-]?[0-9]){8}(?![0-9])"
    r"|\((?<![0-9].)1[3-9][0-9]\) ?[0-9]{4}[ -]?[0-9]{4}(?![0-9])"
    # Every digit spaced alike (1 3 8 0 0 1 …, copied from an image); US numbers (1-312-555-…)
    # group their digits and so never match.
    r"|1(?<![0-9+].)(?<![0-9][ .-].)([ .-])[3-9](?:\1[0-9]){9}(?![0-9])(?![ .-][0-9])"
    r"|\((?:\+|00)?86\)[ -]?"
    + _MOBILE
    + r"|\+86[ -]?"
    + _MOBILE
    + r"|0(?<![0-9].)086[ -]?"
    + _MOBILE
    + r"|8(?<![0-9].)6[ -]?"
    + _MOBILE
)
_AREA_CODE = r"(?:10|2[0-9]|[3-9][0-9]{2})"
_LOCAL_NUMBER = (
    r"[2-8][0-9]{2,3}[ -]?[0-9]{4}(?: ?(?:-|转|分机|ext\.?|Ext\.?|x) ?[0-9]{1,5})?(?![0-9])"
)
_LANDLINE_RE = re.compile(
    rf"\((?<![0-9].)0{_AREA_CODE}\)[ -]?{_LOCAL_NUMBER}"
    rf"|0(?<![0-9].){_AREA_CODE}[ -]?{_LOCAL_NUMBER}"
    rf"|\+86[ -]?0?{_AREA_CODE}[ -]?{_LOCAL_NUMBER}"
)
# Labels of document numbers that can look like an area code and a local number (发票代码).
_NUMBER_LABEL_BEFORE_RE = re.compile(r"(?:代码|编码|编号|单号|流水号|合同号)[:：]? ?\Z")
# A local number without area code is only a landline when called one.
_LANDLINE_CONTEXT_RE = re.compile(
    r"(?:座机|固话|固定电话|办公电话|单位电话)[^0-9]{0,4}?([2-8][0-9]{2,3}[ -]?[0-9]{4})(?![0-9])"
)
_US_AREA_CODE = r"(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])"
_US_LINE_NUMBER = r"[0-9]{3}[ .-][0-9]{4}(?![0-9])(?![.-][0-9])"
_US_PHONE_RES = (
    re.compile(r"[2-9](?<![0-9].)(?<![0-9][.-].)[0-9]{2}[ .-]" + _US_LINE_NUMBER),
    re.compile(
        r"\((?<![0-9].)[2-9][0-9]{2}\) ?"
        + _US_LINE_NUMBER
        + r"|\+1[ .-]?"
        + _US_AREA_CODE
        + _US_LINE_NUMBER
        + r"|1(?<![0-9].)[ .-]?"
        + _US_AREA_CODE
        + _US_LINE_NUMBER
        + r"|\+1 ?[2-9][0-9]{9}(?![0-9])"
    ),
)
# Ten bare digits are a US phone number only when called one ("call me back at 4045550193").
# Bare runs are rare, so they are found first and only their left context is then checked.
_US_BARE_PHONE_RE = re.compile(r"[2-9](?<![0-9].)[0-9]{2}[2-9][0-9]{6}(?![0-9])")
_US_PHONE_CONTEXT_RE = re.compile(
    r"(?i:(?:call|text|reach) me(?: back)?(?: at| on)?|(?:phone|cell|mobile|my) number(?: is)?"
    r"|(?:phone|cell|mobile|tel)\.?:?) ?\Z"
)
_NON_DIGITS_RE = re.compile(r"[^0-9]")
# Toll-free and N00 codes belong to companies (collection agencies, lenders), like 400/800 in
# China; a borrower quoting them identifies nobody and the number helps reviewers.
_US_NON_PERSONAL_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def _find_phones(s: str) -> Iterator[_Candidate]:
    for match in _MOBILE_RE.finditer(s):
        yield RedactionKind.PHONE, match.start(), match.end()
    # 400/800 hotlines never match: a Chinese area code starts with 0, and hotlines are company
    # numbers printed on every contract, not personal data.
    for match in _LANDLINE_RE.finditer(s):
        if not _NUMBER_LABEL_BEFORE_RE.search(s, max(0, match.start() - 8), match.start()):
            yield RedactionKind.LANDLINE, match.start(), match.end()
    for match in _LANDLINE_CONTEXT_RE.finditer(s):
        yield RedactionKind.LANDLINE, match.start(1), match.end(1)
    us_phones = [
        (match.start(), match.end()) for pattern in _US_PHONE_RES for match in pattern.finditer(s)
    ]
    us_phones += [
        (match.start(), match.end())
        for match in _US_BARE_PHONE_RE.finditer(s)
        if _US_PHONE_CONTEXT_RE.search(s, max(0, match.start() - 24), match.start())
    ]
    for start, end in us_phones:
        area = _NON_DIGITS_RE.sub("", s[start:end])[-10:-7]
        if area[1:] != "00" and area not in _US_NON_PERSONAL_AREA_CODES:
            yield RedactionKind.US_PHONE, start, end


# ---------------------------------------------------------------------------------------------
# Numbers spelled with Chinese numerals

# Collectors' messages, and people dodging a platform's filters, spell numbers out
# (一三八零零一三八零零零, 幺三八…); such a run is read as digits and checked like any number.
_CHINESE_NUMERALS = "零〇一二三四五六七八九幺"
_SPELLED_DIGITS = str.maketrans(_CHINESE_NUMERALS, "001234567891")
_SPELLED_NUMBER_RE = re.compile(
    rf"[0-9{_CHINESE_NUMERALS}](?<![0-9{_CHINESE_NUMERALS}].)"
    rf"(?:[ -]?[0-9{_CHINESE_NUMERALS}]){{10,17}}(?:[ -]?[Xx])?(?![0-9{_CHINESE_NUMERALS}])"
)
_MOBILE_DIGITS_RE = re.compile(r"1[3-9][0-9]{9}")
_CHINESE_NUMERAL_RE = re.compile(f"[{_CHINESE_NUMERALS}]")


def _find_spelled_numbers(s: str) -> Iterator[_Candidate]:
    # English narratives are full of digits and hold no Chinese numeral: skip the scan.
    if not _CHINESE_NUMERAL_RE.search(s):
        return
    for match in _SPELLED_NUMBER_RE.finditer(s):
        written = match.group()
        if written.isascii():
            continue
        digits = _SEPARATORS_RE.sub("", written.translate(_SPELLED_DIGITS))
        if _MOBILE_DIGITS_RE.fullmatch(digits):
            yield RedactionKind.PHONE, match.start(), match.end()
        elif len(digits) == 18 and is_valid_resident_id(digits):
            yield RedactionKind.ID_NUMBER, match.start(), match.end()


# ---------------------------------------------------------------------------------------------
# US social security numbers

_SSN_RE = re.compile(r"[0-9](?<![0-9].)(?<![0-9]-.)[0-9]{2}-[0-9]{2}-[0-9]{4}(?![0-9])(?!-[0-9])")
_SSN_CONTEXT_RE = re.compile(
    r"(?:SSN|ssn|Social [Ss]ecurity|social security|[Ss]ocial(?=:| [0-9]))"
    r"(?: [Nn]umber| [Nn]o\.?| #)?[^0-9.;]{0,40}?"
    r"([0-9]{3}[ -]?[0-9]{2}[ -]?[0-9]{4})(?![0-9])"
)


def _is_issuable_ssn(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _find_ssns(s: str) -> Iterator[_Candidate]:
    for match in _SSN_RE.finditer(s):
        if _is_issuable_ssn(match.group().replace("-", "")):
            yield RedactionKind.SSN, match.start(), match.end()
    for match in _SSN_CONTEXT_RE.finditer(s):
        if _is_issuable_ssn(_NON_DIGITS_RE.sub("", match.group(1))):
            yield RedactionKind.SSN, match.start(1), match.end(1)


# ---------------------------------------------------------------------------------------------
# E-mail and instant-messaging accounts

# Chinese text often types the domain's dots as 。 (123456@qq。com).
_EMAIL_RE = re.compile(
    r"[A-Za-z0-9](?<![A-Za-z0-9._%+-].)[A-Za-z0-9._%+-]*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:[.。][A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"[.。][A-Za-z]{2,}(?![A-Za-z0-9-])"
)
_QQ_RE = re.compile(
    # 🐧: QQ's penguin stands for it.
    r"(?:(?<![A-Za-z])[Qq]{2}(?![A-Za-z])|扣扣|企鹅号|🐧)(?!群)"
    r"(?:号码?|账号|帐号|(?i: ?(?:number|no\.?|id|account)))?"
    r" ?[,:：]? ?(?:是|为|(?i:is|was) )? ?([1-9][0-9]{4,10})(?![0-9])"
)
_WECHAT_RE = re.compile(
    r"(?:(?P<english>(?<![A-Za-z])(?i:wechat|weixin)(?![A-Za-z]))"
    r"|(?<![A-Za-z])(?i:wx|vx)(?![A-Za-z])|(?<![A-Za-z])(?i:v)信|微信|威信|薇信"
    # 加我V / 加V: "add me on WeChat".
    r"|(?:(?<=加)|(?<=加我))[Vv](?![A-Za-z]))"
    r"(?P<gap>(?:号码?|账号|帐号|(?i:,? ?\(?(?:id|account|handle)))? ?"
    r"(?:[:：]|是|为|(?i:is) )? ?\(?)"
    r"(?P<handle>[A-Za-z][-_A-Za-z0-9]{5,19}(?![-_A-Za-z0-9])"
    r"|(?:\+?86[ -]?)?" + _MOBILE + ")"
)
_WXID_RE = re.compile(r"w(?<![A-Za-z0-9_].)xid_[A-Za-z0-9]{6,20}(?![A-Za-z0-9_])")
_EXPLICIT_HANDLE_GAP_RE = re.compile(r"[:：是为]|(?i:is|id)")
_QQ_HINTS = ("qq", "扣扣", "企鹅号", "🐧")
_WECHAT_HINTS = ("微信", "威信", "薇信", "v信", "wechat", "weixin", "wx", "vx", "加v", "加我v")


def _find_im_accounts(s: str) -> Iterator[_Candidate]:
    # Most narratives name no messenger: a substring test is far cheaper than the regexes,
    # whose case-insensitive openings defeat the fast first-character scan.
    lowered = s.lower()
    if any(hint in lowered for hint in _QQ_HINTS):
        for match in _QQ_RE.finditer(s):
            yield RedactionKind.IM_ACCOUNT, match.start(1), match.end(1)
    if not any(hint in lowered for hint in _WECHAT_HINTS):
        return
    for match in _WECHAT_RE.finditer(s):
        handle = match.group("handle")
        # After the English word "WeChat" a plain word is usually English ("WeChat account",
        # "WeChat contacts"); a purely alphabetic handle needs "ID", "is" or a colon before it.
        if (
            match.group("english")
            and handle.isalpha()
            and not _EXPLICIT_HANDLE_GAP_RE.search(match.group("gap"))
        ):
            continue
        yield RedactionKind.IM_ACCOUNT, match.start("handle"), match.end("handle")
    for match in _WXID_RE.finditer(s):
        yield RedactionKind.IM_ACCOUNT, match.start(), match.end()


def _find_emails(s: str) -> Iterator[_Candidate]:
    for match in _EMAIL_RE.finditer(s):
        yield RedactionKind.EMAIL, match.start(), match.end()


# ---------------------------------------------------------------------------------------------
# Chinese personal names

_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿焦俞左"
    "柳甘祝宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝游辛靳管柴蒙鲍华喻祁蒲房滕屈饶"
    "解牟艾尤阳穆卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂佟臧闵苟邬边卞姬"
    "仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池查麻迟邝封谈匡鞠惠荆冀郁胥栗燕楚鄢劳谌奚皮粟冼蔺包"
    "于向"
)
_COMPOUND_SURNAMES = _words(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 令狐 端木 独孤 南宫"
)
# Characters that end a name: function words, verbs and particles that typically follow one.
_NAME_FOLLOWERS = frozenset(
    "的了是在说打给又还就都也让把被跟和对要不每天先经律总称威骂发告电拨私加多用自冒以声态等们"
    "这那有没很太从向往到呢吧吗呀讲问与及或但而且则便今现目因于住家身手微性男女岁年来去曾已为"
    "借欠通号承恐表回答拒帮替只接才刚当根突竟居直早晚昨亲辱逼吓喊骗心一二三四五六七八九十"
)
# Followers that also occur in given names (王心怡, 吴刚, 张三); trying the two-character given
# name first keeps them inside the name when they are.
_GIVEN_NAME_FOLLOWERS = frozenset("心刚才承和多天一二三四五六七八九十")
# Words such a follower opens right after a name; the name then ends before them (郑伟天天打来).
_FOLLOWER_WORDS = _words("天天 一直 一再 一定 一起 一次 一天 刚刚 刚才 多次 和我 和他 和她")
# Characters that are (nearly) never part of a given name but often follow a context word.
_NOT_GIVEN_NAME = (_NAME_FOLLOWERS - _GIVEN_NAME_FOLLOWERS) | frozenset(
    "我你他她它某人员个级目贷融户部门理区域司款催收系务品组长副分行店平台公姐哥"
)
# Everyday words that begin with a surname character (我妈高血压, 我老公马上就到).
_WORDS_NOT_NAMES = _words(
    "高血压 高兴 高中 高利贷 高额 高速 高考 周末 周一 周二 周三 周四 周五 周六 周日 "
    "周年 周围 白天 金额 钱款 程序 方式 方面 方法 关系 关心 常常 安全 安排 江湖 万元 "
    "毛钱 黄金 史上 温度 童年 华为 文化 文件 成本 成功 成为 成年 卫生 石头 马上 马路 "
    "车辆 车贷 房子 房贷 房租 项目 连续 简单 季度 单位 单身 冷静 商量 商场 商家 严重 "
    "严格 曾经 余额 余款 任何 任务 解决 解释 管理 龙头 宁愿 宁可 尚未 易于 齐全 岳父 "
    "岳母 熊孩子 顾不上 毕业 包工 包括 包含 包裹 包月 于是 向来 车间"
)
_RELATIONS = _words(
    "老公 老婆 丈夫 妻子 爱人 妈妈 爸爸 母亲 父亲 哥哥 姐姐 弟弟 妹妹 表哥 表姐 表弟 "
    "表妹 堂哥 堂姐 堂弟 堂妹 朋友 同学 同事 室友 舍友 领导 老板 房东 小姨子 小舅子 姐夫 妹夫 "
    "嫂子 弟媳 儿子 女儿 叔叔 舅舅 姑姑 小姨 大姨 婆婆 公公 前夫 前妻 那口子"
)
_NAME_CONTEXT_WORDS = _words(
    "紧急联系人 联系人 联络人 叫做 叫 名字是 姓名 本人 催收员 催收人员 客服人员 客服 "
    "工作人员 业务员 借款人 担保人 自称 我妈 我爸 我哥 我姐 我弟 我妹 专员 主管 经理 "
    "对接人 负责人 名叫 全名 中介 收件人 寄件人 收款人 户名 持卡人 开户人"
)
_ZH_NAME_CONTEXT_RE = re.compile(
    "(?:"
    + "|".join(
        sorted(
            _NAME_CONTEXT_WORDS | _RELATIONS | {"我" + relation for relation in _RELATIONS},
            # Longest first so that 我弟弟 is not cut short as 我弟; then alphabetical, so the
            # pattern is the same on every run.
            key=lambda word: (-len(word), word),
        )
    )
    # A threat quoted verbatim often opens by addressing the borrower: “张伟，你明天不还……”
    + "".join(f"|{quote}(?=[\u4e00-\u9fff]{{2,4}}[，,！!：:])" for quote in '“"「')
    # 联系人1：程桂芳
    + ")(?:[0-9]?[:： ]*(?:是|叫|为)?[:： ]*)"
)
_TITLE_RE = re.compile(
    r"(?:先生|女士|小姐|经理|律师|主管|主任|组长|老师|阿姨|师傅|科长|处长|局长|专员|警官|同志|姐|哥"
    r"|总(?![额共计是部公行裁体算结价账量数和收支成费利金息值分机]))"
)
# "对方律师", "协商专员": the surname character before a title ends a word here.
_WORDS_ENDING_IN_SURNAME = _words("对方 甲方 乙方 双方 官方 资方 贷方 借方 三方 协商 调解 和解")


def _is_given_name_char(char: str) -> bool:
    return _is_cjk(char) and char not in _NOT_GIVEN_NAME


def _is_name_boundary(s: str, index: int) -> bool:
    return index >= len(s) or not _is_cjk(s[index]) or s[index] in _NAME_FOLLOWERS


def _surname_length(s: str, index: int) -> int:
    if s[index : index + 2] in _COMPOUND_SURNAMES:
        return 2
    return 1 if index < len(s) and s[index] in _SURNAMES else 0


def _zh_name_end(s: str, start: int) -> int | None:
    """End of a surname + one- or two-character given name starting at `start`, if any."""
    surname_length = _surname_length(s, start)
    if not surname_length:
        return None
    given_start = start + surname_length
    for given_length in (2, 1):
        end = given_start + given_length
        given = s[given_start:end]
        if (
            len(given) == given_length
            and all(_is_given_name_char(char) for char in given)
            and _is_name_boundary(s, end)
            and s[end - 1 : end + 1] not in _FOLLOWER_WORDS
            and s[start:end] not in _WORDS_NOT_NAMES
            and s[start : start + 2] not in _WORDS_NOT_NAMES
        ):
            return end
    return None


def _titled_name_start(s: str, title_start: int) -> int | None:
    """Start of the name right before a title (王经理, 李娜女士), longest plausible first."""
    for name_length in (3, 2, 1):
        start = title_start - name_length
        if start < 0:
            continue
        surname_length = _surname_length(s, start)
        if not surname_length or surname_length > name_length:
            continue
        given = s[start + surname_length : title_start]
        if not all(_is_given_name_char(char) for char in given):
            continue
        if s[start:title_start] in _WORDS_NOT_NAMES:
            continue
        if name_length == 1 and s[start - 1 : start + 1] in _WORDS_ENDING_IN_SURNAME:
            continue
        return start
    return None


# "我是" introduces occupations and places far more often than names (我是包工头, 我是宁波人), so
# only a full three-character name closed by punctuation counts after it.
_SELF_INTRODUCTION_RE = re.compile(r"我是(?=[\u4e00-\u9fff]{3}(?:[，,。.！!；;、 ]|\Z))")
_FAMILIAR_PREFIXES = "小老"
# Uyghur and other transliterated names join their parts with a middle dot (阿依古丽·买买提).
_DOTTED_NAME_RE = re.compile(r"[\u4e00-\u9fff]{2,6}·")
_DOTTED_PART_MAX = 6


def _dotted_name_end(s: str, start: int) -> int | None:
    """End of a dot-joined name at `start`; its last part stops where a name would."""
    first = _DOTTED_NAME_RE.match(s, start)
    if first is None:
        return None
    end = first.end()
    while end < len(s) and end - first.end() < _DOTTED_PART_MAX and not _is_name_boundary(s, end):
        end += 1
    return end if end - first.end() >= 2 else None


def _find_zh_names(s: str) -> Iterator[_Candidate]:
    for match in _ZH_NAME_CONTEXT_RE.finditer(s):
        start = match.end()
        end = _zh_name_end(s, start)
        # 客服小周, 催收的老王: a surname called by a familiar prefix; the surname is the name.
        if (
            end is None
            and s[start : start + 1] in _FAMILIAR_PREFIXES
            and start + 1 < len(s)
            and _surname_length(s, start + 1) == 1
            and _is_name_boundary(s, start + 2)
        ):
            start, end = start + 1, start + 2
        if end is None:
            end = _dotted_name_end(s, start)
        if end is not None:
            yield RedactionKind.PERSON_NAME, start, end
    for match in _SELF_INTRODUCTION_RE.finditer(s):
        end = _zh_name_end(s, match.end())
        if end == match.end() + 3:
            yield RedactionKind.PERSON_NAME, match.end(), end
    for match in _TITLE_RE.finditer(s):
        start = _titled_name_start(s, match.start())
        if start is not None:
            yield RedactionKind.PERSON_NAME, start, match.start()


# ---------------------------------------------------------------------------------------------
# English personal names

_EN_NAME_STOPWORDS = (
    "Phone|Tel|Email|Address|Account|Card|Loan|Lender|App|ID|SSN|I|The|And|From|To|At|On|In|My"
    "|He|She|They|We|You|It|This|That|Who|Company|Inc|Ltd|LLC|Bank|Credit|Customer|Service"
    "|Collection|Collections|Agency|Her|His|Their|Our|Your|Case|Number|No|Date|Amount|Reference"
    "|Order|Contract|Dear|Hi|Hello|Thanks|Thank|Best|Regards|Street|Avenue|Road|Apt|Suite"
    "|Not|Unknown|None|Myself|Without|Prejudice|By|Sent|Via|Attn|Re|Am|Power|Attorney"
    "|Señor|Señora|Doña"
)
# Latin-1 letters too: names are often written with their accents (María Gutiérrez).
_EN_UPPER = "A-ZÀ-ÖØ-Þ"
_EN_LOWER = "a-zß-öø-ÿ"
# Nouns with these endings follow titles in legal boilerplate ("Agent Certification").
_EN_NOUN_ENDINGS = "tion|ment|ness|ity|ship"
_EN_NAME_WORD = (
    rf"(?!(?:{_EN_NAME_STOPWORDS})(?![A-Za-z]))"
    rf"(?![A-Za-z]+(?:{_EN_NOUN_ENDINGS})(?![A-Za-z]))"
    rf"[{_EN_UPPER}](?:[{_EN_LOWER}]+(?:[{_EN_UPPER}][{_EN_LOWER}]+)?|'[{_EN_UPPER}][{_EN_LOWER}]+)"
    rf"(?:-[{_EN_UPPER}][{_EN_LOWER}]+)?"
)
_EN_NAME_ROLES = "collector agent caller representative rep officer man woman lady guy"
_EN_NAME_OWNERS = ("my", "his", "her", "whose", *(f"{role}'s" for role in _EN_NAME_ROLES.split()))
_EN_RELATIVES = (
    "husband wife son daughter mother mom father dad sister brother friend boss manager coworker "
    "co-worker roommate neighbor partner cousin aunt uncle grandmother grandfather "
    # Spanish, which many US borrowers mix in.
    "tía tío mamá papá abuela abuelo hermana hermano prima primo esposa esposo"
)
_EN_NAME_INTRODUCERS = (
    *(rf"{owner} name (?:is|was)\s*" for owner in _EN_NAME_OWNERS),
    r"my name's\s*",
    r"named\s*",
    r"name ?:\s*",
    r"borrower ?:\s*",
    r"signed,\s*",
    r"sincerely,\s*",
    r"regards,\s*",
    r"respectfully,\s*",
    "me llamo ",
    "mi nombre es ",
    # "their collector Leon Whitaker", "her supervisor, Mike": a role right before a name.
    *(
        f"{role},? "
        for role in ("collector", "representative", "caller", "supervisor", "specialist")
    ),
    "signed by ",
    "sent by ",
    r"identified (?:herself|himself|themselves) as\s*",
    "c/o ",
)
_EN_TITLES = (
    "Mr",
    "Mrs",
    "Ms",
    "Miss",
    "Dr",
    "Officer",
    "Agent",
    "Detective",
    "Sergeant",
    "Sgt",
    "Deputy",
    "Señor",
    "Señora",
    "Sra",
    "Doña",
)
# "Mr. Cooper" is a large US mortgage servicer that complaints name far more often than a person.
_EN_BRANDS_AFTER_TITLE = "Cooper"
_EN_NAME = rf"{_EN_NAME_WORD}(?: (?:[A-Z]\. )?{_EN_NAME_WORD}){{0,2}}"
_EN_NAME_RE = re.compile(
    "(?:"
    + "|".join(
        variant
        for introducer in _EN_NAME_INTRODUCERS
        for variant in (introducer, introducer[0].upper() + introducer[1:])
    )
    + "".join(rf"|{title}\.? (?!(?:{_EN_BRANDS_AFTER_TITLE})(?![A-Za-z]))" for title in _EN_TITLES)
    + rf")(?P<name>{_EN_NAME})(?![{_EN_UPPER}{_EN_LOWER}])"
)
# "my tía Consuelo Ibarra": any word after "my" is read first and looked up, which is far
# cheaper than one alternative per relative at each of a narrative's many "my".
_EN_RELATIVE_NAME_RE = re.compile(
    rf"[Mm](?<![A-Za-z].)y (?P<relative>[{_EN_LOWER}-]+),? (?P<name>{_EN_NAME})"
    rf"(?![{_EN_UPPER}{_EN_LOWER}])"
)
_EN_RELATIVE_WORDS = frozenset(_EN_RELATIVES.split())


# "a company named Mosaic", "Company Name: Experian": what is named there is a business.
_EN_ORGANIZATION_BEFORE_RE = re.compile(
    r"(?:company|business|firm|lender|app|agency|bank|organi[sz]ation|store|website|platform"
    r"|servicer|account)\s*$",
    re.IGNORECASE,
)


def _find_en_names(s: str) -> Iterator[_Candidate]:
    for match in _EN_NAME_RE.finditer(s):
        # Introducers must start a word ("renamed Bob" is no introduction).
        if match.start() and s[match.start() - 1].isalpha():
            continue
        if _EN_ORGANIZATION_BEFORE_RE.search(s, max(0, match.start() - 20), match.start()):
            continue
        yield RedactionKind.PERSON_NAME, match.start("name"), match.end("name")
    for match in _EN_RELATIVE_NAME_RE.finditer(s):
        if match.group("relative") in _EN_RELATIVE_WORDS:
            yield RedactionKind.PERSON_NAME, match.start("name"), match.end("name")


# ---------------------------------------------------------------------------------------------
# Chinese addresses
#
# An address is found from its most specific part (road + number, estate, village, building
# unit) and then extended left over administrative units (区, 市, 省 …). Province- or city-only
# mentions have no such anchor and stay: the report keeps the province anyway.

# Characters that end a place name when walking left: pronouns, prepositions and verbs that
# introduce a location (住在, 寄到, 位于, 地址是).
_ADDRESS_STOP_CHARS = frozenset(
    "我你他她它们在住是到去从址为了的给把往被说就对将要想让找过着这那个些每也还又再叫"
)
# Introducers whose characters also occur in place names (于都县, 家园).
_ADDRESS_STOP_BIGRAMS = _words(
    "上门 老家 娘家 婆家 家乡 位于 处于 我家 你家 他家 她家 在家 到家 回家"
)
# Structural characters belong to the unit they close, never to a name. 旗 (a banner, Inner
# Mongolia's county) is not one: it is far more often inside a village name (红旗村), and the
# administrative suffixes still close a banner.
_ADDRESS_STRUCTURE_CHARS = frozenset("省市区县镇乡村号组栋幢室层")
_PLACE_NAME_STOPS = _ADDRESS_STOP_CHARS | _ADDRESS_STRUCTURE_CHARS
# Provinces and large cities, often written without 省/市 or after words the left walk cannot
# tell apart from a name (催收员上门深圳市).
_PLACE_NAMES = _words(
    "北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 "
    "湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾 内蒙古 广西 西藏 宁夏 新疆 "
    "香港 澳门 广州 深圳 杭州 南京 苏州 成都 武汉 西安 长沙 郑州 东莞 佛山 合肥 福州 "
    "厦门 济南 青岛 沈阳 大连 哈尔滨 长春 石家庄 太原 昆明 贵阳 南宁 南昌 兰州 西宁 银川 "
    "乌鲁木齐 拉萨 海口 三亚 呼和浩特 宁波 温州 无锡 常州 徐州 珠海 中山 惠州 汕头 泉州 "
    "烟台 潍坊 洛阳 保定 唐山 廊坊 邯郸 绍兴 嘉兴 金华 台州 南通 扬州 盐城 江门 湛江 "
    "茂名 肇庆 揭阳 清远 韶关 梅州 赣州 九江 上饶 宜昌 襄阳 岳阳 衡阳 株洲 常德 邵阳 "
    "绵阳 南充 宜宾 遵义 曲靖 柳州 桂林 临沂 济宁 淄博 威海 南阳 新乡 商丘 周口 驻马店 "
    "信阳 芜湖 阜阳 安庆 张家口 张家界 秦皇岛 连云港 马鞍山 "
    # Districts whose names contain 市 (青岛市市南区, 济南市市中区).
    "市南 市北 市中"
)
# The lengths of the names above, longest first so the longest known name wins.
_PLACE_NAME_LENGTHS = (4, 3, 2)
_ADMIN_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "自治县",
    "经济技术开发区",
    "开发区",
    "高新区",
    "街道",
    "地区",
    "省",
    "市",
    "区",
    "县",
    "旗",
    "镇",
    "乡",
    "盟",
)
_ADMIN_NAME_MAX = 6
# Towns and subdistricts whose own name holds 市 or 区 (昆山市周市镇).
_TOWN_SUFFIXES = ("镇", "乡", "街道")
_ANCHOR_NAME_MAX = 8
_FALLBACK_NAME_LENGTH = 2
_ZH_NUMERALS = "0-9一二三四五六七八九十百零〇"
_ESTATE_WORDS = "小区|花园|公寓|家园|新村|大厦"
# After a road number, generic building words are safe to include too.
_BUILDING_WORDS = _ESTATE_WORDS + "|广场|中心|大楼|写字楼|园区|园|城|苑|公馆|府|港"
# 春熙路东段17号, 南苑路甲12号院, 漕宝路1555弄12号; "17号楼下" is downstairs of No. 17.
_ROAD_ANCHOR_RE = re.compile(
    rf"(?:大道|大街|路|街|道|巷|弄|胡同)(?:[{_ZH_NUMERALS}]+段|[东南西北中]段)?"
    rf"[甲乙丙丁]?[{_ZH_NUMERALS}]+(?:-[0-9]+)?"
    rf"(?:[弄巷](?:[{_ZH_NUMERALS}]+号)?|号)"
    r"(?:院|楼(?![下上里前道]))?"
)
_ESTATE_ANCHOR_RE = re.compile(_ESTATE_WORDS)
_VILLAGE_ANCHOR_RE = re.compile(r"村(?:委会)?(?:[0-9一二三四五六七八九十]+(?:组|社|队|号))?")
_UNIT_ANCHOR_RE = re.compile(r"[0-9]+(?:号楼|栋|幢|座|单元)")


def _cjk_class_without(excluded: frozenset[str]) -> str:
    """Body of a regex character class: CJK unified ideographs except `excluded`."""
    ranges: list[str] = []
    low = 0x4E00
    for code in sorted(ord(char) for char in excluded):
        if code > low:
            ranges.append(f"\\u{low:04x}-\\u{code - 1:04x}")
        low = code + 1
    ranges.append(f"\\u{low:04x}-\\u9fff")
    return "".join(ranges)


_ADDRESS_TAIL_RE = re.compile(
    rf"(?:[{_cjk_class_without(_PLACE_NAME_STOPS)}]{{2,8}}?(?:{_BUILDING_WORDS})"
    r"|(?:附?[A-Za-z]?[0-9一二三四五六七八九十]+[A-Za-z]?|[A-Za-z])"
    r"(?:号楼|号院|栋|幢|座|单元|门|楼|层|室|号|户|组|社|巷|弄|屯)"
    r"|[0-9]+(?:-[0-9]+){1,3}(?![0-9])"
    # 后王组22号: a team named rather than numbered, then its house number.
    rf"|[{_cjk_class_without(_PLACE_NAME_STOPS)}]{{1,3}}(?:组|队)(?=[0-9])"
    r"|(?:厂区|员工|职工)?宿舍楼?|商铺)*"
    r"(?:[0-9]{3,4}(?![0-9元块年月日号万]))?"
)


def _is_place_char(char: str) -> bool:
    return _is_cjk(char) and char not in _PLACE_NAME_STOPS


def _known_place_name_start(s: str, end: int) -> int | None:
    return next((end - n for n in _PLACE_NAME_LENGTHS if s[end - n : end] in _PLACE_NAMES), None)


def _place_name_start(s: str, end: int, max_length: int) -> int:
    """Start of the place name ending at `end` (== `end` when there is none)."""
    start = end
    while (
        start > 0
        and end - start <= max_length
        and _is_place_char(s[start - 1])
        and s[start - 2 : start] not in _ADDRESS_STOP_BIGRAMS
    ):
        start -= 1
    if end - start > max_length:
        # No boundary in sight: a known place inside the run starts the name (公司苏州工业园区),
        # else most place names are two characters long.
        known_start = _known_place_name_start(s, end)
        if known_start is None:
            known_start = next(
                (
                    index
                    for index in range(start, end - _FALLBACK_NAME_LENGTH)
                    if any(s[index : index + n] in _PLACE_NAMES for n in _PLACE_NAME_LENGTHS)
                ),
                None,
            )
        return end - _FALLBACK_NAME_LENGTH if known_start is None else known_start
    return start


def _admin_unit_start(s: str, end: int) -> int | None:
    """Start of the administrative unit (深圳市, 周市镇, 北京) that ends at `end`, if any."""
    suffix = next((x for x in _ADMIN_SUFFIXES if s.endswith(x, 0, end)), None)
    if suffix is None:
        return _known_place_name_start(s, end)
    name_end = end - len(suffix)
    # Known names first: "他们跑来深圳市" has no boundary word before 深圳.
    known_start = _known_place_name_start(s, name_end)
    if known_start is not None:
        return known_start
    name_start = _place_name_start(s, name_end, _ADMIN_NAME_MAX)
    if name_start < name_end:
        return name_start
    if suffix in _TOWN_SUFFIXES:
        name_start = name_end - _FALLBACK_NAME_LENGTH
        if name_start >= 0 and all(
            _is_cjk(char) and char not in _ADDRESS_STOP_CHARS for char in s[name_start:name_end]
        ):
            return name_start
    return None


def _admin_prefix_start(s: str, start: int) -> tuple[int, int]:
    """Extend `start` left over administrative units; returns the new start and unit count."""
    units = 0
    while True:
        unit_start = _admin_unit_start(s, start)
        # Shopping-site forms separate the units with spaces (湖北省 武汉市 洪山区).
        if unit_start is None and start > 1 and s[start - 1] == " ":
            unit_start = _admin_unit_start(s, start - 1)
        if unit_start is None:
            return start, units
        start = unit_start
        units += 1


def _address_anchors(s: str) -> list[tuple[int, str, re.Match[str]]]:
    """The specific parts an address is built from, in text order."""
    anchors = [
        (match.start(), kind, match)
        for kind, pattern in (
            ("road", _ROAD_ANCHOR_RE),
            ("estate", _ESTATE_ANCHOR_RE),
            ("village", _VILLAGE_ANCHOR_RE),
            ("unit", _UNIT_ANCHOR_RE),
        )
        for match in pattern.finditer(s)
    ]
    return sorted(anchors, key=lambda anchor: anchor[0])


# A building number after a named estate or park belongs to it (锦厦工业园8栋, 金色名府5栋).
_NAMED_BUILDING_BEFORE_RE = re.compile(
    rf"[{_cjk_class_without(_PLACE_NAME_STOPS)}]{{1,{_ANCHOR_NAME_MAX}}}(?:{_BUILDING_WORDS})\Z"
)
_PUBLIC_BUILDINGS = ("政府",)
_CONTINUATION_MAX = 6
_NUMBERED_STREET_AREA_MAX = 12


def _road_name_start(s: str, anchor_start: int, name_start: int) -> int:
    """Start of a road's name where the plain walk left finds too short a one."""
    if anchor_start - name_start >= 2:
        return name_start
    # 商贸城二区23街: a numbered street is named by the area before its number, 区 included.
    digits_start = anchor_start
    while digits_start and s[digits_start - 1].isdigit():
        digits_start -= 1
    if digits_start == anchor_start:
        return name_start
    area_start = digits_start
    while (
        area_start
        and digits_start - area_start < _NUMBERED_STREET_AREA_MAX
        and _is_cjk(s[area_start - 1])
        and s[area_start - 1] not in _ADDRESS_STOP_CHARS
    ):
        area_start -= 1
    return area_start if digits_start - area_start >= 2 else name_start


def _continues_address(s: str, previous_end: int, anchor_start: int) -> bool:
    """Whether a road right after an address is part of it (江头村南区一路37号)."""
    between = s[previous_end:anchor_start]
    return 0 < len(between) <= _CONTINUATION_MAX and all(
        _is_cjk(char) and char not in _ADDRESS_STOP_CHARS for char in between
    )


def _find_zh_addresses(s: str) -> Iterator[_Candidate]:
    spans: list[list[int]] = []
    covered_until = 0
    for anchor_start, anchor, match in _address_anchors(s):
        if anchor_start < covered_until:
            continue
        detail_start = anchor_start
        if anchor == "unit":
            # A building letter belongs to its number (A3栋).
            if detail_start and s[detail_start - 1].isascii() and s[detail_start - 1].isalpha():
                detail_start -= 1
            named = _NAMED_BUILDING_BEFORE_RE.search(
                s, max(0, detail_start - _ANCHOR_NAME_MAX - 4), detail_start
            )
            if named and not named.group().endswith(_PUBLIC_BUILDINGS):
                detail_start = named.start()
        else:
            detail_start = _place_name_start(s, anchor_start, _ANCHOR_NAME_MAX)
            if anchor == "road":
                detail_start = _road_name_start(s, anchor_start, detail_start)
            # 东大街: one character names a 大街 or 大道.
            shortest_name = 1 if match.group().startswith(("大街", "大道")) else 2
            if anchor_start - detail_start < shortest_name:
                if anchor == "road" and spans and _continues_address(s, spans[-1][1], anchor_start):
                    covered_until = spans[-1][1] = _ADDRESS_TAIL_RE.match(s, match.end()).end()
                continue
        # The tail pattern also matches the empty string, so there is always a match.
        end = _ADDRESS_TAIL_RE.match(s, match.end()).end()
        start, admin_units = _admin_prefix_start(s, detail_start)
        has_tail = end > match.end()
        if anchor == "road":
            accepted = True
        elif anchor == "village":
            accepted = has_tail or admin_units > 0 or match.group() != "村"
        else:
            accepted = has_tail or admin_units > 0
        if accepted:
            covered_until = end
            spans.append([start, end])
    for start, end in spans:
        yield RedactionKind.ADDRESS, start, end


_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl"
    r"|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Pike|Trail|Trl|Loop)"
)
# Commas are often left out ("3307 Culebra Rd Apt 118 San Antonio TX 78228").
_EN_CITY_STATE_ZIP = (
    r"(?:,? [A-Z][a-z]+(?: [A-Z][a-z]+)?,? [A-Z]{2}(?![A-Za-z])(?: [0-9]{5}(?:-[0-9]{4})?)?)?"
)
_EN_STREET_ADDRESS = (
    r"[0-9](?<![A-Za-z0-9].)[0-9]{0,5}[A-Z]?(?: 1/2)?"
    r"(?: (?:NE|NW|SE|SW|N|S|E|W|North|South|East|West)\.?)?"
    r" (?:[A-Z][a-z]*|[0-9]{1,3}(?:st|nd|rd|th))(?: [A-Z][a-z]+){0,3} "
    + _STREET_SUFFIX
    + r"(?: (?:NW|NE|SW|SE|N|S|E|W))?(?![A-Za-z])"
    # Highways are numbered after the word (S Hwy 27).
    r"(?:(?:(?<=Hwy)|(?<=Highway)) [0-9]{1,4}(?![0-9]))?"
    r"(?:\.?,? (?:Apt|Apartment|Suite|Ste|Unit|#)\.? ?#?[A-Za-z0-9-]+)?" + _EN_CITY_STATE_ZIP
)
_EN_ADDRESS_RE = re.compile(_EN_STREET_ADDRESS)
# The unit sometimes comes first ("Apt. 12, 6350 Greenway Dr"); a pattern of its own keeps the
# common one starting at a digit, which the regex engine scans for fast.
_EN_UNIT_FIRST_ADDRESS_RE = re.compile(
    r"(?:Apt|Apartment|Unit|Suite|Ste|Lot)\.? ?#?[A-Za-z0-9-]+, " + _EN_STREET_ADDRESS
)
# Post-office and rural-route boxes: "P.O. Box 8807, Tulsa, OK 74101", "RR 2 Box 145" (two
# patterns: one opening with a literal letter is scanned for far faster than an alternation).
_PO_BOX_RE = re.compile(r"P\.? ?O\.? Box [0-9]+" + _EN_CITY_STATE_ZIP)
_RURAL_ROUTE_BOX_RE = re.compile(r"(?:RR|Rural Route|HC) [0-9]+,? Box [0-9]+" + _EN_CITY_STATE_ZIP)


def _find_en_addresses(s: str) -> Iterator[_Candidate]:
    for pattern in (_EN_ADDRESS_RE, _EN_UNIT_FIRST_ADDRESS_RE, _PO_BOX_RE, _RURAL_ROUTE_BOX_RE):
        for match in pattern.finditer(s):
            yield RedactionKind.ADDRESS, match.start(), match.end()


# ---------------------------------------------------------------------------------------------

_DETECTORS = (
    _find_id_numbers,
    _find_bank_cards,
    _find_ssns,
    _find_emails,
    _find_im_accounts,
    _find_phones,
    _find_spelled_numbers,
    _find_zh_addresses,
    _find_en_addresses,
    _find_zh_names,
    _find_en_names,
)


_MIN_REPEATED_NAME_CHARS = 2


def _repeated_names(s: str, candidates: list[_Candidate]) -> list[_Candidate]:
    """Later mentions of a name found by its context ("我叫张三丰……张三丰不还钱").

    A lone surname (王经理 → 王) is too common a character to follow elsewhere, and a Latin
    name must stand as whole words.
    """
    names = {
        s[start:end]
        for kind, start, end in candidates
        if kind is RedactionKind.PERSON_NAME and end - start >= _MIN_REPEATED_NAME_CHARS
    }
    repeated: list[_Candidate] = []
    for name in sorted(names):
        latin = not _is_cjk(name[0])
        for match in re.finditer(re.escape(name), s):
            start, end = match.span()
            if latin and (
                (start and s[start - 1].isalnum()) or (end < len(s) and s[end].isalnum())
            ):
                continue
            repeated.append((RedactionKind.PERSON_NAME, start, end))
    return repeated


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Keep the highest-priority, then longest, candidate of every overlapping group."""
    kept: list[_Candidate] = []
    kept_starts: list[int] = []
    for candidate in sorted(candidates, key=lambda c: (_RANK[c[0]], c[1] - c[2], c[1])):
        _, start, end = candidate
        # Kept spans never overlap, so only the neighbours at the insertion point can collide.
        index = bisect_right(kept_starts, start)
        if (index and kept[index - 1][2] > start) or (
            index < len(kept) and kept_starts[index] < end
        ):
            continue
        kept.insert(index, candidate)
        kept_starts.insert(index, start)
    return kept


def redact_text(text: str) -> RedactionResult:
    """Replace personal data in `text` with typed placeholders such as `[PHONE]`."""
    normalized, origin = _normalize(text)
    candidates = [candidate for detect in _DETECTORS for candidate in detect(normalized)]
    candidates += _repeated_names(normalized, candidates)
    if origin is not None:
        candidates = [(kind, origin[start], origin[end - 1] + 1) for kind, start, end in candidates]
    redactions = tuple(Redaction(kind, start, end) for kind, start, end in _resolve(candidates))
    pieces: list[str] = []
    position = 0
    for redaction in redactions:
        pieces.append(text[position : redaction.start])
        pieces.append(placeholder_for(redaction.kind))
        position = redaction.end
    pieces.append(text[position:])
    return RedactionResult(text="".join(pieces), redactions=redactions)
