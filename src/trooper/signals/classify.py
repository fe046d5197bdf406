"""The turn classifier: is the last user turn `simple` (safe for a small local model) or
`complex`? Deterministic rules, no model call, microseconds per decision.

Sending a complex turn to a 3B model is the costly error, so the rules are asymmetric:
any sign of complexity wins, and `simple` needs a positive sign that the turn is a
stateless lookup, definition, conversion, a job on text it carries (reformat, tidy,
shorten, summarise, translate it, read one thing out of it), a plain question the request's
system prompt answers, one fact question among scene-setting chat, or small talk. Everything
else is complex, and a simple sign does not count when the turn also asks for more: a
hypothetical or a condition, effects, a choice between options, the asker's own case, several
operations, a number worked out of a given quantity, something only earlier turns name. The
signs are what the turn asks for, not how it is phrased in one writer's data: the rules were
checked on turns written blind from the labelling guide before being tuned on them
(bench/classifier.py).
"""

from __future__ import annotations

import re

import msgspec

from trooper.conversation import Conversation, Message, TextBlock
from trooper.signals.bounded import MAX_RUN, has_long_run
from trooper.signals.rules import AnyOf, Rules, expression, grams

MAX_SIMPLE_WORDS = 20
# Twenty words never take more: a longer turn carries a blob (a key, a dump, base64).
MAX_SIMPLE_CHARS = 400
# A short ask about a short text the turn carries (a paragraph to summarise or tidy) may be longer.
MAX_MATERIAL_WORDS = 200
MAX_MATERIAL_CHARS = 1400


class Decision(msgspec.Struct, frozen=True):
    label: str  # "simple" | "complex"
    reason: str

    @property
    def simple(self) -> bool:
        return self.label == "simple"


# --- signs of complexity (any one decides) ---

CODE = Rules(
    r"\btraceback\b", r"\bat line \d", r"\bline \d+, in\b",
    # (no boundary after "*": one there asks for a letter right after it, so "select * from" never matched)
    r"\b(insert into\b|delete from\b|select \*)", r"\bhello world (in|program|app|example|script)\b", r"\bfrom [\w.]+ import\b", r"\bupdate \w+ set\b",
    r"\b(git|kubectl|docker|npm|pip|sudo|cron|crontab|regex|regexp|sql|bash|powershell|terraform|yaml|dockerfile|"
    r"nginx|systemd|shell (command|script))\b(?! (?:stand|mean))",
    r"\b(a|the|this|my|python|js|javascript|go|rust|java|c\+\+|typescript|bash|sql) (function|script|program|snippet|"
    r"code|query|method|class|regex|command|one-liner|macro|dict|dictionary|array|object|struct|enum|"
    r"dataframe|type)\b(?! of\b| action\b)",
    # a list in a language is code; "this list" is most often a list of things to tidy
    r"\b(python|js|javascript|go|rust|java|c\+\+|typescript|bash) lists?\b|\blist comprehensions?\b",
    r"\b(segmentation fault|core dumped|fatal error|errno|null pointer|nullpointer)\b", r"\bexception in thread\b",
    r"\b(vlookup|xlookup|hlookup|sumif|sumifs|countif|countifs|index match|arrayformula)\b",  # spreadsheet code
    # a spreadsheet's formula is code; "the formula for the area of a circle" is a definition
    r"\b(excel|spreadsheet|sheets|sheet|cell|macro) formulas?\b|\bformulas? (in|for) (excel|sheets|google sheets|a cell|a spreadsheet)\b",
    r"\bundefined is not\b", r"0x(?<=\b0x)[0-9a-f]{4,}",  # (literal first: see CARRIED_CODE)
    r"\bfunction (that|to|which|for)\b", r"\b(pythonic|idiomatic|code|coding|compile|deploy|refactor|debug|stack trace|stacktrace|"
    r"api key|endpoint)\b",
)
# Code that shows in punctuation: run only when the turn has some.
CODE_MARKS = AnyOf(
    # each kind of mark is looked for only in a turn that has its character
    Rules(r"```", r"`[^`\n]+`", gate="`"),
    Rules(r"\w\(\)|\w\([\w'\"\[]", r"\b\w+\.\w+\(", r"\b(def|func|fn|await) \w+ ?\(", r"\bclass \w+ ?[:({]", gate=r"\("),
    Rules(r"=>|==|!=|\+=", r"\b(const|let|var) \w+ ?=", r"\b[a-z_]\w*=\w", gate="="),
    Rules(r"->|&&|\|\||\*\*|;\s*$", r"\breturn [\w.]+;", gate=r"->|&&|\|\||\*\*|;"),
    Rules(r"\b(?!c\+\+)[a-z_]\w*(\+\+|--)(?![\w-])|(?<![\w+-])(\+\+|--)[a-z_]", gate=r"\+\+|--"),  # "x = x++"; not "c++"
    Rules(r"\b\w+(error|exception)\b:", r"\bpanic:", r"\b\w+\.\w{1,4}:\d+\b", r"\blambda \w*:", r"\bclass \w+ ?:", gate=":"),
    Rules(r"[{[]\s*[\w'\"]+\s*[:=]", r"\bclass \w+ ?\{", gate=r"[{\[]"),
    Rules(r"\bimport \w+(\.\w+)* as \w+", r"\b(ls|rm|cd|grep|chmod|curl|ssh|cat|find)\s+-\w", gate=r"import |\s-\w"),
    Rules(r"\$\w+", gate=r"\$"),
    Rules(r"\b\w+\.(py|js|ts|go|rs|java|rb|sh|yaml|yml|json|toml|sql|env|cpp|h)\b", gate=r"\.[a-z]"),
    Rules(r"\b[a-z]+_[a-z_]+\b", gate="_"),
    Rules(r"\bx\s*\^\s*\d|\bd/dx\b", gate=r"\^|d/dx"),
    gate=r"[`(=&|*;+:{\[$._^/-]", gate_text="import ",  # a character or word one of the gates above needs
)
REASONING = Rules(
    # why and how-things-work questions, in the languages people write to agents
    r"\bwhy\b", r"^explain\b", r"\bhow (do|does|did|can|could|would|should|to|come)\b", r"\bwhat (would|will|might) happen\b",
    r"\bwhat happens\b", r"\bwhat if\b",
    # why, asked as a what: what makes or causes it, the mechanism or logic behind it
    r"\bwhat(s| is| are)? (makes?|made|causes?|caused|drives?|determines?|keeps?|lets?|allows?|leads? to|triggers?)\b",
    r"\b(reasons?|logic|science|mechanism|idea|theory|rationale|thinking|physics|math|maths|psychology|story|secret) behind\b",
    r"\bwhat('?s| is) behind\b", r"\bwhat('?s| is) the (point|purpose) of\b",
    # a role, a significance, a relation, a case for or against, what the evidence or the experts say
    r"\b(role (of|in|did|does|do)|significance|importance|legacy|(relationship|connection|link|correlation) between|"
    r"arguments? (for|against)|evidence (that|for|of)|ethics of|morality of|lessons? (from|of|learned|we can|can))\b",
    r"\bwhat (do|does) (\w+ )?(economists|experts|scientists|studies|research|doctors|historians|critics) (say|think)\b", r"\bexplain (why|how)\b", r"\b(cause|causes|caused|reason) (of|for)\b",
    r"\b(could|would|might) cause\b", r"\bwho (pays|is liable|is responsible|wins|loses|benefits|suffers|gains)\b",
    r"\bam i allowed\b",
    # something that fails: a problem to troubleshoot, however short ("pivot table won't refresh", "wifi keeps dropping")
    r"\b(won'?t|wont|doesn'?t|doesnt|isn'?t|isnt|can'?t|cant|cannot|stopped|keeps) (work|working|load|loading|open|opening|"
    r"start|starting|refresh|refreshing|update|updating|connect|connecting|sync|syncing|print|printing|save|saving|boot|"
    r"booting|charge|charging|install|installing|run|running|respond|responding|turn on|crashing|freezing|failing|"
    r"dropping|disconnecting)\b",
    # an origin or a reason asked as a fact: explained ("where does rain come from", "the reason the sky is blue")
    r"\bwhere (does|do|did) .{1,40} come from\b", r"\bthe reason\b",
    # what the asker needs, or how to treat an illness: advice for a case ("what size generator do i need for a
    # fridge", "what is the treatment for strep throat")
    r"\b(do|does|would|will|should) (i|we) need\b", r"\b(treatment|treatments|cure|cures|remedy|remedies) (for|of)\b",
    r"\bhow (to|do i|do you|can i|should i) (treat|cure|get rid of)\b",
    r"\bwho (is |was |are )?(right|wrong|correct|at fault|to blame|in the wrong)\b", r"\bwhos (right|wrong|correct)\b",
    r"\bpor ?qu[ée]\b|\bpourquoi\b|\bcomment (faire|puis)|\bwarum\b|\bwieso\b|\bpor que\b|\bcomo (fa[çc]o|posso)\b",
    r"\bwie (kann|soll|mache|könnte) (ich|man)\b|\bc[óo]mo (puedo|hago|se hace|podr[íi]a)\b|\bcome (posso|faccio|si fa)\b|"
    r"\bhoe (kan|moet|maak) ik\b|\bjak (mog[ęe]|zrobi[ćc])\b",
    r"\b(in detail|in depth|in-depth|detailed|thoroughly|explica|expl[ií]came|explique|expliquez|erkl[äa]re?|erkl[äa]ren sie|"
    r"spiega|spiegami|wyja[śs]nij|leg uit|a[çc][ıi]kla|en d[ée]tail|en detalle|im detail|ausf[üu]hrlich|nel dettaglio)\b",
    # judgment and advice
    r"\bshould\b", r"\b(is|are) (it|this|that|my|these|they|those) [\w' ]{0,20}(safe|secure|strong|"
    r"good|bad|worth|legit|ok|okay|normal|enough|right|correct|wise|better|natural|grammatical|idiomatic)\b", r"\bworth it\b", r"^is it\b",
    r"\b(better|worse|healthier|safer|cheaper|faster) than\b", r"\bwould you (pick|choose|recommend|use|go with|buy|do)\b",
    r"\b(then|and then|after that|afterwards)\b", r"\b(what comes next|next number|sequence|puzzle|riddle|odd one out)\b",
    r"\b(does ?n'?t|does not|do ?n'?t|do not) (belong|fit)\b",  # which one does not belong: a puzzle
    # what a behaviour or a sign means, or a story's moral: explained, not defined ("what does it mean when my
    # cat kneads me", "the moral of the tortoise and the hare")
    r"\bmeans? (when|if)\b", r"\b(moral|theme|themes|symbolism|message|lesson|subtext) of\b",
    r"^if\b|\bif .{3,60}, (what|how|which|who|when)\b",
    r"\bcan you (give|show|make|do|tell me more|elaborate|tile|fit|solve|find|figure)\b",
    r"\b(this|the|that) (page|link|site|url|article|website|video|repo)\b|\bwhat'?s on\b",
    r"\bwhich (one )?(is|are|would be|should) (better|best|bigger|larger|smaller|faster|heavier|cheaper|safer)\b",
    r"\b(best|better|worst|right|ideal) (way|approach|option|choice|database|language|framework|tool|practice|time)\b",
    r"\b(recommend|advice|advise|suggest|opinion|pros and cons|trade-?offs?|compare|comparison|versus|vs\.?)\b",
    r"\bwhich is (bigger|larger|heavier|more)\b",
    r"debería|conviene|dois-je|devrais|soll ich|lohnt|loont|devo |vale a pena",
    r"\b(wenn|falls|als ik|jeżeli|jeśli)\b|, (y|et|und|en|e|i) (cuándo|cuando|cómo|como|quand|comment|wann|wie|"
    r"wanneer|hoe|quando|kiedy|jak)\b",
    r"\?\s+(?!(many |big )?thanks|thank you|cheers|ty\b|thx)\w+\s+\w+",
    # tasks that take several steps, making, analysing
    r"\b(write|draft|compose|create|build|make|design|implement|generate|develop|plan|outline|prepare|set ?up|"
    r"migrate|optimi[sz]e|improve|review|analy[sz]e|evaluate|assess|debug|troubleshoot|diagnose|solve|prove|"
    r"calculate|estimate|predict|brainstorm|research|investigate|audit)\b(?! (this|it|these|that)\b)",
    r"\b(poem|haiku|story|essay|limerick|song|lyrics|speech|cover letter|tweet|blog post|report|proposal) (about|on|for)\b",
    r"\b(step[- ]by[- ]step (guide|plan|instructions)|steps to|walk me through|help me|i need help|can you help)\b",
    r"\bis \d+ (a )?prime\b|\bprime factor|\b(derivative|integral|equation|probability|tip on|split \d|"
    r"per (month|year|hour) for)\b",
    r"escr[ií]beme|escribe|haz un|écris|ecris|r[ée]dige|schreib|erstelle|escreva|crie",  # (each starts with a letter: quick to skip)
    r"\b(the|a) (country|city|person|company|team|year|man|woman|author|actor|place|state) (that|who|which|where)\b",
    # an attribute of something named only by a description: two lookups ("capital of the country with the
    # largest population")
    r"\bof the \w+( \w+)? (with the|that has|which has|that had|where)\b",
    # or by where it lies against another ("the capital of the country directly north of chad"): two lookups
    r"\bthe (country|countries|city|state|planet|river|ocean|sea|mountain|island|continent|province|town|capital) "
    r"((directly|just|immediately|right) )?(north|south|east|west|northeast|northwest|southeast|southwest|bordering|"
    r"next to|closest to|nearest to|adjacent to|across from)\b",
    scripts=(
        r"为什么|為什麼|怎么|如何|なぜ|どうして|どうやって|почему|зачем|как (сделать|исправить|настроить)|لماذا|كيف|क्यों|कैसे|왜|어떻게",
        # explain it, in detail: an explanation asked for, not a fact
        r"解释|解釋|详细|詳細|説明して|教えてください.{0,4}詳しく|詳しく|объясни|поясни|подробно|اشرح|بالتفصيل|समझाओ|समझाइए|"
        r"विस्तार से|설명해|자세히",
        # whether a given sentence is right or natural: a judgement of the text
        r"自然ですか|正しいですか|おかしいですか|合っていますか|合ってますか|对吗|對嗎|正确吗|正確嗎|自然吗|通顺吗|"
        r"правильно ли|естественно ли",
        r"应该|值得|建议|哪个更|可行|划算|最好|最佳|べき|どちらが|どっち|还是|還是|一番|стоит ли|лучше|лучший|هل يجب|चाहिए|बेहतर|나을까|좋을까",
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
    r"other|rest|more|else|next|after that|after this|what now|now what|what next|last (one|message|answer|time)|first one|second|third|your (answer|reply|last|code|"
    r"list|message|example|suggestion)|the (\w+ )?ones?|(an|another|more|some) examples?(?! of))\b",
    # a place named before ("the population there"), not "are there" (the word first, what comes before it
    # checked behind it: the engine skips ahead to "there" instead of trying every position)
    r"there(?<=\bthere)(?<!\bare there)(?<!\bis there)(?<!\bwas there)(?<!\bwere there)\W*$",
    r"\b(my|our|we|us)\b",  # the user's own situation, stated in earlier turns
    r"\b(he|she|him|her|his|hers)\b",  # someone named in earlier turns
    # measured against what came before: a comparative with nothing to compare to, a quantity of nothing named
    r"\b(cheaper|better|bigger|smaller|faster|slower|shorter|longer|easier|harder|simpler|quicker|closer|nearer|"
    r"healthier|safer|nicer|spicier|stronger|lighter)\b(?! than)",
    r"^how (long|much|many|far|big|hot) (in|for|on|at)\b|\bper (serving|portion|person|head|unit|piece|slice)\b",
    r"^(translate|summari[sz]e|shorten|rewrite|rephrase|reformat|format)( (to|into|in) \w+)?\W*$",  # with no text: the last
    r"\b(the|these|those) (two|three|four|both)\b|\b(both|either|neither)( of (them|these|those))?\b",
    r"\bwhich (one|ones|of them|of these|of those)\b",  # a pick among options named before, wherever it is asked
    r"^(yes|yeah|yep|yup|sure|ok(ay)?|go ahead|do it|please do|continue|go on|proceed|next|and|but|so|no|nope|"
    r"why not|really|how so|such as|like what|which|in|or|what about|how about|for|with|without|only|just)\b",
    r"^(und|et|y|pero|aber|mais|dann|puis|entonces|ma|maar|ale|men|och|og)\b|"  # "danke, und was jetzt"
    # whole words only: "cela" is in "iceland", "esto" in "restore", "diese" in "diesel"
    r"\b(el segundo|la segunda|eso|esto|[çc]a|cela|le deuxi[èe]me|das|diese[sn]?|den zweiten|isso|o segundo|"
    r"kürzer|más corto|plus court)\b",
    scripts=(
        r"第二|第一|这个|那个|它|上面|前面|それ|これ|あれ|上記|二番目|это|этот|второй|первый|выше|ذلك|هذا|الثاني|"
        r"यह|वह|दूसरा|그거|이거|두 번째",
    ),
)

# A request to act, in the languages people write to agents: an imperative opens the turn
# ("cancela mi suscripción", "envoie un mail à l'équipe", "lösch die alten logs").
FOREIGN_ACTS = Rules(
    r"^(por favor |s'il te pla[iî]t |s'il vous pla[iî]t |bitte |per favore |por favor, )?"
    r"(cancela|cancele|anula|env[ií]a|envie|manda|borra|elimina|apaga|enciende|reinicia|reserva|compra|programa|"
    r"annule|envoie|supprime|[ée]teins|allume|red[ée]marre|r[ée]serve|ach[eè]te|"
    r"storniere|k[üu]ndige|schicke?|sende|l[öo]sche?|entferne|starte|buche|kaufe|"
    r"cancella|invia|manda|elimina|spegni|accendi|riavvia|prenota|compra|"
    r"cancele|envie|apague|ligue|reinicie|reserve|compre|"
    r"annuleer|stuur|verwijder|zet|boek|koop|anuluj|wy[śs]lij|usu[ńn]|wy[łl][aą]cz|zarezerwuj|kup)\b",
    scripts=(r"^(удали|отмени|отправь|выключи|включи|перезапусти|закажи|купи|забронируй)|取消|删除|发送|预订|关掉|打开|"
             r"(削除|送信|予約|キャンセル|追加)して|を消して|を止めて",),
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
    r"\b(for me|on my behalf)\b|\b(on|to|in|from|into|off) (my|our) (calendar|inbox|account|repo|list|cart|drive|phone|"
    r"desktop|folder|basket|playlist|schedule|board|backlog)\b",  # the asker's own things, changed
    r"\b(my|our) (order|orders|account|booking|package|parcel|flight|subscription|bill|invoice|delivery|refund|"
    r"ticket|reservation|appointment|balance|payment|plan|rights)\b",
)
WORKS_OUT = AnyOf(Rules(
    # an estimate or an implicit computation
    r"\b(estimate|estimated|ballpark|about how (many|much|long|far)|chances|odds|likelihood|likely)\b",
    # a rate over a span ("how many times does a heart beat in a lifetime"), the next of an event (today's date),
    # an attribute of the superlative of a kind ("the population of the largest city in canada": two lookups)
    r"\bhow many times\b|\b(in|over) (a|your|my|their|his|her|one) (lifetime|life)\b",
    r"\bwhen(s| is| are| will| does)? (the )?next\b|\bnext (\w+ )?(eclipse|election|olympics|world cup|full moon|holiday|"
    r"launch|release)\b",
    r"\bof the (largest|biggest|smallest|tallest|longest|oldest|highest|richest|most \w+|\w+est) \w+",
    r"\bhow (many|much|long|far|big|heavy) .{0,60}\b(would|will|could|can|do i|do we|does it take|should|need|fit|"
    r"left|remain|cost|take|last|afford|save|earn|burn|use|weigh|hold)\b",
    r"\b(total|add up|add them|total cost|in total|altogether|combined|"
    r"per (day|week|month|year|person|head|hour)|sum|ratio|split|"
    r"discount|interest|compound|after tax|tax on|tip|profit|margin|break even|breakeven|payback|runway|budget)\b",
    # an attribute of a thing named by another attribute ("the population of the capital of japan"): two lookups
    r"\b(capital|population|currency|president|language|area|height|ceo|founder|author|birthplace|size|mayor|leader) of "
    r"the (capital|largest|biggest|smallest|oldest|tallest|longest|richest|most populous|author|founder|president|ceo|"
    r"winner|inventor|home country|birthplace)\b",
    # the state of a thing now ("is the oven on", "is the bank open on monday"): live data
    r"^(is|are) (the|my|our) [\w' -]{1,30} (on|off|open|closed|locked|unlocked|running|up|down|online|offline|working|"
    r"charged|charging|ready|busy|available)( (on|this|today|tonight|tomorrow|now|right now)\b.*)?\W*$",
    # a second operation joined on ("15% of 240 plus vat")
    r"\b(plus|with|incl|including|excluding|ex|minus|before|less) (the )?(tax|taxes|vat|gst|sales tax|shipping|postage|"
    r"tip|fees?|commission|deposit)\b",
    # what pay or prices run at: it varies by place and year, and moves ("the average salary for a nurse")
    r"\b(average|typical|median|going rate)\b.{0,20}\b(salary|salaries|wage|wages|pay|income|rent|rents|price|prices|"
    r"cost|costs|fee|fees)\b",
    # facts combined by an operation ("population of canada divided by its area")
    r"\b(divided by|multiplied by)\b(?!\s*\d)",
    r"\b(enough|fit in|fit into|how long until|how long till|how soon|day of the week|what day)\b",
    # what needs today's date or live data a small model does not have
    r"\b(what time is it|time is it|the time (in|at|now)|right now|latest|today|tonight|tomorrow|yesterday|this week|"
    r"next week|last week|last night|this morning|this afternoon|this evening|this weekend|last weekend|this year|weather|forecast|exchange rate|stock price|share price|ago|until|from now|from today|"
    r"next full moon|open now|still open|near me|nearby|around here|in my area|most recent|recently|newest|so far this (year|season)|next year|last year|"
    r"next month|last month|(last|this|next|upcoming|coming) (season|election|game|match|tournament|olympics|final)|rough guess|rough estimate|guesstimate|trending|winning|playing (tonight|now|today))\b",
    # a rule or a difference applied to dates: "is 2027 a leap year", "how old was einstein when he died"
    r"\bhow old (was|is|were|would) .{1,40} when\b",
    r"\b(price|value|cost) of (an? )?(bitcoin|btc|ethereum|eth|gold|silver|oil|crude|petrol|gas|diesel|\w+ (stock|shares?))\b",
    r"\b(euros?|dollars?|usd|eur|gbp|pounds|yen|yuan|francs?|rupees?|bitcoin|btc) (in|to|into) (euros?|dollars?|usd|eur|"
    r"gbp|pounds|yen|yuan|francs?|rupees?|bitcoin|btc)\b",
    r"\b(do|does|can|will) (you|your \w+) (close|open|ship|deliver|accept|have|offer|sell|take|support|charge)\b",
    r"\b(cube root|factorial|logarithm|to the power|density|per capita|backwards|fibonacci|digits of pi)\b",
    r"\breverse (this|the|a) (string|word|letters)\b",
    # the letters or sounds of words: small models see tokens, not letters (rhymes, anagrams, "starts with q")
    r"\b(rhymes? with|rhyming with|anagrams?|palindromes?)\b|\bwords? (that )?(starts?|ends?|begins?) with\b",
    r"\b(start|starts|begin|begins|end|ends|starting|beginning|ending) with (the letter |an? )?[a-z]\b",
    # a second thing asked of the same subject, or examples made up: several operations ("the capital of peru and
    # its population", "define irony with 3 examples")
    r"\band (its|their)\b",
    r"\bdifference in \w+( \w+)? between\b",
    r"\b(use it in a sentence|with (an |\d+ |a few |some |two |three )?examples?|and (give|list) (me )?(an |\d+ |some )?"
    r"examples?)\b",
    r"\b(days?|weeks?|months?|years?) (from|after|before) (next|last|this|today|tomorrow|yesterday|now|"
    r"(mon|tues|wednes|thurs|fri|satur|sun)day)\b",
    r"\bhow many (\w{1,2}'?s|letters|vowels|words|syllables|characters)\b|\bhow many ['\"]?[a-z]['\"]?('?s)? (in|are in)\b|"
    r"\bhow many (days|weeks|months|years|decades|centuries|hours) (between|until|since|from|till|before|after)\b",
    # days of a kind counted on a calendar ("how many fridays in february 2026", "working days in april")
    r"\b(working|business|school|week) ?(days|hours|weeks)\b|\bhow many (weekends|(mon|tues|wednes|thurs|fri|satur|sun)days)\b",
    r"\b(effects? (of|on)|impacts?|means? for|consequences?|implications?|second order|ripple|knock on|downsides?|upsides?|"
    r"risks?|trade offs?|tradeoffs?|advantages?|disadvantages?|pros|cons)\b",
    r"\b(and|then|also|plus) (what|who|when|where|how|why|which|tell|give|list|explain|convert|compare)\b",
    r"\bbut (tell|give|list|explain|convert|compare|show)\b",
    r"\b(with|and|give me|plus) (an|some|a few|two|three) examples?\b",  # a second thing to produce
    r"\?[^?]+\?",
    # a hypothetical or a prediction ("what would a sugar tax do"), a condition ("who loses if …"), or what one
    # thing does to another ("does raising the minimum wage cost jobs"): reasoning about effects
    r"\b(what|who|which|where|when) (would|will|might|could)\b",
    r"\b(what|which) (year|day|date|time|month) (will|would) it be\b",  # "… in 10000 days": worked out
    r"\b(i|we|you) (could|would|might)\b", r"\b(if|whether)\b",
    # a yes-or-no that asks for a judgement ("are eggs healthy", "is coffee bad for you")
    r"^(is|are|was|were|can|do|does) .{0,40}\b(safe|healthy|unhealthy|bad|good|worth|dangerous|harmful|ok|okay|better|"
    r"worse|legit|overrated|underrated|ethical|wrong|normal|fattening|toxic|effective|necessary|rude|illegal|legal|"
    r"right call|right move|right decision|the right|a mistake|justified|a success|a failure|fair|smart|wise)\b",
    r"\b(going on|happening (with|in|to)|these days|nowadays)\b", r"\breasons\b|\bthe reason (why|for)\b",
    # the last or next of a recurring event: which one that is depends on today's date
    r"\b(won|win|wins|winner of|champion of|host|hosts|hosted|hosting) the (last|latest|most recent|next|upcoming)\b",
    r"\b(you think|your (opinion|take|view|views|thoughts)|thoughts on)\b",
    r"\b(affect|affects|hurt|hurts|harm|harms|reduce|reduces|increase|increases|lower|lowers|raise|raises|boost|boosts|"
    r"cause|causes|lead to|leads to|result in|results in|cost jobs|cost lives)\b(?! and\b)",
), Rules(
    # the same, for those that need a digit: run only when the turn has one
    r"(?!0x[0-9a-f])\d\s*[a-z]{1,3}\s*(x|×|\*|by)\s*\d|\d\s*by\s*\d|\d\s*(x|×)\s*\d+\s*(x|×)\s*\d",
    r"\b(volume|area|perimeter|capacity|weight|cost|price|bill|average|mean|median|percentage)\b.{0,40}\d|"
    r"\d.{0,40}\b(volume|area|perimeter|capacity|average|median)\b",
    # a rule applied to a date: "is 2027 a leap year"
    r"\d.{0,20}\bleap year|\bleap year.{0,20}\d",
    r"\bat \d+(\.\d+)? ?(min|km|mph|kmh|per|/)",
    # a part or a multiple of a number, a prime near a number, an age from a year of birth
    r"\b(half|double|twice|triple|a third|a quarter) of \d", r"\b(prime|primes)\b.{0,20}\d",
    r"\b\d+(st|nd|rd|th) (prime|letter|digit|term|word|character|line|sentence|verse|decimal)\b",  # counted out
    r"\b\d+ (squared|cubed)\b",
    r"\bhow old\b.{0,40}\b(1[6-9]|20)\d\d\b",
    # a span counted from a date ("2 weeks from next tuesday", "90 days after march 3"): date arithmetic
    r"\b\d+ (days?|weeks?|months?|years?|hours?|minutes?) (from|after|before|since|later|earlier)\b",
    gate=r"\d",
), Rules(
    # the same, for those that need a modal or a word of time: run only when the turn has one
    r"\b(what|who|which|where|how)\b.{1,40}\b(would|could|might)\b",  # "which planets could humans live on"
    r"\bhow \w+ (would|will|could|might)\b",  # "how tall would a stack of … be": worked out, not looked up
    # two facts put against each other in time ("was lincoln alive when the telephone was invented",
    # "who was president when …", "did x happen before or after y"); not "what is it called when …"
    r"\b(when|while|before|after) (?<!^when )(?<!^while )(?<!^before )(?<!^after )(?<!called when )(?<!mean when )"
    r"(?<!means when )(?<!\bit when )(?<!term when )(?<!word when )"
    r"(the|a|an|he|she|they|it|his|her|their|\w+ (was|were|is|did|got|became|happened))\b",
    r"\bbefore or after\b", r"\bwhat (\w+ )?(does|do|did) .{1,40} do to\b",  # what one thing does to another
    gate=r"\b(would|could|might|will|when|while|before|after|do to)\b",  # (whole words: looked up in the turn's)
), Rules(
    # two facts joined in time: "who was president when the titanic sank", "was bach alive when newton died"
    r"^(?!when\b)(?!.*\b(called|word for|term for|name for|it|mean|means)\s+when\b).{3,80}\b(when|while|during|"
    r"at the time of)\b",
    # (its look-aheads scan the whole turn: run only when it could match; whole words, looked up in the turn's)
    gate=r"\b(when|while|during|at the)\b",
))
WEIGHS = Rules(
    r"\b(which|what) (name|one|option|title|word|phrase|color|colour|logo|approach|plan|city|car|laptop|phone)\b.{0,60}"
    r"\b(better|best|prefer|pick|choose|go with|nicer|sounds)\b",
    r"\b(better|nicer|best|prefer|pick|choose|go with|vs\.?|versus|healthier|cheaper|faster|safer|easier|harder|bigger|"
    r"smaller|stronger|cleaner|quieter|warmer|lighter|heavier|smarter|riskier|older|newer|longer|shorter|taller|younger|"
    r"larger|higher|lower|wider|deeper|slower|richer|weaker|hotter|colder|closer|farther|further|earlier|later|greater|"
    r"more|less|fewer|worse|tastier|prettier|happier|busier|noisier|sunnier|funnier|wealthier|spicier|saltier|sweeter)\b.{0,80}\bor\b|"
    r"\bor\b.{0,80}\b(better|best|prefer)\b",
    r"\b(best|worst)\b(?![- ](selling|known|picture|actor|actress|director|seller))",
    # a superlative that judges, unlike one that measures (tallest, deepest): "the healthiest breakfast"
    r"\b(healthiest|safest|smartest|greatest|wisest|cleverest|coolest|prettiest|funniest|nicest|tastiest|ideal|optimal|"
    r"most (underrated|overrated|beautiful|important|influential|interesting|useful|effective|efficient|reliable|"
    r"ethical|romantic|impressive|dangerous|annoying))\b",
    r"\btoo (old|young|late|early)\b|\b(is|are) too (much|many|little|few)\b",  # "how much caffeine is too much"
    # a yes-or-no that compares, a claim to weigh, what goes with what, something like a named work
    r"^(is|are|was|were|does|do|did|can|will) .{1,50}\b(faster|slower|better|worse|bigger|smaller|healthier|safer|"
    r"cheaper|stronger|heavier|longer|shorter|easier|harder|hotter|colder|more|less)\b",
    r"\b(fake|faked|a hoax|a myth|a lie|a scam|staged|rigged|a conspiracy)\b", r"\b(go|goes|pair|pairs) (well )?with\b",
    r"\b(movies?|films?|books?|novels?|shows?|series|songs?|games?|anime|apps?|podcasts?|places?|restaurants?|bands?|"
    r"artists?) (like|similar to)\b",
    r"\b(mejor|meilleure?|beste[nr]?|migliore|melhor|najlepsz\w*)\b",
    # a recommendation: what is good to read, watch, use or visit
    r"\b(good|great|best|decent|fun|interesting) (books?|novels?|movies?|films?|shows?|series|podcasts?|games?|apps?|"
    r"places?|restaurants?|songs?|albums?|gifts?|resources?|courses?)\b",
    r"\b(good|reasonable|normal|decent) (salary|age|time|amount|budget|score|weight)\b",  # a judged value
    r"\b(good|bad|great|terrible|smart|wise|dumb|stupid|fair|reasonable|realistic|worth) (name|idea|choice|plan|move|"
    r"option|approach|deal|price|offer)\b", r"\b(is|are|was) .{1,40} (a good|a bad|worth|overrated|underrated|fair)\b",
    r"\bwhich\b.{0,80}\bor\b|\bor\b[^?.]{0,60}\bwhich\b",  # a choice between named options
    # a way to do something, or what to do: advice however it is worded
    r"\b(cheap|cheapest|cheaper|easy|easiest|easier|quick|quickest|quicker|fast|fastest|simple|simplest|safe|safest|"
    r"smart|smartest|good|proper|correct|right|ideal|efficient) (way|ways|method|methods) (to|of|for)\b",
    r"\bwhat to (do|pack|bring|wear|buy|get|say|eat|cook|expect|see|visit|order|choose|pick|use|learn|study|write|ask)\b",
    # a selection to recommend: "some fun things to do in lisbon", "places to eat near the station"
    r"\b(things|stuff|places|spots) to (do|see|eat|try|buy|visit)\b|\b(some|any) (good|fun|nice|cool|interesting|great|cheap|"
    r"easy|healthy|quick) \w+",
    r"\b(how (should|would|do|can) (i|we)|what should (i|we)|what (can|do) (i|we) do|my options|structure|organi[sz]e|layout|architect|best practices?|"
    r"tips?|strategy|roadmap|approach|advice|plan (a|my|our|for|the)|ideas? for|what (can|could) (i|we))\b",
)
CONTEXT = Rules(
    # what only the conversation so far can tell, whether or not it came with the request
    r"\b(what'?s next|whats next|what next|what now|now what|next step|the rest|same (for|with|as|thing)|do it again|"
    r"continue|keep going|go on|next one|what else|is that (all|it|everything)|where (was i|were we)|as (before|above)|like (before|last time)|the other (one|two)|you (said|mentioned|"
    r"suggested|wrote|mean|meant)|did you mean|what did you|earlier|previous|last (time|one|answer|message)|from before|that one|this one|those|these ones|"
    r"i asked|asked you|i said|i told|told you|we discussed|we talked|your list|your answer|your plan)\b",
)
CONTEXT_MARKS = Rules(r"\b(step|item|point|option|number|line|section|part) #?\d+\b", gate=r"\d")

# --- signs that a turn is safe for a small local model ---

_FOREIGN_HELLO = (r"(hola|gracias|bonjour|salut|merci|hallo|danke|guten (morgen|tag)|olá|obrigad[oa]|ciao|hej|hei|habari|"
                  r"xin ch[àa]o|merhaba|te[şs]ekk[üu]rler|namaste|shukriya|salam|shalom|ahoj|cze[śs][ćc]|dzi[ęe]kuj[ęe]|"
                  r"grazie|dank je|bedankt|tack|takk|kiitos|terima kasih|salamat|cảm ơn|cam on|asante|jambo)")
SMALL_TALK = Rules(
    r"^(hi|hello|hey|yo|hiya|howdy|ahoy|greetings|good (morning|afternoon|evening|night)|thanks?( you)?|thx|ty|cheers|bye|goodbye|"
    r"see you|ok thanks|great|perfect|cool|nice|awesome|got it|test(ing)?)\b[\w\s,.!?:;)(-]{0,30}$", r"^help[.!?]*$",
    r"^ping\W*$",  # a check that the line is up; "ping sarah about the contract" is a request to act
    r"^(what can you (do|help( me)? with)|what do you do|tell me about yourself|"
    r"(can|do|are) (you|u) (remember|see|hear|read|browse|speak|learn|understand|access|store)\b"
    r"(?!.*\b(this|that|it|these|those|them|my|our|to)\b)|"  # not "can you read it", "… speak to my boss"
    r"who (are|made|built|created) you|what('s| is) your name|are you (a bot|human|an ai|real)|"
    r"who (am i|are we) (talking|speaking|chatting) (to|with)|"
    r"what (kinds?|sorts?|types?) of (things|stuff|tasks|questions|requests) (can|do) (you|u) (do|help|answer|handle)|"
    r"what model are you|can you (speak|understand) (?!to\b)\w+|do you (remember|know|speak)|are you there|you there)\b",
    r"^(just )?testing\b", r"^(wait|so|hmm+|um+|quick question)[,!.]? (are you|who (made|built) you|what are you)\b",
    r"^(h+e+y+|h+i+|y+o+|t+h+a+n+k+s+|t+y+|b+y+e+|h+e+l+o+)[!.\s]*$",
    r"^(just )?(curious,? )?(what|who) (are|r) (you|u)\b", r"^(tell me|know|got) (a|any|another) (good |funny |bad )?(joke|pun)( about \w+)?\W*$",
    r"\b(tu t'?appelles|comment (tu t'?appelles|vous appelez)|qui (es-tu|[êe]tes-vous)|c[oó]mo te llamas|"
    r"qui[ée]n eres|wie hei(ß|ss)t du|wer bist du|come ti chiami|chi sei|como (você se chama|te chamas)|"
    r"qu[ée] puedes hacer|que (peux|pouvez)-(tu|vous) faire|was kannst du|o que (você pode fazer|voc[êe] faz)|"
    r"cosa (sai|puoi) fare|wat kun je|wie ben je|kim(sin| sin)|co umiesz|kim jeste[śs])\b",
    # whether the assistant speaks a language, asked in one ("hoi, spreek je ook nederlands?")
    r"\b(hablas|habla usted|parles|parlez|parles-tu|parlez-vous|sprichst du|sprechen sie|spreek je|spreekt u|parli|"
    r"fala|falas|mówisz|konuşuyor musun)( (tu|vous|você|ook|auch|aussi|también|tambem|também|anche|po))? (español|espanol|"
    r"inglés|ingles|english|français|francais|anglais|deutsch|englisch|nederlands|engels|italiano|inglese|português|"
    r"portugues|inglês|polsku|angielsku|türkçe)\W*$", r"\bthat'?s (perfect|great|all|it|fine|everything)\b", r"^(ok|okay),? (thanks|thank you|bye)",
    "^" + _FOREIGN_HELLO + r"\b[\s,.!?¡]*([\w'’]+[\s,.!?¿]*){0,5}$",
    r"^how (are|r) (you|u|ya)( doing| going)?( today| tonight)?\W*$",
    # praise, a retraction or an apology that asks nothing; how the assistant is
    r"^(good job|well done|nice one|never ?mind|nvm|my bad|oops|whoops|sorry,? (wrong (chat|window|tab|person)|my (bad|mistake)))"
    r"\W*$",
    r"^(do|can) (you|u) (have feelings|have emotions|feel (anything|pain|emotions)|dream|sleep|get (tired|bored|lonely))\W*$",
    r"^(how'?s it going|how is it going|how are things|what'?s up|wh?at'?s good|sup)\W*$",
    # asking for help with no task yet, or a word about the assistant itself
    r"^(can|could) (you|u) help( me)?( with something| out)?\W*$",
    r"^(you'?re|you are|ur|u r) (so |really |very |pretty |kinda )?(useless|stupid|dumb|great|awesome|amazing|funny|"
    r"smart|clever|helpful|cool|the best|the worst|annoying|slow|boring|a lifesaver)\W*$",
    r"^(come stai|ça va|wie geht'?s|c[oó]mo est[aá]s|qu[eé] tal|habari gani|tudo bem|jak si[ęe] masz|jak leci)\W*$",
    r"^(tu peux m'aider|(pouvez|peux)-(vous|tu) m'aider|kannst du mir helfen|(me )?puedes ayudar(me)?|"
    r"(voc[êe] )?pode me ajudar|mi (puoi )?aiuti|kun je me helpen)\W*$",
    r"^(bonne (nuit|journ[ée]e|soir[ée]e)|bonsoir|buenas (noches|tardes)|buen(os)? d[ií]as?|gute nacht|guten abend|"
    r"dzie[ńn] dobry|dobranoc|buona ?notte|buongiorno|buonasera|boa (noite|tarde)|bom dia|goedemorgen|goedenavond|"
    r"welterusten)\b[\s,.!?¡]*([\w'’]+[\s,.!?¿]*){0,5}$",
    scripts=(r"^(你好|您好|谢谢|こんにちは|こんばんは|ありがとう|привет|здравствуйте|спасибо|مرحبا|شكرا|नमस्ते|धन्यवाद|안녕|감사|"
             r"χαίρετε|γει[αά] σ|καλημέρα|καλησπέρα|ευχαριστώ|תודה|שלום|ممنون|مرسی|سلام|ขอบคุณ|สวัสดี|고마워|고맙습니다|"
             r"どうも|多谢|感谢|谢啦|дякую|привіт|शुक्रिया|你是谁|你能做什么|あなたは誰|何ができ|ты кто|что ты умеешь|"
             r"누구(야|세요)|뭘 할 수)",),
)
LOOKUP = AnyOf(Rules(
    # a question word opening a clause: scanned only when the turn has one
    r"(^|[,:;.!?]\s*|\b(tell me|know|wondering|ask you) )(what|what's|whats|who|who's|whos|when|where|which|how many|"
    r"how much|how tall|how far|how long|how old|how big|how deep|how high|how fast|how heavy|how hot|how cold|name)\b",
    gate=r"\b(what|whats|who|whos|when|where|which|how|name)\b"), Rules(  # (whole words: looked up in the turn's)
    r"^(the )?(tallest|largest|smallest|longest|biggest|highest|deepest|oldest|fastest|hottest|coldest|hardest|heaviest|"
    r"lightest|brightest|closest|nearest|farthest|furthest|loudest|rarest|most populous|first|last)\b",
    # a search-style query: a thing and the attribute wanted ("lithium atomic number")
    r"\b(atomic number|atomic weight|atomic mass|chemical symbol|chemical formula|main ingredients?|half[- ]life)\b",
    r"\b(capital|population|currency|language|height|weight|distance|boiling|melting|freezing|speed|area|"
    r"length|age|birthday|founder|author|inventor|president|ceo|time ?zone|area code|symbol|formula|year|date)\b"
    r" (of|in|for)\b",
    r"\b(capital|population) of\b", r"^(is|are|was|were|did|does) ['\"‘“]?\w",
    # a tool's setting or key, asked as a search ("keyboard shortcut to undo in word", "default port for postgres");
    # not "change the default port for postgres"
    r"^(default port|port number|keyboard shortcut|shortcut|hotkey) (of|for|to)\b",
    # a search-style query, the thing then the attribute ("peru capital?", "🇵🇪 capital??")
    r"^(?!(my|our|your|this|that|these|those|his|her|their|the) )\S+( \S+){0,2} (capital|population|currency|"
    r"official language|time ?zone|area code|dialling code|calling code|height|length|depth|elevation|diameter|founder|"
    r"author|inventor|birthday|birthplace|release date|composer|director)\W*$",
    r"\b(boiling|melting|freezing|flash|dew) point\b", r"^(wht|wat|whta|waht|whats|wut|wich|whcih|whihc|wihch) ", r"^(in|on|at|by) (what|which) ",
    r"^(list|name) (the|all|every|\d+|two|three|four|five|ten) (?!.* and )",
    r"^(sebutkan|nenne|nommez|nomme|nombra|menciona|elenca|noem|wymie[ńn]|taja) (?!.* (dan|und|et|y|e|en|i|na) )",
    r"^c'?est quoi\b|^qu'?est[- ]ce qu",
    r"^(ποια|ποιο|ποιος|τι είναι|πόσ)|^(hur många|vad är|vem |var ligger)|^(apa arti|apa itu|berapa|siapa|di mana)|"
    r"^(hvad er|hva er|hvor mange|hvem )|^(ano ang|sino |ilan )|^(kuinka monta|mikä on|kuka |missä )",
    r"^(chi |qual[ei]? |quant[io] |dove |quando |cosa )|^(hoeveel|wie |wat is|waar |wanneer)|"
    r"^(jaka |jaki |jakie |kto |gdzie |kiedy |ile )|\b(nedir|kimdir|nerede|ka[çc] )",
    r"^¿?cu[áa]nt[oa]s?|^¿?qui[ée]n|^¿?qu[ée] (es|significa)|^¿?cu[áa]l es|^¿?d[óo]nde",
    r"^que veut dire|^qu'est-ce que|^quel(le)? est|^combien|^o[ùu] (est|se)|^wie viele|^was (ist|bedeutet)|^wer ",
    r"^wo (ist|liegt)|^wann|^qual [ée]|^quem|^o que [ée]|^quant[oa]s|^onde", r"\bka matlab\b|\bkya hai\b|\bkya hota\b",
    scripts=(
        r"(是哪里|是什么|什么是|是多少|等于多少|多少|是谁|在哪|意思)|(ですか|とは|意味|何|どこ|いつ|誰)|"
        r"(^сколько|^что такое|^что значит|^кто|^где|^когда|^какой)|(^що таке|^скільки|^хто|^де )|"
        r"(^ما هي|^ما هو|^كم|^من هو|^أين|^متى)|(の\w{1,6}は[？?]$)|"
        r"(क्या है|कौन|कितने|कितना|कहाँ|कब)|(어디|몇|무엇|뭐예요|누구|언제)",
    ),
))
DEFINITION = Rules(
    r"\b(stand for|stands for|meaning of|mean(s)?\b|definition|define|acronym|abbreviation|synonym|antonym|"
    r"opposite of|plural of|past tense|pronounce|difference between)",
    r"^[\w' -]{2,30} (meaning|definition)\W*$",  # "carpe diem meaning"
    # "what's an API": a thing named with "a", asked about alone (not a stand-in for something said before)
    r"^(what'?s|whats|what is|what are) an? (?!(alternative|example|option|equivalent|substitute|replacement|synonym|"
    r"antonym|opposite|good|better|cheaper|similar|other|different)\b)[\w-]+\W*$",
    r"^[\w .'-]{1,30} in (one|1|a single|a) (sentence|line)\W*$",  # "kubernetes in one sentence?"
    r"\b(que significa|qu'est-ce que .{1,30} veut dire|que veut dire|was bedeutet|wat betekent|cosa significa|"
    r"o que significa|co znaczy|ne demek|mit jelent|vad betyder|hvad betyder|hva betyr|mit[äa] tarkoittaa)\b",
)
_UNIT = (r"(?:km/h|kph|mph|km|kilomet(?:er|re)s?|mi|miles?|m|met(?:er|re)s?|cm|centimet(?:er|re)s?|mm|ft|feet|foot|"
         r"inch(?:es)?|yd|yards?|kg|kilos?|kilograms?|g|grams?|lbs?|pounds?|oz|ounces?|stones?|st|l|lit(?:er|re)s?|ml|"
         r"millilit(?:er|re)s?|cups?|tbsp|tablespoons?|tsp|teaspoons?|gal|gallons?|pints?|quarts?|fl oz|fluid ounces?|"
         r"°?c|°?f|celsius|fahrenheit|kelvin|hours?|hrs?|h|minutes?|mins?|seconds?|secs?|days?|weeks?|bytes?|kb|mb|gb|tb|"
         r"acres?|hectares?|sq ft|square (?:feet|met(?:er|re)s))")
# One conversion of one quantity ("kg to lbs: 68"); no currencies (today's rate), and not a compound
# quantity ("5 feet 11 in cm": two conversions and a sum, which writers label both ways).
_ONE_CONVERSION = expression(
    r"(?:convert |what'?s |whats |what is |how much is )?\d+(?:[.,]\d+)? ?(?:" + _UNIT + r")? "
    r"(?:to|in|into|as) (?:decimal )?" + _UNIT + r"\W*$|"
    r"(?:convert )?" + _UNIT + r" (?:to|in|into) " + _UNIT + r" ?[:=,]? ?\d+(?:[.,]\d+)?\W*$|"
    # one plain step: a root of a small number, a decimal as a fraction, a time on the other clock
    r"(?:what'?s |what is )?(?:the )?(?:square root of \d{1,4}|\d*\.\d+ as a (?:fraction|percent(?:age)?)|"
    r"\d+/\d+ as a (?:decimal|percent(?:age)?)|(?:convert )?\d{1,2}:\d{2} ?(?:[ap]\.?m\.?)? (?:to|in|into) "
    r"(?:12|24)[- ]?h(?:our)?(?: time| format| clock)?)\W*$|"
    # a number or a date written out in another notation ("write 1,250 out in words", "write 7 March 2026 in ISO format")
    r"(?:write|spell)(?: out)? (?:the (?:number|date) )?(?:\d[\d,.]*|\d{1,2} [a-z]+ \d{4}|[a-z]+ \d{1,2},? \d{4})(?: out)? "
    r"(?:in|as) (?:words|iso(?: ?8601)?(?: format)?|roman numerals)\W*$"
)
TRANSFORM = AnyOf(Rules(
    r"\b(convert|conversion|in (km|kilometers|miles|meters|feet|inches|cm|celsius|fahrenheit|kelvin|kg|pounds|lbs|grams|"
    r"ounces|liters|gallons|hours|minutes|seconds|days|weeks|binary|hex|roman numerals))\b",
    r"\bhow many " + _UNIT + r" (are )?(in|is|per) (a|an|one|\d)",  # units, not "calories in 3 slices of pizza"
    r"\b(binary|hex|hexadecimal|octal) \w+ (to|in|into) \w+",
), Rules(
    # a quantity to convert: scanned only when the turn has a digit
    r"\b\d+(\.\d+)? ?[a-z]+( [a-z]+)? (to|in|into) (ml|millilit\w+|lit\w+|l|cups?|ounces|oz|grams|g|kg|kilos?|pounds|lbs?|"
    r"decimal|binary|hex|hexadecimal|octal|roman numerals|square (meters|metres|feet)|acres|hectares|km|kilomet\w+|"
    r"miles|meters|metres|feet|inches|cm|mm|celsius|fahrenheit|kelvin|seconds|minutes|hours|days|weeks|mph|km/h|"
    r"bytes|kb|mb|gb|tb|teaspoons|tablespoons|pints|gallons|quarts|stone|tons|tonnes)\b",
    r"(?<![\d.,])\d[\d.,]*\s*°?\s*(km/h|mph|km|mi|miles?|m|meters?|ft|feet|inch(es)?|cm|mm|kg|g|lbs?|pounds?|oz|ounces?|"
    r"liters?|gal|gallons?|c|f|celsius|fahrenheit|degrees( celsius| fahrenheit)?|kelvin|hours?|minutes?|seconds?|"
    r"days?|weeks?|years?|bytes?|kb|mb|gb|tb)\b.{0,20}\b(to|in|into|as) (a |an )?(km|kilomet|mi|mile|m\b|met|ft|feet|foot|"
    r"inch|cm|centi|mm|milli|kg|kilo|g\b|gram|lb|pound|oz|ounce|st\b|stone|lit|l\b|ml|gal|cup|pint|quart|tbsp|tsp|table|"
    r"teasp|°|c\b|f\b|celsius|fahrenheit|kelvin|degree|hour|hr|minute|min|second|sec|day|week|month|year|decimal|"
    r"fraction|percent|byte|kb|mb|gb|tb|bit|mph|km/h|kph|knot|acre|hectare|square|cubic|metric|imperial)",
    gate=r"\d",
), Rules(
    r"\b(translate|format|reformat|sort|alphabeti[sz]e|capitali[sz]e|uppercase|lowercase|title case|reverse the order|"
    r"remove duplicates|dedupe|bullet(ed)?( list| points)?|numbered list|table|json|csv|iso format|rewrite|rephrase|"
    r"more concise|make (this|it) (shorter|a|an|into)|make (this|it) (sound )?((more|less) )?(polite|formal|"
    r"casual|friendly|professional|concise|robotic|natural|human|warm|clear)|remove (the )?(extra )?(spaces|line breaks|"
    r"punctuation|emojis|timestamps)|extract (the )?(emails?|email addresses|names|numbers|dates|urls|links|phone numbers)|"
    r"number (these|the) (lines|items)|anonymi[sz]e|join .{0,20} paragraphs|bold (the )?(key )?(terms|words)|turn (this|it|these) into|put (this|these|a)|spell|fix (the )?"
    r"(spelling|typos?|grammar|punctuation|capitali[sz]ation|this link)|add (thousands )?separators|write (this|it) (in|as))\b",
    r"\b(summari[sz]e|summary|tl;?dr|gist|sum up)\b", r"\b(shorten|shorter)\b(?=.*:)",
    r"(convierte|convert[ia]|umrechnen|übersetz|tradu[zcis]|converta|résume|resume|resumen|formatier|tabelle|"
    r"ordena|trier|sortier)",
    scripts=(r"换算|转换|换成|翻译|に変換|を翻訳|直して|書き直|перевед|перевест|конверт|حوّل|تحويل|बदलो",),
))


_LANGUAGES = (r"(english|spanish|french|german|italian|portuguese|japanese|chinese|mandarin|cantonese|korean|russian|"
              r"arabic|hindi|dutch|polish|turkish|swedish|norwegian|danish|finnish|greek|latin|hebrew|czech|"
              r"ukrainian|vietnamese|thai|indonesian|irish|welsh)")
# How to say, spell or pronounce something: a lookup, though it starts like a how-question.
# How to say something in a language, though it starts like a how-question ("how do i say thanks in korean").
# Saying something in a language, or a quoted phrase; spelling or pronouncing one word (not "how do i say
# no to my boss", "how do i pronounce my colleague's name": what to say, or whose name, is more than a lookup).
_SAY_WHAT = (r"(say .{1,50} in " + _LANGUAGES + r"\W*|(say|spell|pronounce|write) ['\"‘“«].{1,40}|"
             r"(spell|pronounce) (?!my |his |her |their |our )[\w'-]+([,.;!?].*)?)$")
SAY_HOW = Rules(r"^how (do|would|can|to) (you |u |i |we )?" + _SAY_WHAT)
SAY = Rules(
    r"^how (do|would|can) (you|u|i|we) " + _SAY_WHAT, r"\b" + _LANGUAGES + r" (word|term) for\b",
    r"^(what is|whats|what's|how is) .{1,30} in " + _LANGUAGES + r"\??$", r"^.{1,40} in " + _LANGUAGES + r"\?*$",
    r"^" + _LANGUAGES + r" for ['\"‘“«][^'\"’”»]{1,50}['\"’”»]\W*$",  # "japanese for 'nice to meet you'"
    r"^translate (?!(my|our|this|these|that|his|her|their) )(?!.*\b(and|then|also)\b).{1,60}$",
    r"^(¿?c[oó]mo se dice|comment (on )?dit|comment dit-on|come si dice|wie sagt man|como se diz|hoe zeg je|jak si[ęe] m[óo]wi|jak powiedzie[ćc]) .{1,50}$",
    r"^(is it|how is it|how do you) spel(led|t)\b|\bspelling of\b",
    r"^¿?(c[óo]mo se escribe|comment s'[ée]crit|wie schreibt man|come si scrive|como se escreve|hoe schrijf je)\b",
    r"\b(en ingl[ée]s|en anglais|auf englisch|em ingl[êe]s|in inglese|po angielsku|in het engels|p[åa] engelsk[a]?|"
    r"ingilizce|angolul|englanniksi)\W*$",
    scripts=(r"怎么说|怎麼說|英語で何|何と言います|как (сказать|перевести)|як (сказати|перекласти)|अनुवाद|翻译成|"
             r"翻訳して|英語で|英文怎|איך (אומרים|כותבים|אומר) .{1,40} ב(אנגלית|עברית|ערבית|צרפתית|ספרדית|גרמנית|רוסית)|"
             r"用英语|用英文|по-английски|англійською|українською|영어로|بالإنجليزية|अंग्रेज़ी में|अंग्रेजी में|"
             r"में कैसे (कह|बोल)",),
)
_SMALL_TALK_WORDS = frozenset("ok okay k cool thanks thank you ty thx cheers great nice awesome perfect got it bye "
                              "for now lol haha hahaha good night morning hi hey hello so much a lot wow whoa yay omg "
                              "nope nah love that s kinda sad bored not just wanted to say worked the recipe fun "
                              "interesting makes sense anyway again all thats appreciate it this really helped helps have good day "
                              "youve been super helpful youre funny was talking see ya later take care legend "
                              "lifesaver amazing u perfectly "
                              # a thanks and its praise in the languages people write to agents
                              "gracias muchas mil perfecto genial merci beaucoup parfait super danke vielen dank "
                              "grazie mille perfetto obrigado obrigada valeu bedankt tack takk kiitos dziekuje dzięki "
                              "dziękuję teşekkürler asante".split())
_SMALL_TALK_CORE = frozenset("thanks thank thx ty cheers bye night hi hey hello cool great awesome nice perfect lol haha "
                             "hahaha wow whoa yay omg nope nah love sad bored ok okay k interesting helpful helped funny appreciate "
                             "lifesaver legend gracias merci danke grazie obrigado obrigada valeu bedankt tack takk "
                             "kiitos dziekuje dzięki dziękuję teşekkürler asante".split())


# After an assistant's turn, "ok", "yes", "sure" say go on with what it offered: that work is complex.
_CONSENT = frozenset(("ok", "okay", "k", "sure", "yes", "yeah", "yep", "yup", "please", "go ahead", "do it"))
_CLOSING = frozenset("thanks thank thx ty cheers bye goodbye night lol haha hahaha".split())


def _consents(seen: frozenset[str]) -> bool:
    return not seen.isdisjoint(_CONSENT) and seen.isdisjoint(_CLOSING)


def _only_small_talk(seen: frozenset[str]) -> bool:
    if seen.isdisjoint(_SMALL_TALK_CORE):  # a cheap first look: the core words are single words
        return False
    words = {w for w in seen if " " not in w}
    return bool(words) and words <= _SMALL_TALK_WORDS


def classify(conversation: Conversation) -> Decision:
    """The decision for the conversation's last user turn."""
    at = _last_user(conversation.messages)
    if at < 0:
        return Decision("complex", "no user turn")
    last = conversation.messages[at]
    if any(type(b) is not TextBlock for b in last.content):
        return Decision("complex", "non-text content")
    text = last.text()
    # Tools on offer make a turn a tool loop's first step, unless it needs no tool (the labelling
    # guide's reading): a hello, a thank-you, a question about the assistant, what a word means,
    # none of them long. A lookup stays complex: with tools it is usually one in the tools' data.
    if conversation.tools and len(text) > MAX_SIMPLE_CHARS:
        return Decision("complex", "tools defined")
    before = conversation.messages[:at]  # by position: an earlier turn may equal the last one ("hi", … "hi")
    has_history = any(message.role in ("user", "assistant") for message in before)  # a system prompt is not history
    decision = classify_text(text, has_history)
    if decision.reason in _GROUNDABLE and _answered_by_system(text, conversation.system):
        return Decision("simple", "a question the system prompt answers")
    if conversation.tools and decision.reason not in _NEEDS_NO_TOOL \
            and (decision.reason not in _WORLD_FACTS or _about_own_data(text.lower())):
        return Decision("complex", "tools defined")
    return decision


# A question word, a verb and what it asks about: whole in three words ("who discovered penicillin", "where is
# lima"), unlike "what about rome" or "which one's cheaper".
_WHOLE_QUESTION = expression(r"(who|what|when|where) (is|are|was|were|wrote|won|built|made|sang|[a-z]{3,}ed) [a-z]{3,}\W*$")


# A yes-or-no on health or the law: a ruling on a case, not a fact ("does ibuprofen interact with lisinopril",
# "are we allowed to store passport scans", "is 38.5 a fever").
_RULING_WORDS = frozenset("allowed permitted legal illegal lawful unlawful compliant gdpr hipaa pci interact interacts dose "
                          "dosage overdose fever pregnant breastfeeding prescription contagious symptom symptoms".split()
                          + ["side effects"])
_YES_OR_NO = expression(r"(is|are|am|can|could|may|do|does|did|will|would)\b")


def _asks_a_ruling(core: str, seen: frozenset[str]) -> bool:
    return not seen.isdisjoint(_RULING_WORDS) and _YES_OR_NO.match(core) is not None


def _about_own_data(lowered: str) -> bool:
    return _OWN_DATA.search(lowered) is not None or _THING_AT_HAND.search(lowered) is not None


_NEEDS_NO_TOOL = frozenset(("small talk", "definition"))
# A fact about the world needs no tool either ("what's the tallest mountain in africa" to a shop's
# assistant); a fact about the deployment's own data does (an order, "my accounts", ticket 9912,
# the highest growth in its figures, what is current).
_WORLD_FACTS = frozenset(("lookup or definition", "a translation, spelling or pronunciation", "conversion or formatting"))
_OWN_DATA = expression(r"\d|\b(my|mine|our|ours|your|yours|we|us|i|me|status|current|currently|now|today|latest|open|"
                       r"pending|list|show|find|get|check|account|accounts|order|orders|ticket|tickets|customer|customers|"
                       r"user|users|report|invoice|booking|balance|highest|lowest|most|least|top|best|worst|total|"
                       # the business's own terms: its hours, prices, policies
                       r"store|shop|office|branch|hours|opens?|closes?|closing|price|prices|pricing|cost|costs|fee|fees|"
                       r"policy|policies|refund|refunds|return|returns|shipping|delivery|plan|plans|subscription|"
                       r"tracking|shipment|package|parcel|appointment|reservation|case|claim|stock|inventory|item|items|"
                       # where the asker is
                       r"here|near|nearby|nearest|closest|it)\b")
# A thing named as one the asker and the agent both know, with nothing after it saying which
# ("how big is the table?" to an agent with a SQL tool, "is the build green"): theirs, not the
# world's ("the tallest mountain in africa", "the capital of france" say which).
_THING_AT_HAND = expression(r"\b(the|that|this|those|these) [a-z][\w-]*( [a-z][\w-]*)?[\s?!.]*$")
# What a short question can be taken for when the request's own system prompt states its answer
# ("can i send perfume" to a parcel firm's assistant whose prompt lists prohibited items): a lookup,
# or a how-to or how-many that reads like advice or a computation without the prompt.
_GROUNDABLE = frozenset(("lookup or definition", "not clearly simple", "a judgment, advice or a plan",
                         "an estimate, a computation or several operations"))
MAX_GROUNDED_WORDS = 10
MIN_GROUNDING_WORDS = 12
# A deployment's fact sheet, not a coding agent's prompt of thousands of words that names every
# task ("run the tests", "commit") without answering any question about them.
MAX_GROUNDING_CHARS = 3000
# What no system prompt settles: a judgement about the asker's case, a why, a condition, what the
# asker's own case needs or has left.
_JUDGES = expression(r"\b(should|allowed|legal|worth|better|best|recommend|why|if|whether|fair|normal|safe|"
                     r"ok|okay|enough|right|wrong|my|mine|our|need|needed|fit|left|afford)\b")
_FUNCTION_WORDS = frozenset("the and for you are can was who how why any all its get got has had did not but per via out "
                            "off one use what when where which whats does have your youre there about with from that this they "
                            "them their into just tell know need want please much many long".split())


# A question for one thing a given text states: who, what, when, where, which, how, or can/is/does.
_READ_QUESTION = re.compile(r"^(?:who|who's|whos|what|what's|whats|when|where|which|how|"
                            r"(?:can|do|does|is|are|r|was|were|will) (?:i|we|they|it|there|you|u))\b")


# "can you rebook me …": a request to the assistant to do something, not a question about the business.
_ASKS_TO_ACT = re.compile(r"^(?:can|could|would|will) (?:you|u)\b(?! (?:ship|deliver|accept|take|open|close))")


def _answered_by_system(text: str, system: str) -> bool:
    """A short question for a fact whose content words are mostly in the system prompt: the
    deployment's own facts (hours, prices, policy) given in the request, read out like a text job."""
    if not MIN_GROUNDING_WORDS * 4 <= len(system) <= MAX_GROUNDING_CHARS or len(text) > MAX_SIMPLE_CHARS:
        return False  # too short to state facts, or an agent harness's long generic prompt
    lowered = _without_framing(text.lower())
    if word_count(lowered) > MAX_GROUNDED_WORDS \
            or (_READ_QUESTION.match(lowered) is None and not lowered.endswith("?")) or _ASKS_TO_ACT.match(lowered) \
            or _DIGIT.search(lowered) is not None or _JUDGES.search(lowered) is not None:
        return False
    # "how do i cancel", "how many days do i get": the how is the question, not advice or a sum;
    # anything else that weighs or works out ("how do i structure …") the prompt does not settle
    rest = _HOW_OPENING.sub("", lowered, count=1)
    rest_grams = grams(rest)
    if WEIGHS.search(rest, True, rest_grams) or REASONING.search(rest, True, rest_grams):
        return False
    return _mostly_in(lowered, system.lower())


_WORD = re.compile(r"[^\W\d_]+")


def _words_of(text: str) -> str:
    """The text's words between single spaces, with one before the first and after the last, so a
    word is found by substring search at C speed (a system prompt or a pasted text can be long)."""
    return " " + " ".join(_WORD.findall(text)) + " "


def _has_form_of(word: str, words: str) -> bool:
    """Whether `words` (from `_words_of`) holds a form of `word`: one starting with its first five
    letters ("saturday"/"saturdays"), or a short word itself or with an s ("dog"/"dogs")."""
    if len(word) > 5:
        return " " + word[:5] in words
    base = word[:-1] if len(word) > 3 and word.endswith("s") else word
    return f" {base} " in words or f" {base}s " in words


def _mostly_in(question: str, text: str, pointers: frozenset[str] = frozenset()) -> bool:
    """At least half the question's content words (one at least) have a form in `text`."""
    content = [w for w in _WORD.findall(question) if len(w) >= 3 and w not in _FUNCTION_WORDS and w not in pointers]
    if not content:
        return False
    words = _words_of(text)
    return 2 * sum(_has_form_of(w, words) for w in content) >= len(content)
_HOW_OPENING = expression(r"^(how (do|can|would) (i|we|you)|how (many|much)( \w+)? (do|does|can|will) (i|we|you))\b")


def classify_text(text: str, has_history: bool = False) -> Decision:
    """The decision for one user turn's text; `has_history` when user or assistant turns came
    before it (a system prompt is not history)."""
    decision = _decide(text, has_history)
    if decision.simple or decision.reason in _BEFORE_THE_ASK or decision.reason.endswith((" words", " characters")):
        return decision
    # A short turn that asks one thing among chat that asks nothing: looked at only when the whole is complex.
    lowered = text.strip().lower()
    joined = _JOINED.match(lowered) if has_history else None
    if joined is not None and word_count(lowered) - word_count(joined.group(0)) >= MIN_JOINED_QUESTION_WORDS:
        rest = classify_text(lowered[joined.end():], has_history)  # "and what's the capital of norway": whole on its own
        if rest.simple:
            return rest
    # "settling a bet with my brother. who was the first man on the moon" (cheap looks first: two sentences, the
    # last one short and asking, no figures)
    if (_has_sentence_end(lowered) or _may_open_a_clause(lowered)) and not _has_digit(lowered):
        sentences = _sentences(lowered)
        last = sentences[-1]
        chat = lowered[: -len(last)] if len(sentences) >= 2 else ""
        if chat and "?" not in chat and 3 <= word_count(last) and _MAY_ASK_A_FACT.search(last) is not None \
                and _stands_apart(last, chat) and _fact_among_chat(last, chat, has_history, _latin(lowered)):
            return Decision("simple", "a fact question among chat")
    if "?" not in lowered.rstrip("?!. ") and not (_SHIFT_WORDS.search(lowered) is not None
                                                  and _SHIFT.search(lowered) is not None):
        return decision
    lowered = _without_courtesy(_without_trailing_symbols(lowered))
    latin = _latin(lowered)
    shifted = _after_shift(lowered, has_history, latin)  # "ah makes sense thanks. totally unrelated but how many legs does a spider have"
    if shifted is not None and shifted.simple:
        return shifted
    sentences = _SENTENCE_END.split(lowered)
    if len(sentences) >= 2 and sentences[0].endswith("?") and not grams(lowered).isdisjoint(_ENGLISH) \
            and not _figures_for(sentences[0], lowered[len(sentences[0]):]) \
            and _fact_among_chat(sentences[0], lowered[len(sentences[0]):], has_history, latin):
        return Decision("simple", "a fact question among chat")  # "what does http status 418 mean? just curious"
    return decision


_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve dozen couple few several half "
                          "twice".split())


def _figures_for(ask: str, chat: str) -> bool:
    """Chat after a question that gives figures to work it with: "what does ROI mean? we spent 2000 and made
    2600", "how many calories in a big mac? i had two today"."""
    return _DIGIT.search(chat) is not None or (not grams(ask).isdisjoint(_HOW_MANY)
                                               and not grams(chat).isdisjoint(_NUMBER_WORDS))


# A next question joined on with "and" after earlier turns; with a few words it may stand on its own
# ("and what's the speed of light"), with fewer it leans on them ("and in porto?", "and the currency").
_JOINED = re.compile(r"^(ok(ay)?,? )?(and|also|so)\s+")
MIN_JOINED_QUESTION_WORDS = 4


# Decisions taken on the whole turn before what it asks is looked at.
_BEFORE_THE_ASK = frozenset(("code", "consent to go on with earlier work", "empty turn"))


def _decide(text: str, has_history: bool) -> Decision:
    text = _without_trailing_symbols(text.strip())  # "thanks, all working now 🙏": the emoji says nothing more
    if not text:
        return Decision("complex", "empty turn")
    if len(text) > MAX_MATERIAL_CHARS:  # before counting words: a megabyte turn is turned away in constant time
        return Decision("complex", f"{len(text)} characters")
    words = word_count(text)
    if words > MAX_MATERIAL_WORDS:
        return Decision("complex", f"{words} words")
    if not text.isascii() and _DENSE_SCRIPT.search(text) is not None:
        text = _DENSE_CLAUSE_END.sub("\\g<0> ", text).rstrip()  # Chinese and Japanese write a paragraph as one run
    # Bounds the rules' work (signals/bounded.py): no simple turn has such a word.
    if len(text) > MAX_RUN and _may_have_long_run(text) and has_long_run(text):
        return Decision("complex", f"{len(text)} characters")
    lowered = _without_courtesy(text.lower())
    latin = _latin(lowered)
    if not latin and lowered.endswith(";"):
        lowered = lowered[:-1] + "?"  # the Greek question mark, not a statement's end in code
    # A job on text the turn carries ("sort these: 42, 7, 19", "tldr\n\n<an email>") is
    # judged by what it asks, not by the material, however long the material is.
    whole_ask, carried = _split_material(lowered)
    if carried and (_text_job(whole_ask, carried, latin) or _reads_out(whole_ask, carried, latin)
                    or _picks_a_label(whole_ask, carried, latin)):
        return Decision("simple", "a short job on the text it carries")
    last_ask, before = _asked_last(lowered)  # the text pasted first, the question under it
    if before and (_text_job(last_ask, before, latin) or _reads_out(last_ask, before, latin)
                   or _picks_a_label(last_ask, before, latin)):
        return Decision("simple", "a short job on the text it carries")
    if words > MAX_SIMPLE_WORDS or len(text) > MAX_SIMPLE_CHARS:
        return _after_preamble(lowered, has_history, words, latin)
    core = _without_framing(lowered)
    greeted = _GREETING.match(core)
    if greeted is not None and greeted.end() < len(core):  # "hey why is the sky blue": the question decides
        rest = core[greeted.end():]
        rest_grams = grams(rest)
        # (not when more of the same follows: "hey thanks so much")
        if not _only_small_talk(rest_grams) and (
                SMALL_TALK.search(rest, latin, rest_grams) or _asks(rest, latin, rest_grams)
                or _asks_beyond_chat(rest, latin, rest_grams) or FOREIGN_QUESTION.search(rest, latin, rest_grams)
                or FOREIGN_COMPLEX.search(rest, latin, rest_grams) or _foreign_request(rest, latin, rest_grams)):
            core = rest
    seen = grams(core)
    whole = grams(lowered)
    asks_term = "`" in core and _ASKS_WHAT_IT_IS.search(_ONE_TERM_IN_TICKS.sub("x", core)) is not None
    # (its alternatives open with "what" or "difference": a prefix look first)
    names_a_tool = asks_term or core.startswith(("what", "difference")) and _NAMES_A_TOOL.match(core) is not None
    code = (CODE_MARKS.search(_NAMED_IN_TICKS.sub("x", lowered) if names_a_tool else lowered, latin, whole)
            or (CODE.search(lowered, latin, whole) and not names_a_tool))
    if (SMALL_TALK.search(core, latin, seen) or _only_small_talk(seen)) and not code \
            and not _asks_beyond_chat(core, latin, seen):
        if has_history and _consents(seen):
            return Decision("complex", "consent to go on with earlier work")
        if not (has_history and "?" in core and not _only_small_talk(seen)):  # "merci ! et celle du canada ?"
            return Decision("simple", "small talk")
    if core != lowered and not code and SMALL_TALK.search(lowered, latin, whole) and word_count(core) <= 8 \
            and not (_asks(core, latin, seen) or _asks_beyond_chat(core, latin, seen) or _foreign_request(core, latin, seen)
                     or (not latin or seen.isdisjoint(_ENGLISH)) and FOREIGN_QUESTION.search(core, latin, seen)):
        # "thanks, that helps"; not "danke, und was jetzt"
        return Decision("simple", "small talk")
    if not code and _signs_off(lowered, latin):
        return Decision("simple", "small talk")
    if code:
        return Decision("complex", "code")
    if asks_term:
        return Decision("simple", "definition")
    if has_history and ABOUT_ASSISTANT.search(core, latin, seen) and word_count(core) <= MAX_ABOUT_ASSISTANT_WORDS \
            and _POINTS_AT_WORK.search(core) is None and not CONTEXT.search(core, latin, seen):
        return Decision("simple", "small talk")  # "can you speak spanish too?" after earlier turns: about the assistant
    if has_history and REFERS_BACK.search(core, latin, seen) and _SHIFTS_TOPIC.search(lowered) is None:
        return Decision("complex", "depends on earlier turns")
    if CONTEXT.search(core, latin, seen) or CONTEXT_MARKS.search(core, latin, seen):
        return Decision("complex", "depends on earlier turns")
    if has_history and core == lowered and words <= 3 and not DEFINITION.search(core, latin, seen) \
            and not SAY.search(core, latin, seen) and _WHOLE_QUESTION.match(core) is None:
        # "in fahrenheit?", "the second one"; not "define empathy", "who discovered penicillin"
        return Decision("complex", "a fragment that continues earlier turns")
    if "how" in seen and SAY_HOW.search(core, latin, seen):
        return Decision("simple", "a translation, spelling or pronunciation")
    ask, material = (whole_ask, carried) if core == lowered else _split_material(core)  # (split once when no framing)
    asked = grams(ask) if material else seen
    has_digit = _has_digit(core)
    if _needs_a_factor(core, seen, has_digit) or _composes_time_units(core) \
            or (material and _converts_several(ask, material, latin, asked)):
        return Decision("complex", "an estimate, a computation or several operations")
    if has_digit and _ONE_CONVERSION.match(core) is not None:  # "kg to lbs: 68"
        return Decision("simple", "conversion or formatting")
    if ACTS.search(ask, latin, asked) or FOREIGN_ACTS.search(ask, latin, asked):
        return Decision("complex", "a request to act")
    if _computes(ask) or WORKS_OUT.search(ask, latin, asked) or _takes_a_percentage(ask):
        return Decision("complex", "an estimate, a computation or several operations")
    if WEIGHS.search(ask, latin, asked) or (material and " or " in material and WEIGHS.search(core, latin, seen)):
        return Decision("complex", "a judgment, advice or a plan")
    if not has_digit and (" my" in core or " me" in core) and word_count(core) <= MAX_CASE_WORDS \
            and _ASKERS_CASE.search(core) is not None:  # (each alternative has " my" or " me": looked for first)
        return Decision("complex", "a question about the asker's own case")  # "what does a rate hike mean for my mortgage"
    if not material and _POINTS_AT_TEXT.search(core) is not None:  # "what is the meaning of this poem", nothing pasted
        return Decision("complex", "a job on a text not given")
    if SAY.search(core, latin, seen) and (latin or _COMPOSES.search(core) is None):
        return Decision("simple", "a translation, spelling or pronunciation")
    if REASONING.search(core, latin, seen) or REASONING_MARKS.search(core, latin, seen) or _asks_a_ruling(core, seen) \
            or (material and REASONING.search(ask, latin, asked)):
        return Decision("complex", "reasoning, judgment or a task")
    if DEFINITION.search(core, latin, seen):
        return Decision("simple", "definition")
    if TRANSFORM.search(core, latin, seen):
        if _converts_twice(core):  # "20 celsius to fahrenheit and kelvin": a conversion for each
            return Decision("complex", "an estimate, a computation or several operations")
        if material and (TEXT_JOB_BLOCKS.search(ask, latin, asked) or not asked.isdisjoint(_SEVERAL)):
            # what made it more than a job on the carried text: "… and make it sound friendlier: …"
            return Decision("complex", "reasoning, judgment or a task")
        if material or (_SUMMARY.search(core) is None and (_REWORKS_TEXT.search(core) is None or has_digit)):
            return Decision("simple", "conversion or formatting")
        return Decision("complex", "a job on a text not given")  # "summarize the french revolution", "format my resume"
    if LOOKUP.search(core, latin, seen):
        if seen.isdisjoint(_ENGLISH) and (FOREIGN_MORE.search(core, latin, seen) or FOREIGN_WEIGHS.search(core, latin, seen)):
            # "qual … e qual compensa mais", "¿qué pasaría si …?", "ile kosztuje remont łazienki 5 m2"
            return Decision("complex", "a question with more than a fact in it, in another language")
        if has_digit and (not seen.isdisjoint(_HOW_MANY) or (  # "a 10 gallon tank, how many fish"
                FOREIGN_HOW_MANY.search(core, latin, seen) and _FOREIGN_CONVERSION.search(core) is None)):
            return Decision("complex", "an estimate, a computation or several operations")
        if len(_QUALIFIER.findall(core)) >= MAX_LOOKUP_QUALIFIERS + 1:
            # "how many hours of daylight in oslo on the longest day", "the boiling point of water at the top of
            # everest": a fact narrowed by three qualifiers is worked out from several, not looked up
            return Decision("complex", "an estimate, a computation or several operations")
        if material and CARRIED_CODE.search(material, latin):  # "what does this do: SELECT name FROM users …": code read
            return Decision("complex", "code")
        if material and (_asks_more_of_text(ask, latin) or len(_NUMBER.findall(material)) > 1):
            # "which flight is cheapest\n<a list of flights>", "which of these is a prime: 21, 23, 25"
            return Decision("complex", "a judgment or a comparison over the text it carries")
        return Decision("simple", "lookup or definition")
    if _foreign_lookup(core, latin, seen):
        return Decision("simple", "a short question for a fact, in another language")
    if not has_history and _TERM_ALONE.fullmatch(core) is not None and not REFERS_BACK.search(core, latin, seen):
        return Decision("simple", "a term alone")  # "mitochondria", "serendipity?": what it is
    return Decision("complex", "not clearly simple")


# One word asked about on its own, in a first turn: what it means (not "next?" or "more", which lean on a turn
# before; not with tools on offer, where a word alone may name the tools' data: "status?").
_TERM_ALONE = re.compile(r"[a-z][a-z-]{3,}[?!.]*")


# English function words: a turn with none of them is in another language.
# (Only words no other common language writes: "a", "in", "is", "was", "de", "to" are words in several.)
_ENGLISH = frozenset("the what how who where when which does and you your this that with from are can should would "
                     "could there about its think want need know have had been just really some because please thanks "
                     "get got or".split())
# Question words for a fact (what, who, where, when, how many, how long, which), in the
# languages people write to agents.
FOREIGN_QUESTION = Rules(
    r"(¿|^)(qu[ée]|qui[ée]n(es)?|d[óo]nde|cu[áa]ndo|cu[áa]nt[oa]s?|cu[áa]l(es)?)\b",
    r"\b(qu'?est-ce|quel(le)?s?|qui|o[ùu]|quand|combien|c'est quoi|en quelle)\b",
    r"\b(was|wer|wo|wann|wie (viele?|hoch|lang|alt|weit|gro(ß|ss)|sp[äa]t)|welche[rsmn]?)\b",
    r"\b(o que|quem|onde|quando|quant[oa]s?|qual|quais|che cos|cos'?[èe]|chi|dove|quale?|quanti)\b",
    r"\b(wat|wie|waar|wanneer|hoeveel|welke|co|kto|gdzie|kiedy|ile|jak[iae]e?|kt[óo]r[yae])\b",
    r"\b(ne|kim|nerede|neresi|nereye|ne zaman|ka[çc]|hangi|nedir|kimdir|ne demek|hani)\b",
    r"^mi (a|az|volt|lesz|van|jelent|t[öo]rt[ée]nt)\b|"  # Hungarian "what ...", not Spanish "my" or Italian "me"
    r"\b(ki|hol|mikor|h[áa]ny|mennyi|melyik|vad|vem|var|n[äa]r|hur|vilken|hvad|hvem|hvor|hvorn[åa]r|hva|n[åa]r|"
    r"hvilken|mik[äa]|kuka|miss[äa]|milloin|kuinka|paljonko|kdo|kde|kdy|kolik|kter[ýá]|ce|cine|unde|c[âa]nd|c[âa]t|care)\b",
    r"\b(g[ìi]|ai|đ[âa]u|khi n[àa]o|bao nhi[êe]u|m[ấa]y|n[àa]o|apa|siapa|di mana|kapan|berapa|mana|nini|nani|wapi|lini|"
    r"ngapi|gani|ano|sino|saan|kailan|ilan|alin)\b",
    scripts=(r"何|どこ|いつ|誰|いくつ|いくら|どのくらい|どれくらい|什么|甚麼|哪|谁|誰|几|幾|多少|多久|多远|多高|多大|"
             r"뭐|무엇|어디|언제|누구|몇|얼마|что|кто|где|когда|сколько|как(ой|ая|ое|ие)|що|хто|де|коли|скільки|які?й|"
             r"ما|ماذا|من|أين|متى|كم|क्या|कौन|कहाँ|कब|कितन|อะไร|ใคร|ที่ไหน|เมื่อไร|เท่าไ|กี่|מה|מי|איפה|מתי|כמה|"
             r"τι|ποι|πού|πότε|πόσ|چیست|کجا|چند|کی",),
)
# What makes such a question more than a fact: why, how to, should, or, the asker's own case.
FOREIGN_COMPLEX = Rules(
    r"\b(por ?qu[ée]|pourquoi|warum|wieso|perch[ée]|waarom|dlaczego|neden|niçin|mi[ée]rt|varf[öo]r|hvorfor|miksi|"
    r"pro[čc]|de ce|t[ạa]i sao|mengapa|kwa nini|bakit)\b",
    r"\b(c[óo]mo|comment|wie|como|come|hoe|jak|nas[ıi]l|hogyan|hur|hvordan|miten|l[àa]m (sao|th[ếe] n[àa]o)|"
    r"bagaimana|vipi|paano)\b(?! (se dice|dit|sagt|se diz|si dice|zeg|sanoo|se llama|si chiama|se chama|s'appelle|"
    r"heißt|heisst|viele?|lange?|hoch|alt|weit|gro(ß|ss)|veel|lang|hoog|oud|długo|daleko|wiele|many|mycket|långt))",
    r"\b(deber[íi]a|debo|conviene|devrais|dois|faut-il|sollte|soll ich|muss ich|dovrei|devo|conv[ée]m|moet ik|"
    r"powinien\w*|warto|mal[ıi]y[ıi]m|kell|b[öo]r|skal jeg|pit[äa]isi|n[êe]n|harus|sebaiknya|lohnt|mejor|meilleur|"
    r"besser|melhor|meglio|beter|lepiej|daha iyi|ou|oder|of|veya|atau|ili|или|або)\b",
    r"\b(yo|mis|me|je|j'|ma|mon|mes|ich|mein\w*|mir|mich|eu|meu|minha|io|mio|mia|ik|mijn|m[óo]j\w*|ben|benim|"
    r"t[ôo]i|saya|aku|jag|mitt|jeg|minä|já|můj)\b",
    r"[€$£¥₩₹]|\b(eur[oó]s?|d[óo]lar\w*|dollars?|forint\w*|z[łl]ot\w*|lir[ae]\w*|rubl\w*|yen|yuan|pesos?|reais|real|"
    r"rupi\w*|kron\w*|kun\w*|franc\w*)\b",  # money in another currency needs today's rate
    scripts=(r"为什么|為什麼|怎么|怎麼|如何|应该|應該|还是|還是|我|なぜ|どうして|どうやって|べき|どっち|どちら|私|僕|"
             r"почему|зачем|как (мне|лучше|сделать)|стоит|лучше|\bили\b|\bя\b|\bмне\b|\bмой|\bмоя|чому|\bяк\b|\bчи\b|"
             r"لماذا|كيف|هل يجب|\bأو\b|\bأنا\b|क्यों|कैसे|चाहिए|(^|\s)या(\s|$)|मैं|मेरा|मेरी|왜|어떻게|해야|나아|아니면|"
             r"저는|제가|내가|ทำไม|อย่างไร|ควร|หรือ|ฉัน|למה|איך|כדאי|\bאו\b|\bאני\b|γιατί|πώς|πρέπει|\bή\b|\bεγώ\b|"
             r"\bμου\b|چرا|چطور|باید|\bیا\b",),
)
# What makes a question in another language more than a fact, beyond why, how and should: a reason, what
# holds now (today's rates, prices), a condition or a hypothetical, what follows from something, a
# recommendation or the best of a kind, a price.
FOREIGN_WEIGHS = Rules(
    # pros and cons, an opinion, how something works, yesterday's news: more than a fact, in any language
    r"\b(ventajas|desventajas|avantages|inconv[ée]nients|vorteile|nachteile|vor- und nachteile|vantaggi|svantaggi|"
    r"vantagens|desvantagens|voordelen|nadelen|voor- en nadelen|zalety|wady|avantajlar\w*|dezavantajlar\w*|"
    r"art[ıi]lar[ıi]|eksileri|opinas|piensas|penses|pensez|h[äa]ltst du|meinst du|ne pensi|acha|achas|myślisz|"
    r"vind je|d[üu][şs][üu]n[üu]yorsun|funktioniert|funziona|fonctionne|funciona|werkt|dzia[łl]a|[çc]al[ıi][şs][ıi]r|"
    r"ayer|ontem|gestern|ieri|wczoraj|d[üu]n|tutar|ka[çc] para|fiyat[ıi])\b",
    r"\b(elegir|escoger|elijo|choisir|choisis|w[äa]hlen|scegliere|escolher|kiezen|wybra[ćc]|se[çc]meli|"
    r"w[äa]hle)\b",
    # how long it takes ("quanto tempo leva para aprender inglês"): an estimate
    r"\b(quanto tempo (leva|demora|ci vuole|serve)|cu[áa]nto (tiempo )?(tarda|se tarda|lleva|demora)|combien de temps (faut|pour|prend)|"
    r"wie lange (dauert|braucht)|hoe lang (duurt|doe)|ile czasu)\b",
    r"\b(raz[oó]n|raison|grund|motivo|reden|pow[oó]d|sebep|ahora|actualmente|maintenant|actuellement|jetzt|aktuell|"
    r"adesso|agora|teraz|hoy|aujourd'hui|heute|oggi|hoje|vandaag|dzisiaj|"
    # live data: tomorrow, the weather (the time now, too, in scripts below)
    r"ma[ñn]ana|demain|domani|amanh[ãa]|jutro|yar[ıi]n|clima|m[ée]t[ée]o|wetter|meteo|pogoda|hava durumu)\b",
    r"\b(si|wenn|falls|jeśli|jeżeli|eğer|pasar[íi]a|passerait|passieren|succederebbe|aconteceria|"
    r"consecuencias|conséquences|folgen|conseguenze|consequências|gevolgen|skutki|sonuçları|"
    r"recomiendas?|recommandes?|empfiehlst|empfehlen|consigli|consigliate|recomenda|aanraden|polecasz|önerir|"
    r"paras|parhain|bästa|beste|bedste|najlepsz\w*|mejores?|meilleure?s?|migliore?|melhore?s?|en iyi|"
    r"cuesta|cuestan|co[uû]te|kostet|costa|custa|kost|kosztuje|maliyeti|prix|precio|preço|prezzo|preis)\b",
    scripts=(r"最适合|最適合|适合|適合|お(すすめ|勧め)|лучше всего|выбрать|выбери|посоветуй|选哪|选择|選擇|選ぶ|選べ|고르|선택|اختار|चुन|"
             r"이유|理由|原因|причин|سبب|कारण|סיבה|עדיף|כרגע|现在|目前|今日|지금|오늘|сейчас|сегодня|الآن|اليوم|अभी|आज|"
             r"明日|明天|天気|天气|何時ですか|今何時|几点|幾點|погода|который час|завтра|날씨|몇 시|الطقس|غدا|मौसम|कल|"
             r"如果|もし|만약|если|إذا|\bلو\b|अगर|\bאם\b|后果|後果|影響|影响|结果|последстви|عواقب|نتائج|परिणाम|השלכות|"
             r"推荐|推薦|おすすめ|추천|посовету|порекомендуй|أنصح|تنصح|सलाह|ממליץ|最好|一番|가장 좋은|лучш|أفضل|सबसे अच्छा|"
             r"הכי טוב|अच्छा|좋을까|いいですか|好吗|好嗎|多少钱|いくら|얼마예요|сколько стоит|стоимость|كم سعر|कितने का|כמה עולה|"
             r"我的|私の|мой|моя|моё|мне|मेरे|मेरा|שלי|乘|"
             r"优缺点|優缺點|优点|缺点|利弊|メリット|デメリット|长处|преимуществ|недостат|плюсы и минусы|مزايا|عيوب|फायदे|नुकसान|"
             r"장단점|你觉得|你認為|你认为|どう思い|どう思う|что думаешь|как ты думаешь|ما رأيك|तुम्हें क्या लगता|어떻게 생각|"
             r"工作原理|仕組み|как работает|كيف يعمل|कैसे काम|比.{1,8}(多|少|大|小|高|低|长|長|短|贵|貴|便宜|快|慢|重|轻|輕)|相差|差多少|"
             r"\bили\b|\bабо\b|还是|或者|それとも|\bأم\b|昨天|昨日|вчера|вчора|أمس|कल रात|어제",),
)
# For a question the lookup signs already took: why, should, worth it, or a second question joined on.
FOREIGN_MORE = Rules(
    r"\b(por ?qu[ée]|pourquoi|warum|wieso|perch[ée]|waarom|dlaczego|neden|mi[ée]rt|varf[öo]r|hvorfor|miksi|de ce|"
    r"t[ạa]i sao|mengapa|bakit|deber[íi]a|conviene|devrais|sollte|soll ich|dovrei|devo|vale a pena|compensa|lohnt|"
    r"mejor|melhor|meilleur|besser|meglio|lepiej|e qual|y cu[áa]l|et quel(le)?|und welche[rsn]?|"
    # what the asker must do, who is to blame, who will win, how long is left
    r"debo|debemos|tengo que|necesito|muss ich|m[üu]ssen wir|dois-je|faut-il|moet ik|powinienem|powinnam|musz[ęe]|"
    r"schuld|culpa|colpa|la faute|wina|su[çc]lu|ganar[áa]|ganhar[áa]|vai ganhar|gagnera|va gagner|wird gewinnen|"
    r"vincer[àa]|wygra|kazanacak|faltan|quedan|restent|mancano|faltam|zosta[łl]o|kald[ıi])\b",
    scripts=(r"为什么|為什麼|应该|應該|还是|還是|なぜ|どうして|べき|どっち|почему|зачем|стоит ли|لماذا|क्यों|चाहिए|왜|해야|"
             r"победит|выиграет|осталось|谁会赢|誰會贏|还有几天|還有幾天|あと何日|勝つのは",),
)
# How many or how much in other languages: with a quantity given and no unit to convert it to, worked out
# ("combien de calories dans 3 croissants"; not "quanto é 1 milha em quilômetros").
FOREIGN_HOW_MANY = Rules(
    r"\b(cu[áa]nt[oa]s?|combien|wie viele?|quant[oiae]s?|hoeveel|ile|ilu|ka[çc]|hur (m[åa]nga|mycket)|"
    r"hvor (mange|meget|mye)|kuinka (monta|paljon)|paljonko|kolik|h[áa]ny|mennyi|berapa|bao nhi[êe]u)\b",
    scripts=(r"сколько|скільки|多少|几个|幾個|いくつ|何個|何人|몇|얼마나|كم|कितन|กี่|כמה|πόσ",),
)
_FOREIGN_CONVERSION = expression(r"\d+([.,]\d+)? ?[^\W\d_]+( [^\W\d_]+)? (en|em|in|na|w|à|a|zu|naar|i|ve|in|into|to|до|в|に) "
                                 r"[^\W\d_]+|\d ?(°|度|градус)")
MAX_FOREIGN_QUESTION_WORDS = 12


def _foreign_lookup(core: str, latin: bool, seen: frozenset[str]) -> bool:
    """A short single question for a fact in a language other than English: a question word,
    and no why, how to, should, either-or, or the asker's own situation."""
    if not seen.isdisjoint(_ENGLISH) or word_count(core) > MAX_FOREIGN_QUESTION_WORDS or _SENTENCES.search(core):
        return False
    if len(_NUMBER.findall(core)) > 1:
        return False
    return FOREIGN_QUESTION.search(core, latin, seen) and not (FOREIGN_COMPLEX.search(core, latin, seen)
                                                               or FOREIGN_WEIGHS.search(core, latin, seen)
                                                               or FOREIGN_MORE.search(core, latin, seen))


_DIGIT = re.compile(r"\d")


def _has_digit(text: str) -> bool:
    """Whether the text has a digit; in an ASCII text (most turns) ten substring searches at C speed
    find it faster than the expression, which tries each position."""
    if text.isascii():
        return any(map(text.__contains__, "0123456789"))
    return _DIGIT.search(text) is not None
# A count or an amount asked of a turn that gives a quantity: worked out from it, not looked up
# (conversions were taken before).
# (and how long, far, big, heavy, often, old: "how long to cook a 5kg turkey")
_HOW_MANY = frozenset(("how many", "how much", "how long", "how far", "how big", "how heavy", "how often", "how old"))
_SENTENCES = re.compile(r"[.!?。！？]\s*\S")


# What a short last sentence may ask, after chat that sets the scene, and still be simple.
_FACT_ASKS = frozenset(("lookup or definition", "definition", "a translation, spelling or pronunciation",
                        "conversion or formatting", "a short question for a fact, in another language",
                        "a short job on the text it carries"))
# A break after a sentence's mark (Chinese and Japanese clause marks get a space first: _decide), after a smiley
# (":)", ";p") or around emoji. Each starts at a space, written first so that the engine skips ahead to spaces;
# what comes before the space is checked behind it.
_SENTENCE_END = re.compile(r"\s(?:(?<=[.!?:…。！？]\s)\s*|(?<=[:;][)(dp]\s)\s*|\s*[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]+\s+)")


def _has_sentence_end(text: str) -> bool:
    return _SENTENCE_END.search(text) is not None


def _may_open_a_clause(text: str) -> bool:
    """Whether a question may open after chat in one sentence (a look for the words before the expression)."""
    return any(word in text for word in _CLAUSE_WORDS) and _CLAUSE_ASK.search(text) is not None


_CLAUSE_WORDS = ("but ", "so ", "anyway ", "honestly ", "basically ")
# The last question of a sentence that starts with chat: "…, but honestly what does X mean".
_CLAUSE_ASK = re.compile(r"\b(?:but|so|anyway|honestly|basically)\s+(?:honestly\s+|like\s+|just\s+)?"
                         r"(?=(?:what|who|when|where|which|how)\s)")
# A scene-setting preamble that asks for something itself, or is a list of parts.
PREAMBLE_ASKS = Rules(
    r"\b(can|could|would|will) you\b", r"\b(please|pls|help|helping|write|draft|plan|explain|compare|recommend|suggest|"
    r"should|advice|advise|also|tell me|list|give me|make|create|fix|check|review|why|want you|need you)\b",
    r"\?", r"(^|\s)(\d|[a-z])[.)]\s",
)
# A cheap first test of a sentence that could be a fact question (in English, or another script).
_MAY_ASK_A_FACT = expression(r"\b(what|whats|who|when|where|which|how|is|are|was|were|does|do|did|define|meaning|"
                             r"convert|translate|spell|pronounce|in)\b|[^\x00-\x7f]")
# A last sentence that points back into the preamble ("what's my bmi", "is it legal") depends on it.
_POINTS_BACK = frozenset("my our i we me us it its this that these those they them he she his her their".split())


MAX_CHAT_WORDS = 100


def _stands_apart(ask: str, chat: str) -> bool:
    """The question names nothing the chat names ("ann is taller than ben, ben is taller than cal. is cal taller
    than ann" reasons from the chat), and the chat does not say it is more than a fact ("a riddle: …")."""
    named = {word for word in _WORD.findall(ask) if len(word) > 2 and word not in _FUNCTION_WORDS}
    return named.isdisjoint(_WORD.findall(chat)) and not REASONING.search(chat, _latin(chat), grams(chat))


def _sentences(lowered: str) -> list[str]:
    """The turn's sentences, the last split where a question opens after chat ("… but honestly what does
    observability mean")."""
    sentences = _SENTENCE_END.split(lowered)
    clauses = _CLAUSE_ASK.split(sentences[-1])
    if len(clauses) > 1:
        sentences[-1:] = [sentences[-1][: len(sentences[-1]) - len(clauses[-1])], clauses[-1]]
    return sentences


def _after_preamble(lowered: str, has_history: bool, words: int, latin: bool) -> Decision:
    """A long turn is complex unless it is one short question for a fact that stands alone, with
    scene-setting chat before it (\"…photo book for his 80th. what year did the berlin wall
    fall\") or after it (\"what year did the wall fall? it's for my grandad's photo book\")."""
    if words > MAX_CHAT_WORDS:  # a wall of text is more than scene-setting
        return Decision("complex", f"{words} words")
    sentences = _sentences(lowered)
    if len(sentences) >= 2:
        last, first = sentences[-1], sentences[0]
        if _fact_among_chat(last, lowered[: len(lowered) - len(last)], has_history, latin) \
                or (first.endswith("?") or _DEFINE.match(first) is not None) \
                and _fact_among_chat(first, lowered[len(first):], has_history, latin):
            return Decision("simple", "a fact question among chat")
    return Decision("complex", f"{words} words")


# Figures the chat puts in relation to each other: operands of a sum, not a claim being settled ("he says 300").
_RELATES_FIGURES = expression(r"\b(total|together|altogether|in all|more than|less than|fewer than|times as|each|per|split|"
                              r"paid|pays|costs?|sum|difference|left|remain\w*|twice|half|owes?)\b")


# A first sentence that asks for a definition without a question mark: "Define idempotent please."
_DEFINE = expression(r"(define|definition of|meaning of|what (is|are|does)) ")


# Asks that carry what they work on (a phrase to translate, a quoted text), whatever pronouns they use.
_SELF_CONTAINED = frozenset(("a translation, spelling or pronunciation", "a short job on the text it carries"))


def _fact_among_chat(ask: str, chat: str, has_history: bool, latin: bool) -> bool:
    """`ask` is a short fact question that does not point into `chat`, and `chat` asks for nothing."""
    if not 3 <= word_count(ask) <= MAX_SIMPLE_WORDS or _MAY_ASK_A_FACT.search(ask) is None:
        return False
    figures = len(_NUMBER.findall(chat))
    if "?" in chat or figures > 3:  # a question of its own; figures to weigh or work with
        return False
    if figures >= 2 and not grams(ask).isdisjoint(_HOW_MANY) and _RELATES_FIGURES.search(chat) is not None:
        return False  # "a bat and a ball cost 1.10 in total, the bat costs 1.00 more than the ball. how much is the ball"
    chat_grams = grams(chat)
    if PREAMBLE_ASKS.search(chat, latin, chat_grams):
        return False
    asked = classify_text(ask, has_history).reason
    if asked not in _FACT_ASKS:
        return False
    # "what's my bmi" points into the chat; "how do i write 'welcome home' in polish" does not
    if asked not in _SELF_CONTAINED and not grams(ask).isdisjoint(_POINTS_BACK):
        return False
    # code in the chat, by its syntax: talk about code ("I keep hearing it in code reviews") is chat
    return not (CARRIED_CODE.search(chat, latin) or CODE_MARKS.search(chat, latin, chat_grams))


def _may_have_long_run(text: str) -> bool:
    """A cheap test before has_long_run's scan: a word of MAX_RUN characters, or that much space."""
    words = text.split()
    return max(map(len, words), default=0) >= MAX_RUN or len(text) - sum(map(len, words)) >= MAX_RUN


def _asks_beyond_chat(core: str, latin: bool, seen: frozenset[str]) -> bool:
    """What a hello, a thanks or a question about the assistant carries that is more than chat:
    "do you know why the sky is blue", "can you read this and tell me if it's fair"."""
    return BEYOND_CHAT.search(core, latin, seen) or not seen.isdisjoint(_SEVERAL)


BEYOND_CHAT = Rules(
    r"\b(why|how to|how do|how does|how can i|how should|if|whether|should|explain|write|draft|plan|fix|book|send|"
    r"email|order|buy|cancel|compare|calculate|recommend|summari[sz]e|translate|convert|tell me (if|whether|why|how|what))\b",
    r"\b(also|but|then|now (add|make|change|redo|do|put|remove|update|fix|send|write|can|could|what|how))\b",
    r"\b(do (that|it|this|the|both|all|them)|proceed|go ahead|carry on|continue|use (that|it|this|the))\b",  # go on with it
    r"\b(pourquoi|warum|por ?qu[ée]|perch[ée]|waarom|debo|devo|devrais|sollte|soll ich)\b",
)


# A question about the assistant itself, what it is or can do, asked in the middle of a conversation.
ABOUT_ASSISTANT = Rules(
    r"^(\w+,? )?(can|could|do|are) (you|u) (also |even |still |actually )?(speak|understand|browse|search the (web|internet)|"
    r"access the (web|internet)|go online|see (images|pictures|photos)|read (images|pdfs)|remember|learn|hear|write in)\b",
    r"^(\w+,? )?(just )?(curious,? )?(what|who) (are|r) (you|u)\W*$|^(\w+,? )?(just )?(curious,? )?what (you|u) (are|r)\W*$",
    r"^(\w+,? )?who (made|built|created|trained|programmed) (you|u)\b",
)
MAX_ABOUT_ASSISTANT_WORDS = 10
# ... unless it asks it of the work at hand: "can you remember this", "can you read my file".
_POINTS_AT_WORK = expression(r"\b(this|that|it|these|those|them|my|our|for me|me to)\b")


# What the user reports before a thank-you that still needs an answer: it did not work yet.
_STILL_WRONG = expression(r"\b(not|n'?t|still|error|errors|fail|fails|failed|failing|broken|broke|wrong|issue|problem|"
                          r"crash|crashes|crashed|stuck|but)\b")
_CLAUSE_BREAK = re.compile(r"[.!,;:…]+\s*")


def _signs_off(lowered: str, latin: bool) -> bool:
    """A thank-you that closes the exchange after a word on how it went ("nvm found it, i had a typo in the
    template name. thanks a lot!"): it asks nothing, and reports nothing still wrong."""
    end = len(lowered)
    while end and not lowered[end - 1].isalnum():  # past "!!", "🙏"
        end -= 1
    if lowered[:end].rpartition(" ")[2] not in _SMALL_TALK_WORDS:
        return False  # a cheap first test: it ends on a thanks or the like
    clauses = [clause for clause in _CLAUSE_BREAK.split(lowered) if clause.strip()]
    if len(clauses) < 2 or "?" in lowered or not _only_small_talk(grams(clauses[-1])):
        return False
    if _sets_aside(clauses[:-1]):
        return True  # "actually nevermind, i'll do it later. good night!": the user drops it or takes it up later
    report = " ".join(clauses[:-1])
    report_grams = grams(report)
    return _STILL_WRONG.search(report) is None and not _asks(report, latin, report_grams) \
        and not _asks_beyond_chat(report, latin, report_grams) and not report_grams.isdisjoint(_DONE)


# A clause that drops the matter, or says the user will take it up later themselves ("nvm", "i'll come back to it
# tomorrow"; not "do it tomorrow", "send it later": requests).
_SETS_ASIDE = expression(r"((actually|ok|okay|oh|ah|hmm|well|anyway) )*(never ?mind|nvm|forget it|"
                         r"(i'?ll|i will|let me) [\w' ]{0,30}\b(later|tomorrow|tonight|another time|next week))")


def _sets_aside(clauses: list[str]) -> bool:
    said = [clause.strip(" ,.!-–—") for clause in clauses if clause.strip(" ,.!-–—")]
    return bool(said) and all(_SETS_ASIDE.fullmatch(clause) for clause in said)


# A report that the matter is settled: found it, fixed it, it works, all good.
_DONE = frozenset("found fixed solved sorted works worked working done figured resolved good fine perfect great exactly "
                  "helpful helped brilliant".split())


_THANKS = expression(r"\b(thx|thanks|thank (you|u)|ty|tysm|cheers)\b")
MAX_COURTESY_CHARS = 60
_COURTESY_WORDS = _SMALL_TALK_WORDS | frozenset("ur you're youre u r the best in advance again very".split())


def _without_courtesy(lowered: str) -> str:
    """The turn without a thank-you that closes it ("pls convert 3 tbsp to ml thx so much ur the best"):
    what is asked is before it. A turn that is only thanks, opens with it, or asks nothing before it (a
    sign-off: "found it, thanks") is kept whole."""
    tail_at = max(0, len(lowered) - MAX_COURTESY_CHARS)  # looked for in the turn's last characters only
    tail = lowered[tail_at:]
    if "thank" not in tail and "thx" not in tail and "ty" not in tail and "cheers" not in tail:
        return lowered
    thanks = list(_THANKS.finditer(lowered, tail_at))
    if not thanks or word_count(lowered[:thanks[-1].start()]) < 2:
        return lowered
    found = thanks[-1]
    head = lowered[:found.start()].rstrip(" ,.!-–—")
    if not set(_WORD.findall(lowered[found.start():])) <= _COURTESY_WORDS \
            or not _asks(head, _latin(head), grams(head)) or _sets_aside(_CLAUSE_BREAK.split(head)):
        return lowered
    return head


# A word that the next question is a new one, anywhere in the turn ("ok ill check the zero dates. oh by the way how
# do you spell definately").
_SHIFT = expression(r"(?:^|[.!?,;:]\s*|\b(?:but|and|oh|ok|okay|also|so|anyway)\s+)"  # where a clause starts, not "unrelated histories"
                    r"((totally|completely|slightly|kinda|somewhat) )?(unrelated|off[- ]topic|different (topic|question)|"
                    r"new (topic|question)|random question|on another note|changing the subject|by the way|btw|quick question|"
                    r"quick one|separately|on a (different|separate|side) note|side question|switching gears)\b[\s,:.!-]*(but\s+)?")


_SHIFT_WORDS = re.compile("unrelated|topic|question|note|subject|the way|btw|quick one|separately|gears")  # a cheap first look


def _after_shift(lowered: str, has_history: bool, latin: bool) -> Decision | None:
    """The decision for the question after a word that it is a new one, when what comes before it asks for
    nothing (an acknowledgement, a word on how it went); None when there is no such word."""
    if _SHIFT_WORDS.search(lowered) is None:
        return None
    shifts = list(_SHIFT.finditer(lowered))
    if not shifts or shifts[-1].start() == 0 or shifts[-1].end() >= len(lowered):
        return None
    before, after = lowered[:shifts[-1].start()], lowered[shifts[-1].end():]
    before_grams = grams(before)
    if "?" in before or _asks(before, latin, before_grams) or _asks_beyond_chat(before, latin, before_grams):
        return None
    return classify_text(after, has_history)  # "btw how much is it" still points back


def _asks(core: str, latin: bool, seen: frozenset[str]) -> bool:
    """Whether a text after a thank-you asks for anything."""
    return any(rules.search(core, latin, seen) for rules in (ACTS, WORKS_OUT, WEIGHS, REASONING, CONTEXT, LOOKUP,
                                                               DEFINITION, TRANSFORM, SAY)) or "?" in core


# What a job on carried text asks for: to reformat, tidy, shorten or summarise it, translate it.
TEXT_JOB = Rules(
    r"tl;?dr", r"\b(tldr|summari[sz]e|summary|sum (it |this |that )?up|gist|main point|main idea|pretty[- ]?print|indent|minify|"
    r"shorten|shorter|condense|trim|less wordy|"
    r"more concise|reword|rephrase|paraphrase|rewrite|proofread|spell ?check|fix (the |any |all |my )?(spelling|grammar|"
    r"typos?|punctuation|capitali[sz]ation|formatting|line breaks)|correct (the )?(spelling|grammar|typos)|"
    r"tidy|clean (it |this )?up|uppercase|upper case|lowercase|lower case|all caps|capitali[sz]e|title case|"
    r"sentence case|(make|turn|put|rewrite|change) (it|this|these|them|that) (into (the )?|in(to)? the |to (the )?)?passive|"
    r"passive voice|active voice|plural|singular|first letter|capital letters?|less wordy|wordy|"
    r"(separated|separate) (by|with)|(commas?|semicolons?) (between|after)|add (the )?(commas|semicolons|full stops|periods)|"
    r"(a |one )?single line|one sentence|number (them|these|each|the \w+)|"
    r"alphabeti[sz]e|alphabetical|sort|reverse the order|remove|delete|strip|dedupe|deduplicate|"
    r"extract|pull out|put (each|every|them|these|it|this|the)|one per line|(its|their) own line|bullets?|"
    r"bullet points|bulleted|numbered|new line|separate lines|line by line|bold|italics?|italici[sz]e|join|unwrap|table|csv|json|markdown|"
    r"past tense|present tense|translate|convert|turn (this|it|these|them|each)|make (this|it) (more |less |a bit )?"
    r"(shorter|polite|formal|casual|friendly|professional|concise|clearer|simpler)|format|reformat)\b",
    r"\b(in|into|to) " + _LANGUAGES + r"\b",
    # reading the carried text for one thing in it
    r"\b(extract|return (only )?the|pull out|find (the|all|every)|which (date|day|time|email|number|name|address)|"
    r"what (date|day|time|number|amount|address|email|name|price|total)|what (is|does) (this|the) \w+ (say|asking|ask)|"
    r"asking (me|us) to|one[- ]line|in one (line|sentence)|status|for the user|tell the user|give the user|"
    r"snake case|camel ?case|kebab case|pascal case|wrap|double quotes|single quotes|normali[sz]e|standardi[sz]e)\b",
    r"\b(make (this|it) sound|anonymi[sz]e|add (thousands )?separators|number (these|the) (lines|items)|remove duplicates|"
    r"spell|write (this|it) (in|as)|iso format|title case|conversion|hex|binary|roman numerals|formal|polite|casual|"
    r"make (this|it) (a|an|into)|comma separated|fix (the |this )?link)\b",
    r"(convierte|convert[ia]|umrechnen|übersetz|tradu[zcis]|converta|résume|resume|resumen|formatier|tabelle|"
    r"ordena|trier|sortier|reformul)",
    scripts=(r"翻译|翻譯|翻成|譯成|翻訳|要約|总结|總結|перевед|кратко|번역|תרגם|תתרגם|ترجم|μετάφρασ|แปล",),
)
# What makes such a job more than a job: thinking about the text, writing something new from
# it, working something out of it, acting on it, or a second task.
TEXT_JOB_BLOCKS = Rules(
    r"\b(why|how come|explain|analy[sz]e|evaluate|assess|review (this|it|my|the|these|them)|critique|feedback|improve|better|best|should|"
    r"opinion|think|recommend|suggest|advice|wrong|check (if|whether|that|for)|verify|"
    r"respond|reply|answer|draft|compose|create|generate|come up with|ideas?|brainstorm|continue|expand|"
    r"elaborate|longer|persuasive|funn(y|ier)|joke|poem|story|tone|meaning|mean|implications?|risks?|importance|"
    r"priority|priorities|prioriti[sz]e|rank|urgent|urgency|by length|by size|"
    r"then|also|as well|plus)\b",
    # acting on it (a verb, not the noun in "from this email")
    r"(^|\b(and|then|please|pls|can you|could you|also|to) )(send|email|forward|post|publish|schedule|book|share|upload|"
    r"submit|flag|mark)\b|\b(send|email|forward|post) (it|this|that|them)\b",
    r"\b(correct|right)\?", r"^review\b",
    r", and (?!keep|don'?t|do not|leave|preserve|no |nothing)\w+",
    # a yes-or-no on the text judges it ("is this email too passive aggressive")
    r"^(is|are|was|were|does|do|did|would|will) (this|it|these|that|they)\b", r"\btoo\b",
    r"\btranslat\w*\b.*\b(formal|informal|polite|tone|natural|naturally|professional|website|marketing|audience|"
    r"customers|clients|locali[sz]e)\b",
    r"\binto an? ([\w-]+ ){0,3}(message|email|letter|post|reply|response|announcement|speech|bio|essay|"
    r"article|memo|note|story|poem|pitch|ad|slogan|headline)\b",
    r"\b(write|writes|written) (a|an|me|the|my|some)\b",
    r"\b(python|javascript|js|typescript|ts|golang|go|rust|java|kotlin|swift|ruby|php|perl|sql|bash|regex|"
    r"code|script|function|program)\b", r"c\+\+|c#",
)
# Units in the ask and several numbers in the text: several conversions, each worked out.
UNITS = Rules(
    r"\b(cups?|grams?|g|kg|kilos?|pounds|lbs?|ounces|oz|ml|lit(er|re)s?|celsius|fahrenheit|miles|km|kilomet(er|re)s|"
    r"feet|inches|cm|met(er|re)s|usd|eur|gbp|dollars|euros|currency|currencies|metric|imperial|calories|kcal|"
    r"minutes|hours|seconds|days|weeks)\b",
)


def _converts_several(ask: str, carried: str, latin: bool, asked: frozenset[str]) -> bool:
    """Units in the ask and several quantities in the text it carries ("in grams please: 2 cups flour,
    1 cup sugar…", a small table of weights): a conversion for each, worked out one by one."""
    return len(_NUMBER.findall(carried)) > 1 and UNITS.search(ask, latin, asked)
# Code in the carried text: its syntax, not its topic ("deploy" in a chat log is not code).
# Each pattern starts with a literal and checks the word boundary before it by a lookbehind: the
# regular-expression engine then skips ahead to the literal instead of trying every position, which
# matters on a long pasted text ("\btraceback\b" took 11 µs on 800 characters, "traceback\b(?<=…)" 0.4).
CARRIED_CODE = Rules(
    r"```", r"traceback\b(?<=\btraceback)", r"error\b(?<=\werror)", r"exception\b(?<=\wexception)",
    r"=>|==|!=|&&|\|\||;[ \t]*(\n|$)", r"\((?<=\w\()[^)\n]*\)\s*[{:;]",
    r"def \w(?<=\bdef \w)", r"func \w(?<=\bfunc \w)", r"fn \w(?<=\bfn \w)", r"function \w(?<=\bfunction \w)",
    r"class \w(?<=\bclass \w)", r"const (?<=\bconst )\w+ ?=", r"let (?<=\blet )\w+ ?=", r"var (?<=\bvar )\w+ ?=",
    r"^\s*(import|from|#include|package) \w",
    r"select(?<=\bselect) .{1,80} from\b", r"\$ \w+ -",  # not braces or null alone: a JSON tool result is data
)
MAX_JOB_ASK_WORDS = 25
MAX_SUMMARISED_WORDS = 60


def _text_job(ask: str, carried: str, latin: bool) -> bool:
    """A job a small model does well on text the turn carries: reformat, tidy, shorten,
    summarise or translate it, asked for in a few words, with nothing else asked."""
    ask = ask.replace("sum up", "summarize").replace("_case", " case")  # "snake_case" names a style, not code
    asked = grams(ask)
    if word_count(ask) > MAX_JOB_ASK_WORDS or not TEXT_JOB.search(ask, latin, asked):
        return False
    if _SUMMARY.search(ask) is not None and word_count(carried) > MAX_SUMMARISED_WORDS:
        return False  # summarising takes reading; a long text is more than a small model's job
    if UNITS.search(ask, latin, asked) and len(_NUMBER.findall(carried)) > 1:
        return False
    if TEXT_JOB_BLOCKS.search(ask, latin, asked) or not asked.isdisjoint(_SEVERAL) \
            or CODE.search(ask, latin, asked) or CODE_MARKS.search(ask, latin, asked) or CONTEXT.search(ask, latin, asked):
        return False
    if WORKS_OUT.search(ask, latin, asked) or ("which" in asked and " or " in carried):  # "which is catchier: A or B"
        return False
    return not CARRIED_CODE.search(carried, latin)



_QUESTION_END = re.compile(r"[?,;:.!]|\n")
# Words that point at the carried text rather than say what is asked of it.
_POINTERS = frozenset("this these that here above below text thread notes note message email list document paragraph "
                      "article according attached pasted following clause page policy their there says said".split())
# A superlative or a count asks to compare or tally the whole text, not to read one thing out of it.
_TALLIES = expression(r"\b(how many|most|least|more|less|fewer|\w+iest|cheapest|fastest|latest|earliest|longest|shortest|"
                      r"biggest|largest|smallest|highest|lowest|oldest|newest|closest|nearest|best|worst)\b")
MAX_READ_QUESTION_WORDS = 15
# Anywhere in the ask, not only its question: a condition, a judgement, reasoning shown.
_WEIGHS_TEXT = expression(r"\b(if|whether|should|allowed|fair|worth|better|best|cheapest|reasoning|explain|why|"
                          r"show (your|the) (work|working|steps))\b")


def _asks_more_of_text(question: str, latin: bool) -> bool:
    """A question about a text that judges it, compares or tallies across it, or thinks about it
    ("which flight is cheapest", "who should handle this ticket", "what is the tone of this")."""
    asked = grams(question)
    return _JUDGES.search(question) is not None or _TALLIES.search(question) is not None \
        or TEXT_JOB_BLOCKS.search(question, latin, asked) or WEIGHS.search(question, latin, asked) \
        or CODE.search(question, latin, asked)


# The answers a closed question about a text offers: "yes or no", "positive, negative or neutral",
# "urgent or not urgent", "food, travel or office".
_CLOSED_CHOICE = expression(r"\b(yes or no|yes/no|true or false)\b|\b[\w-]+(, [\w-]+)*,? or (not )?[\w-]+\W*$")
# (the ask names the text it labels: in "reply with yes or no: should i quit my job" the question is after the colon)
_LABELS_TEXT = expression(r"^(is|are|was|does|do) (this|it|the \w+)\b|^(label|classify|categori[sz]e|tag|mark|flag|sort)\b")
MAX_LABELLED_WORDS = 60
# A label that grades the text rather than reads it: "is this a good opening line or not".
_GRADES = expression(r"\b(good|bad|well|strong|weak|effective|persuasive|convincing|appropriate|professional|accurate|"
                     r"correct|true|legal|legit|enough|clear|rude)\b")


def _picks_a_label(ask: str, carried: str, latin: bool) -> bool:
    """A closed question about a short text the turn carries, with the answers offered ("is this review
    positive or negative? <review>", "label this email as urgent or not urgent: <email>"): one label read
    off the text, not a judgement of it."""
    ask = _without_framing(ask.strip())
    if word_count(ask) > MAX_READ_QUESTION_WORDS or word_count(carried) > MAX_LABELLED_WORDS:
        return False
    if _LABELS_TEXT.search(ask) is None or _CLOSED_CHOICE.search(ask.rstrip("?:. ")) is None:
        return False
    asked = grams(ask)
    if _GRADES.search(ask.replace("true or false", "").replace("yes or no", "")) is not None:
        return False
    return _WEIGHS_TEXT.search(ask) is None and _JUDGES.search(ask) is None and not CODE.search(ask, latin, asked) \
        and not CARRIED_CODE.search(carried, latin)


# A span between two things a text gives (times, dates): a subtraction, where "how much is an adult ticket" reads.
_SPANS = frozenset(("how long", "how old"))
# Where the text is, said before the question: "from this signature, what's the phone number".
_POINTER_CLAUSE = expression(r"^(from|in|according to|based on|looking at|per|given) (this|the|that|these|those)\b[^,?]{0,30},\s*")
# A name with a number in it ("worker-3", "q3", "room_12") that the text carries names a thing there; its digit is
# not a quantity.
_IDENTIFIER = re.compile(r"\b[^\W\d_]+[-_]?\d[\w-]*")


def _reads_out(ask: str, carried: str, latin: bool) -> bool:
    """One plain question whose words are in the text the turn carries ("whats the monthly rent in this"
    over a lease clause, "who asked for the deadline extension" over a chat thread): the answer is read
    out, not worked out, judged or counted."""
    question = _QUESTION_END.split(_POINTER_CLAUSE.sub("", _without_framing(ask.strip()), count=1), 1)[0]
    if _READ_QUESTION.match(question) is None or word_count(question) > MAX_READ_QUESTION_WORDS:
        return False
    if _DIGIT.search(_IDENTIFIER.sub(lambda name: "" if name.group(0) in carried else name.group(0), question)) \
            or _asks_more_of_text(question, latin) \
            or _WEIGHS_TEXT.search(ask) is not None:  # "what refund, if any, is owed? show your reasoning"
        return False
    if not grams(question).isdisjoint(_SPANS) and len(_NUMBER.findall(carried)) >= 2:
        return False  # "how long is the flight" over its departure and arrival times: worked out
    return _mostly_in(question, carried, _POINTERS) and not CARRIED_CODE.search(carried, latin)


# Framing that says nothing about the task: "Quick one:", "Step by step,", "URGENT!!!",
# "Explain:", "unrelated, but", "ok. different topic:". The question after it decides.
_FRAMING = expression(
    r"^((please |quick(ly)? |simple |short |easy |long |dumb |silly |random |"
    r"one more|also|ok(ay)?|so|hey|urgent|important|question|q|reason carefully|think carefully|please think carefully|"
    r"step by step|explain|briefly|in short|tell me|i need a detailed, thorough answer|sorry|thanks|thank you|"
    r"by the way|btw|nevermind|never mind|nvm|anyway|oh|cool|great|perfect|hi|hello|hola|bonjour|hallo|ciao|dear|"
    # an acknowledgement of the last answer, or how to shape this one: the question after it decides
    r"that worked|that helped|that helps|it worked|got it|makes sense|"
    r"(reply|answer|respond)( with| in)?( just| only)?( a| one)? ?(yes or no|yes/no|one word|a single word|a number|"
    r"true or false))\b"
    r"[\w\s,.!'-]{0,40}?[:,.!]+\s*)+"
)
# A hello or a thanks that opens a turn, in any language ("hey why is the sky blue", "danke, und was jetzt").
# A request after a hello in another language, as a can-you ("hola, puedes reescribir mi cv"); not a bare "can
# you help me", which is small talk until the task comes.
_FOREIGN_CAN_YOU = expression(r"(puedes|podr[ií]as|peux-tu|tu peux|pourrais-tu|pouvez-vous|vous pouvez|pourriez-vous|"
                              r"kannst du|k[öo]nntest du|k[öo]nnen sie|kun je|kunt u|puoi|potresti|pode|podes|poderia|"
                              r"mo[żz]esz|kan du|kan ni)\b(?! (me |mi )?((ayudar(me)?|m'aider|mir helfen|me helpen|aiutarmi|"
                              r"aiutare|me ajudar|ajudar|pom[óo]c|hj[äa]lpa( mig)?)\W*$|(hablar|parler|sprechen|spreken|"
                              r"parlare|falar|m[óo]wi[ćc])\b))")


def _foreign_request(rest: str, latin: bool, seen: frozenset[str]) -> bool:
    """What follows a hello in another language asks for work: "cancela mi pedido", "puoi scrivere una lettera"."""
    return FOREIGN_ACTS.search(rest, latin, seen) or _FOREIGN_CAN_YOU.match(rest) is not None


_GREETING = expression(r"^(hi|hello|hey|heya|yo|hiya|howdy|good (morning|afternoon|evening)|thanks?( you)?( so much)?|"
                       r"thx|ty|cheers|great|perfect|cool|nice|awesome|got it|"
                       r"(just )?testing|" + _FOREIGN_HELLO + r")\b[\s,.!?¡:;-]*(there\b[\s,.!:;-]*)?"
                       r"([:;][)(dp]\s*|[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]+\s*)?")  # "hey! 👋 who wrote …"
_AFTER_FRAMING = expression(r"^(but|and|so|anyway|by the way|btw),?\s+")
# "unrelated, but …", "different question:": what follows stands on its own.
_TOPIC_SHIFT = expression(r"^(actually,? )?(unrelated|different (topic|question)|new (topic|question)|random( question)?|another question|"
                          r"off topic|on another note|on a (different|separate|side) note|side question|switching gears|separately|"
                          r"changing the subject|also|btw|by the way)\b\s*[,:.!-]*\s*(but\s+)?")
_SHIFTS_TOPIC = expression(r"\b(unrelated|different (topic|question)|new (topic|question)|random question|off topic|"
                           r"on another note|on a (different|separate|side) note|side question|switching gears|changing the subject)\b|"
                           r"^random,? but\b|^separately\b")
_EXPLAIN_DEFINITION = expression(r"^(can you |could you |please )?explain (what|the (acronym|abbreviation|term|word))\b")
_SUMMARY = expression(r"summar|tl;?dr|gist|sum up|shorten|main (point|idea)|key (point|takeaway)")
# A job on a text that has to be given, asked for without it.
_REWORKS_TEXT = expression(r"^(please |pls |can you |could you )?(rewrite|rephrase|reword|reformat|format|proofread|translate|"
                           r"make (this|it|my) \w+|fix (the |my )?(grammar|spelling|typos)|convert (this|it|that|these|them))\b")
# A text the turn points at ("this poem", "that error") without carrying it: earlier turns or an
# attachment hold it.
# The asker's own work is such a text too ("the time complexity of my solution", "is my essay too long").
_POINTS_AT_TEXT = expression(r"\b(this|that|these|those|my|our) (poem|text|email|message|paragraph|sentence|passage|article|"
                             r"document|doc|code|error|song|lyrics|quote|letter|essay|story|chart|graph|image|picture|"
                             r"photo|screenshot|file|pdf|table|spreadsheet|contract|clause|report|solution|answer|script|"
                             r"program|function|query|algorithm|implementation|draft|homework|assignment|resume|cv|"
                             r"output|results?|logs?|config|schema|design)s?\b")
# The asker's own situation in a short question: what applies to them is more than a lookup.
_ASKERS_CASE = expression(r"\b(for|to|on|with|in|into) (my|me)\b|\blike me\b")
MAX_CASE_WORDS = 12
# What a named command or tool does or means, with no code in the turn: a definition ("what does
# the 'g' flag do in a regex", "difference between git fetch and git pull").
_NAMES_A_TOOL = expression(r"(what does|what do|whats the difference between|what's the difference between|"
                           r"what is the difference between|difference between) [\w' .`-]{1,40}"
                           r"( do| mean| stand for| and [\w' .`-]{1,30})( in [\w+#-]+)?\W*$")
# A command or keyword named in backticks, a few words at most: "what does `ls -la` do".
_NAMED_IN_TICKS = re.compile(r"`[\w .-]{1,20}`")
# One word in backticks asked about, and nothing else: "`git` - what is it", "what's `kubectl`".
_ONE_TERM_IN_TICKS = re.compile(r"`[\w.-]{1,20}`")
_ASKS_WHAT_IT_IS = expression(r"^(what('?s| is) x|x\W{0,3}(what('?s| is) (it|that|this)|meaning))\W*$")
# A quote opens where no letter is before it (not the apostrophe in "what's") and closes where
# none follows; the quoted text runs from the first opening to the last closing after it.
# (The mark comes first and the letter before it is checked behind it: the engine then skips
# ahead to a quote mark instead of trying every position.)
_OPENING_QUOTE = re.compile(r"['\"«“‘](?<!\w['\"«“‘])")
_CLOSING_QUOTE = re.compile(r"['\"»”’](?!\w)")


_PERCENT = expression(r"(?<![\d.])\d+(\.\d+)? ?(%|percent) (of|tip|off)\b")


def _takes_a_percentage(ask: str) -> bool:
    """A percentage taken of an amount: "15% tip on 64.50"; not one plain "20% of 50"."""
    return ("%" in ask or "percent" in ask) and _PERCENT.search(ask) is not None and _ARITHMETIC.match(ask) is None
_FRACTION = re.compile(r"\d+/\d+\s*[-+*x×÷]|[-+*x×÷]\s*\d+/\d+")
# An ask that joins a second job: "…and tell me…", "…then convert…" (not "capitalization and punctuation").
_SEVERAL = frozenset(f"{joint} {verb}" for joint in ("and", "then", "also", "plus") for verb in (
    "then tell give list explain convert compare translate sort count add make write send find calculate compute "
    "summarize summarise rewrite show check email book put also explain format assign validate verify flag rank "
    "suggest draft reply answer highlight").split())
# A number, and each side of a dimension ("20x30", not the hex "0x1f").
_NUMBER = re.compile(r"(?=\d)(?:(?<![\w.])|(?<=[1-9][x×])|(?<=\d\d[x×]))\d+(?:[.,/]\d+)*")


def _without_framing(text: str) -> str:
    explained = _EXPLAIN_DEFINITION.match(text) if "explain" in text else None
    core = text if explained is None else "what" + text[explained.end():]
    stripped = _without_opening(_FRAMING, core)
    if stripped != core and _TROUBLE.search(core, 0, len(core) - len(stripped)) is not None:
        stripped = core  # "ok i'll check it later but it still fails, thanks": a report the opening swallowed
    if stripped != core:
        stripped = _without_opening(_AFTER_FRAMING, stripped)
    stripped = _without_opening(_TOPIC_SHIFT, stripped)
    if not stripped.isascii():
        stripped = _without_opening(_LEADING_SYMBOLS, stripped)  # "hey! 👋 who wrote hamlet"
    return stripped or core


def _without_opening(opening: re.Pattern[str], text: str) -> str:
    """The text without what `opening` (an expression anchored at the start) matches there. One match
    call: a substitution costs twice as much, and most turns open with no framing at all."""
    found = opening.match(text)
    return text if found is None else text[found.end():]


# Writing something new in Chinese or Japanese ("写一封信", "write a letter"; not "怎么写", how a word is written):
# with a translation asked too, two jobs, not a translation ("请帮我写一封信给老板，翻译成英文").
_COMPOSES = re.compile(r"(?<!怎么)(?<!怎麼)[写寫](?:一|个|個|封|篇|份|段)|書いて")
# What a framing's few words must not carry: something still going wrong.
_TROUBLE = re.compile(r"\b(?:fail|fails|failed|failing|broken|broke|error|errors|crash|crashes|crashed|still)\b")
_LEADING_SYMBOLS = re.compile(r"^[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]+\s*")


# A text given as context, then the question about it, each under its label.
_LABELLED_CONTEXT = expression(r"(context|document|text|source|passage|article)s?\s*:")
_LABELLED_QUESTION = expression(r"\n\s*(question|q)\s*:\s*")
_BEYOND_LATIN = re.compile("[^\x00-\u024f]")  # a character of a script other than Latin


def _latin(text: str) -> bool:
    """Whether the text is in Latin script only; an ASCII text (most turns) is known at once."""
    return text.isascii() or _BEYOND_LATIN.search(text) is None
# A line break, or a colon that is not in a time ("9:00") or a link ("https://").
_MATERIAL_START = re.compile(r"\n|:(?!//)(?!(?<=\d:)\d)")


def _quoted(text: str) -> tuple[int, int] | None:
    """Where the quoted text is, in one pass (a backtracking expression would rescan the rest
    of the text from every unclosed quote)."""
    opening = _OPENING_QUOTE.search(text)
    if opening is None:
        return None
    end = -1
    for closing in _CLOSING_QUOTE.finditer(text, opening.end() + 3):
        end = closing.end()
    return (opening.start(), end) if end >= 0 else None


# A quoted word or two of letters names a term ("what does the 'git clone' command do"), not a text to work
# on; a password or a code ("is my password 'Summer2024!' strong") is one.
MAX_QUOTED_TERM_WORDS = 2
_TERM = expression(r"[^\W\d_][^\W\d_ .'-]*([ .'-][^\W\d_]+)*\.?")


def _names_a_term(quoted: str) -> bool:
    return len(quoted.split()) <= MAX_QUOTED_TERM_WORDS and _TERM.fullmatch(quoted) is not None


_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def _asked_last(text: str) -> tuple[str, str]:
    """The ask in its own last paragraph, under the text it is about ("<a log>\n\nwhat time did worker-3
    start"), and that text; ("", "") when the turn is not laid out so, or the text above asks
    something itself (a question, or a heading ending in a colon: "summarise this:").
    Scans the text once (the last paragraph break is the last match)."""
    if "\n" not in text:
        return "", ""
    breaks = list(_PARAGRAPH_BREAK.finditer(text))
    if not breaks:
        return "", ""
    ask, before = text[breaks[-1].end():].strip(), text[:breaks[-1].start()].strip()
    first_line = before.split("\n", 1)[0].rstrip()
    if not ask or "\n" in ask or len(ask) >= len(before) or word_count(ask) > MAX_JOB_ASK_WORDS or "?" in before \
            or first_line.endswith(":"):  # (the question is shorter than the text it is about)
        return "", ""
    return ask, before


def _split_material(text: str) -> tuple[str, str]:
    """The ask, and the text it carries to work on (after a colon, or quoted), if any."""
    labelled = _LABELLED_QUESTION.search(text) if "\n" in text else None  # "context: <a text>\n\nquestion: …" (a retrieval prompt)
    if labelled is not None and _LABELLED_CONTEXT.match(text) is not None:
        return text[labelled.end():], text[:labelled.start()]
    start = _MATERIAL_START.search(text) if "\n" in text or ":" in text else None  # "fix the grammar: …", "tldr pls\n\n<an email>"
    if start is not None and text[start.end():].strip():
        return text[:start.start()], text[start.end():]
    quoted = _quoted(text)
    if quoted is not None and not _names_a_term(text[quoted[0] + 1:quoted[1] - 1]):
        opens, closes = quoted
        return " ".join((text[:opens] + text[closes:]).split()), text[opens:closes]
    ask, mark, rest = text.partition("? ")
    if mark and len(rest.split()) >= 3 and len(ask.split()) <= 14:  # "can you turn this into json? apples, 4, 1.20 …"
        return ask, rest
    return text, ""


# One plain operation a small model gets right: times tables, small sums, a percentage of a number.
_ARITHMETIC = expression(r"^\D*(?:(?:[1-9]|1[0-2])\s*(?:times|multiplied by|divided by|[*x×÷/])\s*(?:[1-9]|1[0-2])|"
                         r"\d{1,2}\s*(?:plus|minus|[-+])\s*\d{1,2}|\d{1,3}\s*% of\s*\d{1,4})\D*$")




_TWO_TARGETS = re.compile(r"\b(?:to|in|into) (" + _UNIT + r"),? (?:and|&|,) (?:to |in |into )?(" + _UNIT + r")\b")
# One quantity written in two units ("feet and inches") is one conversion.
_COMPOUND_UNITS = expression(r"(feet|ft|foot)/(inch|in)|(pound|lb)s?/(ounce|oz)|(stone|st)s?/(pound|lb)|(hour|hr|h)s?/(min)|"
                             r"(min)\w*/(sec|s)|(met|m)\w*/(cent|cm)|(day)s?/(hour)")


def _converts_twice(text: str) -> bool:
    found = _TWO_TARGETS.search(text)
    return found is not None and _COMPOUND_UNITS.match(f"{found.group(1)}/{found.group(2)}") is None


_TIME_UNITS = {"second": 0, "minute": 1, "hour": 2, "day": 3, "week": 4, "month": 5, "year": 6, "decade": 7, "century": 8}
# Units people know by heart (60 seconds a minute, 365 days a year, 86,400 seconds a day); others multiply.
_KNOWN_STEPS = frozenset({(0, 1), (1, 2), (2, 3), (3, 4), (3, 5), (3, 6), (4, 6), (5, 6), (6, 7), (6, 8),
                          (0, 3), (1, 3), (2, 4)})  # and the day's seconds and minutes, the week's hours
# The prepositions that qualify what a fact question asks about.
_QUALIFIER = expression(r"\b(of|in|on|at|with|without|from|for|by|during|after|before|between|near|per|than|like|to|into|"
                        r"over|under)\b")
MAX_LOOKUP_QUALIFIERS = 2
_HOW_MANY_IN = re.compile(r"\bhow many (second|minute|hour|day|week|month|year|decade)s? (are )?(there )?(in|per) (a |an |one )?"
                          r"(leap )?(second|minute|hour|day|week|month|year|decade|century)\b")


# A conversion whose numbers do not carry the factor: an ingredient's density (cups of flour to grams), a
# zone's offset on that date (daylight saving), a calendar (a Unix timestamp to a date). Currencies: WORKS_OUT.
_VOLUMES = frozenset("cup cups tbsp tablespoon tablespoons tsp teaspoon teaspoons stick sticks ml milliliter milliliters "
                     "millilitre millilitres liter liters litre litres pint pints quart quarts gallon gallons".split())
# (not ounces: "how many ounces in a cup" asks for fluid ounces)
_MASSES = frozenset("g gram grams kg kilo kilos kilogram kilograms lb lbs pound pounds weigh weighs".split())
_MASS_AFTER_DIGIT = expression(r"\d(g|kg|lbs?)\b")
_CLOCK = expression(r"\b\d{1,2}(:\d\d)? ?[ap]\.?m\b|\b\d{1,2}:\d\d\b|\b(noon|midnight)\b")
_NAMED_HOURS = frozenset(("noon", "midnight"))
_ZONES = frozenset("utc gmt est edt cst cdt mst mdt pst pdt bst cet cest eet eest wet ist jst kst sgt hkt aest aedt awst "
                   "nzst nzdt hst akst pacific eastern central mountain zulu".split())
# "london time", "tokyo time"; not "24 hour time", "local time"
_PLACE_TIME = expression(r"\b(?!(?:24|12|military|local|hour|the|what|in|a)\b)[a-z]+ time\b")
_TIMESTAMP_WORDS = frozenset(("unix", "epoch", "timestamp", "posix"))
# Scales read off a table, not multiplied: sizes between countries ("us shoe size 9 in eu"), gas marks,
# fuel economy (miles per gallon to litres per 100 km is an inverse).
_TABLE_SCALES = frozenset(("gas mark", "mpg"))
_SIZES = frozenset(("size", "sizes", "shoe", "shoes", "dress", "bra"))
_SIZE_SYSTEMS = frozenset(("uk", "us", "eu", "european", "american", "british", "japanese", "italian", "french"))
_LONG_NUMBER = re.compile(r"\d{9,}")


_FACTOR_WORDS = _VOLUMES | _NAMED_HOURS | _ZONES | _TIMESTAMP_WORDS | _TABLE_SCALES | _SIZES | {"time"}


def _needs_a_factor(core: str, seen: frozenset[str], has_digit: bool) -> bool:
    """A conversion that needs a density, a zone's offset on a date, or a calendar: "2 cups of flour in
    grams", "3pm EST in london time", "unix time 1700000000 as a date"."""
    if seen.isdisjoint(_FACTOR_WORDS):  # most turns: one look
        return False
    if not seen.isdisjoint(_VOLUMES) and (not seen.isdisjoint(_MASSES)
                                          or has_digit and _MASS_AFTER_DIGIT.search(core) is not None):
        return True
    if not has_digit:
        return not seen.isdisjoint(_NAMED_HOURS) and _names_a_zone(core, seen)
    if not seen.isdisjoint(_TIMESTAMP_WORDS) and _LONG_NUMBER.search(core) is not None:
        return True
    if not seen.isdisjoint(_TABLE_SCALES) or not seen.isdisjoint(_SIZES) and not seen.isdisjoint(_SIZE_SYSTEMS):
        return True
    return _names_a_zone(core, seen) and _CLOCK.search(core) is not None


def _names_a_zone(core: str, seen: frozenset[str]) -> bool:
    return not seen.isdisjoint(_ZONES) or ("time" in seen and _PLACE_TIME.search(core) is not None)


def _composes_time_units(text: str) -> bool:
    """"how many seconds in a year": units apart by more than one known step, so a multiplication."""
    found = _HOW_MANY_IN.search(text) if "how many" in text else None
    if found is None:
        return False
    return (_TIME_UNITS[found.group(1)], _TIME_UNITS[found.group(7)]) not in _KNOWN_STEPS


# Standards whose names carry a number: "convert March 5, 2024 to ISO 8601".
_NAMED_FORMAT = expression(r"\b(iso|rfc|utf|ieee|en|din) ?-?\d+\b")


def _computes(ask: str) -> bool:
    """Numbers that have to be combined: two or more (a four-digit year is not one),
    unless it is one plain operation on two numbers ("what is 7 times 8")."""
    if not _has_digit(ask):
        return False
    count = 0
    for match in _NUMBER.finditer(_NAMED_FORMAT.sub("", ask)):
        digits = match.group(0)
        if not (len(digits) == 4 and digits[:2] in ("19", "20")):
            count += 1
    return count > 2 or (count == 2 and _ARITHMETIC.match(ask) is None) or (count == 1 and "/" in ask and _FRACTION.search(ask) is not None)


def word_count(text: str) -> int:
    """Whitespace words, with scripts written without spaces (Chinese, Japanese) counted
    at about two characters a word."""
    words = len(text.split())
    if text.isascii():
        return words
    return words + len(_DENSE_SCRIPT.findall(text)) // 2


_DENSE_SCRIPT = re.compile("[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")
_DENSE_CLAUSE_END = re.compile("[，。！？、；：]")


def _without_trailing_symbols(text: str) -> str:
    """The text without the emoji and pictographs that close it (looked at from the end only)."""
    if text.isascii():  # (no emoji: only the spaces go, and its first character stays, as below)
        return text.rstrip() or text[:1]
    end = len(text)
    while end > 1 and (text[end - 1].isspace() or "\U0001f000" <= text[end - 1] <= "\U0001faff"
                       or "\u2600" <= text[end - 1] <= "\u27bf" or text[end - 1] in "\ufe0f\u200d"):
        end -= 1
    return text[:end]


def _last_user(messages: tuple[Message, ...]) -> int:
    """Where the last user turn is (a tool result turn counts: part of a tool loop, which is
    complex), or -1 when there is none."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            return index
    return -1


__all__ = ["Decision", "classify", "classify_text", "word_count"]
