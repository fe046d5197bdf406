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
# Twenty words never take more: a longer turn carries a blob (a key, a dump, base64).
MAX_SIMPLE_CHARS = 400


class Decision(msgspec.Struct, frozen=True):
    label: str  # "simple" | "complex"
    reason: str

    @property
    def simple(self) -> bool:
        return self.label == "simple"


class Rules:
    """Alternatives matched against lower-cased text. An alternative that is only words
    (`\\b(why|advice|trade off)\\b`) is looked up in the turn's set of words and word
    pairs, which costs the same however many there are; the rest are one
    regular expression. Those for scripts other than Latin run only on text that has such
    characters, which keeps English turns fast."""

    __slots__ = ("alternatives", "words", "latin", "scripts", "gate")

    def __init__(self, *alternatives: str, scripts: tuple[str, ...] = (), gate: str = "") -> None:
        self.alternatives = alternatives
        # A cheap test every regular-expression alternative needs to pass (a character
        # they all contain), so most turns skip the expensive scan.
        self.gate = re.compile(gate) if gate else None
        words: set[str] = set()
        patterns: list[str] = []
        for alternative in alternatives:
            for branch in _split_top(alternative):
                literal = _literal_words(branch)
                if literal is None:
                    patterns.append(branch)
                    continue
                words.update(phrase for phrase in literal if phrase.count(" ") <= 1)
                longer = [phrase for phrase in literal if phrase.count(" ") > 1]
                if longer:  # word pairs are looked up; longer phrases are searched for
                    patterns.append(r"\b(?:" + "|".join(re.escape(p) for p in longer) + r")\b")
        self.words = frozenset(words)
        self.latin = re.compile("|".join(patterns)) if patterns else None
        self.scripts = re.compile("|".join(scripts)) if scripts else None

    def search(self, lowered: str, latin_only: bool, grams: frozenset[str] = frozenset()) -> bool:
        if not self.words.isdisjoint(grams):
            return True
        if self.latin is not None and (self.gate is None or self.gate.search(lowered) is not None) \
                and self.latin.search(lowered) is not None:
            return True
        return not latin_only and self.scripts is not None and self.scripts.search(lowered) is not None


_GRAM_WORD = re.compile(r"[^\W_]+")
_MAX_EXPANSIONS = 400


def _literal_words(alternative: str) -> list[str] | None:
    """The words and word pairs an alternative stands for, or None when
    it is more than that: `\\bhow (do|does) (i|we)\\b` → "how do i", "how does we"…"""
    if not (alternative.startswith("\\b") and alternative.endswith("\\b")):
        return None
    expanded = _expand(alternative[2:-2])
    if expanded is None:
        return None
    phrases = []
    for text in expanded:
        words = _GRAM_WORD.findall(text.replace("'", ""))
        if not words or "".join(words) != "".join(ch for ch in text if ch.isalnum()):
            return None
        if len(words) > 2 and text != " ".join(words):
            return None  # a longer phrase is searched for as written
        phrases.append(" ".join(words))
    return phrases


def _expand(pattern: str) -> list[str] | None:
    """Every string a pattern of letters, spaces, groups `(a|b)`, classes `[sz]` and
    optional `?` matches; None for anything else (or too many)."""
    position = 0

    def sequence() -> list[str] | None:
        nonlocal position
        results = [""]
        while position < len(pattern) and pattern[position] not in "|)":
            char = pattern[position]
            if char == "(":
                position += 1
                if pattern.startswith("?:", position):
                    position += 2
                options = alternation()
                if options is None or position >= len(pattern) or pattern[position] != ")":
                    return None
                position += 1
            elif char == "[":
                end = pattern.find("]", position)
                if end < 0 or not pattern[position + 1 : end].isalpha():
                    return None
                options = list(pattern[position + 1 : end])
                position = end + 1
            elif char == "\\" and position + 1 < len(pattern) and pattern[position + 1] in ".-'":
                options = [pattern[position + 1]]
                position += 2
            elif char.isalnum() or char in " '-":
                options = [char]
                position += 1
            else:
                return None
            if position < len(pattern) and pattern[position] == "?":
                options = [*options, ""]
                position += 1
            results = [r + o for r in results for o in options]
            if len(results) > _MAX_EXPANSIONS:
                return None
        return results

    def alternation() -> list[str] | None:
        nonlocal position
        found: list[str] = []
        while True:
            part = sequence()
            if part is None:
                return None
            found.extend(part)
            if position < len(pattern) and pattern[position] == "|":
                position += 1
                continue
            return found

    expanded = alternation()
    return expanded if expanded is not None and position == len(pattern) else None


def _split_top(alternative: str) -> list[str]:
    """An alternative's top-level `|` branches."""
    parts, depth, start, index = [], 0, 0, 0
    while index < len(alternative):
        char = alternative[index]
        if char == "\\":
            index += 2
            continue
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(alternative[start:index])
            start = index + 1
        index += 1
    parts.append(alternative[start:])
    return parts


def grams(text: str) -> frozenset[str]:
    """A lower-cased text's words, and its pairs of adjacent words."""
    words = _GRAM_WORD.findall(text.replace("'", "").replace("’", ""))
    return frozenset(words).union(map(" ".join, zip(words, words[1:])))


# --- signs of complexity (any one decides) ---

CODE = Rules(
    r"\btraceback\b", r"\bat line \d", r"\bline \d+, in\b",
    r"\b(insert into|delete from|select \*)\b", r"\bhello world (in|program|app|example|script)\b", r"\bfrom [\w.]+ import\b", r"\bupdate \w+ set\b",
    r"\b(git|kubectl|docker|npm|pip|sudo|cron|crontab|regex|regexp|sql|bash|powershell|terraform|yaml|dockerfile|"
    r"nginx|systemd|shell (command|script))\b(?! (?:stand|mean))",
    r"\b(a|the|this|my|python|js|javascript|go|rust|java|c\+\+|typescript|bash|sql) (function|script|program|snippet|"
    r"code|query|method|class|regex|command|one-liner|macro|formula|dict|dictionary|list|array|object|struct|enum|"
    r"dataframe|type)\b(?! of\b| action\b)",
    r"\b(segmentation fault|core dumped|fatal error|errno|null pointer|nullpointer)\b", r"\bexception in thread\b",
    r"\bundefined is not\b", r"\b0x[0-9a-f]{4,}",
    r"\bfunction (that|to|which|for)\b", r"\b(code|coding|compile|deploy|refactor|debug|stack trace|stacktrace|"
    r"api key|endpoint)\b",
)
# Code that shows in punctuation: run only when the turn has some.
CODE_MARKS = Rules(
    r"```", r"`[^`\n]+`", r"\b\w+(error|exception)\b:", r"=>|->|==|!=|&&|\|\||\+=|\*\*|;\s*$|\w\(\)|\w\([\w'\"\[]",
    r"\b\w+\.\w+\(", r"[{[]\s*[\w'\"]+\s*[:=]", r"\b(def|func|fn|await) \w+ ?\(|\bclass \w+ ?[:({]|"
    r"\b(const|let|var) \w+ ?=|\breturn [\w.]+;|\blambda \w*:|\bimport \w+(\.\w+)* as \w+", r"\b(ls|rm|cd|grep|chmod|curl|ssh|cat|find)\s+-\w",
    r"\b\w+\.\w{1,4}:\d+\b|\bpanic:|\b[a-z_]\w*=\w", r"\$\w+|\b\w+\.(py|js|ts|go|rs|java|rb|sh|yaml|yml|json|toml|sql|env|cpp|h)\b",
    r"\b[a-z]+_[a-z_]+\b", r"\bx\s*\^\s*\d|\bd/dx\b",
    gate=r"[`(){}\[\]=<>;:$_^/|&*+.-]",
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
    r"^if\b|\bif .{3,60}, (what|how|which|who|when)\b",
    r"\bcan you (give|show|make|do|tell me more|elaborate|tile|fit|solve|find|figure)\b",
    r"\b(this|the|that) (page|link|site|url|article|website|video|repo)\b|\bwhat'?s on\b",
    r"\bwhich (one )?(is|are|would be|should) (better|best|bigger|larger|smaller|faster|heavier|cheaper|safer)\b",
    r"\b(best|better|worst|right|ideal) (way|approach|option|choice|database|language|framework|tool|practice|time)\b",
    r"\b(recommend|advice|advise|suggest|opinion|pros and cons|trade-?offs?|compare|comparison|versus|vs\.?)\b",
    r"\bwhich is (bigger|larger|heavier|more)\b",
    r"debería|conviene|dois-je|devrais|soll ich|lohnt|devo |vale a pena",
    # tasks that take several steps, making, analysing
    r"\b(write|draft|compose|create|build|make|design|implement|generate|develop|plan|outline|prepare|set ?up|"
    r"migrate|optimi[sz]e|improve|review|analy[sz]e|evaluate|assess|debug|troubleshoot|diagnose|solve|prove|"
    r"calculate|estimate|predict|brainstorm|research|investigate|audit)\b(?! (this|it|these|that)\b)",
    r"\b(poem|haiku|story|essay|limerick|song|lyrics|speech|cover letter|tweet|blog post|report|proposal) (about|on|for)\b",
    r"\b(step[- ]by[- ]step (guide|plan|instructions)|steps to|walk me through|help me|i need help|can you help)\b",
    r"\bis \d+ (a )?prime\b|\bprime factor|\b(derivative|integral|equation|probability|tip on|split \d|"
    r"per (month|year|hour) for)\b|(?<![\d.])\d+(\.\d+)? ?(%|percent) (of|tip|off)\b",
    r"escr[ií]beme|escribe|haz un|[ée]cris|r[ée]dige|schreib|erstelle|escreva|crie",
    r"\b(the|a) (country|city|person|company|team|year|man|woman|author|actor|place|state) (that|who|which|where)\b",
    scripts=(
        r"为什么|為什麼|怎么|如何|なぜ|どうして|どうやって|почему|зачем|как (сделать|исправить|настроить)|لماذا|كيف|क्यों|कैसे|왜|어떻게",
        r"应该|值得|建议|哪个更|べき|どちらが|стоит ли|лучше|هل يجب|चाहिए|बेहतर|나을까|좋을까",
        r"帮我|幫我|写一|寫一|计划|計画|立てて|書いて|作って|напиши|составь|помоги|اكتب|خطة|लिखो|लिखें|योजना|써 ?줘|만들어",
    ),
)
# The same, for the few that need a digit, a link or an "or": run only when the turn has one.
REASONING_MARKS = Rules(
    r"\d.{0,80}\b(each|every|total|altogether|in all|left|remain)\b",
    r"\b(summari[sz]e|tl;?dr|sum up|gist|key points|read|check|review|open|visit)\b.{0,30}https?://",
    r"\b(bigger|heavier|larger|smaller|faster|cheaper|more|less), .+ or\b",
    gate=r"\d|://| or ",
)
REFERS_BACK = Rules(
    r"\b(that|this|it|those|these|them|they|above|previous|earlier|before|again|same|instead|also|too|another|"
    r"other|rest|more|else|what now|now what|what next|last (one|message|answer|time)|first one|second|third|your (answer|reply|last|code|"
    r"list|message|example|suggestion)|the (\w+ )?ones?|(an|another|more|some) examples?(?! of))\b",
    r"\b(my|our|we|us)\b",  # the user's own situation, stated in earlier turns
    r"^(yes|yeah|yep|yup|sure|ok(ay)?|go ahead|do it|please do|continue|go on|proceed|next|and|but|so|no|nope|"
    r"why not|really|how so|such as|like what|which|in|or|what about|how about|for|with|without|only|just)\b",
    r"el segundo|la segunda|eso|esto|[çc]a |cela|le deuxi[èe]me|das |diese[sn]?|den zweiten|isso|o segundo|"
    r"kürzer|más corto|plus court",
    scripts=(
        r"第二|第一|这个|那个|它|上面|前面|それ|これ|あれ|上記|二番目|это|этот|второй|первый|выше|ذلك|هذا|الثاني|"
        r"यह|वह|दूसरा|그거|이거|두 번째",
    ),
)

# What the turn asks for, beyond a lookup: to act, to work something out, to weigh options,
# advice, or what only earlier turns can tell.
ACTS = Rules(
    # a request to do something in the world (with or without tools): a small model can only pretend
    r"^(please |pls |kindly |now |then |also |ok,? |okay,? |(can|could|would|will) you (please )?|i need you to |"
    r"i want you to |go ahead and |just )?(rotate|deploy|restart|reboot|book|cancel|send|email|e-mail|schedule|delete|"
    r"remove|update|install|uninstall|configure|migrate|run|fix|set|order|buy|purchase|pay|refund|move|rename|upload|"
    r"download|merge|push|revert|roll ?back|invite|remind|call|text|notify|open|close|turn (on|off)|enable|disable|"
    r"start|stop|launch|submit|apply|sign|reserve|transfer|back ?up|archive|clean ?up|tidy|organi[sz]e|find me|"
    r"get me|look up|search|add|post|share|track|monitor|reset|renew|unsubscribe|subscribe|approve|reject|assign|"
    r"ping|page|escalate|file|raise|create|make|draft|prepare|handle|sort out|take care|check (on|if|whether|my|our|"
    r"the)|pull|fetch|grab|provision|scale|bump|upgrade|downgrade|patch|block|unblock|ban|lock|unlock|restore|"
    r"reply|respond|forward|cc|remove|mark|flag|tag|label|pin|print|save|store|export|import|sync|replace)\b",
    r"\b(and|then) (tell|let) me (know )?(what|how|if|whether|when)\b", r"\bwhat'?s left\b|\bleft to do\b",
    r"\b(for me|on my behalf|in my (calendar|inbox|account|repo))\b",
)
WORKS_OUT = Rules(
    # an estimate or an implicit computation
    r"\b(estimate|estimated|ballpark|about how (many|much|long|far))\b",
    r"\bhow (many|much|long|far|big|heavy) .{0,60}\b(would|will|could|can|do i|do we|does it take|should|need|fit|"
    r"left|remain|cost|take|last|afford|save|earn|burn|use|weigh|hold)\b",
    r"(?!0x[0-9a-f])\d\s*(?:[a-z]{1,3}\s*)?(x|×|\*|by)\s*\d", r"\b(total|add up|add them|total cost|in total|altogether|combined|"
    r"per (day|week|month|year|person|head|hour)|average|median|sum|ratio|percentage|split|"
    r"discount|interest|compound|after tax|tax on|tip|profit|margin|break even|breakeven|payback|runway|budget)\b",
    r"\b(volume|area|perimeter|capacity|weight|cost|price)\b.{0,40}\d|\d.{0,40}\b(volume|area|perimeter|capacity)\b",
    r"\b(enough|fit in|fit into|how long until|how long till|how soon|day of the week|what day)\b",
    r"\bhow many (\w{1,2}'?s|letters|vowels|words|syllables|characters)\b|\bhow many days (between|until|since|from|till)\b",
    r"\b(effects? (of|on)|impacts?|consequences?|implications?|second order|ripple|knock on|downsides?|upsides?|"
    r"risks?|trade offs?|tradeoffs?|advantages?|disadvantages?|pros|cons)\b",
    r"\b(and|then|also|plus) (what|who|when|where|how|why|which|tell|give|list|explain|convert|compare)\b",
    r"\?[^?]+\?",
)
WEIGHS = Rules(
    r"\b(which|what) (name|one|option|title|word|phrase|color|colour|logo|approach|plan|city|car|laptop|phone)\b.{0,60}"
    r"\b(better|best|prefer|pick|choose|go with|nicer|sounds)\b",
    r"\b(better|nicer|best|prefer|pick|choose|go with|vs\.?|versus|healthier|cheaper|faster|safer|easier|harder|bigger|"
    r"smaller|stronger|cleaner|quieter|warmer|lighter|heavier|smarter|riskier|older|newer|longer|shorter)\b.{0,80}\bor\b|"
    r"\bor\b.{0,80}\b(better|best|prefer)\b",
    r"\b(good|bad|great|terrible|smart|wise|dumb|stupid|fair|reasonable|realistic|worth) (name|idea|choice|plan|move|"
    r"option|approach|deal|price|offer)\b", r"\b(is|are|was) .{1,40} (a good|a bad|worth|overrated|underrated|fair)\b",
    r"\b(how (should|would|do|can) (i|we)|what should (i|we)|structure|organi[sz]e|layout|architect|best practices?|"
    r"tips?|strategy|roadmap|approach|advice|plan (a|my|our|for|the)|ideas? for)\b",
)
CONTEXT = Rules(
    # what only the conversation so far can tell, whether or not it came with the request
    r"\b(what'?s next|whats next|what next|what now|now what|next step|the rest|same (for|with|as|thing)|do it again|"
    r"continue|keep going|go on|as (before|above)|like (before|last time)|the other (one|two)|you (said|mentioned|"
    r"suggested|wrote)|earlier|previous|last (time|one|answer|message)|from before|that one|this one|those|these ones|"
    r"i asked|asked you|i said|i told|told you|we discussed|we talked|your list|your answer|your plan)\b",
)
CONTEXT_MARKS = Rules(r"\b(step|item|point|option|number|line|section|part) #?\d+\b", gate=r"\d")

# --- signs that a turn is safe for a small local model ---

SMALL_TALK = Rules(
    r"^(hi|hello|hey|yo|hiya|howdy|good (morning|afternoon|evening|night)|thanks?( you)?|thx|ty|cheers|bye|goodbye|"
    r"see you|ok thanks|great|perfect|cool|nice|awesome|got it|test(ing)?|ping)\b[\w\s,.!?:;)(-]{0,30}$", r"^help[.!?]*$",
    r"^(what can you (do|help( me)? with)|what do you do|who (are|made|built|created) you|what('s| is) your name|are you (a bot|human|an ai|real)|"
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
    r"\b(capital|population) of\b", r"^(is|are|was|were|did|does) \w",
    r"\b(boiling|melting|freezing|flash|dew) point\b",
    r"^(chi |qual[ei]? |quant[io] |dove |quando |cosa )|^(hoeveel|wie |wat is|waar |wanneer)|"
    r"^(jaka |jaki |jakie |kto |gdzie |kiedy |ile )|\b(nedir|kimdir|nerede|ka[çc] )",
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
    r"(?<![\d.,])\d[\d.,]*\s*°?\s*(km/h|mph|km|mi|miles?|m|meters?|ft|feet|inch(es)?|cm|mm|kg|g|lbs?|pounds?|oz|ounces?|"
    r"liters?|gal|gallons?|c|f|celsius|fahrenheit|degrees( celsius| fahrenheit)?|kelvin|hours?|minutes?|seconds?|"
    r"days?|weeks?|years?|bytes?|kb|mb|gb|tb)\b.{0,20}\b(to|in|into|as)\b",
    r"\b(translate|format|reformat|sort|alphabeti[sz]e|capitali[sz]e|uppercase|lowercase|title case|reverse|"
    r"remove duplicates|dedupe|bullet(ed)?( list| points)?|numbered list|table|json|csv|iso format|rewrite|rephrase|"
    r"shorten|shorter|more concise|make (this|it) (shorter|a|an|into)|make (this|it) (sound )?(more )?(polite|formal|"
    r"casual|friendly|professional|concise)|remove (the )?(extra )?(spaces|line breaks|punctuation|emojis)|turn (this|it|these) into|put (this|these|a)|spell|fix (the )?"
    r"(spelling|typos?|grammar|punctuation|capitali[sz]ation|this link)|add (thousands )?separators|write (this|it) (in|as))\b",
    r"\b(summari[sz]e|summary|tl;?dr|gist|sum up|shorten)\b",
    r"(convierte|convert[ia]|umrechnen|übersetz|tradu[zcis]|converta|résume|resume|resumen)",
    scripts=(r"换算|转换|换成|翻译|に変換|を翻訳|перевед|конверт|حوّل|تحويل|बदलो",),
)


_LANGUAGES = (r"(english|spanish|french|german|italian|portuguese|japanese|chinese|mandarin|cantonese|korean|russian|"
              r"arabic|hindi|dutch|polish|turkish|swedish|norwegian|danish|finnish|greek|latin|hebrew|czech|"
              r"ukrainian|vietnamese|thai|indonesian|irish|welsh)")
# How to say, spell or pronounce something: a lookup, though it starts like a how-question.
SAY = Rules(
    r"^how (do|would|can) (you|i|we) (say|spell|pronounce|write) .{1,40}$", r"\b" + _LANGUAGES + r" (word|term) for\b",
    r"^(what is|whats|what's|how is) .{1,30} in " + _LANGUAGES + r"\??$", r"^.{1,40} in " + _LANGUAGES + r"\?*$",
    r"^translate (?!.*\b(and|then|also)\b).{1,60}$",
)
_SMALL_TALK_WORDS = frozenset("ok okay cool thanks thank you ty thx cheers great nice awesome perfect got it bye "
                              "for now lol haha good night morning hi hey hello so much a lot".split())
_SMALL_TALK_CORE = frozenset("thanks thank thx ty cheers bye hi hey hello cool great awesome nice perfect".split())


def _only_small_talk(seen: frozenset[str]) -> bool:
    words = {w for w in seen if " " not in w}
    return bool(words) and words <= _SMALL_TALK_WORDS and not words.isdisjoint(_SMALL_TALK_CORE)


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
    seen = grams(core)
    code = CODE.search(lowered, latin, seen) or CODE_MARKS.search(lowered, latin)
    if (SMALL_TALK.search(core, latin, seen) or _only_small_talk(seen)) and not code:
        return Decision("simple", "small talk")
    if code:
        return Decision("complex", "code")
    if has_history and REFERS_BACK.search(core, latin, seen):
        return Decision("complex", "depends on earlier turns")
    if CONTEXT.search(core, latin, seen) or CONTEXT_MARKS.search(core, latin):
        return Decision("complex", "depends on earlier turns")
    if has_history and words <= 2:
        return Decision("complex", "a fragment that continues earlier turns")
    # A job on text the turn carries ("sort these: 42, 7, 19") is judged by what it asks,
    # not by the material.
    ask, material = _split_material(core)
    asked = grams(ask) if material else seen
    if material and TRANSFORM.search(ask, latin, asked) and asked.isdisjoint(_SEVERAL) \
            and not REASONING.search(ask, latin, asked) and not REASONING_MARKS.search(ask, latin) \
            and not WORKS_OUT.search(ask, latin, asked):
        return Decision("simple", "conversion or formatting of text it carries")
    if ACTS.search(ask, latin, asked):
        return Decision("complex", "a request to act")
    if _computes(ask) or WORKS_OUT.search(ask, latin, asked):
        return Decision("complex", "an estimate, a computation or several operations")
    if WEIGHS.search(ask, latin, asked):
        return Decision("complex", "a judgment, advice or a plan")
    if SAY.search(core, latin, seen) and not has_history:
        return Decision("simple", "a translation, spelling or pronunciation")
    if REASONING.search(core, latin, seen) or REASONING_MARKS.search(core, latin) \
            or (material and REASONING.search(ask, latin, asked)):
        return Decision("complex", "reasoning, judgment or a task")
    if DEFINITION.search(core, latin, seen):
        return Decision("simple", "definition")
    if TRANSFORM.search(core, latin, seen):
        if material or _SUMMARY.search(core) is None:
            return Decision("simple", "conversion or formatting")
        return Decision("complex", "summary of something not given")
    if LOOKUP.search(core, latin, seen):
        return Decision("simple", "lookup or definition")
    return Decision("complex", "not clearly simple")


# Framing that says nothing about the task: "Quick one:", "Step by step,", "URGENT!!!",
# "Explain:", "unrelated, but", "ok. different topic:". The question after it decides.
_FRAMING = re.compile(
    r"^((please |quick(ly)? |simple |short |easy |long |dumb |silly |random |unrelated|different topic|off topic|"
    r"one more|also|ok(ay)?|so|hey|urgent|important|question|q|reason carefully|think carefully|please think carefully|"
    r"step by step|explain|briefly|in short|tell me|i need a detailed, thorough answer|sorry)\b[\w\s,.!'-]{0,40}?[:,.!]+\s*)+"
)
_AFTER_FRAMING = re.compile(r"^(but|and|so|anyway),?\s+")
_EXPLAIN_DEFINITION = re.compile(r"^(can you |could you |please )?explain (what|the (acronym|abbreviation|term|word))\b")
_SUMMARY = re.compile(r"summar|tl;?dr|gist|sum up|shorten")
_QUOTED = re.compile(r"['\"«“‘].{3,}['\"»”’]")


_COMPOUND_MEASURE = re.compile(r"\d\s*(?:feet|foot|ft|lbs?|pounds?|st|stone|h|hrs?|hours?)\s+\d")
_SEVERAL = frozenset(("and", "then", "also", "plus"))  # an ask that joins two jobs
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,/]\d+)*")


def _without_framing(text: str) -> str:
    core = _EXPLAIN_DEFINITION.sub("what", text)
    stripped = _FRAMING.sub("", core, count=1)
    if stripped != core:
        stripped = _AFTER_FRAMING.sub("", stripped, count=1)
    return stripped or core


def _split_material(text: str) -> tuple[str, str]:
    """The ask, and the text it carries to work on (after a colon, or quoted), if any."""
    head, colon, tail = text.partition(":")
    if colon and tail.strip() and not head.endswith(("http", "https")):
        return head, tail
    quoted = _QUOTED.search(text)
    if quoted is not None:
        return text[: quoted.start()] + text[quoted.end():], quoted.group(0)
    return text, ""


_ARITHMETIC = re.compile(r"^\D*\d+(?:[.,/]\d+)*\s*(?:times|plus|minus|divided by|multiplied by|over|[-+*/x×÷])\s*"
                         r"\d+(?:[.,/]\d+)*\D*$")


def _computes(ask: str) -> bool:
    """Numbers that have to be combined: two or more (a four-digit year is not one),
    unless it is one plain operation on two numbers ("what is 7 times 8")."""
    count = -len(_COMPOUND_MEASURE.findall(ask))  # "5 feet 10", "2 h 30": one quantity
    for match in _NUMBER.finditer(ask):
        digits = match.group(0)
        if not (len(digits) == 4 and digits[:2] in ("19", "20")):
            count += 1
    return count > 2 or (count == 2 and _ARITHMETIC.match(ask) is None)


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
