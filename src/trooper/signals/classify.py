"""The turn classifier: is the last user turn `simple` (safe for a small local model) or
`complex`? Deterministic rules, no model call, microseconds per decision.

Sending a complex turn to a 3B model is the costly error, so the rules are asymmetric:
any sign of complexity wins, and `simple` needs a positive sign that the turn is a
stateless lookup, definition, conversion, formatting job on text it carries, a short
summary of text it carries, or small talk. Everything else is complex.
"""

from __future__ import annotations

import re

import msgspec

from trooper.conversation import Conversation, Message, TextBlock, ToolResultBlock
from trooper.signals.bounded import has_long_run

MAX_SIMPLE_WORDS = 20
MAX_SIMPLE_CHARS = 400


class Decision(msgspec.Struct, frozen=True):
    label: str  # "simple" | "complex"
    reason: str

    @property
    def simple(self) -> bool:
        return self.label == "simple"


class Rules:
    """Alternatives matched against lower-cased text. Those for scripts other than Latin
    run only on text that has such characters, which keeps English turns fast."""

    __slots__ = ("latin", "scripts")

    def __init__(self, *alternatives: str, scripts: tuple[str, ...] = ()) -> None:
        self.latin = re.compile("|".join(alternatives))
        self.scripts = re.compile("|".join(scripts)) if scripts else None

    def search(self, lowered: str, latin_only: bool) -> bool:
        if self.latin.search(lowered) is not None:
            return True
        return not latin_only and self.scripts is not None and self.scripts.search(lowered) is not None




# --- signs of complexity (any one decides) ---

CODE = Rules(
    r"```", r"`[^`\n]+`", r"\btraceback\b", r"\b\w+(error|exception)\b:", r"\bat line \d", r"\bline \d+, in\b",
    r"\b(def|func|fn|class|import|const|let|var|return|async|await|lambda|select|insert|update|delete)\s+[\w*(]",
    r"=>|->|==|!=|&&|\|\||\+=|\*\*|;\s*$|\w\(\)|\w\([\w'\"\[]", r"\b\w+\.\w+\(", r"[{[]\s*[\w'\"]+\s*[:=]",
    r"\b(git|kubectl|docker|npm|pip|sudo|cron|crontab|regex|regexp|sql|bash|powershell|terraform|yaml|dockerfile|"
    r"nginx|systemd|shell (command|script))\b(?! (?:stand|mean))", r"\b(ls|rm|cd|grep|chmod|curl|ssh|cat|find)\s+-\w",
    r"\b(a|the|this|my|python|js|javascript|go|rust|java|c\+\+|typescript|bash|sql) (function|script|program|snippet|"
    r"code|query|method|class|regex|command|one-liner|macro|formula|dict|dictionary|list|array|object|struct|enum|"
    r"dataframe|type)\b(?! of\b)",
    r"0x[0-9a-f]{4,}|\b\w+\.\w{1,4}:\d+\b|segmentation fault|core dumped|\bpanic:|fatal error|exception in thread|"
    r"\berrno\b|\bnull ?pointer|\bundefined is not\b|\b[a-z_]\w*=\w",
    r"\bfunction (that|to|which|for)\b", r"\b(code|coding|compile|deploy|refactor|debug|stack ?trace|api key|endpoint)\b",
    r"\$\w+|\w+\.(py|js|ts|go|rs|java|rb|sh|yaml|yml|json|toml|sql|env|cpp|h)\b",
    r"\b[a-z]+_[a-z_]+\b", r"\bx\s*\^\s*\d|\bd/dx\b",
)
REASONING = Rules(
    # why and how-things-work questions, in the languages people write to agents
    r"\bwhy\b", r"\bhow (do|does|did|can|could|would|should|to|come)\b", r"\bwhat (would|will|might) happen\b",
    r"\bwhat happens (if|when)\b", r"\bexplain (why|how)\b", r"\b(cause|reason) (of|for)\b",
    r"\bpor ?qu[ée]\b|\bpourquoi\b|\bcomment (faire|puis)|\bwarum\b|\bwieso\b|\bpor que\b|\bcomo (fa[çc]o|posso)\b",
    # judgment and advice
    r"\bshould (i|we|you|my|our|it)\b", r"\b(is|are) (it|this|that|my|these|they|those) [\w' ]{0,20}(safe|secure|strong|"
    r"good|bad|worth|legit|ok|okay|normal|enough|right|correct|wise|better)\b", r"\bworth it\b", r"^is it\b",
    r"\b(better|worse|healthier|safer|cheaper|faster) than\b", r"\bwould you (pick|choose|recommend|use|go with|buy|do)\b",
    r"\b(then|and then|after that|afterwards)\b", r"\b(what comes next|next number|sequence|puzzle|riddle)\b",
    r"^if\b|\bif .{3,60}, (what|how|which|who|when)\b", r"\d.{0,80}\b(each|every|total|altogether|in all|left|remain)\b",
    r"\b(summari[sz]e|tl;?dr|sum up|gist|key points|read|check|review|open|visit)\b.{0,30}https?://",
    r"\bcan you (give|show|make|do|tell me more|elaborate|tile|fit|solve|find|figure)\b",
    r"\b(this|the|that) (page|link|site|url|article|website|video|repo)\b|\bwhat'?s on\b",
    r"\bwhich (one )?(is|are|would be|should) (better|best|bigger|larger|smaller|faster|heavier|cheaper|safer)\b",
    r"\b(best|better|worst|right|ideal) (way|approach|option|choice|database|language|framework|tool|practice|time)\b",
    r"\b(recommend|advice|advise|suggest|opinion|pros and cons|trade-?offs?|compare|comparison|versus|vs\.?)\b",
    r"\b(bigger|heavier|larger|smaller|faster|cheaper|more|less), .+ or\b|,? which is (bigger|larger|heavier|more)\b",
    r"debería|conviene|dois-je|devrais|soll ich|lohnt|devo |vale a pena",
    # tasks that take several steps, making, analysing
    r"\b(write|draft|compose|create|build|make|design|implement|generate|develop|plan|outline|prepare|set ?up|"
    r"migrate|optimi[sz]e|improve|review|analy[sz]e|evaluate|assess|debug|troubleshoot|diagnose|solve|prove|"
    r"calculate|estimate|predict|brainstorm|research|investigate|audit)\b(?! (this|it|these|that)\b)",
    r"\b(poem|haiku|story|essay|limerick|song|lyrics|speech|cover letter|tweet|blog post|report|proposal) (about|on|for)\b",
    r"\b(step[- ]by[- ]step (guide|plan|instructions)|steps to|walk me through|help me|i need help|can you help)\b",
    r"\bis \d+ (a )?prime\b|\bprime factor|\b(derivative|integral|equation|probability|tip on|split \d|"
    r"per (month|year|hour) for)\b|\d+(\.\d+)? ?(%|percent) (of|tip|off)\b",
    r"escr[ií]beme|escribe|haz un|[ée]cris|r[ée]dige|schreib|erstelle|escreva|crie",
    r"\b(the|a) (country|city|person|company|team|year|man|woman|author|actor|place|state) (that|who|which|where)\b",
    scripts=(
        r"为什么|為什麼|怎么|如何|なぜ|どうして|どうやって|почему|зачем|как (сделать|исправить|настроить)|لماذا|كيف|क्यों|कैसे|왜|어떻게",
        r"应该|值得|建议|哪个更|べき|どちらが|стоит ли|лучше|هل يجب|चाहिए|बेहतर|나을까|좋을까",
        r"帮我|幫我|写一|寫一|计划|計画|立てて|書いて|作って|напиши|составь|помоги|اكتب|خطة|लिखो|लिखें|योजना|써 ?줘|만들어",
    ),
)
REFERS_BACK = Rules(
    r"\b(that|this|it|those|these|them|they|above|previous|earlier|before|again|same|instead|also|too|another|"
    r"other|rest|more|else|what now|now what|what next|last (one|message|answer|time)|first one|second|third|your (answer|reply|last|code|"
    r"list|message|example|suggestion)|the (\w+ )?ones?|(an|another|more|some) examples?(?! of))\b",
    r"\b(my|our|we|us)\b",  # the user's own situation, stated in earlier turns
    r"^(yes|yeah|yep|yup|sure|ok(ay)?|go ahead|do it|please do|continue|go on|proceed|next|and|but|so|no|nope|"
    r"why not|really|how so|such as|like what|which)\b",
    r"el segundo|la segunda|eso|esto|[çc]a |cela|le deuxi[èe]me|das |diese[sn]?|den zweiten|isso|o segundo|"
    r"kürzer|más corto|plus court",
    scripts=(
        r"第二|第一|这个|那个|它|上面|前面|それ|これ|あれ|上記|二番目|это|этот|второй|первый|выше|ذلك|هذا|الثاني|"
        r"यह|वह|दूसरा|그거|이거|두 번째",
    ),
)

# --- signs that a turn is safe for a small local model ---

SMALL_TALK = Rules(
    r"^(hi|hello|hey|yo|hiya|howdy|good (morning|afternoon|evening|night)|thanks?( you)?|thx|ty|cheers|bye|goodbye|"
    r"see you|ok thanks|great|perfect|cool|nice|awesome|got it|help|test(ing)?|ping)\b[\w\s,.!?:;)(-]{0,30}$",
    r"^(what can you do|who (are|made|built|created) you|what('s| is) your name|are you (a bot|human|an ai|real)|"
    r"what model are you|can you (speak|understand) \w+|do you (remember|know|speak)|are you there|you there)\b",
    r"^(just )?testing\b", r"\bthat'?s (perfect|great|all|it|fine)\b", r"^(ok|okay),? (thanks|thank you|bye)",
    r"^(hola|gracias|bonjour|salut|merci|hallo|danke|guten (morgen|tag)|olá|obrigad[oa])",
    scripts=(r"^(你好|您好|谢谢|こんにちは|こんばんは|ありがとう|привет|здравствуйте|спасибо|مرحبا|شكرا|नमस्ते|धन्यवाद|안녕|감사)",),
)
LOOKUP = Rules(
    r"(^|[,:;.!?]\s*|\b(tell me|know|wondering|ask you) )(what|what's|whats|who|who's|whos|when|where|which|how many|"
    r"how much|how tall|how far|how long|how old|how big|how deep|how high|how fast|how heavy|how hot|how cold|name)\b",
    r"^(the )?(tallest|largest|smallest|longest|biggest|highest|deepest|oldest|fastest|hottest|coldest|"
    r"most populous|first|last)\b",
    r"\b(capital|population|currency|language|height|weight|distance|boiling|melting|freezing|speed|area|"
    r"length|age|birthday|founder|author|inventor|president|ceo|time ?zone|area code|symbol|formula|year|date)\b"
    r" (of|in|for)\b",
    r"\b(capital|population) of\b",
    r"(^¿?cu[áa]nt[oa]s?|^¿?qui[ée]n|^¿?qu[ée] (es|significa)|^¿?cu[áa]l es|^¿?d[óo]nde)|"
    r"(^que veut dire|^qu'est-ce que|^quel(le)? est|^combien|^o[ùu] (est|se))|(^wie viele|^was (ist|bedeutet)|^wer |"
    r"^wo (ist|liegt)|^wann)|(^qual [ée]|^quem|^o que [ée]|^quant[oa]s|^onde)|\bka matlab\b|\bkya hai\b|\bkya hota\b",
    scripts=(
        r"(是哪里|是什么|什么是|是多少|等于多少|多少|是谁|在哪|意思)|(ですか|とは|意味|何|どこ|いつ|誰)|"
        r"(^сколько|^что такое|^что значит|^кто|^где|^когда|^какой)|(^ما هي|^ما هو|^كم|^من هو|^أين|^متى)|"
        r"(क्या है|कौन|कितने|कितना|कहाँ|कब)|(어디|몇|무엇|뭐예요|누구|언제)",
    ),
)
DEFINITION = Rules(
    r"\b(stand for|stands for|meaning of|mean(s)?\b|definition|define|acronym|abbreviation|synonym|antonym|"
    r"opposite of|plural of|past tense|pronounce|difference between)",
)
TRANSFORM = Rules(
    r"\b(convert|conversion|in (km|kilometers|miles|meters|feet|inches|cm|celsius|fahrenheit|kelvin|kg|pounds|lbs|grams|"
    r"ounces|liters|gallons|hours|minutes|seconds|days|weeks|binary|hex|roman numerals))\b",
    r"\bhow many \w+ (are )?(in|is|per) (a|an|one|\d)", r"\b\d+(\.\d+)? ?\w+ (to|in|into) \w+\b",
    r"\d[\d.,]*\s*°?\s*(km/h|mph|km|mi|miles?|m|meters?|ft|feet|inch(es)?|cm|mm|kg|g|lbs?|pounds?|oz|ounces?|"
    r"liters?|gal|gallons?|c|f|celsius|fahrenheit|degrees( celsius| fahrenheit)?|kelvin|hours?|minutes?|seconds?|"
    r"days?|weeks?|years?|bytes?|kb|mb|gb|tb)\b.{0,20}\b(to|in|into|as)\b",
    r"\b(translate|format|reformat|sort|alphabeti[sz]e|capitali[sz]e|uppercase|lowercase|title case|reverse|"
    r"remove duplicates|dedupe|bullet(ed)?( list| points)?|numbered list|table|json|csv|iso format|rewrite|rephrase|"
    r"shorten|make (this|it) (shorter|a|an|into)|turn (this|it|these) into|put (this|these|a)|spell|fix (the )?"
    r"(spelling|typos?|grammar|punctuation|capitali[sz]ation|this link)|add (thousands )?separators|write (this|it) (in|as))\b",
    r"\b(summari[sz]e|summary|tl;?dr|gist|sum up|shorten)\b",
    r"(convierte|convert[ia]|umrechnen|übersetz|tradu[zcis]|converta|résume|resume|resumen)",
    scripts=(r"换算|转换|换成|翻译|に変換|を翻訳|перевед|конверт|حوّل|تحويل|बदलो",),
)


def classify(conversation: Conversation) -> Decision:
    """The decision for the conversation's last user turn."""
    if conversation.tools:
        return Decision("complex", "tools defined")
    last = _last_user(conversation.messages)
    if last is None:
        return Decision("complex", "no user turn")
    if any(type(b) is not TextBlock for b in last.content):
        return Decision("complex", "non-text content")
    has_history = conversation.messages.index(last) > 0
    return classify_text(last.text(), has_history)


def classify_text(text: str, has_history: bool = False) -> Decision:
    text = text.strip()
    if not text:
        return Decision("complex", "empty turn")
    words = word_count(text)
    if words > MAX_SIMPLE_WORDS:
        return Decision("complex", f"{words} words")
    # Bounds the rules' work (signals/bounded.py): no simple turn is this long or has such a word.
    if len(text) > MAX_SIMPLE_CHARS or has_long_run(text):
        return Decision("complex", f"{len(text)} characters")
    lowered = text.lower()
    latin = max(lowered) < "\u0250"
    core = _without_framing(lowered)
    code = CODE.search(lowered, latin)
    if SMALL_TALK.search(core, latin) and not code:
        return Decision("simple", "small talk")
    if code:
        return Decision("complex", "code")
    if has_history and REFERS_BACK.search(core, latin):
        return Decision("complex", "depends on earlier turns")
    if REASONING.search(core, latin):
        return Decision("complex", "reasoning, judgment or a task")
    if DEFINITION.search(core, latin):
        return Decision("simple", "definition")
    if TRANSFORM.search(core, latin):
        if _carries_material(core) or _SUMMARY.search(core) is None:
            return Decision("simple", "conversion or formatting")
        return Decision("complex", "summary of something not given")
    if LOOKUP.search(core, latin):
        return Decision("simple", "lookup or definition")
    return Decision("complex", "not clearly simple")


# Framing that says nothing about the task: "Quick one:", "Step by step,", "URGENT!!!",
# "Explain:", "unrelated, but", "ok. different topic:". The question after it decides.
_FRAMING = re.compile(
    r"^((please |quick(ly)? |simple |short |easy |long |dumb |silly |random |unrelated|different topic|off topic|"
    r"one more|also|ok(ay)?|so|hey|urgent|important|question|q|reason carefully|think carefully|please think carefully|"
    r"step by step|explain|briefly|in short|tell me|i need a detailed, thorough answer|sorry)\b[\w\s,.!'-]{0,40}?[:,.!]+\s*)+"
)
_EXPLAIN_DEFINITION = re.compile(r"^(can you |could you |please )?explain (what|the (acronym|abbreviation|term|word))\b")
_SUMMARY = re.compile(r"summar|tl;?dr|gist|sum up|shorten")
_QUOTED = re.compile(r"['\"«“‘].{3,}['\"»”’]")


def _without_framing(text: str) -> str:
    core = _EXPLAIN_DEFINITION.sub("what", text)
    stripped = _FRAMING.sub("", core, count=1)
    return stripped or core


def _carries_material(text: str) -> bool:
    """Does the turn carry the text it asks about (after a colon, or quoted)?"""
    head, colon, tail = text.partition(":")
    return bool(colon and tail.strip()) or _QUOTED.search(text) is not None


def word_count(text: str) -> int:
    """Whitespace words, with scripts written without spaces (Chinese, Japanese) counted
    at about two characters a word."""
    words = len(text.split())
    if text.isascii():
        return words
    dense = sum(1 for ch in text if _dense_script(ch))
    return words + dense // 2


def _dense_script(ch: str) -> bool:
    code = ord(ch)
    return 0x3040 <= code <= 0x30FF or 0x3400 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF


def _last_user(messages: tuple[Message, ...]) -> Message | None:
    for message in reversed(messages):
        if message.role == "user" and not all(type(b) is ToolResultBlock for b in message.content):
            return message
        if message.role == "user":
            return message  # a tool result turn: part of a tool loop, which is complex
    return None


__all__ = ["Decision", "classify", "classify_text", "word_count"]
